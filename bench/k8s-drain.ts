/**
 * What drain rates a cluster absorbs, on the real Kubernetes node (`npm run k8s:up`, the images of
 * `npm run images`, the backends of `npm run services:up` published into the namespace): a
 * ChatCluster of 3 nodes made by the chart's operator (then stopped, so that it does not undrain the
 * node drained here by hand), `--clients` connections on node 0, which is drained through its admin
 * API at each of `--rates`; every client, told `reconnect`, waits its `afterMs`, asks discovery
 * (through node 1 or 2, as a client of the Service would), connects where it is sent and `sync`s
 * from the start of its inbox. A sender posts messages to the moving clients all along.
 *
 * Reported per rate: time until node 0 is empty, time until every client has synced again (and the
 * ideal, clients ÷ rate), reconnect time of the moved clients (socket closed → sync answered)
 * p50/p99/max, failed attempts (discovery, handshake, welcome or sync that did not come), clients
 * that never got back, messages acknowledged and lost (acknowledged, never seen by their
 * recipient, live or by the resync), and CPU: each pod's (its /metrics process_cpu_seconds_total),
 * the backends' (their pid files under .services) and this load generator's, over the drain.
 *
 *   npm run bench:drain -- [--clients 3000] [--rates 50,200,500,1000] [--json FILE]
 *
 * Everything stays on the machine: the clients dial the pods' IPs on the node's bridge. It removes
 * what it made (namespace, keyspace, stream, Redis keys) when it ends, also on failure.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import WebSocket from 'ws';
import { CassandraStore } from '../chat-node/backends/real/cassandra-store.ts';
import { DUMMY_HASH } from '../chat-node/chat/passwords.ts';
import { Tokens } from '../chat-node/chat/tokens.ts';
import { AdminClient } from '../common/admin-api.ts';
import { errorMessage } from '../common/errors.ts';
import { randomId } from '../common/ids.ts';
import { createLogger } from '../common/logger.ts';
import type { Message, ReconnectFrame, SyncAnswerFrame, WelcomeFrame } from '../common/protocol.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../operator/chatcluster-schema.ts';
import { chatClusterBody } from '../test/helpers/chatcluster.ts';
import { dropKeyspace, servicesEnv } from '../test/helpers/cluster.ts';
import { deleteStreams, streamOf } from '../test/helpers/streams.ts';
import {
  chatNodeImage,
  chatNodePods,
  installOperator,
  isHomeCluster,
  kubeConfig,
  publishBackends,
  testNamespace,
} from '../test/k8s/cluster.ts';
import { PodAddresses } from '../test/k8s/pod-addresses.ts';
import { cpuSeconds, load1, sleep, waitFor } from './lib/proc.ts';
import { Histogram } from './loadgen/histogram.ts';

const ROOT = join(import.meta.dirname, '..');
const NAME = 'drain';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '3000' },
    rates: { type: 'string', default: '50,200,500,1000' },
    json: { type: 'string' },
  },
});
const CLIENTS = Number(args.clients);
const RATES = args.rates.split(',').map(Number);
if (!Number.isInteger(CLIENTS) || CLIENTS < 1 || CLIENTS > 5000) throw new Error('--clients: 1 to 5000');
if (RATES.some((r) => !(r > 0 && r <= 10_000))) throw new Error('--rates: numbers from 0 to 10000');
if (!isHomeCluster) throw new Error('bench:drain runs on the node of npm run k8s:up (.services/kubeconfig)');

const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

// --- one moving client --------------------------------------------------------------------------

interface Shared {
  /** Pod name → its IP (PodAddresses), to dial the URL discovery answers. */
  rewrite(url: string): string;
  /** Base URLs of the nodes that stay, for discovery. */
  discoveryUrls: string[];
}

/** Attempts to get back after a move before the client counts as failed. */
const ATTEMPTS = 20;

class Client {
  readonly userId: string;
  readonly token: string;
  ws: WebSocket | undefined;
  nodeId = -1;
  heartbeatMs = 0;
  readonly seen = new Set<string>();
  movedAt = 0;
  /** Socket closed → sync answered, ms; undefined until the move is done. */
  reconnectMs: number | undefined;
  failedAttempts = 0;
  gaveUp = false;
  private syncDone: (() => void) | undefined;
  private readonly shared: Shared;
  private readonly index: number;

  constructor(userId: string, token: string, shared: Shared, index: number) {
    this.userId = userId;
    this.token = token;
    this.shared = shared;
    this.index = index;
  }

  /** Opens a socket to `base` and resolves at its welcome. */
  async connect(base: string): Promise<void> {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/ws`, {
      headers: { authorization: `Bearer ${this.token}` },
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('no welcome in 10 s'));
        ws.terminate();
      }, 10_000);
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.once('close', (code) => {
        clearTimeout(timer);
        reject(new Error(`closed before welcome (${code})`));
      });
      ws.once('message', (d: Buffer) => {
        clearTimeout(timer);
        const w = JSON.parse(d.toString()) as WelcomeFrame;
        if (w.type !== 'welcome')
          return reject(new Error(`expected welcome, got ${d.toString().slice(0, 200)}`));
        this.nodeId = w.nodeId;
        this.heartbeatMs = w.heartbeatMs;
        ws.removeAllListeners('close');
        ws.removeAllListeners('error');
        ws.on('error', () => {});
        ws.on('message', (data: Buffer) => this.frame(data));
        resolve();
      });
    });
    this.ws = ws;
  }

  /** Forgets the last move (a new run). */
  reset(): void {
    this.reconnectMs = undefined;
    this.failedAttempts = 0;
    this.gaveUp = false;
    this.movedAt = 0;
  }

  ping(): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send('{"type":"ping"}');
  }

  close(): void {
    this.ws?.terminate();
    this.ws = undefined;
  }

  private frame(data: Buffer): void {
    const f = JSON.parse(data.toString()) as { type: string };
    if (f.type === 'message') this.seen.add((f as unknown as Message).messageId);
    else if (f.type === 'sync') this.syncPage(f as SyncAnswerFrame);
    else if (f.type === 'reconnect') {
      const r = f as ReconnectFrame;
      setTimeout(() => void this.move(), r.afterMs);
    }
  }

  private syncPage(s: SyncAnswerFrame): void {
    let since = '0';
    for (const m of s.messages) {
      this.seen.add(m.messageId);
      if (BigInt(m.messageId) > BigInt(since)) since = m.messageId;
    }
    if (s.more) this.ws?.send(JSON.stringify({ type: 'sync', since, limit: 1000 }));
    else this.syncDone?.();
  }

  /** As an app does on `reconnect`: close, discovery, connect where it says, sync; retry on failure. */
  private async move(): Promise<void> {
    this.close();
    this.movedAt = performance.now();
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const via = this.shared.discoveryUrls[(this.index + attempt) % this.shared.discoveryUrls.length]!;
        const res = await fetch(`${via}/v1/discovery`, {
          headers: { authorization: `Bearer ${this.token}` },
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status !== 200) throw new Error(`discovery: HTTP ${res.status}`);
        const { url } = (await res.json()) as { url: string };
        await this.connect(this.shared.rewrite(url));
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no sync answer in 15 s')), 15_000);
          this.syncDone = () => {
            clearTimeout(timer);
            resolve();
          };
          this.ws!.send(JSON.stringify({ type: 'sync', since: '0', limit: 1000 }));
        });
        this.syncDone = undefined;
        this.reconnectMs = performance.now() - this.movedAt;
        return;
      } catch {
        this.failedAttempts++;
        this.close();
        await sleep(Math.min(2000, 100 * 2 ** attempt) * Math.random());
      }
    }
    this.gaveUp = true;
  }
}

/** Heartbeats for every open client, a tenth of them every tenth of 80 % of the interval. */
function keepAlive(clients: readonly Client[]): () => void {
  const hb = clients.find((c) => c.heartbeatMs > 0)?.heartbeatMs ?? 10_000;
  let slice = 0;
  const timer = setInterval(
    () => {
      for (let i = slice; i < clients.length; i += 10) clients[i]!.ping();
      slice = (slice + 1) % 10;
    },
    Math.floor((hb * 0.8) / 10),
  );
  return () => clearInterval(timer);
}

// --- CPU ----------------------------------------------------------------------------------------

/** A pod's process CPU seconds so far, from its /metrics (admin port). */
async function podCpu(adminUrl: string | undefined, token: string): Promise<number> {
  if (!adminUrl) return Number.NaN;
  const res = await fetch(`${adminUrl}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5000),
  }).catch(() => undefined);
  if (!res?.ok) return Number.NaN;
  const m = /^process_cpu_seconds_total\s+(\S+)/m.exec(await res.text());
  return m ? Number(m[1]) : Number.NaN;
}

function backendPids(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of ['nats', 'redis', 'cassandra']) {
    try {
      out[name] = Number(readFileSync(join(ROOT, '.services', name, `${name}.pid`), 'utf8').trim());
    } catch {}
  }
  return out;
}

// --- the run ------------------------------------------------------------------------------------

interface Row {
  ratePerSec: number;
  clients: number;
  idealSeconds: number;
  drainSeconds: number;
  resyncedSeconds: number;
  resynced: number;
  gaveUp: number;
  failedAttempts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  messages: number;
  lost: number;
  cpuDrained: number;
  cpuTaking: number;
  cpuBackends: number;
  cpuLoadgen: number;
  load1: number;
}

/** What one run shares: the cluster's API clients, its pods and the secrets made for it. */
interface Bench {
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  env: Record<string, string>;
  ns: Awaited<ReturnType<typeof testNamespace>>;
  ref: { group: string; version: string; plural: string; namespace: string; name: string };
  pods: PodAddresses;
  jwt: string;
  adminToken: string;
  keyspace: string;
  operator?: { remove(): Promise<void> };
  operatorDeployment?: string;
  clients: Client[];
}

const podUrl = (b: Bench, o: number) => b.pods.podUrl(`${NAME}-${o}`)!;
const adminOf = (b: Bench, o: number) =>
  new AdminClient(b.pods.adminUrl(`${NAME}-${o}`)!, { token: b.adminToken, timeoutMs: 5000 });
const restarts = async (b: Bench) =>
  (await chatNodePods(b.core, b.ns.name, NAME)).reduce(
    (sum, p) => sum + (p.status?.containerStatuses?.[0]?.restartCount ?? 0),
    0,
  );

async function main(): Promise<void> {
  const kc = kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const ns = await testNamespace(core, 'bdrain');
  const b: Bench = {
    core,
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    env: servicesEnv(),
    ns,
    ref: { group: GROUP, version: VERSION, plural: PLURAL, namespace: ns.name, name: NAME },
    pods: new PodAddresses(core, ns.name),
    jwt: randomBytes(32).toString('hex'),
    adminToken: randomBytes(24).toString('hex'),
    keyspace: `bench_drain_${randomBytes(3).toString('hex')}`,
    clients: [],
  };
  try {
    await startCluster(b);
    const senderToken = await createClients(b);
    const pids = backendPids();
    const before = await restarts(b);
    const rows: Row[] = [];
    for (const rate of RATES) {
      await placeOnNode0(b);
      const row = await drainAt(b, rate, senderToken, pids);
      rows.push(row);
      log(JSON.stringify(row));
    }
    const restarted = (await restarts(b)) - before;
    const restartSeconds = await podRestart(b);
    print(rows, restarted, restartSeconds);
    if (args.json)
      writeFileSync(
        args.json,
        `${JSON.stringify({ machine: machine(), restarted, restartSeconds, rows }, null, 2)}\n`,
      );
  } finally {
    await cleanUp(b);
  }
}

/** The namespace's backends and secret, the operator, a ChatCluster of 3 Ready nodes; then the operator stops. */
async function startCluster(b: Bench): Promise<void> {
  const { core, apps, custom, ns, ref } = b;
  publishBackends(ns.name);
  await core.createNamespacedSecret({
    namespace: ns.name,
    body: { metadata: { name: 'chat-auth' }, stringData: { jwt: b.jwt, admin: b.adminToken } },
  });
  await b.pods.start();
  log('installing the operator');
  b.operator = await installOperator(ns.name, `bd-${randomBytes(2).toString('hex')}`);
  await custom.createNamespacedCustomObject({
    ...ref,
    body: chatClusterBody(NAME, {
      image: chatNodeImage,
      replicasManagedBy: 'External',
      replicas: 3,
      minReplicas: 1,
      maxReplicas: 3,
      deletionPolicy: 'Delete',
      rebalance: { maxSessionsMovedPerMinute: 600, imbalanceThreshold: 1 },
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
      cassandra: { contactPoints: ['cassandra:9042'], keyspace: b.keyspace, replication: 1 },
      auth: {
        jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
        adminTokenRef: { name: 'chat-auth', key: 'admin' },
      },
    }),
  });
  log('waiting for 3 Ready nodes');
  const created = Date.now();
  await waitFor(
    '3 Ready nodes that report their load',
    async () => {
      const c = (await custom.getNamespacedCustomObject(ref)) as ChatCluster;
      return (await chatNodePods(core, ns.name, NAME, true)).length === 3 && c.status?.nodes?.length === 3;
    },
    240_000,
    250,
    true,
  );
  log(
    `3 nodes Ready and reporting ${((Date.now() - created) / 1000).toFixed(1)} s after the ChatCluster was made`,
  );
  // Stop the operator: it undrains a node below the desired count at its next reconcile.
  b.operatorDeployment = (await apps.listNamespacedDeployment({ namespace: ns.name })).items.find(
    (d) => d.metadata?.labels?.['app.kubernetes.io/name'] === 'chat-operator',
  )?.metadata?.name;
  await scaleOperator(apps, ns.name, b.operatorDeployment, 0);
  await waitFor(
    'the operator has stopped',
    async () => {
      const list = await core.listNamespacedPod({
        namespace: ns.name,
        labelSelector: 'app.kubernetes.io/name=chat-operator',
      });
      return list.items.length === 0;
    },
    60_000,
    250,
    true,
  );
  await b.pods.refresh();
}

/** The accounts, written to the cluster's keyspace (as bench/targets/chat-node.ts does), and their tokens; returns the sender's. */
async function createClients(b: Bench): Promise<string> {
  log(`creating ${CLIENTS + 1} accounts`);
  const tokens = new Tokens(b.jwt, 24 * 3600);
  const store = await CassandraStore.open({
    contactPoints: b.env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
    localDataCenter: b.env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1',
    keyspace: b.keyspace,
    replication: 1,
    log: createLogger({ level: 'warn' }),
  });
  const userIds = Array.from({ length: CLIENTS + 1 }, () => randomId('u'));
  try {
    const now = Date.now();
    for (let i = 0; i < userIds.length; i += 64)
      await Promise.all(
        userIds
          .slice(i, i + 64)
          .map((userId) =>
            store.createUser({ userId, username: userId, passwordHash: DUMMY_HASH, createdAt: now }),
          ),
      );
  } finally {
    await store.close();
  }
  const sign = (userId: string) => tokens.sign({ userId, deviceId: randomId('d') });
  const shared: Shared = { rewrite: (u) => b.pods.rewrite(u), discoveryUrls: [podUrl(b, 1), podUrl(b, 2)] };
  for (const [i, userId] of userIds.slice(1).entries())
    b.clients.push(new Client(userId, await sign(userId), shared, i));
  return sign(userIds[0]!);
}

/** Every client on node 0 (undrained), nodes 1 and 2 empty. */
async function placeOnNode0(b: Bench): Promise<void> {
  for (const c of b.clients) c.close();
  await adminOf(b, 0).undrain();
  await waitFor(
    'nodes 1 and 2 are empty',
    async () => {
      const [x, y] = await Promise.all([adminOf(b, 1).load(), adminOf(b, 2).load()]);
      return x.connections === 0 && y.connections === 0;
    },
    60_000,
    250,
    true,
  );
  log(`connecting ${CLIENTS} clients to node 0`);
  for (const c of b.clients) c.reset();
  let next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < b.clients.length) {
        const c = b.clients[next++]!;
        for (let attempt = 1; ; attempt++) {
          try {
            await c.connect(podUrl(b, 0));
            break;
          } catch (err) {
            if (attempt === 5) throw new Error(`connecting to node 0: ${errorMessage(err)}`);
            await sleep(500);
          }
        }
      }
    }),
  );
  await waitFor(
    `${CLIENTS} connections on node 0`,
    async () => {
      return (await adminOf(b, 0).load()).connections === CLIENTS;
    },
    30_000,
    250,
    true,
  );
}

/** Messages to the clients, two in flight, through nodes 1 and 2, until `stop`. */
function startSender(b: Bench, token: string, tag: string) {
  const acked: { to: Client; messageId: string }[] = [];
  let sending = true;
  let round = 0;
  const send = async (to: Client, id: string) => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const res = await fetch(`${podUrl(b, attempt % 2 === 1 ? 1 : 2)}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, to: to.userId, text: `drain ${tag}` }),
        signal: AbortSignal.timeout(10_000),
      }).catch(() => undefined);
      if (res?.ok) {
        acked.push({ to, messageId: ((await res.json()) as { messageId: string }).messageId });
        return;
      }
      await sleep(200);
    }
  };
  const done = Promise.all(
    Array.from({ length: 2 }, async () => {
      while (sending) {
        const to = b.clients[round++ % b.clients.length]!;
        await send(to, `m${tag}-${round}`);
        await sleep(20);
      }
    }),
  );
  return {
    acked,
    async stop() {
      sending = false;
      await done;
    },
  };
}

/** CPU seconds so far of the three pods, the backends and this process. */
async function cpuNow(b: Bench, pids: Record<string, number>) {
  return {
    at: performance.now(),
    pods: await Promise.all([0, 1, 2].map((o) => podCpu(b.pods.adminUrl(`${NAME}-${o}`), b.adminToken))),
    backends: Object.values(pids).reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    self: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  };
}

/** Drains node 0 at `rate` and measures it. */
async function drainAt(
  b: Bench,
  rate: number,
  senderToken: string,
  pids: Record<string, number>,
): Promise<Row> {
  const stopPings = keepAlive(b.clients);
  await sleep(3000); // the registry shows the loads
  const sender = startSender(b, senderToken, String(rate));
  await sleep(1000);
  const cpu0 = await cpuNow(b, pids);
  const t0 = performance.now();
  log(`draining node 0 at ${rate}/s`);
  await adminOf(b, 0).drain(rate);
  const ideal = CLIENTS / rate;
  let drainMs = Number.NaN;
  const deadline = Date.now() + ideal * 1000 + 60_000;
  const settled = () => b.clients.every((c) => c.reconnectMs !== undefined || c.gaveUp);
  while (Date.now() < deadline && !(settled() && !Number.isNaN(drainMs))) {
    if (Number.isNaN(drainMs)) {
      const l = await adminOf(b, 0)
        .load()
        .catch(() => undefined);
      if (l?.connections === 0) drainMs = performance.now() - t0;
    }
    await sleep(100);
  }
  const cpu1 = await cpuNow(b, pids);
  const load = load1();
  const resyncedMs =
    Math.max(...b.clients.map((c) => (c.reconnectMs === undefined ? t0 : c.movedAt + c.reconnectMs))) - t0;
  await sleep(2000);
  await sender.stop();
  // Deliveries of the last sends: up to 15 s.
  const missing = () => sender.acked.filter((a) => !a.to.seen.has(a.messageId));
  for (let i = 0; i < 150 && missing().length > 0; i++) await sleep(100);
  stopPings();

  const hist = new Histogram();
  for (const c of b.clients) if (c.reconnectMs !== undefined) hist.record(c.reconnectMs);
  const s = hist.summary();
  const secs = (cpu1.at - cpu0.at) / 1000;
  const cores = (x: number, y: number) => Math.round(((y - x) / secs) * 100) / 100;
  return {
    ratePerSec: rate,
    clients: CLIENTS,
    idealSeconds: Math.round(ideal * 100) / 100,
    drainSeconds: Math.round(drainMs) / 1000,
    resyncedSeconds: Math.round(resyncedMs) / 1000,
    resynced: b.clients.filter((c) => c.reconnectMs !== undefined).length,
    gaveUp: b.clients.filter((c) => c.reconnectMs === undefined).length,
    failedAttempts: b.clients.reduce((sum, c) => sum + c.failedAttempts, 0),
    p50Ms: s.p50 ?? Number.NaN,
    p99Ms: s.p99 ?? Number.NaN,
    maxMs: s.max ?? Number.NaN,
    messages: sender.acked.length,
    lost: missing().length,
    cpuDrained: cores(cpu0.pods[0]!, cpu1.pods[0]!),
    cpuTaking:
      Math.round((cores(cpu0.pods[1]!, cpu1.pods[1]!) + cores(cpu0.pods[2]!, cpu1.pods[2]!)) * 100) / 100,
    cpuBackends: cores(cpu0.backends, cpu1.backends),
    cpuLoadgen: cores(cpu0.self, cpu1.self),
    load1: load,
  };
}

/**
 * What a rollout pays per node besides the drain: an empty pod deleted (as the operator deletes it
 * once drained) until its replacement is Ready and reports its load, in seconds.
 */
async function podRestart(b: Bench): Promise<number> {
  for (const c of b.clients) c.close();
  const name = `${NAME}-2`;
  const before = await b.core.readNamespacedPod({ name, namespace: b.ns.name });
  const t0 = Date.now();
  await b.core.deleteNamespacedPod({ name, namespace: b.ns.name });
  await waitFor(
    `a new ${name} Ready and reporting`,
    async () => {
      const p = await b.core.readNamespacedPod({ name, namespace: b.ns.name });
      if (p.metadata?.uid === before.metadata?.uid) return false;
      if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return false;
      await b.pods.refresh();
      await adminOf(b, 2).load();
      return true;
    },
    180_000,
    250,
    true,
  );
  const secs = (Date.now() - t0) / 1000;
  log(`an empty pod deleted and back, Ready: ${secs.toFixed(1)} s`);
  return secs;
}

/** Removes what the run made: the operator deletes the cluster's data (deletionPolicy Delete); else here. */
async function cleanUp(b: Bench): Promise<void> {
  for (const c of b.clients) c.close();
  log('cleaning up');
  try {
    await scaleOperator(b.apps, b.ns.name, b.operatorDeployment, 1);
    await b.custom.deleteNamespacedCustomObject(b.ref);
    await waitFor(
      'the ChatCluster and its data are gone',
      () =>
        b.custom.getNamespacedCustomObject(b.ref).then(
          () => false,
          () => true,
        ),
      120_000,
      250,
      true,
    );
  } catch (err) {
    log(`cleanup through the operator: ${errorMessage(err)}; dropping the keyspace here`);
    await dropKeyspace(b.env, b.keyspace).catch(() => {});
  }
  b.pods.stop();
  await b.operator?.remove();
  await b.ns.remove();
  await deleteStreams(b.env.CHAT_NATS_URL!, streamOf(b.ns.name)).catch(() => {});
}

async function scaleOperator(apps: AppsV1Api, namespace: string, name: string | undefined, replicas: number) {
  if (!name) return;
  await apps.patchNamespacedDeploymentScale({ name, namespace, body: { spec: { replicas } } }, mergePatch);
}

function machine(): string {
  return `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`;
}

function print(rows: readonly Row[], restarts: number, restartSeconds: number): void {
  const head =
    '| drain rate /s | clients | ideal s | node empty s | all resynced s | resynced | never back | failed attempts | reconnect p50 ms | p99 ms | max ms | messages | lost | CPU drained pod | CPU 2 taking pods | CPU backends | CPU load generator | load1 |';
  const lines = rows.map(
    (r) =>
      `| ${r.ratePerSec} | ${r.clients} | ${r.idealSeconds} | ${r.drainSeconds} | ${r.resyncedSeconds} | ${r.resynced} | ${r.gaveUp} | ${r.failedAttempts} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.messages} | ${r.lost} | ${r.cpuDrained} | ${r.cpuTaking} | ${r.cpuBackends} | ${r.cpuLoadgen} | ${r.load1} |`,
  );
  process.stdout.write(
    `${[`machine: ${machine()}; pod restarts during the drains: ${restarts}; an empty pod deleted until its replacement is Ready: ${restartSeconds.toFixed(1)} s`, '', head, `|${'---|'.repeat(18)}`, ...lines].join('\n')}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
