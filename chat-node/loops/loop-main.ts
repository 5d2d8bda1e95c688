/**
 * One event loop of a node of several (loops.ts): a chat node on the main thread's backends, called
 * over rpc.ts. Its own state (connections, rate limits, caches) is this loop's; what the node shares
 * (admin, /metrics, the registry entry) is asked of the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../common/logger.ts';
import type { PresenceInfo } from '../../common/protocol.ts';
import type {
  Backends,
  DevicePushProvider,
  Envelope,
  MessageBus,
  NodeRegistry,
  PresenceBackend,
  PushService,
  Store,
  TicketStore,
  UserEvent,
} from '../backends/types.ts';
import type { AdminControls } from '../http/admin.ts';
import { createMetrics } from '../metrics.ts';
import { startNode } from '../node.ts';
import type { LoopData, Readiness } from './loops.ts';
import { proxyOf, Rpc } from './rpc.ts';

const data = workerData as LoopData;
const rpc = new Rpc(parentPort!);
// Ready as the backends were when the main thread started this loop; it tells every change.
const state: Readiness = {
  store: true,
  bus: true,
  presence: true,
  registry: true,
  mayMint: true,
  allLoops: false,
};
const handlers = {
  message: [] as ((e: Envelope) => void)[],
  event: [] as ((e: UserEvent) => void)[],
  presence: [] as ((p: PresenceInfo) => void)[],
};
rpc.serve('events', {
  message: (e: Envelope) => {
    for (const h of handlers.message) h(e);
  },
  event: (e: UserEvent) => {
    for (const h of handlers.event) h(e);
  },
  presence: (p: PresenceInfo) => {
    for (const h of handlers.presence) h(p);
  },
  readiness: (r: Readiness) => Object.assign(state, r),
});

const closed = async () => {};
const m = data.methods;
const backends: Backends = {
  store: proxyOf<Store>(rpc, 'store', m.store!, { isReady: () => state.store, close: closed }),
  bus: proxyOf<MessageBus>(rpc, 'bus', m.bus!, {
    dedupAtPublish: data.dedupAtPublish,
    onMessage: (h) => void handlers.message.push(h),
    onEvent: (h) => void handlers.event.push(h),
    isReady: () => state.bus,
    close: closed,
  }),
  presence: proxyOf<PresenceBackend>(rpc, 'presence', m.presence!, {
    onChange: (h) => void handlers.presence.push(h),
    isReady: () => state.presence,
    close: closed,
  }),
  registry: proxyOf<NodeRegistry>(rpc, 'registry', m.registry!, {
    announce: closed,
    withdraw: closed,
    isReady: () => state.registry,
    close: closed,
  }),
  push: { name: data.pushName, send: (n) => rpc.call('push', 'send', [n]) },
  devicePush: Object.fromEntries(
    data.devicePush.map((service) => [
      service,
      {
        service: service as PushService,
        send: (token, n) => rpc.call('devicePush', 'send', [service, token, n]),
        close: closed,
      } satisfies DevicePushProvider,
    ]),
  ),
  tickets: proxyOf<TicketStore>(rpc, 'tickets', m.tickets!, { close: closed }),
  nodeId: data.nodeId,
  mayMint: () => state.mayMint,
  release: closed,
  kinds: data.kinds,
};

const { config } = data;
const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: 'chat-node' }).child({
  loop: data.index,
});
const nodeAdmin: AdminControls = {
  load: () => rpc.call('node', 'load'),
  shed: (count, ratePerSec, url) => rpc.call('node', 'shed', [count, ratePerSec, url]),
  drain: (ratePerSec) => rpc.call('node', 'drain', [ratePerSec]),
  undrain: () => rpc.call('node', 'undrain'),
};
const metrics = createMetrics({ defaultMetrics: false });
const node = await startNode(config, {
  log,
  metrics,
  backends,
  loop: {
    index: data.index,
    count: data.count,
    admin: nodeAdmin,
    metricsText: () => rpc.call('node', 'metrics'),
    port: data.port,
    adminPort: data.adminPort,
    notReady: () => (state.allLoops ? undefined : 'its other event loops are starting'),
  },
});
rpc.serve('loop', {
  load: () => node.admin.load(),
  shed: (count: number, ratePerSec: number, url?: string) => node.admin.shed(count, ratePerSec, url),
  drain: (ratePerSec: number) => node.admin.drain(ratePerSec),
  undrain: () => node.admin.undrain(),
  drainAll: (o: { ratePerSec: number; timeoutMs: number }) => node.drain(o),
  metricsJson: () => metrics.registry.getMetricsAsJSON(),
  close: () => node.close(),
});
rpc.notify('started', 'listening', [{ port: node.port, adminPort: node.adminPort }]);
