/**
 * epoxy's run-time DNS lines next to HAProxy 2.6's, both asking one scripted nameserver: template
 * slots filled from A records, a slot emptied when its record goes, and a plain server put in
 * maintenance when its name stops resolving. Which slot takes which address is each one's own
 * business (HAProxy does not always fill them in answer order), so slot numbers and addresses
 * are compared as sets; the words, the "(none)", the credit to the nameserver then to the cache,
 * and the counts must be the same. Skipped without haproxy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startDnsResponder } from '../helpers/dns-responder.js';
import { haproxyAvailable, sideBySide } from '../helpers/haproxy.js';
import type { Cleanup } from '../helpers/master.js';
import { waitFor } from '../helpers/sockets.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The DNS event lines of a log, pids and slot numbers replaced, sorted. */
function dnsLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => /changed its IP|going DOWN for maintenance|UP\/READY|administratively READY|has no server available/.test(l))
    .map(normalized)
    .sort();
}

function normalized(line: string): string {
  return line.replace(/\(\d+\)/, '(<pid>)').replace(/srv\d/g, 'srv<n>');
}

describe.skipIf(!haproxyAvailable)('run-time DNS lines next to HAProxy 2.6', () => {
  it('slots filled, a slot emptied, a name gone NX: the same lines', async () => {
    const dns = await startDnsResponder();
    cleanups.push(() => dns.close());
    dns.set('app.test', { a: ['127.0.0.2', '127.0.0.3'] });
    dns.set('one.test', { a: ['127.0.0.9'] });
    const body = (front: number): string[] => [
      'resolvers dns',
      `    nameserver ns1 127.0.0.1:${dns.port}`,
      '    timeout resolve 200ms',
      '    timeout retry 100ms',
      '    resolve_retries 2',
      '    hold nx 300ms',
      'backend be',
      '    server-template srv 3 app.test:8080 resolvers dns init-addr none resolve-prefer ipv4',
      'backend solo',
      '    server s1 one.test:8080 resolvers dns init-addr none resolve-prefer ipv4',
      'frontend fe',
      `    bind 127.0.0.1:${front}`,
      '    default_backend be',
    ];
    const { haproxy, epoxy } = await sideBySide(cleanups, body);
    const filled = (text: string): boolean => dnsLines(text).filter((l) => l.includes('administratively READY')).length === 3;
    await waitFor(() => filled(haproxy.stderr()) && filled(epoxy.stderr()), `both to fill two slots and s1 (haproxy: ${haproxy.stderr()}; epoxy: ${epoxy.stderr()})`, 15_000);

    dns.set('app.test', { a: ['127.0.0.2'] });
    dns.nxdomain('one.test');
    // The alert comes last (and may come in a write of its own): wait for it too.
    const emptied = (text: string): boolean => ['(No IP for server )', '(DNS NX status)', 'has no server available'].every((needle) => dnsLines(text).some((l) => l.includes(needle)));
    await waitFor(() => emptied(haproxy.stderr()) && emptied(epoxy.stderr()), `both to empty a slot and drop s1 (haproxy: ${haproxy.stderr()}; epoxy: ${epoxy.stderr()})`, 15_000);

    const theirs = dnsLines(haproxy.stderr());
    const ours = dnsLines(epoxy.stderr());
    expect(ours).toEqual(theirs);
    // What they both said, so that a change on either side shows here.
    expect(theirs).toEqual(
      [
        "[ALERT]    (<pid>) : backend 'solo' has no server available!",
        '[WARNING]  (<pid>) : Server be/srv<n> is going DOWN for maintenance (No IP for server ). 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
        '[WARNING]  (<pid>) : Server solo/s1 is going DOWN for maintenance (DNS NX status). 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
        ...[
            'be/srv1 changed its IP from (none) to 127.0.0.2 by dns/ns1.',
            'be/srv2 changed its IP from (none) to 127.0.0.3 by DNS cache.',
            'solo/s1 changed its IP from (none) to 127.0.0.9 by dns/ns1.',
            "Server be/srv1 ('app.test') is UP/READY (resolves again).",
            "Server be/srv2 ('app.test') is UP/READY (resolves again).",
            "Server solo/s1 ('one.test') is UP/READY (resolves again).",
            'Server be/srv1 administratively READY thanks to valid DNS answer.',
            'Server be/srv2 administratively READY thanks to valid DNS answer.',
            'Server solo/s1 administratively READY thanks to valid DNS answer.',
        ].map((l) => normalized(`[WARNING]  (1) : ${l}`)),
      ].sort(),
    );
  }, 40_000);
});
