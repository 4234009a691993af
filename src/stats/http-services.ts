/**
 * Serving the Prometheus exporter: each `mode http` frontend with `http-request use-service
 * prometheus-exporter` listens with Node's http module on its bind addresses and answers with
 * the exposition of a fresh snapshot. It is control plane, like the checks: in a single process
 * it runs in that process, under a master in the master (from its workers' totals), never in a
 * worker, so a scrape sees the whole of epoxy once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { servesHttp, type Config, type ProxyConfig } from '../config/model.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { prometheusText } from './prometheus.js';
import type { StatsSnapshot } from './stats.js';

/** The exposition format's content type (text format 0.0.4). */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The frontends of `config` that serve the exporter. */
export function exporterFrontends(config: Config): ProxyConfig[] {
  return config.proxies.filter((p) => servesHttp(p) && p.service !== null && !p.disabled);
}

export class PrometheusExporter {
  private readonly sockets = new Set<Socket>();
  private readonly servers: Server[] = [];

  private add(server: Server): void {
    this.servers.push(server);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /**
   * Listens on every bind address of every exporter frontend of `config`; `snapshot` is taken per
   * scrape. Rejects (with what was opened closed) when an address cannot be bound.
   */
  static async listen(config: Config, snapshot: () => StatsSnapshot | Promise<StatsSnapshot>): Promise<PrometheusExporter> {
    const exporter = new PrometheusExporter();
    try {
      for (const proxy of exporterFrontends(config)) {
        const path = proxy.service!.path;
        for (const line of proxy.binds) {
          for (const address of line.addresses) {
            const server = createServer((request, response) => void answer(request, response, path, snapshot));
            // A scraper keeps its connection open between scrapes; nothing else needs long ones.
            server.keepAliveTimeout = 30_000;
            exporter.add(server);
            await new Promise<void>((resolve, reject) => {
              server.once('error', (error: NodeJS.ErrnoException) =>
                reject(new EpoxyError(`Starting proxy ${proxy.name}: cannot bind socket (${error.code ?? error.message}) [${address.toString()}]`, ErrorCodes.PROCESS)),
              );
              if (address.family === 'unix') server.listen(address.address, resolve);
              else server.listen(address.port, address.address, resolve);
            });
          }
        }
      }
    } catch (error) {
      await exporter.close();
      throw error;
    }
    return exporter;
  }

  /** Where each server listens ('127.0.0.1:9101'), in configuration order. */
  get addresses(): string[] {
    return this.servers.map((server) => {
      const address = server.address();
      return typeof address === 'string' || address === null ? String(address) : `${address.address}:${address.port}`;
    });
  }

  /** Stops listening and closes the scrapers' connections. */
  async close(): Promise<void> {
    const closing = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closing);
  }
}

async function answer(request: IncomingMessage, response: ServerResponse, path: string | null, snapshot: () => StatsSnapshot | Promise<StatsSnapshot>): Promise<void> {
  const target = new URL(request.url ?? '/', 'http://exporter');
  if (path !== null && target.pathname !== path) {
    // What else would have been routed has nowhere to go: HAProxy's answer without a backend.
    response.writeHead(503, { 'content-type': 'text/plain' }).end('503 Service Unavailable\n');
    return;
  }
  try {
    const body = prometheusText(await snapshot());
    response.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
  } catch (error) {
    response.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
  }
}
