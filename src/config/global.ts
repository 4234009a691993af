/**
 * The global section (HAProxy's cfgparse-global.c), TCP subset: limits, pollers, the tune.*
 * keywords that apply to a TCP relay, stdout/stderr logging, and the process model (nbthread
 * workers, master-worker, daemon, pidfile, user/group/chroot, hard-stop-after,
 * mworker-max-reloads).
 */
import { didYouMean, type LineContext } from './context.js';
import { REMOVED_GLOBAL, UNSUPPORTED_GLOBAL, refusalText } from './keywords.js';
import { hostname } from 'node:os';
import { parseLogLine } from './log.js';
import { parseTime, MAX_TIME_MS } from './values.js';
import { findGroup, findUser } from '../process/accounts.js';
import type { ControlLevel, GlobalConfig, TuneSettings } from './model.js';
import { parseAddress, type SocketAddress } from '../address.js';

type GlobalHandler = (ctx: LineContext, global: GlobalConfig) => void;

const INT_MAX = 2 ** 31 - 1;

/** A keyword without argument that sets a flag. */
function flag(set: (g: GlobalConfig) => void): GlobalHandler {
  return (ctx, g) => {
    if (ctx.tooMany(0)) return;
    set(g);
    g.origin[ctx.keyword] = ctx.where;
  };
}

/** An integer setting that HAProxy refuses to set twice ("already specified. Continuing."). */
function once(min: number, max: number, get: (g: GlobalConfig) => number | null, set: (g: GlobalConfig, v: number) => void): GlobalHandler {
  return (ctx, g) => {
    if (ctx.tooMany(1)) return;
    if (get(g) !== null) {
      ctx.warn(`'${ctx.keyword}' already specified. Continuing.`);
      return;
    }
    const value = ctx.integer(1, min, max);
    if (value === null) return;
    set(g, value);
    g.origin[ctx.keyword] = ctx.where;
  };
}

/** The integer tune.* settings. */
type IntegerTune = { [K in keyof TuneSettings]: TuneSettings[K] extends number | null ? K : never }[keyof TuneSettings];

/** A tune.* integer (a later line overrides an earlier one, as HAProxy for these). */
function tune(key: IntegerTune, min: number, max: number, onlyOnce = false): GlobalHandler {
  return (ctx, g) => {
    if (ctx.tooMany(1)) return;
    if (onlyOnce && g.tune[key] !== null) {
      ctx.warn(`'${ctx.keyword}' already specified. Continuing.`);
      return;
    }
    const value = ctx.integer(1, min, max);
    if (value === null) return;
    g.tune[key] = value;
    g.origin[ctx.keyword] = ctx.where;
  };
}

/** The primary gid of a `user`, applied when no `group`/`gid` line sets one (see workerGid()). */
const userGroups = new WeakMap<GlobalConfig, number>();

/** The gid workers switch to: `group`/`gid`, else the primary group of `user`, else none. */
export function workerGid(g: GlobalConfig): number | null {
  return g.process.gid ?? userGroups.get(g) ?? null;
}

/** The most workers a master runs (HAProxy's MAX_THREADS on 64-bit builds). */
export const MAX_WORKERS = 64;

function workers(ctx: LineContext, g: GlobalConfig): void {
  if (ctx.tooMany(1)) return;
  const text = ctx.arg(1);
  if (!/^[+-]?\d+$/.test(text)) {
    ctx.alert(`'${ctx.keyword}' passed a missing or unparsable integer value in '${text}'`);
    return;
  }
  const n = Number(text);
  if (n < 1 || n > MAX_WORKERS) {
    ctx.alert(`'${ctx.keyword}' value must be between 1 and ${MAX_WORKERS} (was ${text})`);
    return;
  }
  g.nbthread = n;
  g.origin.nbthread = ctx.where;
}

/**
 * `stats socket <address> [options]`: a runtime-API socket. Unix paths (`/run/epoxy.sock`,
 * `unix@...`) and TCP addresses (`ip:port`, `ipv4@`, `ipv6@`); the options HAProxy's stats
 * sockets use: mode, uid/user, gid/group, level, expose-fd listeners.
 */
function statsSocket(ctx: LineContext, g: GlobalConfig): void {
  const text = ctx.arg(2);
  if (text === '') {
    ctx.alert("'stats socket' requires a path or an address");
    return;
  }
  let path: string | null = null;
  let address: SocketAddress | null = null;
  try {
    const parsed = parseAddress(text);
    if (parsed.family === 'unix') path = parsed.address;
    else if (parsed.port === 0) throw new Error('missing port');
    else address = parsed;
  } catch {
    ctx.alert(`'stats socket' : '${text}' is neither a unix socket path nor an ip:port address`);
    return;
  }
  let mode: number | null = null;
  let uid: number | null = null;
  let gid: number | null = null;
  let level: ControlLevel = 'operator';
  let exposeFdListeners = false;
  for (let i = 3; ctx.arg(i) !== ''; i += 2) {
    const option = ctx.arg(i);
    const value = ctx.arg(i + 1);
    const missing = (): void => ctx.alert(`'stats socket' : '${option}' expects an argument`);
    if (value === '') return missing();
    switch (option) {
      case 'mode':
        if (!/^[0-7]{1,4}$/.test(value)) return ctx.alert(`'stats socket' : 'mode' expects an octal mode (got '${value}')`);
        mode = parseInt(value, 8);
        break;
      case 'uid':
      case 'gid': {
        const n = /^\d+$/.test(value) ? Number(value) : NaN;
        if (!(n >= 0 && n < 2 ** 32 - 1)) return ctx.alert(`'stats socket' : '${option}' expects a number (got '${value}')`);
        if (option === 'uid') uid = n;
        else gid = n;
        break;
      }
      case 'user': {
        const account = findUser(value);
        if (account === null) return ctx.alert(`'stats socket' : unknown user '${value}'`);
        uid = account.uid;
        break;
      }
      case 'group': {
        const found = findGroup(value);
        if (found === null) return ctx.alert(`'stats socket' : unknown group '${value}'`);
        gid = found;
        break;
      }
      case 'level':
        if (value !== 'user' && value !== 'operator' && value !== 'admin') {
          return ctx.alert(`'stats socket' : 'level' only supports 'user', 'operator', and 'admin' (got '${value}')`);
        }
        level = value;
        break;
      case 'expose-fd':
        if (value !== 'listeners') return ctx.alert(`'stats socket' : 'expose-fd' only supports 'listeners' (got '${value}')`);
        exposeFdListeners = true;
        break;
      default:
        return ctx.alert(`'stats socket' : unknown option '${option}' (epoxy supports mode, uid, gid, user, group, level, expose-fd)`);
    }
  }
  g.statsSockets.push({ path, address, mode, uid, gid, level, exposeFdListeners, where: ctx.where });
}

/** The supported global keywords. */
export const GLOBAL_KEYWORDS: Readonly<Record<string, GlobalHandler>> = {
  stats: (ctx, g) => {
    const sub = ctx.arg(1);
    if (sub === 'socket') return statsSocket(ctx, g);
    if (sub === 'timeout') {
      if (ctx.tooMany(2)) return;
      const parsed = parseTime(ctx.arg(2));
      if (!parsed.ok || parsed.value <= 0) return ctx.alert(`'stats timeout' expects a positive delay in milliseconds (got '${ctx.arg(2)}')`);
      g.statsTimeout = parsed.value;
      return;
    }
    ctx.alert(`'stats' only supports 'socket' and 'timeout' in the global section (got '${sub}').`);
  },
  'busy-polling': (ctx, g) => {
    if (ctx.modifier === 'default') {
      // HAProxy 2.6 leaves the keyword twice on the line and refuses it; so does epoxy.
      ctx.alert("'default busy-polling' is not supported (HAProxy 2.6 refuses it too); use 'no busy-polling'.");
      return;
    }
    if (ctx.tooMany(0)) return;
    g.busyPolling = ctx.modifier === 'std';
    g.origin['busy-polling'] = ctx.where;
  },
  log: (ctx, g) => parseLogLine(ctx, g.logs, true),
  'log-tag': (ctx, g) => {
    if (ctx.arg(1) === '') {
      ctx.alert("'log-tag' expects a tag for use in syslog.");
      return;
    }
    g.logTag = ctx.arg(1);
    g.origin['log-tag'] = ctx.where;
  },
  // Without a name, the system's: read once here, as HAProxy reads it at startup.
  'log-send-hostname': (ctx, g) => {
    g.logHostname = ctx.arg(1) === '' ? hostname() : ctx.arg(1);
    g.origin['log-send-hostname'] = ctx.where;
  },
  maxconn: once(0, INT_MAX, (g) => g.maxconn, (g, v) => (g.maxconn = v)),
  maxpipes: once(0, INT_MAX, (g) => g.maxpipes, (g, v) => (g.maxpipes = v)),
  nbthread: workers,
  // HAProxy 2.5 removed nbproc (2.6 refuses it); epoxy's workers are processes, so it means
  // what an older configuration meant by it: that many workers.
  nbproc: (ctx, g) => {
    ctx.warn("'nbproc' was removed in HAProxy 2.5 (2.6 refuses it); epoxy reads it as 'nbthread': that many worker processes.");
    workers(ctx, g);
  },
  daemon: flag((g) => (g.process.daemon = true)),
  'master-worker': (ctx, g) => {
    if (ctx.tooMany(1)) return;
    const option = ctx.arg(1);
    if (option !== '' && option !== 'no-exit-on-failure') {
      ctx.alert(`'master-worker' only supports 'no-exit-on-failure' option.`);
      return;
    }
    g.process.masterWorker = true;
    if (option !== '') g.process.noExitOnFailure = true;
    g.origin['master-worker'] = ctx.where;
  },
  pidfile: (ctx, g) => {
    if (ctx.tooMany(1)) return;
    if (g.process.pidfile !== null) {
      ctx.warn('pidfile already specified. Continuing.');
      return;
    }
    if (ctx.arg(1) === '') {
      ctx.alert(`'pidfile' expects a file name as an argument.`);
      return;
    }
    g.process.pidfile = ctx.arg(1);
    g.origin.pidfile = ctx.where;
  },
  uid: (ctx, g) => {
    if (ctx.tooMany(1)) return;
    if (g.process.uid !== null) {
      ctx.warn('user/uid already specified. Continuing.');
      return;
    }
    const uid = ctx.integer(1, 0, 2 ** 32 - 2);
    if (uid === null) return;
    g.process.uid = uid;
    g.origin.uid = ctx.where;
  },
  user: (ctx, g) => {
    if (ctx.tooMany(1)) return;
    if (g.process.uid !== null) {
      ctx.warn('user/uid already specified. Continuing.');
      return;
    }
    const account = findUser(ctx.arg(1));
    if (account === null) {
      ctx.alert(`cannot find user id for '${ctx.arg(1)}' (not in /etc/passwd; use 'uid' with the number).`);
      return;
    }
    g.process.uid = account.uid;
    g.process.user = account.name;
    // The user's own group unless `group`/`gid` says otherwise (HAProxy leaves the gid alone;
    // staying in root's group after dropping to a user is rarely what is meant, so epoxy warns).
    g.origin.user = ctx.where;
    userGroups.set(g, account.gid);
  },
  gid: (ctx, g) => {
    if (ctx.tooMany(1)) return;
    if (g.process.gid !== null) {
      ctx.warn('group/gid already specified. Continuing.');
      return;
    }
    const gid = ctx.integer(1, 0, 2 ** 32 - 2);
    if (gid === null) return;
    g.process.gid = gid;
    g.origin.gid = ctx.where;
  },
  group: (ctx, g) => {
    if (ctx.tooMany(1)) return;
    if (g.process.gid !== null) {
      ctx.warn('group/gid already specified. Continuing.');
      return;
    }
    const gid = findGroup(ctx.arg(1));
    if (gid === null) {
      ctx.alert(`cannot find group id for '${ctx.arg(1)}' (not in /etc/group; use 'gid' with the number).`);
      return;
    }
    g.process.gid = gid;
    g.origin.group = ctx.where;
  },
  chroot: (ctx, g) => {
    if (ctx.tooMany(1)) return;
    if (g.process.chroot !== null) {
      ctx.warn('chroot already specified. Continuing.');
      return;
    }
    if (ctx.arg(1) === '') {
      ctx.alert(`'chroot' expects a directory as an argument.`);
      return;
    }
    g.process.chroot = ctx.arg(1);
    g.origin.chroot = ctx.where;
  },
  'hard-stop-after': (ctx, g) => {
    if (ctx.tooMany(1)) return;
    const text = ctx.arg(1);
    const parsed = parseTime(text);
    if (text === '' || !parsed.ok || parsed.value > MAX_TIME_MS) {
      ctx.alert(`'hard-stop-after' expects <time> as argument (got '${text}').`);
      return;
    }
    g.process.hardStopAfter = parsed.value;
    g.origin['hard-stop-after'] = ctx.where;
  },
  'spread-checks': (ctx, g) => {
    if (ctx.tooMany(1)) return;
    const value = ctx.integer(1, 0, 50);
    if (value === null) return;
    g.spreadChecks = value;
    g.origin['spread-checks'] = ctx.where;
  },
  'mworker-max-reloads': (ctx, g) => {
    if (ctx.tooMany(1)) return;
    const value = ctx.integer(1, 0, INT_MAX);
    if (value === null) return;
    g.process.mworkerMaxReloads = value;
    g.origin['mworker-max-reloads'] = ctx.where;
  },
  noepoll: flag((g) => (g.noEpoll = true)),
  noevports: flag(() => undefined), // Solaris' poller: nothing to disable on Linux
  nokqueue: flag(() => undefined), // BSD's poller: nothing to disable on Linux
  nopoll: flag((g) => (g.noPoll = true)),
  noreuseport: flag((g) => (g.noReusePort = true)),
  nosplice: flag((g) => (g.noSplice = true)),
  quiet: flag((g) => (g.quiet = true)),
  // The relay's buffer per blocked direction: below 1 KiB HAProxy itself does not start (2.6
  // with `tune.bufsize 1` exits without a word), above 64 MiB the relay refuses it
  // (native/relay.cc kMaxBufferSize). Refused here, with the line, instead of at run time.
  'tune.bufsize': tune('bufsize', 1024, 64 * 1024 * 1024),
  'tune.maxaccept': tune('maxaccept', -1, INT_MAX, true),
  'tune.maxpollevents': tune('maxpollevents', 1, INT_MAX, true),
  'tune.pipesize': tune('pipesize', 1, INT_MAX),
  'tune.rcvbuf.client': tune('rcvbufClient', 1, INT_MAX, true),
  'tune.rcvbuf.server': tune('rcvbufServer', 1, INT_MAX, true),
  'tune.runqueue-depth': tune('runqueueDepth', 1, INT_MAX, true),
  'tune.sndbuf.client': tune('sndbufClient', 1, INT_MAX, true),
  'tune.sndbuf.server': tune('sndbufServer', 1, INT_MAX, true),
  // Epoxy extensions (HAProxy refuses tune.epoxy.*): socket options HAProxy has no keyword for.
  'tune.epoxy.nodelay': tuneOnOff('nodelay'),
  // The relay on a thread of its own (native/relay.h, docs/relay.md) instead of in Node's loop.
  'tune.epoxy.relay-thread': tuneOnOff('relayThread'),
  // TCP_NOTSENT_LOWAT: the kernel takes any non-negative int; 0 would make every socket report
  // unwritable until its queue is empty, which is not what anyone tuning it means: refused.
  'tune.epoxy.notsent-lowat.client': tune('notsentLowatClient', 1, INT_MAX),
  'tune.epoxy.notsent-lowat.server': tune('notsentLowatServer', 1, INT_MAX),
  'ulimit-n': once(1, INT_MAX, (g) => g.ulimitN, (g, v) => (g.ulimitN = v)),
  'zero-warning': flag((g) => (g.zeroWarning = true)),
};

/** `<keyword> on|off` setting a boolean of `tune`. */
function tuneOnOff(field: 'nodelay' | 'relayThread'): GlobalHandler {
  return (ctx, g) => {
    if (ctx.tooMany(1)) return;
    const value = ctx.arg(1);
    if (value !== 'on' && value !== 'off') {
      ctx.alert(`'${ctx.keyword}' expects 'on' or 'off' (got '${value}').`);
      return;
    }
    g.tune[field] = value === 'on';
    g.origin[ctx.keyword] = ctx.where;
  };
}

/** Names of the supported global keywords. */
export const SUPPORTED_GLOBAL_KEYWORDS: readonly string[] = Object.keys(GLOBAL_KEYWORDS).sort();

/** Parses one line of the global section (not the `global` line itself). */
export function parseGlobalLine(ctx: LineContext, global: GlobalConfig): void {
  const keyword = ctx.keyword;
  const handler = GLOBAL_KEYWORDS[keyword];
  if (handler !== undefined) {
    handler(ctx, global);
    return;
  }
  const removed = REMOVED_GLOBAL[keyword];
  if (removed !== undefined) {
    ctx.alert(removed);
    return;
  }
  const refusal = UNSUPPORTED_GLOBAL[keyword];
  if (refusal !== undefined) {
    ctx.alert(`${refusalText(keyword, refusal)}.`);
    return;
  }
  if (/^tune\.(ssl|lua|h2|quic|http|vars|zlib)\./.test(keyword) || /^(ssl|lua|51degrees|deviceatlas|wurfl)-/.test(keyword)) {
    ctx.alert(`'${keyword}' is not supported yet.`);
    return;
  }
  ctx.alert(
    `unknown keyword '${keyword}' in 'global' section` +
      didYouMean(keyword, [...SUPPORTED_GLOBAL_KEYWORDS, ...Object.keys(UNSUPPORTED_GLOBAL), ...Object.keys(REMOVED_GLOBAL)]),
  );
}
