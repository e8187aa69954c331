/**
 * The HTTP admin port of a node or router: `/metrics` (Prometheus text), `/healthz`, and
 * whatever extra routes the owner adds (the router serves its status page here). Off unless
 * `--admin-port` is given. Loopback or a private interface only: it has no authentication.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.ts';

export type AdminRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly metrics: Metrics;
  /** Extra GET routes by exact path. */
  readonly routes?: Readonly<Record<string, AdminRoute>>;
  /**
   * If `port` is taken, listen on a free port instead (reported through `onFallback`) rather
   * than fail: a busy metrics port must not keep a node from serving. Default true.
   */
  readonly fallbackToFreePort?: boolean;
  readonly onFallback?: (wanted: number, err: Error) => void;
}

export interface AdminServer {
  /** host:port actually bound. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startAdminServer(o: AdminServerOptions): Promise<AdminServer> {
  const routes: Record<string, AdminRoute> = {
    '/metrics': async (_req, res) => {
      const text = await o.metrics.text();
      res.writeHead(200, { 'content-type': o.metrics.registry.contentType }).end(text);
    },
    '/healthz': (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'),
    ...o.routes,
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = req.method === 'GET' || req.method === 'HEAD' ? routes[path] : undefined;
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    Promise.resolve(route(req, res)).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${err.message}\n`);
    });
  });
  server.keepAliveTimeout = 5000;
  const listen = (port: number): Promise<void> => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    await listen(o.port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || o.port === 0 || o.fallbackToFreePort === false) throw err;
    o.onFallback?.(o.port, err as Error);
    await listen(0);
  }
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.address}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
