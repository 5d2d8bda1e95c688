/**
 * Two nodes that leave at once share rebalance.maxSessionsMovedPerMinute (operator/decide.ts
 * paceDrains), on pods that really run: a ChatCluster of 3 nodes from the chart's operator, its
 * clients' sessions all on nodes 1 and 2 (node 0 is held drained by the drain annotation while they
 * connect), then one patch lets node 0 take sessions again and scales the cluster to 1. Both leaving
 * nodes drain in parallel; the nodes' own counts, sampled meanwhile, show that in no 60 s window did
 * the two drains together move more sessions than the budget, and more than one minute's budget
 * moves in all, so the check can fail (with a floor of 1 a second per node the 80 sessions would all
 * move within 40 s). A sender writes to every client all along: each gets every acknowledged message
 * exactly once (it resyncs after its move).
 *
 * The budget and the session count keep it under 4 minutes: 60 a minute (0.5 a second per node),
 * 80 sessions, so the drain takes about 80 s.
 */
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../client/index.ts';
import { AdminClient } from '../../common/admin-api.ts';
import { errorMessage } from '../../common/errors.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { DRAIN_ANNOTATION } from '../../operator/requests.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { deleteStreams, streamOf } from '../helpers/streams.ts';
import { createUser, type TestUser } from '../helpers/users.ts';
import {
  chatNodeImage,
  chatNodePods,
  installOperator,
  isHomeCluster,
  kubeConfig,
  publishBackends,
  testNamespace,
} from './cluster.ts';
import { PodAddresses } from './pod-addresses.ts';

const NAME = 'pd';
/** The budget of the two drains together. */
const MOVES_PER_MINUTE = 60;
/** Sessions on the leaving nodes: 80 s of drain at 60 a minute, more than one minute's budget. */
const SESSIONS = 80;
/**
 * Each leaving node's first and last move of a window can fall at its two edges (one more each
 * than its half of the budget), and a sample can fall while a client is between nodes.
 */
const SLACK = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe.runIf(isHomeCluster)('two nodes draining in parallel share the move budget', () => {
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let custom: CustomObjectsApi;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let pods: PodAddresses;
  let operator: { remove(): Promise<void> } | undefined;
  const release = `pd-${randomBytes(2).toString('hex')}`;
  const adminToken = randomBytes(24).toString('hex');
  const clients: Recorder[] = [];
  const ref = () => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns.name, name: NAME });
  const podUrl = (ordinal: number) => `http://${NAME}-${ordinal}.${NAME}-nodes.${ns.name}.svc:8080`;
  const admin = (ordinal: number) =>
    new AdminClient(pods.adminUrl(`${NAME}-${ordinal}`) ?? 'http://127.0.0.1:9', {
      token: adminToken,
      timeoutMs: 3000,
    });
  /** Connections node `ordinal` reports now; undefined when it does not answer. */
  const connections = (ordinal: number) =>
    admin(ordinal)
      .load()
      .then((l) => l.connections)
      .catch(() => undefined);
  const stsReplicas = async () =>
    (await apps.readNamespacedStatefulSet({ name: NAME, namespace: ns.name })).spec?.replicas;

  async function explain(): Promise<string> {
    const list = await chatNodePods(core, ns.name, NAME).catch(() => []);
    const state = list.map((p) => `${p.metadata?.name}: ${p.status?.phase}`);
    const counts = await Promise.all([0, 1, 2].map(connections));
    const c = (await custom.getNamespacedCustomObject(ref()).catch(() => undefined)) as
      | ChatCluster
      | undefined;
    return `pods: ${state.join('; ')}; connections: ${counts.join(' ')}; status: ${JSON.stringify(c?.status)}`;
  }
  const explained = async (err: unknown) => {
    throw new Error(`${errorMessage(err)}; ${await explain()}`);
  };

  beforeAll(async () => {
    const kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ns = await testNamespace(core, 'pdrain');
    publishBackends(ns.name);
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: {
        metadata: { name: 'chat-auth' },
        stringData: { jwt: randomBytes(32).toString('hex'), admin: adminToken },
      },
    });
    pods = new PodAddresses(core, ns.name);
    await pods.start();
    operator = await installOperator(ns.name, release);
    await custom.createNamespacedCustomObject({
      ...ref(),
      body: chatClusterBody(NAME, {
        image: chatNodeImage,
        replicasManagedBy: 'External',
        replicas: 3,
        minReplicas: 1,
        maxReplicas: 3,
        // A threshold of 1: no shed between nodes 1 and 2 while the clients connect.
        rebalance: { maxSessionsMovedPerMinute: MOVES_PER_MINUTE, imbalanceThreshold: 1 },
        resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
        cassandra: { contactPoints: ['cassandra:9042'], replication: 1 },
        auth: {
          jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
          adminTokenRef: { name: 'chat-auth', key: 'admin' },
        },
      }),
    });
    await until(
      'three Ready nodes that report their load',
      async () => {
        const c = (await custom.getNamespacedCustomObject(ref())) as ChatCluster;
        return (await chatNodePods(core, ns.name, NAME, true)).length === 3 && c.status?.nodes?.length === 3;
      },
      240_000,
    ).catch(explained);
    await pods.refresh();
  }, 400_000);

  afterAll(async () => {
    for (const r of clients) r.client.close();
    pods?.stop();
    await operator?.remove();
    await ns?.remove();
    if (ns) await deleteStreams(servicesEnv().CHAT_NATS_URL!, streamOf(ns.name)).catch(() => {});
  }, 120_000);

  it('scales 3 → 1: nodes 1 and 2 drain together within maxSessionsMovedPerMinute, and no message is lost', async () => {
    // Node 0 stays out of discovery while the clients connect, so every session is on a leaving node.
    await custom.patchNamespacedCustomObject(
      { ...ref(), body: { metadata: { annotations: { [DRAIN_ANNOTATION]: `${NAME}-0` } } } },
      mergePatch,
    );
    await until(
      'node 0 is drained',
      async () =>
        (await admin(0)
          .load()
          .then((l) => l.draining)
          .catch(() => false)) === true,
      30_000,
    ).catch(explained);
    // Users through node 0 (its HTTP API serves while it is drained), in small parallel batches.
    const sender = await createUser(pods.rewrite(podUrl(0)), 'sender');
    const users: TestUser[] = [];
    while (users.length < SESSIONS) {
      const batch = Math.min(8, SESSIONS - users.length);
      users.push(
        ...(await Promise.all(
          Array.from({ length: batch }, () => createUser(pods.rewrite(podUrl(0)), 'moved')),
        )),
      );
    }
    /** When each client connected, and to which node (from its welcome). */
    const arrivals: { at: number; nodeId: number }[] = [];
    const byUser = new Map<string, Recorder>();
    for (let i = 0; i < users.length; i += 10) {
      await Promise.all(
        users.slice(i, i + 10).map(async (u) => {
          const r = recorder(podUrl(0), u.token, { fetch: pods.fetch, WebSocket: pods.WebSocket });
          r.client.on('connected', () => {
            const nodeId = r.client.welcome?.nodeId;
            if (nodeId !== undefined) arrivals.push({ at: Date.now(), nodeId });
          });
          clients.push(r);
          byUser.set(u.userId, r);
          await r.client.connect();
        }),
      );
    }
    const leavingCount = async () => {
      const [a, b] = await Promise.all([connections(1), connections(2)]);
      return a === undefined || b === undefined ? undefined : a + b;
    };
    await until(
      'every session is on node 1 or 2',
      async () => (await leavingCount()) === SESSIONS,
      30_000,
    ).catch(explained);
    expect(await connections(0)).toBe(0);

    // Messages to every client all along; a send whose answer did not come is sent again, same id.
    const sent = new Map<string, string[]>(users.map((u) => [u.userId, []]));
    const unanswered = new Set<string>();
    let sending = true;
    const api = new ChatApi(podUrl(0), { token: sender.token, fetch: pods.fetch });
    const traffic = (async () => {
      for (let round = 0; sending; round++) {
        const u = users[round % users.length]!;
        for (let attempt = 1; attempt <= 20; attempt++) {
          try {
            const m = await api.postMessage({ id: `r${round}`, to: u.userId, text: `round ${round}` });
            sent.get(u.userId)!.push(m.messageId);
            break;
          } catch {
            if (attempt === 20) unanswered.add(`round ${round}`);
            else await sleep(250);
          }
        }
        await sleep(100);
      }
    })();

    // One patch: node 0 takes sessions again, and the cluster goes to 1 node.
    const started = Date.now();
    await custom.patchNamespacedCustomObject(
      { ...ref(), body: { metadata: { annotations: { [DRAIN_ANNOTATION]: null } }, spec: { replicas: 1 } } },
      mergePatch,
    );
    // The nodes' own counts while they drain: sessions left on the leaving nodes over time. A node
    // that is gone has none left (it goes only once drained and empty).
    const samples: { at: number; left: number }[] = [];
    await until(
      'both leaving nodes are empty and the StatefulSet is at 1',
      async () => {
        await pods.refresh();
        const present = new Set((await chatNodePods(core, ns.name, NAME)).map((p) => p.metadata!.name!));
        let left = 0;
        for (const o of [1, 2]) {
          const n = present.has(`${NAME}-${o}`) ? await connections(o) : 0;
          if (n === undefined) return false; // unknown: no sample
          left += n;
        }
        samples.push({ at: Date.now(), left });
        if (left > 0) await sleep(250);
        return left === 0 && (await stsReplicas()) === 1;
      },
      200_000,
    ).catch(explained);
    const drainSeconds = (Date.now() - started) / 1000;

    // No 60 s window in which the two drains together moved more than the budget.
    let worst = 0;
    for (const a of samples)
      for (const b of samples)
        if (b.at > a.at && b.at - a.at < 60_000) worst = Math.max(worst, a.left - b.left);
    const moved = SESSIONS - samples.at(-1)!.left;
    expect(moved, 'sessions moved off the leaving nodes').toBe(SESSIONS);
    expect(moved, 'more than one minute’s budget moved in all').toBeGreaterThan(MOVES_PER_MINUTE);
    expect(
      worst,
      `sessions that left nodes 1 and 2 within one minute (drain took ${drainSeconds} s)`,
    ).toBeLessThanOrEqual(MOVES_PER_MINUTE + SLACK);
    // The clients' side of the same: arrivals on node 0 within any minute.
    const onZero = arrivals.filter((a) => a.nodeId === 0 && a.at >= started).map((a) => a.at);
    let worstArrivals = 0;
    for (const t of onZero)
      worstArrivals = Math.max(worstArrivals, onZero.filter((u) => u >= t && u - t < 60_000).length);
    expect(worstArrivals, 'clients arriving on node 0 within one minute').toBeLessThanOrEqual(
      MOVES_PER_MINUTE + SLACK,
    );

    await until('every client is on node 0', () =>
      clients.every((r) => r.client.state === 'open' && r.client.welcome?.nodeId === 0),
    );
    await until(
      'only pod pd-0 is left',
      async () => (await chatNodePods(core, ns.name, NAME)).length === 1,
      120_000,
    );

    // Every acknowledged message reached its client exactly once.
    sending = false;
    await traffic;
    for (const u of users) {
      const r = byUser.get(u.userId)!;
      const ids = sent.get(u.userId)!;
      expect(ids.length).toBeGreaterThan(0);
      await until(
        `${u.username} saw all ${ids.length} messages`,
        () => ids.every((id) => r.seen.some((m) => m.messageId === id)),
        60_000,
      );
      const extra = r.seen.filter((m) => m.from === sender.userId && !ids.includes(m.messageId));
      expect(extra.filter((m) => !unanswered.has(m.text))).toEqual([]);
      expect(idsFrom(r.seen, sender.userId).size).toBe(ids.length + extra.length);
    }
  }, 400_000);
});
