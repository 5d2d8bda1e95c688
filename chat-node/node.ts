/**
 * A chat node: backends from backends/wiring.ts, the chat services on top (services.ts), one HTTP
 * server for the API and `/v1/ws` upgrades (http/server.ts), and its entry in the node registry
 * (announcer.ts). `startNode` returns once the node is listening.
 */
import { errorMessage } from '../common/errors.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { defaultPublicUrl, type NodeConfig } from '../common/node-config.ts';
import { type Announcer, startAnnouncer } from './announcer.ts';
import type { Backends } from './backends/types.ts';
import { closeBackends, createBackends } from './backends/wiring.ts';
import type { PushDispatcher } from './chat/push-dispatcher.ts';
import { advertisedUrl, Discovery } from './discovery.ts';
import { type AdminControls, addAdminRoutes } from './http/admin.ts';
import { createApi } from './http/api.ts';
import { Cors } from './http/cors.ts';
import { closeServer, createHttpServer, listen } from './http/server.ts';
import { StaticFiles, WEB_ROOT } from './http/static-files.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createServices } from './services.ts';
import type { Gateway } from './ws/gateway.ts';

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
  /** Set when this node is one event loop of several (loops/): what the main thread does for all. */
  loop?: LoopDeps;
}

/** What an event-loop thread of a node of several gets from the main thread (loops/loop-main.ts). */
export interface LoopDeps {
  index: number;
  count: number;
  /** The node's admin controls, over every loop (this loop's own are ChatNode.admin). */
  admin: AdminControls;
  /** The node's /metrics, every loop's counters summed. */
  metricsText: () => Promise<string>;
  /** The port the first loop bound (the others listen on it too, SO_REUSEPORT); unset for the first. */
  port?: number;
  adminPort?: number;
  /** Why the node is not ready as a whole (its other loops are still starting), if so. */
  notReady?: () => string | undefined;
}

export interface ChatNode {
  readonly nodeId: number;
  /** The URL this node advertises (CHAT_PUBLIC_URL or derived from the bound port). */
  readonly url: string;
  readonly port: number;
  /** The port of the admin API and /metrics: CHAT_ADMIN_PORT's, or the client port when it is unset. */
  readonly adminPort: number;
  readonly metrics: Metrics;
  readonly gateway: Gateway;
  readonly push: PushDispatcher;
  readonly backends: Backends;
  /** This node's admin controls (of this event loop alone, on a node of several). */
  readonly admin: AdminControls;
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
      log.fatal({ err: errorMessage(err) }, 'stopping: the node cannot go on safely');
      process.exit(1);
    });
  const backends = deps.backends ?? (await createBackends(config, log, { onFatal }));
  const { store, bus, presence, registry, nodeId } = backends;
  const services = await createServices(config, backends, {
    log,
    metrics,
    clock,
    lane: deps.loop && { index: deps.loop.index, count: deps.loop.count },
  });
  const { tokens, validity, accounts, groups, messaging, push, gateway, turns } = services;

  let url = config.publicUrl ? advertisedUrl(config.publicUrl, config.publicPortBase, nodeId) : '';
  // Set once the node listens and knows its URL.
  let announcer: Announcer | undefined;
  const announce = async () => announcer?.announce();
  let closing = false;
  const notReady = (): string | undefined => {
    if (closing) return 'shutting down';
    if (gateway.draining) return 'draining';
    const loops = deps.loop?.notReady?.();
    if (loops) return loops;
    for (const [name, b] of Object.entries({ store, bus, presence, registry }))
      if (!b.isReady()) return `${name} is not ready`;
    return undefined;
  };
  const discovery = new Discovery();
  const router = createApi({
    discovery,
    accounts,
    groups,
    messaging,
    profiles: services.profiles,
    contacts: services.contacts,
    conversations: services.conversations,
    changes: services.changes,
    presence,
    registry,
    tokens,
    validity,
    tickets: services.tickets,
    devices: { store, services: () => push.services(), vapidPublicKey: config.pushVapidPublicKey, clock },
    turns,
    metrics,
    metricsText: deps.loop?.metricsText,
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
    shed: async (count, ratePerSec, toUrl) => {
      // Each session is sent to a node of its own, counted as discovery counts its answers: left to
      // discovery, a client could be sent back here before this node's registry entry shows it left.
      const nodes = toUrl ? [] : await registry.list();
      const target = () => discovery.pick(nodes, config.zone, nodeId)?.url;
      return gateway.move({ count, reason: 'rebalance', ratePerSec, url: toUrl ?? target });
    },
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
  addAdminRoutes(router, config.adminToken, deps.loop?.admin ?? admin);

  const files = config.webApp ? new StaticFiles(WEB_ROOT) : undefined;
  if (files && !files.available)
    log.warn(`the web app is not built: run \`npm run web:build\` (or npm start) to serve it at /`);
  const cors = new Cors(config.corsOrigins ?? [], router.methods());
  // CHAT_ADMIN_PORT: the admin API and /metrics on a port of their own, which the client port refuses.
  const apart = config.adminPort !== undefined;
  const server = createHttpServer({
    router,
    gateway,
    metrics,
    log,
    cors,
    files,
    part: apart ? 'client' : undefined,
  });
  const reusePort = deps.loop !== undefined;
  const port = await listen(server, deps.loop?.port ?? config.port, config.host, reusePort);
  url ||= defaultPublicUrl(config.host, port);
  const adminServer = apart ? createHttpServer({ router, gateway, metrics, log, part: 'admin' }) : undefined;
  const adminPort = adminServer
    ? await listen(adminServer, deps.loop?.adminPort ?? config.adminPort ?? 0, config.host, reusePort)
    : port;
  const adminUrl = config.adminUrl ?? (apart ? defaultPublicUrl(config.host, adminPort) : undefined);
  const startedAt = clock();
  // A node of several loops is announced by its main thread, with every loop's connections.
  if (!deps.loop)
    announcer = startAnnouncer({
      registry,
      log,
      intervalMs: ANNOUNCE_MS,
      info: () => ({
        nodeId,
        url,
        connections: gateway.sessions.size,
        capacity: config.capacity,
        draining: gateway.draining,
        zone: config.zone,
        adminUrl,
        startedAt,
        updatedAt: clock(),
      }),
    });
  await announce();
  if (!deps.loop)
    log.info(
      { url, nodeId, backends: backends.kinds, dataDir: config.dataDir },
      `chat node ${nodeId} listening on ${url}`,
    );

  return {
    nodeId,
    url,
    port,
    adminPort,
    metrics,
    gateway,
    push,
    backends,
    admin,
    async drain({ ratePerSec = 500, timeoutMs = 15_000 } = {}) {
      await admin.drain(ratePerSec);
      await announce();
      const deadline = clock() + timeoutMs;
      while (gateway.sessions.size > 0 && clock() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
    async close() {
      if (closing) return;
      closing = true;
      await announcer?.stop();
      gateway.close();
      push.close();
      await closeServer(server);
      if (adminServer) await closeServer(adminServer);
      await closeBackends(backends);
      log.info({ nodeId }, 'chat node stopped');
    },
  };
}
