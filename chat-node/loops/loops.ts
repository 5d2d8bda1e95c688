/**
 * A node of several event loops (CHAT_WORKERS > 1). The main thread opens the backends once (one
 * store writer, one connection to each real backend), announces the node and serves the backends
 * to `count` worker threads over rpc.ts. Each thread is a whole chat node on proxied backends
 * (node.ts with `loop` set: its own gateway, HTTP server and services) listening on the same port
 * with SO_REUSEPORT, so the kernel spreads the connections. Every message and event the bus
 * delivers goes to every loop, which hands it to its own devices; Snowflake ids are minted by each
 * loop in a lane of its own (common/snowflake.ts), so no two loops mint one id.
 */
import { Worker } from 'node:worker_threads';
import {
  AggregatorRegistry,
  collectDefaultMetrics,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';
import type { LoadReport } from '../../common/admin-api.ts';
import { errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { defaultPublicUrl, type NodeConfig } from '../../common/node-config.ts';
import { startAnnouncer } from '../announcer.ts';
import type { Backends, PresenceBackend } from '../backends/types.ts';
import { closeBackends, createBackends } from '../backends/wiring.ts';
import { loadOrCreateSecret } from '../chat/tokens.ts';
import { advertisedUrl } from '../discovery.ts';
import type { ChatNode } from '../node.ts';
import { methodNames, Rpc } from './rpc.ts';

/** How often the node refreshes its registry entry (as node.ts). */
const ANNOUNCE_MS = 2000;
/** How often the loops learn whether the backends are ready. */
const READINESS_MS = 250;

/** What the main thread gives each loop thread (loop-main.ts). */
export interface LoopData {
  config: NodeConfig;
  index: number;
  count: number;
  port?: number;
  adminPort?: number;
  nodeId: number;
  kinds: Record<string, string>;
  /** The main thread's bus answers resends at publish (MessageBus.dedupAtPublish). */
  dedupAtPublish: boolean;
  pushName: string;
  devicePush: string[];
  /** The methods each served backend offers. */
  methods: Record<string, string[]>;
}

/** The readiness of the backends as the loops see it. */
export type Readiness = Record<'store' | 'bus' | 'presence' | 'registry' | 'mayMint' | 'allLoops', boolean>;

/** What main.ts needs of a node, and how many loops it runs. */
export type LoopsNode = Pick<ChatNode, 'nodeId' | 'url' | 'port' | 'drain' | 'close'> & {
  readonly workers: number;
};

interface Loop {
  worker: Worker;
  rpc: Rpc;
}

/**
 * Watches by several loops of one user, counted: the shared presence stops sending a user's changes
 * only once no loop watches them.
 */
function countedWatches(presence: PresenceBackend) {
  const watchers = new Map<string, number>();
  return {
    watch: async (userIds: string[]) => {
      for (const u of userIds) watchers.set(u, (watchers.get(u) ?? 0) + 1);
      await presence.watch?.(userIds);
    },
    unwatch: (userIds: string[]) => {
      const gone: string[] = [];
      for (const u of userIds) {
        const n = (watchers.get(u) ?? 0) - 1;
        if (n > 0) watchers.set(u, n);
        else if (watchers.delete(u)) gone.push(u);
      }
      if (gone.length > 0) presence.unwatch?.(gone);
    },
  };
}

/** `n` sessions to move, taken from loops holding `free` movable ones each: in proportion, exactly n in all. */
export function splitShed(n: number, free: readonly number[]): number[] {
  const total = free.reduce((a, b) => a + b, 0);
  if (n >= total) return [...free];
  const counts = free.map((f) => Math.floor((n * f) / total));
  let left = n - counts.reduce((a, b) => a + b, 0);
  for (let i = 0; left > 0; i = (i + 1) % free.length) {
    if (counts[i]! < free[i]!) {
      counts[i]!++;
      left--;
    }
  }
  return counts;
}

export async function startLoops(
  config: NodeConfig,
  deps: { log: Logger; count: number; onFatal?: (err: Error) => void },
): Promise<LoopsNode> {
  const { log, count } = deps;
  const fatal =
    deps.onFatal ??
    ((err: Error) => {
      log.fatal({ err: errorMessage(err) }, 'stopping: the node cannot go on safely');
      process.exit(1);
    });
  const backends: Backends = await createBackends(config, log, { onFatal: fatal });
  const { store, bus, presence, registry, nodeId } = backends;
  // One secret for every loop, made before any of them starts (they would race to create it). The
  // limits against guessing and mass sign-ups are the node's: each loop (whichever one a request
  // lands on) takes its share, so the node as a whole never allows more than configured.
  const share = (limit: number) => Math.max(1, Math.floor(limit / count));
  const loopConfig: NodeConfig = {
    ...config,
    jwtSecret: config.jwtSecret ?? loadOrCreateSecret(config.dataDir),
    loginFailuresPerAccount: share(config.loginFailuresPerAccount),
    signupsPerMinute: share(config.signupsPerMinute),
    loginsPerMinute: share(config.loginsPerMinute),
  };
  const ownMetrics = new Registry();
  collectDefaultMetrics({ register: ownMetrics });

  const watches = countedWatches(presence);
  const served = {
    store,
    bus: {
      publish: bus.publish.bind(bus),
      earlier: bus.earlier.bind(bus),
      settled: bus.settled.bind(bus),
      publishEvent: bus.publishEvent.bind(bus),
    },
    presence: {
      deviceOnline: presence.deviceOnline.bind(presence),
      deviceActive: presence.deviceActive.bind(presence),
      deviceOffline: presence.deviceOffline.bind(presence),
      get: presence.get.bind(presence),
      ...(presence.nodesOf && { nodesOf: presence.nodesOf.bind(presence) }),
      ...(presence.watch && watches),
    },
    registry: { list: registry.list.bind(registry) },
    tickets: {
      put: backends.tickets.put.bind(backends.tickets),
      take: backends.tickets.take.bind(backends.tickets),
    },
    push: { send: backends.push.send.bind(backends.push) },
    devicePush: {
      send: (service: string, token: string, n: Parameters<Backends['push']['send']>[0]) => {
        const p = backends.devicePush[service as keyof Backends['devicePush']];
        if (!p) throw new Error(`no ${service} push on this node`);
        return p.send(token, n);
      },
    },
  };
  const methods: Record<string, string[]> = {};
  for (const [name, target] of Object.entries(served)) {
    methods[name] = methodNames(target).filter((m) => !['isReady', 'close'].includes(m));
  }

  const loops: Loop[] = [];
  let closing = false;
  let draining = false;
  const readiness = (): Readiness => ({
    store: store.isReady(),
    bus: bus.isReady(),
    presence: presence.isReady(),
    registry: registry.isReady(),
    mayMint: backends.mayMint(),
    allLoops: loops.length === count,
  });
  const loads = () => Promise.all(loops.map((l) => l.rpc.call<LoadReport>('loop', 'load')));
  let url = config.publicUrl ? advertisedUrl(config.publicUrl, config.publicPortBase, nodeId) : '';
  const sum = (reports: LoadReport[], f: (r: LoadReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const load = async (): Promise<LoadReport> => {
    const reports = await loads();
    return {
      nodeId,
      url,
      connections: sum(reports, (r) => r.connections),
      capacity: config.capacity,
      draining,
      moving: sum(reports, (r) => r.moving),
      loops: reports.map((r) => r.connections),
    };
  };
  let announce = async (): Promise<void> => {};
  const eachLoop = async (method: string, args: (i: number) => unknown[]) =>
    (await Promise.all(loops.map((l, i) => l.rpc.call<number>('loop', method, args(i))))).reduce(
      (a, b) => a + (b ?? 0),
      0,
    );
  const node = {
    load,
    /** Exactly `n` (or all there are), split over the loops by their movable sessions, each at its share of the rate. */
    shed: async (n: number, ratePerSec: number, toUrl?: string) => {
      const counts = splitShed(
        n,
        (await loads()).map((r) => r.connections - r.moving),
      );
      const total = Math.max(
        1,
        counts.reduce((a, b) => a + b, 0),
      );
      return eachLoop('shed', (i) => [counts[i], Math.max(1, (ratePerSec * counts[i]!) / total), toUrl]);
    },
    drain: async (ratePerSec: number) => {
      draining = true;
      const asked = await eachLoop('drain', () => [ratePerSec / count]);
      void announce();
      return asked;
    },
    undrain: async () => {
      draining = false;
      await eachLoop('undrain', () => []);
      void announce();
    },
    metrics: async () => {
      const all = [
        await ownMetrics.getMetricsAsJSON(),
        ...(await Promise.all(
          loops.map((l) => l.rpc.call<MetricObjectWithValues<MetricValue<string>>[]>('loop', 'metricsJson')),
        )),
      ];
      return AggregatorRegistry.aggregate(
        all as Parameters<typeof AggregatorRegistry.aggregate>[0],
      ).metrics();
    },
  };

  const startLoop = (index: number, port?: number, adminPort?: number) =>
    new Promise<{ loop: Loop; port: number; adminPort: number }>((resolve, reject) => {
      const data: LoopData = {
        config: loopConfig,
        index,
        count,
        port,
        adminPort,
        nodeId,
        kinds: backends.kinds,
        dedupAtPublish: bus.dedupAtPublish === true,
        pushName: backends.push.name,
        devicePush: Object.keys(backends.devicePush),
        methods,
      };
      const worker = new Worker(new URL('./loop-main.ts', import.meta.url), { workerData: data });
      const rpc = new Rpc(worker);
      for (const [name, target] of Object.entries(served)) rpc.serve(name, target);
      rpc.serve('node', node);
      const loop = { worker, rpc };
      let started = false;
      rpc.serve('started', {
        listening: (p: { port: number; adminPort: number }) => {
          started = true;
          resolve({ loop, ...p });
        },
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
        else fatal(new Error(`event loop ${index} failed: ${errorMessage(err)}`));
      });
      worker.on('exit', (code) => {
        if (!started) reject(new Error(`event loop ${index} exited with ${code} before listening`));
        else if (!closing) fatal(new Error(`event loop ${index} exited with ${code}`));
      });
    });

  try {
    const first = await startLoop(0, undefined, undefined);
    loops.push(first.loop);
    for (let i = 1; i < count; i++) loops.push((await startLoop(i, first.port, first.adminPort)).loop);
    url ||= defaultPublicUrl(config.host, first.port);

    // Deliveries and events reach every loop; each hands them to its own devices.
    bus.onMessage((e) => {
      for (const l of loops) l.rpc.notify('events', 'message', [e]);
    });
    bus.onEvent((e) => {
      for (const l of loops) l.rpc.notify('events', 'event', [e]);
    });
    presence.onChange((p) => {
      for (const l of loops) l.rpc.notify('events', 'presence', [p]);
    });
    let last = '';
    const tellReadiness = () => {
      const r = readiness();
      const key = JSON.stringify(r);
      if (key === last) return;
      last = key;
      for (const l of loops) l.rpc.notify('events', 'readiness', [r]);
    };
    tellReadiness();
    const readinessTimer = setInterval(tellReadiness, READINESS_MS);
    readinessTimer.unref();

    const adminUrl =
      config.adminUrl ??
      (config.adminPort !== undefined ? defaultPublicUrl(config.host, first.adminPort) : undefined);
    const startedAt = Date.now();
    const announcer = startAnnouncer({
      registry,
      log,
      intervalMs: ANNOUNCE_MS,
      info: async () => {
        const l = await load();
        return {
          nodeId,
          url,
          connections: l.connections,
          capacity: config.capacity,
          draining,
          zone: config.zone,
          adminUrl,
          startedAt,
          updatedAt: Date.now(),
        };
      },
    });
    announce = () => announcer.announce();
    await announce();
    log.info(
      { url, nodeId, workers: count, backends: backends.kinds, dataDir: config.dataDir },
      `chat node ${nodeId} listening on ${url} (${count} event loops)`,
    );

    return {
      nodeId,
      url,
      port: first.port,
      workers: count,
      async drain({ ratePerSec = 500, timeoutMs = 15_000 } = {}) {
        draining = true;
        await announce();
        await eachLoop('drainAll', () => [{ ratePerSec: ratePerSec / count, timeoutMs }]);
      },
      async close() {
        if (closing) return;
        closing = true;
        clearInterval(readinessTimer);
        await announcer.stop();
        await Promise.allSettled(loops.map((l) => l.rpc.call('loop', 'close')));
        await Promise.allSettled(
          loops.map((l) => {
            l.rpc.close();
            return l.worker.terminate();
          }),
        );
        await closeBackends(backends);
        log.info({ nodeId }, 'chat node stopped');
      },
    };
  } catch (err) {
    closing = true;
    await Promise.allSettled(loops.map((l) => l.worker.terminate()));
    await closeBackends(backends);
    throw err;
  }
}
