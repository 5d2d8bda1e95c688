/**
 * `chatctl clusters`, `status` and `scale` as processes against the real Kubernetes API server
 * (npm run k8s:up), with the ChatCluster CRD installed as generated, in a namespace of their own.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChatCluster,
  CRD_NAME,
  chatClusterCrd,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
} from '../../operator/chatcluster-schema.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { chatctl } from './chatctl-process.ts';

const KUBECONFIG = join(import.meta.dirname, '..', '..', '.services', 'kubeconfig');
const fieldManager = 'chatctl-tests';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const ns = `chatctl-test-${randomUUID().slice(0, 8)}`;

let kc: KubeConfig;
let custom: CustomObjectsApi;
const ref = (name: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name });

async function installCrd(): Promise<void> {
  const crds = kc.makeApiClient(ApiextensionsV1Api);
  await crds.patchCustomResourceDefinition(
    { name: CRD_NAME, body: chatClusterCrd, fieldManager, force: true },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const crd = await crds.readCustomResourceDefinition({ name: CRD_NAME });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    if (Date.now() > deadline) throw new Error(`${CRD_NAME} not established after 30 s`);
    await sleep(200);
  }
}

async function createCluster(name: string, status?: ChatCluster['status']): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...ref(name),
    body: chatClusterBody(name, {
      maxReplicas: 10,
      targetConnectionsPerNode: 100,
      auth: { jwtSecretRef: { name: 'chat-auth', key: 'jwt-secret' } },
    }),
  });
  if (status) await custom.patchNamespacedCustomObjectStatus({ ...ref(name), body: { status } }, mergePatch);
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const kube = (...args: string[]) => chatctl([...args, '--kubeconfig', KUBECONFIG]);

beforeAll(async () => {
  if (!existsSync(KUBECONFIG)) throw new Error(`${KUBECONFIG} is missing: run npm run k8s:up`);
  kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  try {
    await kc.makeApiClient(VersionApi).getCode();
  } catch (err) {
    throw new Error(`the Kubernetes API server does not answer: run npm run k8s:up`, { cause: err });
  }
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrd();
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  await createCluster('alpha', {
    replicas: 2,
    readyReplicas: 2,
    connections: 150,
    observedGeneration: 1,
    selector: 'app.kubernetes.io/instance=alpha',
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'AllNodesReady',
        message: '2 of 2 nodes ready',
        lastTransitionTime: now(),
      },
      {
        type: 'Rebalancing',
        status: 'True',
        reason: 'Shedding',
        message: 'moving 25 sessions',
        lastTransitionTime: now(),
      },
    ],
    nodes: [
      {
        name: 'alpha-0',
        ordinal: 0,
        nodeId: 0,
        url: 'http://alpha-0.alpha:8080',
        connections: 100,
        draining: false,
      },
      {
        name: 'alpha-1',
        ordinal: 1,
        nodeId: 1,
        url: 'http://alpha-1.alpha:8080',
        connections: 50,
        draining: false,
      },
    ],
  });
  await createCluster('beta');
}, 60_000);

afterAll(async () => {
  // The namespace controller deletes the ChatClusters in it.
  await kc?.makeApiClient(CoreV1Api).deleteNamespace({ name: ns });
});

describe('chatctl clusters and status', () => {
  it('clusters lists the namespace’s ChatClusters with nodes, connections, target and conditions', async () => {
    const r = await kube('clusters', '-n', ns);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^NAME\s+DESIRED\s+REPLICAS\s+READY\s+CONNECTIONS\s+TARGET\s+LOAD\s+STATUS\s+CONDITIONS\s+AGE$/,
    );
    expect(lines[1]).toMatch(/^alpha\s+auto 1\.\.10\s+2\s+2\s+150\s+100\s+75%\s+True\s+Rebalancing\s+\d+s$/);
    expect(lines[2]).toMatch(/^beta\s+auto 1\.\.10\s+0\s+0\s+0\s+100\s+-\s+Unknown\s+-\s+\d+s$/);
  });

  it('clusters -A reads KUBECONFIG and adds the namespace column', async () => {
    const r = await chatctl(['clusters', '-A'], { KUBECONFIG });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\n${ns}\\s+alpha\\s`));
  });

  it('status shows the summary, the conditions and the per-node table', async () => {
    const r = await kube('status', 'alpha', '-n', ns);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`ChatCluster ${ns}/alpha\n`);
    expect(r.stdout).toContain('Connections:  150 (75% of 2 × 100 target per node)');
    expect(r.stdout).toMatch(/Rebalancing\s+True\s+Shedding\s+\d+s\s+moving 25 sessions/);
    expect(r.stdout).toMatch(/alpha-0\s+0\s+0\s+100\s+100%\s+no\s+http:\/\/alpha-0\.alpha:8080/);
    expect(r.stdout).toMatch(/alpha-1\s+1\s+1\s+50\s+50%\s+no\s/);
  });

  it('status -o json prints the object as the API server returns it', async () => {
    const r = await kube('status', 'beta', '-n', ns, '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: KIND, metadata: { name: 'beta', namespace: ns } });
  });

  it('scale takes spec.replicas over from the autoscaler, the scale subresource reads it, and it warns past maxReplicas', async () => {
    const r = await kube('scale', 'beta', '4', '-n', ns);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`chatcluster ${ns}/beta scaled: spec.replicas 1 (autoscaled) → 4`);
    const taken = (await custom.getNamespacedCustomObject(ref('beta'))) as ChatCluster;
    expect(taken.spec).toMatchObject({ replicas: 4, replicasManagedBy: 'External' });

    const far = await kube('scale', 'beta', '40', '-n', ns);
    expect(far.code, far.stderr).toBe(0);
    expect(far.stdout).toContain('spec.replicas 4 → 40');
    expect(far.stdout).toContain('(1..10), so it runs 10');
    const scale = (await custom.getNamespacedCustomObjectScale(ref('beta'))) as {
      spec: { replicas: number };
    };
    expect(scale.spec.replicas).toBe(40);
  });

  it('says what to do for a missing ChatCluster (1), no kubeconfig (2) and an API server that is down (1)', async () => {
    const missing = await kube('status', 'gamma', '-n', ns);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`ChatCluster ${ns}/gamma not found`);
    expect(missing.stderr).toContain('chatctl clusters -A');

    const none = await chatctl(['clusters']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /no kubeconfig at .*\.kube\/config: pass --kubeconfig <file> or set KUBECONFIG/,
    );

    const dir = mkdtempSync(join(tmpdir(), 'chatctl-kube-'));
    const dead = join(dir, 'config');
    writeFileSync(
      dead,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: dead, cluster: {server: "https://127.0.0.1:9"}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: dead, context: {cluster: dead, user: u}}]',
        'current-context: dead',
      ].join('\n'),
    );
    const down = await chatctl(['clusters', '--kubeconfig', dead]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the Kubernetes API server at https://127.0.0.1:9');

    const badScale = await kube('scale', 'beta', '-3', '-n', ns);
    expect(badScale.code).toBe(2);
  });
});
