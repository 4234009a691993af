/**
 * Semantic checks of a whole configuration, after parsing (HAProxy's check_config_validity(),
 * TCP subset), for files and the object form alike: backends named by default_backend and
 * use_backend exist, names and ids are unique, timeouts are set, and options do not contradict
 * each other. Messages follow HAProxy's; unlike HAProxy's, each names the file and line.
 */
import { checkStickReferences } from './stick.js';
import { makeDiagnostic, type Diagnostic } from './diagnostics.js';
import { hasBackend, hasFrontend, isSrvRecordName, type Config, type ProxyConfig, type Where } from './model.js';
import { sectionLabel } from './proxy.js';
import { references, type SampleExpr } from '../sample/expression.js';
import type { Acl, Condition } from './model.js';

function label(proxy: ProxyConfig): string {
  return sectionLabel(proxy);
}

/** Runs every check; returns alerts and warnings (empty when all is well). */
export function checkConfig(config: Config): Diagnostic[] {
  const out: Diagnostic[] = [];
  const alert = (where: Where, keyword: string, reason: string, style: 'check' | 'parsing' | 'object' | 'plain' = 'check', subject?: string): void => {
    out.push(makeDiagnostic('alert', where, keyword, reason, style, subject));
  };
  const warn = (where: Where, keyword: string, reason: string, style: 'check' | 'parsing' | 'object' | 'plain' = 'check', subject?: string): void => {
    out.push(makeDiagnostic('warning', where, keyword, reason, style, subject));
  };

  const backendByName = new Map<string, ProxyConfig>();
  for (const proxy of config.proxies) if (hasBackend(proxy) && !backendByName.has(proxy.name)) backendByName.set(proxy.name, proxy);

  // Proxy ids.
  const proxyIds = new Map<number, ProxyConfig>();
  for (const proxy of config.proxies) {
    if (proxy.id === null) continue;
    const other = proxyIds.get(proxy.id);
    if (other !== undefined) {
      alert(
        proxy.origin.id ?? proxy.where,
        'id',
        `${label(proxy)} ${proxy.name} reuses same custom id as ${label(other)} ${other.name} (declared at ${other.where.file}:${other.where.line}).`,
        'parsing',
      );
    } else {
      proxyIds.set(proxy.id, proxy);
    }
  }

  // HAProxy 2.6: "resolvers 'dns' [x.cfg:6] has no nameservers configured!" (a warning).
  const resolversNames = new Set<string>();
  for (const resolvers of config.resolvers) {
    resolversNames.add(resolvers.name);
    if (resolvers.nameservers.length === 0) {
      warn(resolvers.where, 'resolvers', `resolvers '${resolvers.name}' [${resolvers.where.file}:${resolvers.where.line}] has no nameservers configured!`, 'plain');
    }
  }

  checkStickReferences(config.proxies, (where, keyword, message) => alert(where, keyword, message));

  for (const proxy of config.proxies) {
    const frontend = hasFrontend(proxy);
    const backend = hasBackend(proxy);

    // The two HTTP uses: a `mode http` frontend whose only rule serves the Prometheus exporter,
    // and a `mode http` listen or frontend whose only HTTP lines are `stats` ones (the stats page).
    if (proxy.mode === 'http') {
      const where = proxy.origin.mode ?? proxy.where;
      if (proxy.service !== null && proxy.statsPage !== null) {
        alert(where, 'mode http', `${label(proxy)} '${proxy.name}' serves both the Prometheus exporter and the stats page: give each its own section.`);
      } else if (proxy.service !== null) {
        if (proxy.useBackend.length > 0 || proxy.tcpRequestConnection.length > 0) {
          alert(where, 'mode http', `${label(proxy)} '${proxy.name}' serves the Prometheus exporter: it takes no 'use_backend' or 'tcp-request' rule.`);
        }
      } else if (proxy.statsPage !== null) {
        const routing = proxy.useBackend[0]?.where ?? proxy.tcpRequestConnection[0]?.where ?? proxy.servers[0]?.where ?? (proxy.defaultBackend !== null ? (proxy.origin.default_backend ?? null) : null);
        if (routing !== null) {
          alert(routing, 'mode http', `${label(proxy)} '${proxy.name}' serves the stats page, the only HTTP epoxy serves besides the exporter: it takes no 'server', 'use_backend', 'default_backend' or 'tcp-request' line.`);
        }
      } else {
        alert(where, 'mode http', `${label(proxy)} '${proxy.name}': 'mode http' is only supported with 'http-request use-service prometheus-exporter [if { path <path> }]' or with the stats page ('stats enable', 'stats uri'...) (epoxy implements mode tcp).`);
      }
    } else {
      if (proxy.service !== null) {
        alert(proxy.service.where, 'http-request', `${label(proxy)} '${proxy.name}': 'http-request use-service prometheus-exporter' needs 'mode http' in the frontend.`);
      }
      // HAProxy 2.6 warns the same way and serves the section as TCP.
      if (proxy.statsPage !== null) warn(proxy.statsPage.where, 'stats', `'stats' statement ignored for proxy '${proxy.name}' as it requires HTTP mode.`, 'plain');
    }

    if (frontend && proxy.binds.length === 0 && !proxy.disabled) {
      warn(proxy.where, proxy.kind, `${label(proxy)} '${proxy.name}' has no 'bind' directive. Please declare it as a backend if this was intended.`);
    }

    // default_backend / use_backend targets.
    if (frontend && proxy.defaultBackend !== null) {
      const where = proxy.origin.default_backend ?? proxy.where;
      const target = backendByName.get(proxy.defaultBackend);
      if (target === undefined) {
        alert(where, 'default_backend', `Proxy '${proxy.name}': unable to find required default_backend: '${proxy.defaultBackend}'.`);
      } else if (target === proxy) {
        alert(where, 'default_backend', `Proxy '${proxy.name}': loop detected for default_backend: '${proxy.defaultBackend}'.`);
      } else if (proxy.servers.length > 0) {
        warn(
          where,
          'default_backend',
          `In proxy '${proxy.name}', the 'default_backend' rule always has precedence over the servers, which will never be used.`,
        );
      }
    }
    if (frontend) {
      for (const rule of proxy.useBackend) {
        const target = backendByName.get(rule.backend);
        if (target === undefined) {
          alert(rule.where, 'use_backend', `Proxy '${proxy.name}': unable to find required use_backend: '${rule.backend}'.`);
        } else if (target === proxy) {
          alert(rule.where, 'use_backend', `Proxy '${proxy.name}': loop detected for use_backend: '${rule.backend}'.`);
        }
      }
    }

    // use-server names a server of its own section (declared anywhere in it).
    for (const rule of proxy.useServer) {
      if (!proxy.servers.some((s) => s.name === rule.server)) {
        alert(rule.where, 'use-server', `${label(proxy)} '${proxy.name}' : unable to find server '${rule.server}' referenced in a 'use-server' rule.`);
      }
    }
    checkSampleNames(config, proxy, backendByName, alert);

    // Servers: unique names and ids, options that contradict each other.
    if (backend) {
      const names = new Map<string, Where>();
      const ids = new Map<number, { where: Where; name: string }>();
      let firstCheck: Where | null = null;
      let checked = 0;
      for (const server of proxy.servers) {
        const subject = `'server ${proxy.name}/${server.name}'`;
        const previous = names.get(server.name);
        if (previous !== undefined) {
          alert(
            server.where,
            'server',
            `${label(proxy)} '${proxy.name}', another server named '${server.name}' was already defined at line ${previous.line}, please use distinct names.`,
            'parsing',
          );
        } else {
          names.set(server.name, server.where);
        }
        if (server.id !== null) {
          const other = ids.get(server.id);
          if (other !== undefined) {
            alert(server.where, 'id', `'id' : custom id ${server.id} already used at ${other.where.file}:${other.where.line} ('server ${other.name}').`, 'object', subject);
          } else {
            ids.set(server.id, { where: server.where, name: server.name });
          }
        }
        if (server.maxqueue > 0 && server.maxconn === 0) {
          warn(server.where, 'maxqueue', "'maxqueue' has no effect without 'maxconn': this server never queues connections.", 'object', subject);
        }
      }
      const routesElsewhere = proxy.kind === 'listen' && (proxy.defaultBackend !== null || proxy.useBackend.length > 0);
      // A section serving the stats page answers itself (HAProxy does not warn either).
      const servesPage = proxy.mode === 'http' && proxy.statsPage !== null;
      if (proxy.servers.length === 0 && !routesElsewhere && !servesPage && !proxy.disabled) {
        warn(proxy.where, 'server', `${label(proxy)} '${proxy.name}' has no server available!`);
      }
      if (proxy.options.redispatch && proxy.retries === 0) {
        warn(
          proxy.origin['option redispatch'] ?? proxy.where,
          'option redispatch',
          `${label(proxy)} '${proxy.name}': 'option redispatch' has no effect with 'retries 0'.`,
        );
      }
      const hashWhere = proxy.origin['hash-type'];
      if (proxy.hashType !== null && proxy.balance?.kind !== 'source' && hashWhere !== undefined && isInside(hashWhere, proxy)) {
        warn(hashWhere, 'hash-type', `${label(proxy)} '${proxy.name}': 'hash-type' has no effect unless 'balance source' is used.`);
      }
    }

    if (backend) checkResolution(proxy, resolversNames, alert);

    // HAProxy's "missing timeouts" warning.
    const t = proxy.timeouts;
    if ((frontend && t.client === null) || (backend && proxy.servers.length > 0 && (t.connect === null || (t.server === null && t.tunnel === null)))) {
      warn(
        proxy.where,
        'timeout',
        `missing timeouts for ${label(proxy)} '${proxy.name}'.\n` +
          '   | While not properly invalid, you will certainly encounter various problems\n' +
          '   | with such a configuration. To fix this, please ensure that all following\n' +
          "   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
      );
    }
  }
  return out;
}

type Report = (where: Where, keyword: string, reason: string, style?: 'check' | 'parsing' | 'object' | 'plain', subject?: string) => void;

/**
 * Servers resolved at run time: the resolvers section they name exists, and an SRV record name
 * has one (nothing else resolves it). One message per line: a server-template's slots share it.
 */
function checkResolution(proxy: ProxyConfig, resolversNames: ReadonlySet<string>, alert: Report): void {
  const reported = new Set<Where>();
  for (const server of proxy.servers) {
    if (reported.has(server.where)) continue;
    if (server.resolvers !== null && !resolversNames.has(server.resolvers)) {
      // HAProxy 2.6, without the location: "backend 'be', server 's2': unable to find required resolvers 'nope'"
      alert(server.where, 'resolvers', `${label(proxy)} '${proxy.name}', server '${server.name}': unable to find required resolvers '${server.resolvers}'`);
      reported.add(server.where);
    } else if (server.resolvers === null && server.address.kind === 'hostname' && isSrvRecordName(server.address)) {
      // HAProxy 2.6 accepts it with `init-addr none` (the server then never gets an address),
      // and otherwise fails at startup: "no method found to resolve address '_http._tcp.example.com'".
      alert(
        server.where,
        'resolvers',
        `no method found to resolve address '${server.address.host}': an SRV record name is only resolved at run time, by a 'resolvers' section (add 'resolvers <id>').`,
        'object',
        `'server ${proxy.name}/${server.name}'`,
      );
      reported.add(server.where);
    }
  }
}

/** Whether `where` is a line of `proxy`'s own section (not inherited from a defaults section). */
function isInside(where: Where, proxy: ProxyConfig): boolean {
  if (where.path !== undefined || proxy.where.path !== undefined) {
    const own = proxy.where.path;
    return where.path !== undefined && own !== undefined && (where.path === own || where.path.startsWith(`${own}.`));
  }
  return where.file === proxy.where.file && where.line >= proxy.where.line;
}

/**
 * Names in the sample expressions of a proxy's conditions: `be_conn(app)`, `srv_is_up(app/s1)`
 * must name a backend (server) that exists, and an omitted one means the proxy itself, which
 * must then be a backend (or a frontend for fe_conn), as HAProxy resolves them.
 */
function checkSampleNames(config: Config, proxy: ProxyConfig, backends: ReadonlyMap<string, ProxyConfig>, alert: (where: Where, keyword: string, reason: string) => void): void {
  const conditions: (Condition | null)[] = [
    ...proxy.tcpRequestConnection.map((r) => r.condition),
    ...proxy.tcpRequestContent.map((r) => r.condition),
    ...proxy.useBackend.map((r) => r.condition),
    ...proxy.useServer.map((r) => r.condition),
    ...proxy.stickRules.map((r) => r.condition),
  ];
  const acls = new Set<Acl>(proxy.acls.values());
  for (const condition of conditions) for (const suite of condition?.suites ?? []) for (const term of suite) acls.add(term.acl);
  const tests: { readonly expr: SampleExpr; readonly where: Where }[] = [...acls].flatMap((acl) => acl.tests);
  // set-var's expressions name proxies too (`set-var(txn.n) be_conn(app)`).
  for (const rule of [...proxy.tcpRequestConnection, ...proxy.tcpRequestContent]) if (rule.action === 'set-var') tests.push({ expr: rule.expr, where: rule.where });
  const frontends = new Set(config.proxies.filter(hasFrontend).map((p) => p.name));
  for (const test of tests) {
    for (const ref of references(test.expr, proxy.name)) {
      const where = `'${test.expr.text}' in ${label(proxy)} '${proxy.name}'`;
      if (ref.kind === 'frontend') {
        if (!frontends.has(ref.name)) alert(test.where, 'acl', `unable to find frontend '${ref.name}' referenced by ${where}.`);
      } else if (ref.kind === 'backend') {
        if (!backends.has(ref.name)) alert(test.where, 'acl', `unable to find backend '${ref.name}' referenced by ${where}.`);
      } else if (ref.kind === 'table') {
        const owner = config.proxies.find((p) => p.name === ref.name);
        if (owner === undefined || owner.stickTable === null) {
          alert(test.where, 'acl', `unable to find table '${ref.name}' referenced in arg of ACL keyword '${test.expr.written}' in proxy '${proxy.name}'.`);
        }
      } else if (ref.kind === 'server') {
        const backend = backends.get(ref.backend);
        if (backend === undefined) alert(test.where, 'acl', `unable to find backend '${ref.backend}' referenced by ${where}.`);
        else if (!backend.servers.some((s) => s.name === ref.name)) alert(test.where, 'acl', `unable to find server '${ref.backend}/${ref.name}' referenced by ${where}.`);
      }
    }
  }
}
