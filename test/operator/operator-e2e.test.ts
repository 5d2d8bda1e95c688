/**
 * The operator end to end: a real API server (npm run k8s:up), the operator as a process, and real
 * chat-node processes on the real NATS, Redis and Cassandra, run for each pod of the StatefulSet by a
 * fake kubelet. Opening connections makes the operator add nodes, sessions are rebalanced onto them
 * at the policy's rate with no message lost, and when the load goes the extra nodes are drained
 * and removed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../client/index.ts';
import { errorMessage } from '../../common/errors.ts';
import { GROUP, KIND, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { FakeKubelet } from '../helpers/fake-kubelet.ts';
import { installChatClusterCrd, KUBECONFIG, testKubeConfig } from '../helpers/kube.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { createUsers, type TestUser } from '../helpers/users.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NAME = 'e2e';

describe('the operator with real chat nodes', () => {
  let kc: KubeConfig;
  let ns: string;
  let nodes: TestCluster;
  let kubelet: FakeKubelet;
  let operator: ChildProcess;
  const operatorLogs: string[] = [];
  const clients: Recorder[] = [];

  const statefulSetReplicas = async () =>
    (await kc.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name: NAME, namespace: ns })).spec
      ?.replicas;
  async function loads(): Promise<number[]> {
    const out: number[] = [];
    for (const ordinal of kubelet.ordinals) {
      const n = nodes.nodes[ordinal];
      if (!n) continue;
      const res = await fetch(`${n.url}/admin/v1/load`, {
        headers: { authorization: `Bearer ${nodes.adminToken}` },
      });
      out[ordinal] = ((await res.json()) as { connections: number }).connections;
    }
    return out;
  }
  const explain = async () =>
    `kubelet: ${kubelet.log.slice(-10).join(' | ')}; loads ${JSON.stringify(await loads().catch(() => []))}; operator: ${operatorLogs.slice(-15).join('\n')}`;

  beforeAll(async () => {
    kc = testKubeConfig();
    ns = `e2e-${randomBytes(3).toString('hex')}`;
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });

    // The chat nodes of this ChatCluster: CHAT_CLUSTER is what the operator's objects give them.
    nodes = await startCluster(0, { CHAT_CLUSTER: `${ns}.${NAME}`, CHAT_HEARTBEAT_MS: '1000' });
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'chat-auth' },
        stringData: { jwt: nodes.env.CHAT_JWT_SECRET!, admin: nodes.adminToken },
      },
    });
    await installChatClusterCrd(kc, ns);
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: KIND,
        metadata: { name: NAME },
        spec: {
          image: 'chat-platform/chat-node:e2e',
          minReplicas: 1,
          maxReplicas: 3,
          targetConnectionsPerNode: 10,
          scaleUp: { stabilizationWindowSeconds: 0, tolerance: 0.1 },
          scaleDown: { stabilizationWindowSeconds: 3, tolerance: 0.1 },
          rebalance: { maxSessionsMovedPerMinute: 600, imbalanceThreshold: 0.2 },
          nats: { url: nodes.env.CHAT_NATS_URL },
          redis: { url: nodes.env.CHAT_REDIS_URL },
          cassandra: {
            contactPoints: nodes.env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
            keyspace: nodes.env.CHAT_CASSANDRA_KEYSPACE,
            replication: 1,
          },
          auth: {
            jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
            adminTokenRef: { name: 'chat-auth', key: 'admin' },
          },
        },
      },
    });

    kubelet = new FakeKubelet(kc, {
      namespace: ns,
      selector: `app.kubernetes.io/instance=${NAME}`,
      nodes,
    });
    kubelet.start();
    operator = spawn(
      process.execPath,
      [
        join(ROOT, 'operator', 'main.ts'),
        '--kubeconfig',
        KUBECONFIG,
        '--namespace',
        ns,
        '--lease-namespace',
        ns,
        '--resync-ms',
        '500',
        '--http-port',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'debug' } },
    );
    const keep = (d: Buffer) => {
      operatorLogs.push(...d.toString().trim().split('\n'));
      if (operatorLogs.length > 500) operatorLogs.splice(0, operatorLogs.length - 500);
    };
    operator.stdout!.on('data', keep);
    operator.stderr!.on('data', keep);
    await until('pod 0 runs a chat node', () => kubelet.ordinals.includes(0), 60_000).catch(async (e) => {
      throw new Error(`${errorMessage(e)}; ${await explain()}`);
    });
  }, 180_000);

  afterAll(async () => {
    for (const r of clients) r.client.close();
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator.once('exit', r));
      operator.kill('SIGTERM');
      await exited;
    }
    await kubelet?.stop();
    await nodes?.close();
    await kc
      ?.makeApiClient(CoreV1Api)
      .deleteNamespace({ name: ns })
      .catch(() => {});
  });

  it('adds nodes for the connections, rebalances onto them, then drains and removes them, losing nothing', async () => {
    const base = nodes.nodes[0]!.url;
    const [sender, ...users] = (await createUsers(base, 26)) as TestUser[];
    for (const u of users) {
      const r = recorder(base, u.token);
      clients.push(r);
      await r.client.connect();
    }
    // Messages to every user all along: none may be lost while sessions move.
    const api = new ChatApi(base, { token: sender!.token });
    const sent = new Map<string, string[]>(users.map((u) => [u.userId, []]));
    let sending = true;
    const traffic = (async () => {
      for (let round = 0; sending && round < 2000; round++) {
        const u = users[round % users.length]!;
        const m = await api.postMessage({ to: u.userId, text: `round ${round}` });
        sent.get(u.userId)!.push(m.messageId);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // 25 connections over a target of 10 per node: 3 nodes.
    await until(
      'the operator scales the StatefulSet to 3',
      async () => (await statefulSetReplicas()) === 3,
      60_000,
    ).catch(async (e) => {
      throw new Error(`${errorMessage(e)}; ${await explain()}`);
    });
    await until('three chat nodes run', () => kubelet.ordinals.length === 3, 60_000);
    // New nodes start empty; the operator sheds from node 0 toward the average.
    await until(
      'the 25 sessions are spread over the three nodes',
      async () => {
        const l = await loads();
        return l.length === 3 && l.every((n) => n >= 5 && n <= 12) && l.reduce((a, b) => a + b, 0) === 25;
      },
      90_000,
    ).catch(async (e) => {
      throw new Error(`${errorMessage(e)}; ${await explain()}`);
    });

    // The load goes: 20 clients leave, 5 stay; the operator drains the extra nodes, then removes them.
    for (const r of clients.splice(5)) r.client.close();
    await until(
      'the operator scales back to 1',
      async () => (await statefulSetReplicas()) === 1,
      90_000,
    ).catch(async (e) => {
      throw new Error(`${errorMessage(e)}; ${await explain()}`);
    });
    await until('only node 0 runs', () => kubelet.ordinals.join() === '0', 60_000);
    await until('the 5 remaining sessions are on node 0', async () => (await loads())[0] === 5, 30_000);
    sending = false;
    await traffic;

    // Every message to a remaining user arrived exactly once, across every move.
    for (const r of clients) {
      const me = users.find((u) => r.client.welcome?.userId === u.userId)!;
      const ids = sent.get(me.userId)!;
      await until(`user ${me.username} saw all ${ids.length} messages`, () =>
        ids.every((id) => r.seen.some((m) => m.messageId === id)),
      );
      expect(idsFrom(r.seen, sender!.userId)).toEqual(new Set(ids));
    }
  }, 300_000);
});
