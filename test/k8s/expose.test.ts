/**
 * Reaching the chat from outside the cluster, on pods that really run: a ChatCluster with
 * `spec.expose` NodePort (the entry a NodePort of the client Service, each node a NodePort of its own
 * at nodePortBase + ordinal) serves clients on the test host that know only the node address and the
 * entry port: no pod IP, no cluster DNS. They log in, discover, chat across nodes, are moved by a
 * drain and resync, losing nothing; the admin API and /metrics are not reachable through the client
 * Service or the node Services (the operator reaches them on the admin port, inside the cluster).
 */
import { randomBytes, randomInt } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  SchedulingV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../common/admin-api.ts';
import { errorMessage } from '../../common/errors.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { deleteStreams, streamOf } from '../helpers/streams.ts';
import { createUser, http, type TestUser } from '../helpers/users.ts';
import {
  chatNodeImage,
  installOperator,
  isHomeCluster,
  kubeConfig,
  publishBackends,
  testNamespace,
} from './cluster.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NAME = 'pub';

describe.runIf(isHomeCluster)('a ChatCluster reached from outside through NodePorts', () => {
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let custom: CustomObjectsApi;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let operator: { remove(): Promise<void> } | undefined;
  let nodeAddress: string;
  let entry: string;
  const release = `pub-${randomBytes(2).toString('hex')}`;
  const priorityClass = `chat-test-${randomBytes(3).toString('hex')}`;
  let scheduling: SchedulingV1Api;
  const podTemplate = {
    labels: { 'chat.test/label': 'on' },
    annotations: { 'chat.test/annotation': 'on' },
    imagePullSecrets: [{ name: 'registry-credentials' }],
    imagePullPolicy: 'IfNotPresent' as const,
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'chat.test/dedicated', operator: 'Exists', effect: 'NoSchedule' }],
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 1,
            preference: {
              matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }],
            },
          },
        ],
      },
    },
    priorityClassName: priorityClass,
    env: [{ name: 'CHAT_TEST_EXTRA', value: 'on' }],
  };
  const adminToken = randomBytes(24).toString('hex');
  // Free NodePorts of this run: the entry, then node 0 and node 1.
  const entryPort = 30000 + randomInt(0, 270) * 10;
  const nodePortBase = entryPort + 1;
  const clients: Recorder[] = [];
  const ref = { group: GROUP, version: VERSION, plural: PLURAL, name: NAME, namespace: '' };

  async function explain(): Promise<string> {
    const pods = await core.listNamespacedPod({ namespace: ns.name }).catch(() => ({ items: [] }));
    let out = pods.items
      .map(
        (p) =>
          `${p.metadata?.name}: ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.[0]?.state)}`,
      )
      .join('; ');
    for (const p of pods.items.filter((x) => x.metadata?.name?.includes('operator'))) {
      out += `\n${await core
        .readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns.name, tailLines: 15 })
        .catch((e) => errorMessage(e))}`;
    }
    const c = (await custom.getNamespacedCustomObject(ref).catch(() => undefined)) as ChatCluster | undefined;
    return `${out}\nstatus: ${JSON.stringify(c?.status)}`;
  }
  const explained = async (err: unknown) => {
    throw new Error(`${errorMessage(err)}; ${await explain()}`);
  };
  const readyPods = async () =>
    (
      await core.listNamespacedPod({
        namespace: ns.name,
        labelSelector: `app.kubernetes.io/instance=${NAME}`,
      })
    ).items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));

  beforeAll(async () => {
    const kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    scheduling = kc.makeApiClient(SchedulingV1Api);
    await scheduling.createPriorityClass({ body: { metadata: { name: priorityClass }, value: 1000 } });
    const node = (await core.listNode()).items[0];
    nodeAddress = node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    expect(nodeAddress, 'the node has an InternalIP').not.toBe('');
    entry = `http://${nodeAddress}:${entryPort}`;
    ns = await testNamespace(core, 'pub');
    ref.namespace = ns.name;
    publishBackends(ns.name);
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: {
        metadata: { name: 'chat-auth' },
        stringData: { jwt: randomBytes(32).toString('hex'), admin: adminToken },
      },
    });
    operator = await installOperator(ns.name, release);
    await custom.createNamespacedCustomObject({
      ...ref,
      body: chatClusterBody(NAME, {
        image: chatNodeImage,
        replicasManagedBy: 'External',
        replicas: 2,
        minReplicas: 1,
        maxReplicas: 2,
        rebalance: { maxSessionsMovedPerMinute: 600, imbalanceThreshold: 0.2 },
        resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
        cassandra: { contactPoints: ['cassandra:9042'], replication: 1 },
        podTemplate,
        expose: {
          service: { type: 'NodePort', nodePort: entryPort },
          nodes: 'NodePort',
          host: nodeAddress,
          nodePortBase,
        },
        auth: {
          jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
          adminTokenRef: { name: 'chat-auth', key: 'admin' },
        },
      }),
    });
    await until('two Ready nodes', async () => (await readyPods()).length === 2, 240_000).catch(explained);
    await until(
      'both nodes report in the status',
      async () => ((await custom.getNamespacedCustomObject(ref)) as ChatCluster).status?.nodes?.length === 2,
      60_000,
    ).catch(explained);
    // kube-proxy opens a new NodePort within its sync period: until then connections are refused.
    const nodePorts = [
      entry,
      `http://${nodeAddress}:${nodePortBase}`,
      `http://${nodeAddress}:${nodePortBase + 1}`,
    ];
    await until(
      'every NodePort answers',
      async () => {
        for (const base of nodePorts) {
          const ok = await fetch(`${base}/healthz`).then(
            (r) => r.status === 200,
            () => false,
          );
          if (!ok) return false;
        }
        return true;
      },
      60_000,
    ).catch(explained);
  }, 600_000);

  afterAll(async () => {
    for (const r of clients) r.client.close();
    await operator?.remove();
    await ns?.remove();
    await scheduling?.deletePriorityClass({ name: priorityClass }).catch(() => {});
    if (ns) await deleteStreams(servicesEnv().CHAT_NATS_URL!, streamOf(ns.name)).catch(() => {});
  }, 120_000);

  it('advertises each node at the node address on its own NodePort', async () => {
    const c = (await custom.getNamespacedCustomObject(ref)) as ChatCluster;
    expect(c.status?.nodes?.map((n) => n.url).sort()).toEqual([
      `http://${nodeAddress}:${nodePortBase}`,
      `http://${nodeAddress}:${nodePortBase + 1}`,
    ]);
  });

  it('gives the pods every field of spec.podTemplate, and spreads them over zones and hosts', async () => {
    for (const p of await readyPods()) {
      expect(p.metadata?.labels?.['chat.test/label']).toBe('on');
      expect(p.metadata?.annotations?.['chat.test/annotation']).toBe('on');
      expect(p.spec).toMatchObject({
        imagePullSecrets: podTemplate.imagePullSecrets,
        nodeSelector: podTemplate.nodeSelector,
        affinity: podTemplate.affinity,
        priorityClassName: priorityClass,
        priority: 1000,
      });
      expect(p.spec?.tolerations).toEqual(expect.arrayContaining(podTemplate.tolerations));
      expect(p.spec?.topologySpreadConstraints?.map((c) => c.topologyKey)).toEqual([
        'topology.kubernetes.io/zone',
        'kubernetes.io/hostname',
      ]);
      const c = p.spec!.containers[0]!;
      expect(c.imagePullPolicy).toBe('IfNotPresent');
      expect(c.env).toContainEqual({ name: 'CHAT_TEST_EXTRA', value: 'on' });
    }
  });

  it('serves the admin API and /metrics on no Service a client reaches', async () => {
    const podIps = (await readyPods()).map((p) => p.status!.podIP!);
    const client = await core.readNamespacedService({ name: NAME, namespace: ns.name });
    const through = [
      entry,
      `http://${client.spec!.clusterIP}:80`,
      `http://${nodeAddress}:${nodePortBase}`,
      `http://${nodeAddress}:${nodePortBase + 1}`,
    ];
    for (const base of through) {
      expect((await http(base, 'GET', '/healthz')).status, `${base}/healthz`).toBe(200);
      expect((await http(base, 'GET', '/admin/v1/load', { token: adminToken })).status, base).toBe(404);
      expect((await fetch(`${base}/metrics`)).status, `${base}/metrics`).toBe(404);
    }
    // The Services carry the client port only.
    for (const name of [NAME, `${NAME}-node-0`, `${NAME}-node-1`]) {
      const svc = await core.readNamespacedService({ name, namespace: ns.name });
      expect(svc.spec?.ports?.map((p) => p.targetPort)).toEqual(['http']);
    }
    // Inside the cluster network the admin port answers (the operator drains through it).
    for (const ip of podIps) {
      const load = await new AdminClient(`http://${ip}:9090`, { token: adminToken, timeoutMs: 3000 }).load();
      expect(load.url.startsWith(`http://${nodeAddress}:`)).toBe(true);
      expect((await fetch(`http://${ip}:9090/metrics`)).status).toBe(200);
    }
  });

  it('lets clients on the host log in, discover, chat across nodes, and move on a drain without losing a message', async () => {
    const podIps = new Set((await readyPods()).map((p) => p.status!.podIP!));
    const alice: TestUser = await createUser(entry, 'alice');
    const bob: TestUser = await createUser(entry, 'bob');
    const a = recorder(entry, alice.token);
    clients.push(a);
    const aWelcome = await a.client.connect();
    // Discovery spreads clients by load: bob lands on the other node once alice's shows in the
    // registry (nodes report every 2 s). Bounded retries.
    let b: Recorder | undefined;
    for (let attempt = 0; attempt < 10 && !b; attempt++) {
      await sleep(2500);
      const r = recorder(entry, bob.token);
      const welcome = await r.client.connect();
      if (welcome.nodeId !== aWelcome.nodeId) b = r;
      else r.client.close();
    }
    if (!b) throw new Error(`bob never landed on the other node than ${aWelcome.nodeId}`);
    clients.push(b);
    const bobNode = b.client.welcome!.nodeId;
    for (const url of [...a.connectedTo, ...b.connectedTo]) {
      const u = new URL(url);
      expect(u.hostname, url).toBe(nodeAddress);
      expect(podIps.has(u.hostname)).toBe(false);
      expect([nodePortBase, nodePortBase + 1]).toContain(Number(u.port));
    }

    // Alice writes all along; bob's node is drained and removed while she does.
    const sent: string[] = [];
    let sending = true;
    const traffic = (async () => {
      for (let i = 0; sending && i < 5000; i++) {
        try {
          sent.push((await a.client.send({ to: bob.userId, text: `m${i}` })).messageId);
        } catch {
          // Not acknowledged: not promised.
        }
        await sleep(100);
      }
    })();
    await until('bob got a first message', () => b.seen.length > 0, 30_000);
    // Scale to one node: the operator drains the leaving node 1 through its admin port first.
    await custom.patchNamespacedCustomObject({ ...ref, body: { spec: { replicas: 1 } } }, mergePatch);
    const onNode0 = (r: Recorder) => {
      const last = r.connectedTo.at(-1);
      if (!last) return false;
      const u = new URL(last);
      return u.hostname === nodeAddress && u.port === String(nodePortBase);
    };
    await until(
      'both clients are on node 0, through its NodePort',
      () => [a, b].every((r) => r.client.welcome?.nodeId === 0 && onNode0(r)),
      120_000,
    ).catch(explained);
    await until(
      'the StatefulSet is down to 1',
      async () =>
        (await apps.readNamespacedStatefulSet({ name: NAME, namespace: ns.name })).spec?.replicas === 1,
      120_000,
    ).catch(explained);
    await sleep(2000);
    sending = false;
    await traffic;
    const moved = bobNode === 1 ? b : a;
    expect(moved.connectedTo.length, 'the client of node 1 reconnected to node 0').toBeGreaterThan(1);
    expect(sent.length).toBeGreaterThan(10);
    await until(
      `bob saw all ${sent.length} messages`,
      () => sent.every((id) => b.seen.some((m) => m.messageId === id)),
      60_000,
    );
    expect(idsFrom(b.seen, alice.userId)).toEqual(new Set(sent));
  }, 400_000);
});
