/**
 * The Prometheus exporter: a `mode http` frontend with `http-request use-service
 * prometheus-exporter` serves epoxy_* families that a strict text-format parser accepts and whose
 * counters equal show stat's, in a single process and, summed over two workers, from a master.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/diagnostics.js';
import { parseConfig } from '../../src/config/index.js';
import { start } from '../../src/runtime/start.js';
import { processStats } from '../../src/stats/process-stats.js';
import { prometheusText, ROW_METRICS } from '../../src/stats/prometheus.js';
import { cell } from '../../src/stats/stats.js';
import { configText, echoServer, startMaster, tempDir, writeFile, type Cleanup } from '../helpers/master.js';
import { freePort, waitForAsync } from '../helpers/sockets.js';
import { parsePrometheus, valueOf } from './prometheus-parser.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Sends `bytes` bytes, reads them back, closes. */
function echoSession(port: number, bytes: number, keepOpen = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(Buffer.alloc(bytes, 0x61)));
    let got = 0;
    socket.on('data', (c) => {
      got += c.length;
      if (got < bytes) return;
      if (keepOpen) resolve(socket);
      else socket.end();
    });
    socket.on('close', () => resolve(socket));
    socket.on('error', reject);
  });
}

async function scrape(address: string, path = '/metrics'): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(`http://${address}${path}`);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

const exporterLines = (port: number): string[] => ['frontend prom', '    mode http', `    bind 127.0.0.1:${port}`, '    http-request use-service prometheus-exporter if { path /metrics }'];

describe('Prometheus exporter', () => {
  it('in a single process: parses strictly, and every counter equals show stat', async () => {
    const echo = await echoServer(cleanups);
    const port = await freePort();
    const promPort = await freePort();
    const text = configText(['maxconn 100'], ['frontend fe', `    bind 127.0.0.1:${port}`, '    default_backend be', 'backend be', `    server s1 127.0.0.1:${echo}`, ...exporterLines(promPort)]);
    const running = await start(parseConfig([{ name: 'prom.cfg', text }], { env: {} }), { quiet: true, signals: false, sessionLog: () => {} });
    cleanups.push(() => running.kill());
    expect(running.addresses.get('prom')).toEqual([`127.0.0.1:${promPort}`]);
    for (const size of [10, 200, 3000]) await echoSession(port, size);

    const answer = await scrape(`127.0.0.1:${promPort}`);
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheus(answer.text);
    expect(valueOf(families, 'epoxy_frontend_sessions_total', { proxy: 'fe' })).toBe(3);
    expect(valueOf(families, 'epoxy_frontend_bytes_in_total', { proxy: 'fe' })).toBe(3210);
    expect(valueOf(families, 'epoxy_server_bytes_out_total', { proxy: 'be', server: 's1' })).toBe(3210);
    expect(valueOf(families, 'epoxy_server_status', { proxy: 'be', server: 's1', state: 'UP' })).toBe(1);
    expect(valueOf(families, 'epoxy_backend_status', { proxy: 'be', state: 'UP' })).toBe(1);
    expect(valueOf(families, 'epoxy_process_current_connections', {})).toBe(0);
    // No limit on the server: an empty cell, NaN as HAProxy's exporter writes it.
    expect(valueOf(families, 'epoxy_server_limit_sessions', { proxy: 'be', server: 's1' })).toBeNaN();

    // Every counter family equals show stat's cell of the same snapshot.
    const snapshot = processStats(running);
    const again = parsePrometheus(prometheusText(snapshot));
    let compared = 0;
    for (const metric of ROW_METRICS.filter((m) => m.type === 'counter')) {
      for (const row of snapshot.rows) {
        if (!metric.kinds.includes(row.kind)) continue;
        const labels: Record<string, string> = row.kind === 'server' ? { proxy: row.proxy, server: row.name } : { proxy: row.proxy };
        const expected = cell(row, metric.column);
        const got = valueOf(again, `epoxy_${row.kind}_${metric.name}`, labels);
        if (expected === null) expect(got).toBeNaN();
        else expect(got).toBe(Number(expected));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(20);

    expect((await scrape(`127.0.0.1:${promPort}`, '/other')).status).toBe(503);
  });

  it('refuses mode http for anything but the exporter, with a clear error', () => {
    const parse = (body: string[]): void => void parseConfig([{ name: 'bad.cfg', text: configText([], body) }], { env: {} });
    expect(() => parse(['backend be', '    mode http', '    server s 127.0.0.1:1'])).toThrow(/'mode http' is only supported in a frontend serving the Prometheus exporter/);
    expect(() => parse(['frontend fe', '    mode http', '    bind 127.0.0.1:1'])).toThrow(/'mode http' is only supported with 'http-request use-service prometheus-exporter/);
    expect(() => parse(['frontend fe', '    mode http', '    bind 127.0.0.1:1', '    http-request deny'])).toThrow(/'http-request' is not supported yet/);
    expect(() => parse(['frontend fe', '    bind 127.0.0.1:1', '    http-request use-service prometheus-exporter'])).toThrow(/needs 'mode http'/);
    expect(() => parse(['frontend fe', '    mode http', '    bind 127.0.0.1:1', '    http-request use-service prometheus-exporter', '    use_backend x if TRUE', 'backend x'])).toThrow(ConfigError);
    expect(() => parse(['frontend fe', '    mode http', '    bind 127.0.0.1:1', '    http-request use-service prometheus-exporter'])).not.toThrow();
  });

  it('under a master with 2 workers: the master serves the sums of both, open sessions included', async () => {
    const echo = await echoServer(cleanups);
    const dir = tempDir(cleanups);
    const port = await freePort();
    const promPort = await freePort();
    const file = writeFile(dir, 'm.cfg', configText(['nbthread 2', 'maxconn 100'], ['frontend fe', `    bind 127.0.0.1:${port}`, '    default_backend be', 'backend be', `    server s1 127.0.0.1:${echo}`, ...exporterLines(promPort)]));
    await startMaster(cleanups, ['-W', '-f', file]);
    const sizes = [100, 200, 300, 400, 500, 600, 700, 800];
    for (const size of sizes) await echoSession(port, size);
    const open = await echoSession(port, 1000, true);
    cleanups.push(() => void open.destroy());
    const total = sizes.reduce((a, b) => a + b, 0) + 1000;
    let families = parsePrometheus((await scrape(`127.0.0.1:${promPort}`)).text);
    await waitForAsync(async () => {
      families = parsePrometheus((await scrape(`127.0.0.1:${promPort}`)).text);
      return valueOf(families, 'epoxy_frontend_bytes_in_total', { proxy: 'fe' }) === total;
    }, 'the workers to report');
    expect(valueOf(families, 'epoxy_process_nbthread', {})).toBe(2);
    expect(valueOf(families, 'epoxy_frontend_sessions_total', { proxy: 'fe' })).toBe(9);
    expect(valueOf(families, 'epoxy_frontend_connections_total', { proxy: 'fe' })).toBe(9);
    expect(valueOf(families, 'epoxy_frontend_current_sessions', { proxy: 'fe' })).toBe(1);
    expect(valueOf(families, 'epoxy_frontend_bytes_out_total', { proxy: 'fe' })).toBe(total);
    expect(valueOf(families, 'epoxy_backend_sessions_total', { proxy: 'be' })).toBe(9);
    expect(valueOf(families, 'epoxy_server_sessions_total', { proxy: 'be', server: 's1' })).toBe(9);
    expect(valueOf(families, 'epoxy_server_current_sessions', { proxy: 'be', server: 's1' })).toBe(1);
    expect(valueOf(families, 'epoxy_server_bytes_in_total', { proxy: 'be', server: 's1' })).toBe(total);
  });
});
