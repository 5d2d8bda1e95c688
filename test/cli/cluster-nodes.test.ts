/**
 * `chatctl nodes/drain/undrain/shed <chatcluster>` against the real API server (npm run k8s:up), up
 * to where a node would answer: what it says when the ChatCluster, its pods, the admin token's
 * Secret or a grant is missing, and when a pod is not running (pods here never schedule: they select
 * a node that does not exist). The calls through the pod proxy to running nodes are in
 * test/k8s/chatctl.test.ts.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodePod } from '../../cli/cluster-nodes.ts';
import { GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { installChatClusterCrd, KUBECONFIG, testKubeConfig } from '../helpers/kube.ts';
import { testNamespace } from '../k8s/cluster.ts';
import { chatctlInProcess } from './in-process.ts';
import { userWithRules } from './kube-user.ts';

describe('nodePod', () => {
  it('reads the node id, readiness, state, admin port and start of a pod', () => {
    const pod = nodePod({
      metadata: { name: 'chat-3', labels: { 'apps.kubernetes.io/pod-index': '3' } },
      spec: {
        containers: [
          {
            name: 'chat-node',
            ports: [
              { name: 'http', containerPort: 8080 },
              { name: 'admin', containerPort: 9090 },
            ],
          },
        ],
      },
      status: {
        phase: 'Running',
        podIP: '10.244.0.7',
        startTime: new Date(1_000_000),
        conditions: [{ type: 'Ready', status: 'False' }],
      },
    });
    expect(pod).toEqual({
      name: 'chat-3',
      ordinal: 3,
      ready: false,
      state: 'Running, not Ready',
      adminPort: 9090,
      hasIp: true,
      startedAt: 1_000_000,
    });
  });

  it('says why a pod is not running yet, and that a deleted one is terminating', () => {
    const waiting = nodePod({
      metadata: { name: 'chat-0' },
      spec: { containers: [{ name: 'c' }] },
      status: { phase: 'Pending', containerStatuses: [waitingStatus('ContainerCreating')] },
    });
    expect(waiting).toMatchObject({ state: 'Pending (ContainerCreating)', ordinal: undefined, hasIp: false });
    const gone = nodePod({
      metadata: { name: 'chat-0', deletionTimestamp: new Date() },
      spec: { containers: [{ name: 'c' }] },
      status: { phase: 'Running', podIP: '10.0.0.1' },
    });
    expect(gone.state).toBe('Terminating');
  });
});

function waitingStatus(reason: string) {
  return {
    name: 'c',
    image: 'x',
    imageID: '',
    ready: false,
    restartCount: 0,
    state: { waiting: { reason } },
  };
}

describe('chatctl with a ChatCluster, short of a running node', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  const kube = (...args: string[]) => chatctlInProcess([...args, '-n', ns.name, '--kubeconfig', KUBECONFIG]);
  const ref = (name: string) => ({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: ns.name,
    name,
  });
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  /** A ChatCluster with `adminTokenRef`; with `pod`, status.selector and one pod that never schedules. */
  async function cluster(
    name: string,
    adminTokenRef?: { name: string; key: string },
    pod = true,
  ): Promise<void> {
    await custom.createNamespacedCustomObject({
      ...ref(name),
      body: chatClusterBody(name, {
        auth: {
          jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
          ...(adminTokenRef ? { adminTokenRef } : {}),
        },
      }),
    });
    if (!pod) return;
    const selector = `app.kubernetes.io/instance=${name}`;
    await custom.patchNamespacedCustomObjectStatus(
      { ...ref(name), body: { status: { selector, replicas: 1 } } },
      mergePatch,
    );
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: {
          name: `${name}-0`,
          labels: { 'app.kubernetes.io/instance': name, 'apps.kubernetes.io/pod-index': '0' },
        },
        spec: {
          nodeSelector: { 'chat.test/no-such-node': 'true' },
          containers: [
            {
              name: 'chat-node',
              image: 'chat-platform/chat-node:test',
              ports: [{ name: 'admin', containerPort: 9090 }],
            },
          ],
        },
      },
    });
  }

  beforeAll(async () => {
    kc = testKubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ns = await testNamespace(core, 'chatctl-nodes');
    await installChatClusterCrd(kc, ns.name);
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'chat-admin' }, stringData: { admin: 'not-used-by-any-node' } },
    });
    await cluster('fresh', undefined, false);
    await custom.createNamespacedCustomObject({ ...ref('empty'), body: chatClusterBody('empty') });
    await custom.patchNamespacedCustomObjectStatus(
      { ...ref('empty'), body: { status: { selector: 'app.kubernetes.io/instance=empty', replicas: 0 } } },
      mergePatch,
    );
    await cluster('waiting', { name: 'chat-admin', key: 'admin' });
    await cluster('untokened');
    await cluster('nosecret', { name: 'missing-secret', key: 'admin' });
    await cluster('nokey', { name: 'chat-admin', key: 'other' });
  }, 60_000);

  afterAll(async () => {
    await ns?.remove();
  });

  it('says a ChatCluster is missing, and how to list them', async () => {
    const r = await kube('nodes', 'gamma');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`chatctl: ChatCluster ${ns.name}/gamma not found`);
    expect(r.stderr).toContain('chatctl clusters -A');
  });

  it('says a ChatCluster has no pods yet, and where to look', async () => {
    const fresh = await kube('drain', 'fresh', '0');
    expect(fresh.code).toBe(1);
    expect(fresh.stderr).toContain(
      `chatctl: ChatCluster ${ns.name}/fresh has no chat-node pods yet (the operator has not reconciled it: no ` +
        `status.selector): is the operator running? chatctl status fresh -n ${ns.name} shows its conditions`,
    );
    const empty = await kube('nodes', 'empty');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain(
      `ChatCluster ${ns.name}/empty has no chat-node pods yet (status.replicas 0)`,
    );
  });

  it('says a pod that is not running cannot be reached, and how to see why', async () => {
    const r = await kube('drain', 'waiting', 'waiting-0');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `chatctl: pod ${ns.name}/waiting-0 is not Ready (Pending): its admin API cannot be reached until it runs. ` +
        `See why with: kubectl describe pod waiting-0 -n ${ns.name}`,
    );
    const listed = await kube('nodes', 'waiting');
    expect(listed.code).toBe(1);
    expect(listed.stdout).toMatch(/^POD\s+NODE ID\s+URL\s+CONNECTIONS/);
    expect(listed.stdout).toMatch(/\nwaiting-0\s+0\s+-\s+-.*\s+unreachable\n/);
    expect(listed.stderr).toContain('1 of 1 nodes could not be read');
  });

  it('says which nodes there are when the one named is not among them', async () => {
    const r = await kube('undrain', 'waiting', '3');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `ChatCluster ${ns.name}/waiting has no node "3": its pods are waiting-0 (node id 0); chatctl nodes waiting -n ${ns.name} lists them`,
    );
  });

  it('says what to fix when there is no admin token: no reference, no Secret, no key', async () => {
    const unset = await kube('nodes', 'untokened');
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain(
      `ChatCluster ${ns.name}/untokened has no admin API: spec.auth.adminTokenRef is not set`,
    );

    const missing = await kube('shed', 'nosecret', '0', '5');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `the admin token's Secret ${ns.name}/missing-secret (spec.auth.adminTokenRef of ChatCluster ${ns.name}/nosecret) ` +
        `does not exist, and its nodes cannot start without it: kubectl create secret generic missing-secret -n ${ns.name} --from-literal=admin=`,
    );

    const noKey = await kube('nodes', 'nokey');
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain(
      `Secret ${ns.name}/chat-admin has no key "other" (spec.auth.adminTokenRef.key of ChatCluster ${ns.name}/nokey); its keys: admin`,
    );
  });

  it('names the grant that is missing: list on pods, get on the Secret', async () => {
    const readOnly = [{ apiGroups: [GROUP], resources: [PLURAL], verbs: ['get'] }];
    const noPods = await userWithRules(kc, ns.name, 'reads-clusters', readOnly);
    const r = await chatctlInProcess(['nodes', 'waiting', '--kubeconfig', noPods]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`not allowed to read or change pods in namespace ${ns.name}`);
    expect(r.stderr).toContain(`Ask for list on pods in namespace ${ns.name}`);

    const noSecret = await userWithRules(kc, ns.name, 'lists-pods', [
      ...readOnly,
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ]);
    const s = await chatctlInProcess(['drain', 'waiting', '0', '--kubeconfig', noSecret]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(
      `not allowed to read or change Secret ${ns.name}/chat-admin (the admin token of ChatCluster ${ns.name}/waiting)`,
    );
    expect(s.stderr).toContain(
      `Ask for get on secrets "chat-admin" in namespace ${ns.name} (the chat-operator chart's chatcluster-editor role grants it)`,
    );
  });
});
