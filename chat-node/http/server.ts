/**
 * The node's one HTTP server: CORS first, the web app's files for GET and HEAD outside the API, the
 * API router for requests, `/v1/ws` upgrades to the gateway, every other upgrade 404, and a plain
 * 400 for requests Node's parser rejects.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Gateway } from '../ws/gateway.ts';
import type { Cors } from './cors.ts';
import { refuseHandshake } from './handshake.ts';
import type { Router } from './router.ts';
import type { StaticFiles } from './static-files.ts';

/** What the admin port serves when it is apart (CHAT_ADMIN_PORT); the client port then serves the rest. */
export function isAdminPath(path: string): boolean {
  return path.startsWith('/admin/') || path === '/metrics' || path === '/healthz' || path === '/readyz';
}
const ADMIN_ONLY = (path: string) => path.startsWith('/admin/') || path === '/metrics';

export function createHttpServer(deps: {
  router: Router;
  gateway: Gateway;
  metrics: Metrics;
  log: Logger;
  /** CORS headers and preflights (http/cors.ts). */
  cors?: Cors;
  /** The web app at `/` (http/static-files.ts). */
  files?: StaticFiles;
  /**
   * `client`: the client port of a node whose admin port is apart (no admin API, no /metrics);
   * `admin`: that admin port (nothing else). Default: everything on one port.
   */
  part?: 'client' | 'admin';
}): Server {
  const { router, gateway, metrics, log, cors, files, part } = deps;
  const server = createServer((req, res) => {
    if (part !== undefined) {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (part === 'admin' ? !isAdminPath(path) : ADMIN_ONLY(path)) {
        const message = `${path} is not served on this port${part === 'admin' ? ' (the admin port)' : ' (see CHAT_ADMIN_PORT)'}`;
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'not_found', message } }));
        return;
      }
    }
    if (cors?.handle(req, res)) return metrics.httpRequests.inc({ route: 'preflight', status: 204 });
    if (files?.handles(req)) {
      files.serve(req, res).then(
        (status) => metrics.httpRequests.inc({ route: 'static', status }),
        (err) => log.error({ err }, 'static file failed'),
      );
      return;
    }
    router.handle(req, res).then(
      ({ route, status, code }) => {
        metrics.httpRequests.inc({ route, status });
        if (code) metrics.errors.inc({ code });
      },
      (err) => log.error({ err }, 'http handler failed'),
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/v1/ws' || part === 'admin') return refuseHandshake(socket, 404);
    gateway.handleUpgrade(req, socket, head, url);
  });
  server.on('clientError', (_err, socket) => refuseHandshake(socket, 400));
  return server;
}

/**
 * Listens on `host:port` (0 picks a free port) and resolves with the bound port. With `reusePort`,
 * the event loops of one node each listen on the same port and the kernel spreads connections.
 */
export function listen(server: Server, port: number, host: string, reusePort = false): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ...(reusePort && { reusePort: true }) }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting, closes idle connections, and cuts the rest after `graceMs`. */
export function closeServer(server: Server, graceMs = 2000): Promise<void> {
  server.closeIdleConnections();
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs).unref();
  });
}
