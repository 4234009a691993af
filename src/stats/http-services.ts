/**
 * Serving the two HTTP uses epoxy has: the Prometheus exporter (a `mode http` frontend with
 * `http-request use-service prometheus-exporter`) and the stats page (a `mode http` listen or
 * frontend with `stats` lines). Each such section listens with Node's http module on its bind
 * addresses and answers from a fresh snapshot. It is control plane, like the checks: in a single
 * process it runs in that process, under a master in the master (from its workers' totals, its
 * admin actions sent to every worker), never in a worker, so a reader sees the whole of epoxy once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { servesHttp, type Config, type ProxyConfig } from '../config/model.js';
import type { CommandResult } from '../control/commands.js';
import { EpoxyError, ErrorCodes } from '../errors.js';
import { prometheusText } from './prometheus.js';
import { answerStatsPage, serviceUnavailable } from './stats-page.js';
import type { StatsSnapshot } from './stats.js';

/** The exposition format's content type (text format 0.0.4). */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What the HTTP services read and act on: the process's (or the master's summed) view. */
export interface HttpServicesSource {
  /** Taken per request. */
  snapshot: () => StatsSnapshot | Promise<StatsSnapshot>;
  /** Runs a runtime-API command at admin level (the stats page's admin actions). */
  runCommand: (command: string) => Promise<CommandResult>;
}

/** The sections of `config` served over HTTP (the exporter's frontends, the stats pages). */
export function httpFrontends(config: Config): ProxyConfig[] {
  return config.proxies.filter((p) => servesHttp(p) && (p.service !== null || p.statsPage !== null) && !p.disabled);
}

export class HttpServices {
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
   * Listens on every bind address of every HTTP section of `config`. Rejects (with what was
   * opened closed) when an address cannot be bound.
   */
  static async listen(config: Config, source: HttpServicesSource): Promise<HttpServices> {
    const services = new HttpServices();
    try {
      for (const proxy of httpFrontends(config)) {
        const handler = requestHandler(proxy, config, source);
        for (const line of proxy.binds) {
          for (const address of line.addresses) {
            const server = createServer((request, response) => void handler(request, response));
            // A scraper or a refreshing browser keeps its connection open between requests.
            server.keepAliveTimeout = 30_000;
            services.add(server);
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
      await services.close();
      throw error;
    }
    return services;
  }

  /** Where each server listens ('127.0.0.1:9101'), in configuration order. */
  get addresses(): string[] {
    return this.servers.map((server) => {
      const address = server.address();
      return typeof address === 'string' || address === null ? String(address) : `${address.address}:${address.port}`;
    });
  }

  /** Stops listening and closes the clients' connections. */
  async close(): Promise<void> {
    const closing = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closing);
  }
}

type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

function requestHandler(proxy: ProxyConfig, config: Config, source: HttpServicesSource): Handler {
  const page = proxy.statsPage;
  if (page !== null) return (request, response) => answerStatsPage(request, response, { page, config, ...source });
  const path = proxy.service!.path;
  return (request, response) => answerExporter(request, response, path, source.snapshot);
}

async function answerExporter(request: IncomingMessage, response: ServerResponse, path: string | null, snapshot: () => StatsSnapshot | Promise<StatsSnapshot>): Promise<void> {
  const target = new URL(request.url ?? '/', 'http://exporter');
  if (path !== null && target.pathname !== path) {
    serviceUnavailable(response);
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
