/**
 * The ChatCluster CRD against a real Kubernetes API server (npm run k8s:up): it installs, the samples
 * apply, bad specs are refused with messages that name the field, defaults are filled in, and the
 * scale and status subresources work as kubectl and autoscalers use them.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
} from '@kubernetes/client-node';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  type ChatCluster,
  type ChatClusterSpecInput,
  CRD_NAME,
  chatClusterCrd,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
} from '../../operator/chatcluster-schema.ts';
import { crdDir } from '../../scripts/gen-crds.ts';

const kubeconfigPath = join(import.meta.dirname, '..', '..', '.services', 'kubeconfig');
const samplesDir = join(crdDir, 'samples');
const samples = readdirSync(samplesDir).filter((f) => f.endsWith('.yaml'));
const fieldManager = 'chat-platform-tests';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The smallest valid spec; each case changes one thing. */
const validSpec = (): ChatClusterSpecInput => ({
  image: 'chat-platform/chat-node:test',
  nats: { url: 'nats://nats:4222' },
  redis: { url: 'redis://redis:6379' },
  cassandra: { contactPoints: ['cassandra:9042'] },
  auth: { jwtSecretRef: { name: 'chat-auth', key: 'jwt-secret' } },
});

let kc: KubeConfig;
let core: CoreV1Api;
let objects: CustomObjectsApi;
let ns: string;

function loadKubeConfig(): KubeConfig {
  if (!existsSync(kubeconfigPath)) {
    throw new Error(
      `${kubeconfigPath} is missing: run npm run k8s:up (a real Kubernetes API server on loopback)`,
    );
  }
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return config;
}

async function assertReachable(config: KubeConfig): Promise<void> {
  try {
    await config.makeApiClient(VersionApi).getCode();
  } catch (err) {
    const server = config.getCurrentCluster()?.server;
    throw new Error(`the Kubernetes API server at ${server} does not answer: run npm run k8s:up`, {
      cause: err,
    });
  }
}

/** Server-side apply of the CRD as generated now, then wait until chatclusters are served. */
async function installCrd(): Promise<void> {
  const crds = kc.makeApiClient(ApiextensionsV1Api);
  await crds.patchCustomResourceDefinition(
    { name: CRD_NAME, body: chatClusterCrd, fieldManager, force: true },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const crd = await crds.readCustomResourceDefinition({ name: CRD_NAME });
    const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    if (established && (await served())) return;
    if (Date.now() > deadline) {
      throw new Error(`${CRD_NAME} not established after 30 s: ${JSON.stringify(crd.status?.conditions)}`);
    }
    await sleep(200);
  }
}

async function served(): Promise<boolean> {
  try {
    await objects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, limit: 1 });
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return false;
    throw err;
  }
}

const ref = (name: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name });

function create(name: string, spec: unknown): Promise<ChatCluster> {
  return objects.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: PLURAL,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name }, spec },
    fieldManager,
    // Unknown fields are refused, not silently dropped: a typo in a sample fails here.
    fieldValidation: 'Strict',
  });
}

/** The API server's message when it refuses to create a ChatCluster with this spec. */
async function refusal(spec: unknown): Promise<string> {
  try {
    await create('refused', spec);
  } catch (err) {
    // 422 for schema violations, 400 for fields the schema does not declare (fieldValidation=Strict).
    if (err instanceof ApiException && (err.code === 422 || err.code === 400)) {
      const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      return String(body.message);
    }
    throw err;
  }
  throw new Error(`the API server accepted ${JSON.stringify(spec)}`);
}

/** GET path as `kubectl get` does: a server-side Table with the CRD's printer columns. */
async function getTable(
  path: string,
): Promise<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const options = {
    hostname: server.hostname,
    port: server.port,
    path,
    headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    get(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(text))));
    }).on('error', reject);
  });
}

beforeAll(async () => {
  kc = loadKubeConfig();
  await assertReachable(kc);
  core = kc.makeApiClient(CoreV1Api);
  objects = kc.makeApiClient(CustomObjectsApi);
  await installCrd();
}, 60_000);

beforeEach(async () => {
  ns = `crd-test-${randomUUID().slice(0, 8)}`;
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'chat-platform/test': 'crd' } } } });
});

afterEach(async () => {
  // The namespace controller deletes what is left in it; no need to wait.
  await core.deleteNamespace({ name: ns });
});

describe('the ChatCluster CRD', () => {
  it('is established with the short name chat and the status and scale subresources', async () => {
    const crd = await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: CRD_NAME });
    expect(crd.status?.acceptedNames).toMatchObject({ kind: KIND, plural: PLURAL, shortNames: ['chat'] });
    expect(crd.spec.versions[0]?.subresources).toMatchObject({
      status: {},
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
    });
  });

  for (const file of samples) {
    it(`accepts the sample ${file} as written`, async () => {
      const sample = parse(readFileSync(join(samplesDir, file), 'utf8'));
      const created = await create(sample.metadata.name, sample.spec);
      expect(created.spec).toMatchObject(sample.spec);
    });
  }

  it('fills in the defaults of every field a spec leaves out', async () => {
    const created = await create('defaults', validSpec());
    expect(created.spec).toEqual({
      ...validSpec(),
      replicas: 1,
      replicasManagedBy: 'Operator',
      deletionPolicy: 'Retain',
      expose: { service: { type: 'ClusterIP' }, nodes: 'Cluster' },
      podTemplate: {},
      minReplicas: 1,
      maxReplicas: 10,
      targetConnectionsPerNode: 10_000,
      scaleUp: { stabilizationWindowSeconds: 0, tolerance: 0.1 },
      scaleDown: { stabilizationWindowSeconds: 300, tolerance: 0.1 },
      rebalance: { maxSessionsMovedPerMinute: 12_000, imbalanceThreshold: 0.2 },
      cassandra: {
        contactPoints: ['cassandra:9042'],
        keyspace: 'chat',
        localDataCenter: 'datacenter1',
        replication: 3,
      },
    });
  });

  it('keeps the nested defaults when a spec sets only part of an object', async () => {
    const created = await create('partial', { ...validSpec(), scaleDown: { tolerance: 0.3 } });
    expect(created.spec.scaleDown).toEqual({ stabilizationWindowSeconds: 300, tolerance: 0.3 });
  });

  const refused: [string, Record<string, unknown>, string[]][] = [
    [
      'minReplicas exceeds maxReplicas',
      { minReplicas: 5, maxReplicas: 2 },
      ['spec.minReplicas', 'minReplicas must not exceed maxReplicas'],
    ],
    [
      'minReplicas exceeds the default maxReplicas',
      { minReplicas: 11 },
      ['spec.minReplicas', 'minReplicas must not exceed maxReplicas'],
    ],
    [
      'targetConnectionsPerNode is negative',
      { targetConnectionsPerNode: -5 },
      ['spec.targetConnectionsPerNode'],
    ],
    ['targetConnectionsPerNode is 0', { targetConnectionsPerNode: 0 }, ['spec.targetConnectionsPerNode']],
    ['minReplicas is negative', { minReplicas: -1 }, ['spec.minReplicas']],
    ['maxReplicas is 0', { maxReplicas: 0 }, ['spec.maxReplicas']],
    ['image is missing', { image: undefined }, ['spec.image', 'Required value']],
    ['image is empty', { image: '' }, ['spec.image']],
    ['a scale-up tolerance is 2', { scaleUp: { tolerance: 2 } }, ['spec.scaleUp.tolerance']],
    ['a scale-down tolerance is negative', { scaleDown: { tolerance: -0.1 } }, ['spec.scaleDown.tolerance']],
    [
      'imbalanceThreshold is above 1',
      { rebalance: { imbalanceThreshold: 1.5 } },
      ['spec.rebalance.imbalanceThreshold'],
    ],
    ['the NATS URL is not a nats:// URL', { nats: { url: 'http://nats:4222' } }, ['spec.nats.url']],
    [
      'there is no Cassandra contact point',
      { cassandra: { contactPoints: [] } },
      ['spec.cassandra.contactPoints'],
    ],
    [
      'the JWT secret is not named',
      { auth: { jwtSecretRef: { key: 'k' } } },
      ['spec.auth.jwtSecretRef.name'],
    ],
    ['a field is unknown', { minReplica: 2 }, ['minReplica']],
    ['deletionPolicy is not Retain or Delete', { deletionPolicy: 'Orphan' }, ['spec.deletionPolicy']],
  ];
  for (const [when, change, mentions] of refused) {
    it(`refuses a spec, naming the field, when ${when}`, async () => {
      const message = await refusal({ ...validSpec(), ...change });
      for (const text of mentions) expect(message).toContain(text);
    });
  }

  it('scales through the scale subresource as kubectl scale does, and reads it back', async () => {
    await create('scaled', validSpec());
    await objects.patchNamespacedCustomObjectScale(
      { ...ref('scaled'), body: { spec: { replicas: 3 } } },
      mergePatch,
    );

    const cluster: ChatCluster = await objects.getNamespacedCustomObject(ref('scaled'));
    expect(cluster.spec.replicas).toBe(3);

    await objects.patchNamespacedCustomObjectStatus(
      { ...ref('scaled'), body: { status: { replicas: 2, selector: 'app.kubernetes.io/instance=scaled' } } },
      mergePatch,
    );
    const scale = await objects.getNamespacedCustomObjectScale(ref('scaled'));
    expect(scale).toMatchObject({
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      spec: { replicas: 3 },
      status: { replicas: 2, selector: 'app.kubernetes.io/instance=scaled' },
    });
  });

  it('answers a read of the scale of a fresh, autoscaled ChatCluster that sets no replicas', async () => {
    await create('fresh', validSpec());
    const scale = await objects.getNamespacedCustomObjectScale(ref('fresh'));
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 1 } });
  });

  it('lets a real HorizontalPodAutoscaler read the scale of a fresh ChatCluster', async () => {
    await create('hpa', validSpec());
    const hpas = kc.makeApiClient(AutoscalingV2Api);
    await hpas.createNamespacedHorizontalPodAutoscaler({
      namespace: ns,
      body: {
        metadata: { name: 'hpa' },
        spec: {
          scaleTargetRef: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, name: 'hpa' },
          minReplicas: 1,
          maxReplicas: 3,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
            },
          ],
        },
      },
    });
    // kube-controller-manager's HPA controller syncs every 15 s: its first look sets AbleToScale.
    let conditions: { type: string; status: string; reason?: string; message?: string }[] = [];
    const deadline = Date.now() + 60_000;
    // (A CRD the controller manager has not discovered yet reads as FailedGetScale for a while.)
    while (
      !conditions.some((c) => c.type === 'AbleToScale' && c.status === 'True') &&
      Date.now() < deadline
    ) {
      await sleep(1000);
      const hpa = await hpas.readNamespacedHorizontalPodAutoscaler({ name: 'hpa', namespace: ns });
      conditions = hpa.status?.conditions ?? [];
    }
    expect(
      conditions.find((c) => c.type === 'AbleToScale'),
      JSON.stringify(conditions),
    ).toMatchObject({
      status: 'True',
      reason: 'SucceededGetScale',
    });
  }, 90_000);

  it('ignores status in writes to the object itself, and spec in writes to status', async () => {
    await create('split', validSpec());
    await objects.patchNamespacedCustomObject(
      { ...ref('split'), body: { status: { connections: 5 }, spec: { minReplicas: 2 } } },
      mergePatch,
    );
    await objects.patchNamespacedCustomObjectStatus(
      { ...ref('split'), body: { status: { connections: 7 }, spec: { minReplicas: 4 } } },
      mergePatch,
    );
    const cluster: ChatCluster = await objects.getNamespacedCustomObject(ref('split'));
    expect(cluster.spec.minReplicas).toBe(2);
    expect(cluster.status?.connections).toBe(7);
  });

  it('lists with the printer columns that kubectl get shows', async () => {
    await create('listed', { ...validSpec(), targetConnectionsPerNode: 20_000 });
    await objects.patchNamespacedCustomObjectStatus(
      {
        ...ref('listed'),
        body: {
          status: {
            replicas: 2,
            readyReplicas: 1,
            connections: 1234,
            conditions: [
              {
                type: 'Ready',
                status: 'False',
                reason: 'NodesStarting',
                message: '1 of 2 nodes ready',
                lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
              },
            ],
          },
        },
      },
      mergePatch,
    );
    const table = await getTable(`/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`);
    expect(table.columnDefinitions.map((c) => c.name)).toEqual([
      'Name',
      'Replicas',
      'Ready',
      'Connections',
      'Target',
      'Status',
      'Age',
    ]);
    expect(table.rows[0]?.cells.slice(0, 6)).toEqual(['listed', 2, 1, 1234, 20_000, 'False']);
  });
});
