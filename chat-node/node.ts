/**
 * A chat node: backends from wiring.ts, the chat services on top, and one HTTP server that serves
 * the API and upgrades `/v1/ws` to WebSockets. `startNode` returns once the node is listening.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../common/errors.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { defaultPublicUrl, type NodeConfig } from '../common/node-config.ts';
import type { NodeInfo } from '../common/node-registry.ts';
import { Snowflake } from '../common/snowflake.ts';
import type { Backends } from './backends/types.ts';
import { createBackends } from './backends/wiring.ts';
import { Accounts } from './chat/accounts.ts';
import { Groups } from './chat/groups.ts';
import { Messaging } from './chat/messaging.ts';
import { PushDispatcher } from './chat/push-dispatcher.ts';
import { loadOrCreateSecret, Tokens } from './chat/tokens.ts';
import { type AdminControls, addAdminRoutes } from './http/admin.ts';
import { createApi } from './http/api.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { Gateway } from './ws/gateway.ts';

export interface NodeDeps {
  log?: Logger;
  metrics?: Metrics;
  clock?: () => number;
  /** Backends built by the caller instead of wiring.ts (tests of a backend). */
  backends?: Backends;
  /**
   * Called when the node can no longer run safely (it lost its Snowflake node id). Default: log and
   * exit the process with status 1, so that its supervisor restarts it with a fresh id.
   */
  onFatal?: (err: Error) => void;
}

export interface ChatNode {
  readonly nodeId: number;
  /** The URL this node advertises (CHAT_PUBLIC_URL or derived from the bound port). */
  readonly url: string;
  readonly port: number;
  readonly metrics: Metrics;
  readonly gateway: Gateway;
  readonly push: PushDispatcher;
  readonly backends: Backends;
  /** Asks every client to reconnect elsewhere at `ratePerSec`, then waits (≤ timeoutMs) for them to leave. */
  drain(options?: { ratePerSec?: number; timeoutMs?: number }): Promise<void>;
  /** Stops serving and closes every backend. */
  close(): Promise<void>;
}

/** How often the node refreshes its registry entry. */
const ANNOUNCE_MS = 2000;

export async function startNode(config: NodeConfig, deps: NodeDeps = {}): Promise<ChatNode> {
  const log =
    deps.log ?? createLogger({ level: config.logLevel, pretty: config.logPretty, name: 'chat-node' });
  const metrics = deps.metrics ?? createMetrics();
  const clock = deps.clock ?? Date.now;
  const onFatal =
    deps.onFatal ??
    ((err: Error) => {
      log.fatal({ err: err.message }, 'stopping: the node cannot go on safely');
      process.exit(1);
    });
  const backends = deps.backends ?? (await createBackends(config, log, { onFatal }));
  const { store, bus, presence, registry, nodeId } = backends;

  const tokens = new Tokens(config.jwtSecret ?? loadOrCreateSecret(config.dataDir), config.tokenTtlSec);
  const ids = new Snowflake(nodeId, { clock, floor: await store.maxMessageId(nodeId) });
  const push = new PushDispatcher({
    provider: backends.push,
    log,
    metrics,
    maxAttempts: config.pushMaxAttempts,
    queueSize: config.pushQueueSize,
  });
  const accounts = new Accounts({ store, tokens, clock });
  const groups = new Groups({ store, clock });
  const messaging = new Messaging({
    store,
    bus,
    presence,
    ids,
    push,
    metrics,
    maxPendingSends: config.maxPendingSends,
  });
  const gateway = new Gateway({
    nodeId,
    heartbeatMs: config.heartbeatMs,
    framesPerSecond: config.framesPerSecond,
    frameBurst: config.frameBurst,
    maxBufferedBytes: config.maxBufferedBytes,
    tokens,
    messaging,
    presence,
    metrics,
    log,
    clock,
  });
  bus.onMessage((e) => gateway.sessions.deliver(e));
  bus.onEvent((e) => gateway.sessions.deliverEvent(e));

  let url = config.publicUrl ?? '';
  // Replaced once the node listens and knows its URL.
  let announce: () => Promise<void> = async () => {};
  let closing = false;
  const notReady = (): string | undefined => {
    if (closing) return 'shutting down';
    if (gateway.draining) return 'draining';
    for (const [name, b] of Object.entries({ store, bus, presence, registry }))
      if (!b.isReady()) return `${name} is not ready`;
    return undefined;
  };
  const router = createApi({
    accounts,
    groups,
    messaging,
    presence,
    registry,
    tokens,
    metrics,
    self: () => ({ nodeId, url }),
    notReady,
    limits: config,
    clock,
  });

  const admin: AdminControls = {
    load: () => ({
      nodeId,
      url,
      connections: gateway.sessions.size,
      capacity: config.capacity,
      draining: gateway.draining,
      moving: gateway.sessions.size - gateway.settled,
    }),
    shed: (count, ratePerSec, toUrl) => gateway.move({ count, reason: 'rebalance', ratePerSec, url: toUrl }),
    drain: (ratePerSec) => {
      gateway.draining = true;
      void announce();
      return gateway.move({ count: Number.POSITIVE_INFINITY, reason: 'drain', ratePerSec });
    },
    undrain: () => {
      gateway.draining = false;
      void announce();
    },
  };
  addAdminRoutes(router, config.adminToken, admin);

  const server: Server = createServer((req, res) => {
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
    const reqUrl = new URL(req.url ?? '/', 'http://localhost');
    if (reqUrl.pathname !== '/v1/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    gateway.handleUpgrade(req, socket, head, reqUrl);
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  url ||= defaultPublicUrl(config.host, port);
  const startedAt = clock();
  const info = (): NodeInfo => ({
    nodeId,
    url,
    connections: gateway.sessions.size,
    capacity: config.capacity,
    draining: gateway.draining,
    zone: config.zone,
    startedAt,
    updatedAt: clock(),
  });
  announce = () =>
    registry.announce(info()).catch((err) => log.warn({ err: errorMessage(err) }, 'announce failed'));
  await announce();
  const announcer = setInterval(announce, ANNOUNCE_MS);
  announcer.unref();
  log.info(
    { url, nodeId, backends: backends.kinds, dataDir: config.dataDir },
    `chat node ${nodeId} listening on ${url}`,
  );

  const node: ChatNode = {
    nodeId,
    url,
    port,
    metrics,
    gateway,
    push,
    backends,
    async drain({ ratePerSec = 500, timeoutMs = 15_000 } = {}) {
      admin.drain(ratePerSec);
      await announce();
      const deadline = clock() + timeoutMs;
      while (gateway.sessions.size > 0 && clock() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(announcer);
      await registry.withdraw(nodeId).catch(() => {});
      gateway.close();
      push.close();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, 2000).unref();
      });
      await Promise.allSettled([bus.close(), presence.close(), registry.close()]);
      await store.close();
      await backends.release().catch(() => {});
      log.info({ nodeId }, 'chat node stopped');
    },
  };
  return node;
}
