/**
 * chatctl from a laptop, with a kubeconfig and nothing else: a ChatCluster of two chat-node pods
 * (installed by the operator's chart; clients on the test host come in through the entry NodePort,
 * as in expose.test.ts) is listed, drained, undrained and shed by `chatctl nodes|drain|undrain|shed
 * <chatcluster> <pod>`, each node's admin API reached through the API server's pod proxy (no
 * port-forward, no pod IP), as a ServiceAccount that has only the chart's chatcluster-editor role.
 *
 * The operator is stopped once the nodes run: it keeps every node below the desired count serving
 * and would undrain the drained node at its next reconcile (operator/rebalance.ts planScaleDown).
 */
import { randomBytes, randomInt } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage } from '../../common/errors.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { chatctlInProcess } from '../cli/in-process.ts';
import { bindRole, serviceAccountKubeconfig, userWithRules } from '../cli/kube-user.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { installChatctl } from '../helpers/installed-chatctl.ts';
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

const NAME = 'chat';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(isHomeCluster)('chatctl on a ChatCluster, through the Kubernetes API server', () => {
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let custom: CustomObjectsApi;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let operator: { remove(): Promise<void> } | undefined;
  /** A kubeconfig of a ServiceAccount bound to the chart's chatcluster-editor Role, and nothing else. */
  let editor: string;
  let entry: string;
  const release = `cc-${randomBytes(2).toString('hex')}`;
  const adminToken = randomBytes(24).toString('hex');
  const entryPort = 30000 + randomInt(0, 270) * 10;
  const clients: Recorder[] = [];
  let alice: TestUser;
  let sender: Recorder;
  const recipients: { user: TestUser; r: Recorder }[] = [];
  const ref = () => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns.name, name: NAME });
  const chatctl = (kubeconfig: string, ...args: string[]) =>
    chatctlInProcess([...args, '-n', ns.name, '--kubeconfig', kubeconfig]);

  async function explain(): Promise<string> {
    const pods = await chatNodePods(core, ns.name, NAME).catch(() => []);
    const state = pods.map(
      (p) => `${p.metadata?.name}: ${p.status?.phase} ${JSON.stringify(p.status?.conditions)}`,
    );
    const c = (await custom.getNamespacedCustomObject(ref()).catch(() => undefined)) as
      | ChatCluster
      | undefined;
    return `${state.join('; ')}\nstatus: ${JSON.stringify(c?.status)}`;
  }
  const explained = async (err: unknown) => {
    throw new Error(`${errorMessage(err)}; ${await explain()}`);
  };
  /** Node id → how many of the recipients are connected there now. */
  const spread = () => {
    const on = new Map<number, number>();
    for (const { r } of recipients) {
      const id = r.client.state === 'open' ? r.client.welcome?.nodeId : undefined;
      if (id !== undefined) on.set(id, (on.get(id) ?? 0) + 1);
    }
    return on;
  };

  beforeAll(async () => {
    const kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    const node = (await core.listNode()).items[0];
    const nodeAddress = node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    expect(nodeAddress, 'the node has an InternalIP').not.toBe('');
    entry = `http://${nodeAddress}:${entryPort}`;
    ns = await testNamespace(core, 'chatctl');
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
      ...ref(),
      body: chatClusterBody(NAME, {
        image: chatNodeImage,
        replicasManagedBy: 'External',
        replicas: 2,
        minReplicas: 1,
        maxReplicas: 2,
        resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
        cassandra: { contactPoints: ['cassandra:9042'], replication: 1 },
        expose: {
          service: { type: 'NodePort', nodePort: entryPort },
          nodes: 'NodePort',
          host: nodeAddress,
          nodePortBase: entryPort + 1,
        },
        auth: {
          jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
          adminTokenRef: { name: 'chat-auth', key: 'admin' },
        },
      }),
    });
    await until(
      'two Ready nodes, in the status with its selector',
      async () => {
        const c = (await custom.getNamespacedCustomObject(ref())) as ChatCluster;
        return (await chatNodePods(core, ns.name, NAME, true)).length === 2 && c.status?.nodes?.length === 2;
      },
      240_000,
    ).catch(explained);
    // Stop the operator (see the top of the file); the StatefulSet keeps the pods running.
    const deployment = (await apps.listNamespacedDeployment({ namespace: ns.name })).items.find(
      (d) => d.metadata?.labels?.['app.kubernetes.io/name'] === 'chat-operator',
    );
    await apps.patchNamespacedDeploymentScale(
      { name: deployment!.metadata!.name!, namespace: ns.name, body: { spec: { replicas: 0 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await until(
      'the operator has stopped',
      async () =>
        (
          await core.listNamespacedPod({
            namespace: ns.name,
            labelSelector: 'app.kubernetes.io/name=chat-operator',
          })
        ).items.length === 0,
      60_000,
    );
    // The ServiceAccount chatctl runs as: the chart's editor Role only.
    const roles = await kc.makeApiClient(RbacAuthorizationV1Api).listNamespacedRole({ namespace: ns.name });
    const editorRole = roles.items.find((r) => r.metadata?.name?.endsWith('-chatcluster-editor'))?.metadata
      ?.name;
    expect(editorRole, 'the chart made the chatcluster-editor Role').toBeDefined();
    await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'ops' } } });
    await bindRole(kc, ns.name, 'ops', { kind: 'Role', name: editorRole! });
    editor = await serviceAccountKubeconfig(kc, ns.name, 'ops');

    await until(
      'the entry NodePort answers',
      () =>
        fetch(`${entry}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        ),
      60_000,
    );
    // A sender and four recipients, spread over both nodes by discovery (loads show in the
    // registry within 2 s, so the clients connect a few seconds apart).
    alice = await createUser(entry, 'alice');
    sender = recorder(entry, alice.token);
    clients.push(sender);
    await sender.client.connect();
    for (let i = 0; i < 4; i++) {
      await sleep(2500);
      const user = await createUser(entry, 'rcpt');
      const r = recorder(entry, user.token);
      clients.push(r);
      await r.client.connect();
      recipients.push({ user, r });
    }
    await until('recipients on both nodes', () => spread().size === 2, 30_000).catch(explained);
  }, 600_000);

  afterAll(async () => {
    for (const r of clients) r.client.close();
    await operator?.remove();
    await ns?.remove();
    if (ns) await deleteStreams(servicesEnv().CHAT_NATS_URL!, streamOf(ns.name)).catch(() => {});
  }, 120_000);

  it('nodes lists both pods with their node ids and connections, from the admin API through the API server', async () => {
    const r = await chatctl(editor, 'nodes', NAME);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^POD\s+NODE ID\s+URL\s+CONNECTIONS\s+CAPACITY\s+LOAD\s+DRAINING\s+MOVING\s+ZONE\s+AGE\s+STATE$/,
    );
    const on = spread();
    // The sender is connected too: count it where it is.
    const senderNode = sender.client.welcome!.nodeId;
    for (const id of [0, 1]) {
      const connections = (on.get(id) ?? 0) + (senderNode === id ? 1 : 0);
      expect(lines[id + 1]).toMatch(
        new RegExp(
          `^${NAME}-${id}\\s+${id}\\s+http://\\S+:${entryPort + 1 + id}\\s+${connections}\\s+\\d+\\s+\\d+%\\s+no\\s+0\\s.*serving$`,
        ),
      );
    }
    expect(r.stdout).toContain('2 nodes: 5 connections');

    const names = await chatctl(editor, 'nodes', NAME, '-o', 'name');
    expect(names.stdout).toBe(`pod/${NAME}-0\npod/${NAME}-1`);
  });

  it('drain moves every session off the pod with progress, losing no message, and undrain takes sessions again', async () => {
    const on = spread();
    const victim = (on.get(1) ?? 0) >= (on.get(0) ?? 0) ? 1 : 0;
    const other = 1 - victim;
    const leaving = recipients.filter(({ r }) => r.client.welcome?.nodeId === victim);
    expect(leaving.length).toBeGreaterThan(0);

    // The sender writes to every recipient all along.
    const sent = new Map(recipients.map(({ user }) => [user.userId, [] as string[]]));
    let sending = true;
    const traffic = (async () => {
      for (let i = 0; sending && i < 5000; i++) {
        const { user } = recipients[i % recipients.length]!;
        try {
          sent
            .get(user.userId)!
            .push((await sender.client.send({ to: user.userId, text: `m${i}` })).messageId);
        } catch {
          // Not acknowledged: not promised.
        }
        await sleep(50);
      }
    })();
    await sleep(1000);
    const progress: string[] = [];
    const drain = await chatctlInProcess(
      [
        'drain',
        NAME,
        `${NAME}-${victim}`,
        '--rate',
        '5',
        '--wait',
        '120',
        '-n',
        ns.name,
        '--kubeconfig',
        editor,
      ],
      {},
      (line) => progress.push(line),
    );
    expect(drain.code, drain.stderr).toBe(0);
    const moved = leaving.length + (sender.client.welcome?.nodeId === victim ? 1 : 0);
    expect(drain.stdout).toContain(`draining node ${victim} (pod ${ns.name}/${NAME}-${victim}): asked`);
    expect(progress[0]).toMatch(
      /^waiting for \d+ sessions to reconnect elsewhere \(at most 120 s; --wait\)$/,
    );
    expect(progress.length, 'progress lines while the sessions move').toBeGreaterThanOrEqual(3);
    const bars = progress.filter((l) => l.startsWith('['));
    expect(bars.at(-1)).toMatch(/^\[#{20}\] (\d+)\/\1 moved, 0 still here, 0 connections, [\d.]+ s$/);
    expect(progress.at(-1)).toBe(
      `note: the operator undrains a node it keeps at its next reconcile; to keep ${NAME}-${victim} drained: ` +
        `kubectl annotate chatcluster ${NAME} -n ${ns.name} chatplatform.io/drain=${NAME}-${victim}`,
    );
    expect(drain.stdout).toContain(
      `node ${victim} is draining with 0 connections left; undo with: chatctl undrain ${NAME} ${NAME}-${victim} -n ${ns.name}`,
    );
    expect(moved).toBeGreaterThan(0);
    await until(
      `every recipient is back, on node ${other}`,
      () => recipients.every(({ r }) => r.client.state === 'open' && r.client.welcome?.nodeId === other),
      60_000,
    ).catch(explained);
    for (const { r } of leaving)
      expect(r.connectedTo.length, 'a moved client reconnected').toBeGreaterThan(1);

    await sleep(1500);
    sending = false;
    await traffic;
    for (const { user, r } of recipients) {
      const ids = sent.get(user.userId)!;
      expect(ids.length).toBeGreaterThan(3);
      await until(`${user.username} saw all ${ids.length} messages`, () =>
        ids.every((id) => r.seen.some((m) => m.messageId === id)),
      );
      expect(idsFrom(r.seen, alice.userId)).toEqual(new Set(ids));
    }

    const listed = await chatctl(editor, 'nodes', NAME);
    expect(listed.stdout).toMatch(
      new RegExp(`\\n${NAME}-${victim}\\s+${victim}\\s+\\S+\\s+0\\s+\\d+\\s+0%\\s+yes\\s+0\\s.*draining\\n`),
    );

    const undrain = await chatctl(editor, 'undrain', NAME, String(victim));
    expect(undrain.code, undrain.stderr).toBe(0);
    expect(undrain.stdout).toBe(
      `node ${victim} (pod ${ns.name}/${NAME}-${victim}) takes sessions again: 0 connections`,
    );
    expect(undrain.stderr, 'no annotation holds it drained').toBe('');
    // A shed off the other node sends its session to the least-loaded other node: the undrained one.
    await sleep(2500); // the registry shows the undrained node within 2 s
    const shed = await chatctl(editor, 'shed', NAME, `${NAME}-${other}`, '1', '--wait', '60');
    expect(shed.code, shed.stderr).toBe(0);
    expect(shed.stdout).toContain(
      `node ${other} (pod ${ns.name}/${NAME}-${other}): asked 1 of 1 sessions to move`,
    );
    await until(
      `a session is on node ${victim} again`,
      () => clients.some((r) => r.client.state === 'open' && r.client.welcome?.nodeId === victim),
      60_000,
    ).catch(explained);
    const after = await chatctl(editor, 'nodes', NAME);
    expect(after.stdout).toMatch(
      new RegExp(`\\n${NAME}-${victim}\\s+${victim}\\s+\\S+\\s+1\\s+\\d+\\s+\\d+%\\s+no\\s+0\\s.*serving\\n`),
    );
  }, 300_000);

  it('says which grant is missing when the user may not use the pod proxy', async () => {
    const kc = kubeConfig();
    const noProxy = await userWithRules(kc, ns.name, 'no-proxy', [
      { apiGroups: [GROUP], resources: [PLURAL], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
    ]);
    const r = await chatctl(noProxy, 'nodes', NAME);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `not allowed to reach the admin API of pod ${ns.name}/${NAME}-0 through the API server`,
    );
    expect(r.stderr).toContain(`cannot get resource "pods/proxy"`);
    expect(r.stderr).toContain(`Ask for \`get\` on pods/proxy in namespace ${ns.name}`);
    expect(r.stderr).toContain('2 of 2 nodes could not be read');
    expect(r.stderr, 'the message, not the proxy URL it came from').not.toContain('/api/v1/namespaces');
    const d = await chatctl(noProxy, 'drain', NAME, '0');
    expect(d.code).toBe(1);
    expect(d.stderr).toContain(`Ask for \`create\` on pods/proxy in namespace ${ns.name}`);
  });

  it('drains a pod by name and shows progress as chatctl installed from its packed tarball, and kubectl chat undrains it', async () => {
    const installed = await installChatctl();
    try {
      const on = spread();
      const id = (on.get(1) ?? 0) >= (on.get(0) ?? 0) ? 1 : 0;
      expect(on.get(id), 'recipients on the node to drain').toBeGreaterThan(0);
      const pod = `${NAME}-${id}`;
      const drain = await installed.run(
        'chatctl',
        ['drain', NAME, pod, '--rate', '20', '--wait', '120', '-n', ns.name, '--kubeconfig', editor],
        {},
        180_000,
      );
      expect(drain.code, drain.stderr).toBe(0);
      expect(drain.stdout).toContain(`draining node ${id} (pod ${ns.name}/${pod}): asked`);
      expect(drain.stdout).toContain(`node ${id} is draining with 0 connections left`);
      expect(drain.stdout + drain.stderr).toMatch(/\[#{20}\] (\d+)\/\1 moved, 0 still here, 0 connections/);
      const undrain = await installed.run('kubectl-chat', [
        'undrain',
        NAME,
        pod,
        '-n',
        ns.name,
        '--kubeconfig',
        editor,
      ]);
      expect(undrain.code, undrain.stderr).toBe(0);
      const listed = await installed.run('kubectl-chat', [
        'nodes',
        NAME,
        '-n',
        ns.name,
        '--kubeconfig',
        editor,
      ]);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(new RegExp(`\\n${pod}\\s+${id}\\s.*serving`));
    } finally {
      installed.remove();
    }
  }, 400_000);
});
