/**
 * crds/samples/production.yaml, read as it is in the repository, applied to the one-node cluster of
 * `npm run k8s:up` with a short list of overrides (OVERRIDES below: each a path, its value here and
 * why), becomes Ready on the backends of `services:up -- --secure` (credentials and TLS, as the
 * sample asks for). Everything else comes from the sample: its pod template (the PriorityClass, the
 * node label and the tolerations it names), its Ingress, its Secrets by name, its deletionPolicy,
 * its autoscaling and rebalancing settings. The test checks that the override list changes only the
 * paths it declares, that the API server keeps every field of the sample, that the pods and the
 * Ingress carry what the sample says, that two users chat across two of its nodes, and that no
 * secret value shows in the ChatCluster, the ConfigMaps, the pod specs or the logs.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  PatchStrategy,
  SchedulingV1Api,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ChatApi } from '../../client/index.ts';
import { errorMessage } from '../../common/errors.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { type Recorder, recorder, until } from '../helpers/recorder.ts';
import { createUser } from '../helpers/users.ts';
import {
  chatNodeImage,
  chatNodePods,
  installOperator,
  isHomeCluster,
  kubeConfig,
  publishBackends,
  readableState,
  removeBackendData,
  secureBackends,
  testNamespace,
} from './cluster.ts';
import { PodAddresses } from './pod-addresses.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SAMPLE_FILE = join(ROOT, 'crds', 'samples', 'production.yaml');
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Json = Record<string, unknown>;
interface KeyRef {
  name: string;
  key: string;
}
interface Sample {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: Json & {
    minReplicas: number;
    maxReplicas: number;
    podTemplate: {
      priorityClassName: string;
      nodeSelector: Record<string, string>;
      tolerations: Json[];
      annotations: Record<string, string>;
      env: { name: string; value: string }[];
    };
    expose: {
      nodes: string;
      ingress: {
        className: string;
        host: string;
        tlsSecretName: string;
        annotations: Record<string, string>;
      };
    };
    cassandra: Json & { keyspace: string };
    auth: { jwtSecretRef: KeyRef; adminTokenRef: KeyRef };
  };
}

/**
 * What this test changes in the sample, and only that: the sample's image, backends and sizes are a
 * production install's; these make it fit one node with two cores and point it at the test's
 * backends (published in the test namespace under the names their certificate carries).
 */
const OVERRIDES: readonly { path: string; value: unknown; why: string }[] = [
  { path: 'spec.image', value: chatNodeImage, why: 'the image `npm run images` built (no registry here)' },
  { path: 'spec.nats.url', value: 'tls://nats:4222', why: 'the secure NATS, published in the namespace' },
  { path: 'spec.nats.user', value: 'chat', why: 'the user the secure NATS has' },
  {
    path: 'spec.redis.url',
    value: 'rediss://redis:6379',
    why: 'the secure Redis, published in the namespace',
  },
  { path: 'spec.redis.username', value: 'chat', why: 'the ACL user the secure Redis has' },
  {
    path: 'spec.cassandra.contactPoints',
    value: ['cassandra:9042'],
    why: 'the one secure Cassandra, published in the namespace',
  },
  {
    path: 'spec.cassandra.localDataCenter',
    value: 'datacenter1',
    why: 'the data center of the test Cassandra',
  },
  { path: 'spec.cassandra.replication', value: 1, why: 'one Cassandra server: 3 replicas cannot be placed' },
  { path: 'spec.cassandra.username', value: 'chat', why: 'the role the secure Cassandra has' },
  {
    path: 'spec.resources.requests.cpu',
    value: '100m',
    why: 'the node has two cores: three nodes asking for two each are never scheduled',
  },
];

/** The sample as it is in the repository. */
function readSample(): Sample {
  return YAML.parse(readFileSync(SAMPLE_FILE, 'utf8')) as Sample;
}

const segments = (path: string) => path.split('.');

function getAt(obj: unknown, path: string): unknown {
  let at: unknown = obj;
  for (const key of segments(path)) {
    if (at === null || typeof at !== 'object' || !(key in at)) return undefined;
    at = (at as Json)[key];
  }
  return at;
}

function hasAt(obj: unknown, path: string): boolean {
  const keys = segments(path);
  const parent = getAt(obj, keys.slice(0, -1).join('.'));
  return keys.length === 1
    ? typeof obj === 'object' && obj !== null && keys[0]! in obj
    : typeof parent === 'object' && parent !== null && keys.at(-1)! in parent;
}

/** A deep copy of `obj` with `value` at `path` (which must exist: an override replaces a field). */
function setAt<T>(obj: T, path: string, value: unknown): T {
  const copy = structuredClone(obj);
  const keys = segments(path);
  const parent = keys.slice(0, -1).reduce((at: Json, key) => at[key] as Json, copy as Json);
  parent[keys.at(-1)!] = structuredClone(value);
  return copy;
}

/** A deep copy of `obj` without the fields at `paths`. */
function withoutPaths<T>(obj: T, paths: readonly string[]): T {
  const copy = structuredClone(obj);
  for (const path of paths) {
    const keys = segments(path);
    const parent = getAt(copy, keys.slice(0, -1).join('.'));
    if (parent && typeof parent === 'object') delete (parent as Json)[keys.at(-1)!];
  }
  return copy;
}

/** The sample with OVERRIDES applied. */
function productionForTest(sample: Sample = readSample()): Sample {
  return OVERRIDES.reduce((obj, o) => setAt(obj, o.path, o.value), sample);
}

describe('the production sample as this test applies it', () => {
  const sample = readSample();
  const applied = productionForTest(sample);
  const paths = OVERRIDES.map((o) => o.path);

  it('overrides only fields the sample sets, each once', () => {
    for (const path of paths) expect(hasAt(sample, path), `the sample sets ${path}`).toBe(true);
    expect(new Set(paths).size).toBe(paths.length);
  });

  it('is the sample everywhere but at the overridden paths', () => {
    expect(withoutPaths(applied, paths)).toEqual(withoutPaths(sample, paths));
    for (const o of OVERRIDES) expect(getAt(applied, o.path), o.path).toEqual(o.value);
  });
});

describe.runIf(isHomeCluster)('crds/samples/production.yaml on the k8s:up node', () => {
  const sample = readSample();
  const applied = productionForTest(sample);
  const NAME = sample.metadata.name;
  const { podTemplate, expose, auth } = sample.spec;
  const backendSecret = (sample.spec.nats as { passwordRef: KeyRef }).passwordRef.name;
  const tlsSecret = expose.ingress.tlsSecretName;
  const keyspace = sample.spec.cassandra.keyspace;

  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let networking: NetworkingV1Api;
  let scheduling: SchedulingV1Api;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let operator: { remove(): Promise<void> } | undefined;
  let pods: PodAddresses | undefined;
  let env: Record<string, string> | undefined;
  let nodeName: string | undefined;
  /** The node labels of the sample's nodeSelector as they were before (undefined: not set). */
  const labelsBefore: Record<string, string | null> = {};
  let priorityClassMade = false;
  let tlsKey = '';
  const clients: Recorder[] = [];
  const release = `prod-${randomBytes(2).toString('hex')}`;
  const jwt = randomBytes(32).toString('hex');
  const adminToken = randomBytes(24).toString('hex');
  const ref = () => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns.name, name: NAME });
  const readCluster = async () => (await custom.getNamespacedCustomObject(ref())) as ChatCluster;

  /** The ChatCluster's status, the pods' states and the operator's last log lines. */
  async function explain(): Promise<string> {
    const c = await readCluster().catch((e) => ({ status: errorMessage(e) }));
    const list = await core.listNamespacedPod({ namespace: ns.name }).catch(() => ({ items: [] as V1Pod[] }));
    const states = list.items.map((p) => {
      const scheduled = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
      return `${p.metadata?.name}: ${p.status?.phase}${
        scheduled?.status === 'False' ? ` (unscheduled: ${scheduled.message})` : ''
      } ${JSON.stringify(p.status?.containerStatuses?.map((s) => ({ ready: s.ready, state: s.state, restarts: s.restartCount })))}`;
    });
    const logs = await Promise.all(
      list.items.map(async (p) => {
        const log = await core
          .readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns.name, tailLines: 8 })
          .catch((e) => `(no log: ${errorMessage(e)})`);
        return `--- ${p.metadata?.name}\n${log}`;
      }),
    );
    return `status: ${JSON.stringify(c.status)}\npods:\n${states.join('\n')}\n${logs.join('\n')}`;
  }
  const explained = async (err: unknown): Promise<never> => {
    throw new Error(`${errorMessage(err)}\n${await explain()}`);
  };

  beforeAll(async () => {
    env = secureBackends();
    const kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    networking = kc.makeApiClient(NetworkingV1Api);
    scheduling = kc.makeApiClient(SchedulingV1Api);

    // The sample's pods: the PriorityClass its header comment creates, a node in its pool.
    await scheduling
      .createPriorityClass({
        body: {
          metadata: { name: podTemplate.priorityClassName, labels: { 'chat-platform.io/test': 'k8s' } },
          value: 100000,
        },
      })
      .then(
        () => {
          priorityClassMade = true;
        },
        async (err) => {
          // Left by an earlier run of this test (its label): take it over, and remove it after.
          const existing = await scheduling.readPriorityClass({ name: podTemplate.priorityClassName });
          if (existing.metadata?.labels?.['chat-platform.io/test'] !== 'k8s') throw err;
          priorityClassMade = true;
        },
      );
    const node = (await core.listNode()).items[0]!;
    nodeName = node.metadata!.name!;
    for (const key of Object.keys(podTemplate.nodeSelector)) {
      labelsBefore[key] = node.metadata?.labels?.[key] ?? null;
    }
    await core.patchNode(
      { name: nodeName, body: { metadata: { labels: podTemplate.nodeSelector } } },
      mergePatch,
    );

    ns = await testNamespace(core, 'prod');
    publishBackends(ns.name, { secure: true });

    // The Secrets of the sample's header comment, with the test backends' passwords and CA.
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: {
        metadata: { name: auth.jwtSecretRef.name },
        stringData: { [auth.jwtSecretRef.key]: jwt, [auth.adminTokenRef.key]: adminToken },
      },
    });
    const refs = (field: 'passwordRef' | 'tls') =>
      (['nats', 'redis', 'cassandra'] as const).map((backend) => {
        const spec = sample.spec[backend] as { passwordRef: KeyRef; tls: { caRef: KeyRef } };
        return { backend, ref: field === 'tls' ? spec.tls.caRef : spec.passwordRef };
      });
    const ca = readFileSync(env.CHAT_NATS_TLS_CA_FILE!, 'utf8');
    const values: Record<string, Record<string, string>> = {};
    for (const { backend, ref } of refs('passwordRef')) {
      const password = env[`CHAT_${backend.toUpperCase()}_PASSWORD`];
      if (!password) throw new Error(`.services/env-secure has no password for ${backend}`);
      values[ref.name] = { ...values[ref.name], [ref.key]: password };
    }
    for (const { ref } of refs('tls')) values[ref.name] = { ...values[ref.name], [ref.key]: ca };
    for (const [name, stringData] of Object.entries(values)) {
      await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name }, stringData } });
    }
    const dir = mkdtempSync(join(tmpdir(), 'chat-prod-tls-'));
    try {
      const host = expose.ingress.host;
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '2',
          '-subj',
          `/CN=${host}`,
          '-addext',
          `subjectAltName=DNS:${host},DNS:*.${host}`,
          '-keyout',
          join(dir, 'tls.key'),
          '-out',
          join(dir, 'tls.crt'),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      tlsKey = readFileSync(join(dir, 'tls.key'), 'utf8');
      await core.createNamespacedSecret({
        namespace: ns.name,
        body: {
          metadata: { name: tlsSecret },
          type: 'kubernetes.io/tls',
          stringData: { 'tls.crt': readFileSync(join(dir, 'tls.crt'), 'utf8'), 'tls.key': tlsKey },
        },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    pods = new PodAddresses(core, ns.name);
    await pods.start();
    operator = await installOperator(ns.name, release);
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns.name,
      body: applied,
    });
  }, 600_000);

  afterAll(async () => {
    for (const r of clients) r.client.close();
    pods?.stop();
    await operator?.remove();
    await ns?.remove();
    if (nodeName && Object.keys(labelsBefore).length > 0) {
      await core
        .patchNode({ name: nodeName, body: { metadata: { labels: labelsBefore } } }, mergePatch)
        .catch(() => {});
    }
    if (priorityClassMade) {
      await scheduling.deletePriorityClass({ name: podTemplate.priorityClassName }).catch(() => {});
    }
    // deletionPolicy Retain keeps the stream and the keyspace: the test removes them itself.
    if (env && ns) await removeBackendData(env, ns.name, keyspace);
  }, 120_000);

  it('becomes Ready with its minReplicas nodes', async () => {
    await until(
      `ChatCluster ${NAME} is Ready with ${applied.spec.minReplicas} nodes`,
      async () => {
        const c = await readCluster();
        const ready = c.status?.conditions?.find((x) => x.type === 'Ready');
        const done =
          ready?.status === 'True' &&
          c.status?.readyReplicas === applied.spec.minReplicas &&
          (c.status?.nodes?.length ?? 0) === applied.spec.minReplicas &&
          (c.status?.observedGeneration ?? 0) >= (c.metadata.generation ?? 0);
        if (!done) await sleep(500);
        return done;
      },
      300_000,
    ).catch(explained);
    const c = await readCluster();
    // The nodes advertise their Ingress hosts (TLS ends at the Ingress).
    expect(c.status?.nodes?.map((n) => n.url).sort()).toEqual(
      Array.from(
        { length: applied.spec.minReplicas },
        (_, i) => `https://${NAME}-${i}.${expose.ingress.host}`,
      ).sort(),
    );
  });

  it('keeps every field of the sample as applied (none pruned by the schema)', async () => {
    const c = (await readCluster()) as unknown as Sample;
    expect(c.metadata.labels).toMatchObject(sample.metadata.labels ?? {});
    expect(c.spec).toMatchObject(applied.spec);
  });

  it("runs the pods with the sample's pod template", async () => {
    const list = await chatNodePods(core, ns.name, NAME, true);
    expect(list.length).toBe(applied.spec.minReplicas);
    const priority = (await scheduling.readPriorityClass({ name: podTemplate.priorityClassName })).value;
    for (const p of list) {
      expect(p.spec?.priorityClassName, p.metadata?.name).toBe(podTemplate.priorityClassName);
      expect(p.spec?.priority).toBe(priority);
      expect(p.spec?.nodeSelector).toEqual(podTemplate.nodeSelector);
      expect(p.spec?.tolerations).toEqual(expect.arrayContaining(podTemplate.tolerations));
      expect(p.metadata?.annotations).toMatchObject(podTemplate.annotations);
      const container = p.spec!.containers[0]!;
      for (const e of podTemplate.env) expect(container.env).toContainEqual(e);
      expect(container.image).toBe(applied.spec.image);
      expect(container.resources).toEqual(applied.spec.resources);
    }
  });

  it("makes the sample's Ingress: its class, host, TLS secret and annotations", async () => {
    const ing = await networking.readNamespacedIngress({ name: NAME, namespace: ns.name });
    const { host } = expose.ingress;
    expect(ing.spec?.ingressClassName).toBe(expose.ingress.className);
    expect(ing.metadata?.annotations).toMatchObject(expose.ingress.annotations);
    expect(ing.spec?.tls).toEqual([{ hosts: [host, `*.${host}`], secretName: tlsSecret }]);
    const rules = ing.spec?.rules ?? [];
    expect(rules[0]).toMatchObject({
      host,
      http: { paths: [{ path: '/', backend: { service: { name: NAME, port: { number: 80 } } } }] },
    });
    // nodes: Ingress: a host per node up to maxReplicas, to that node's own Service.
    expect(rules.slice(1).map((r) => r.host)).toEqual(
      Array.from({ length: applied.spec.maxReplicas }, (_, i) => `${NAME}-${i}.${host}`),
    );
    expect(rules[1]?.http?.paths[0]?.backend.service?.name).toBe(`${NAME}-node-0`);
  });

  it('lets a user sign up, log in and send a message that a user on another node receives', async () => {
    await pods!.refresh();
    // From the test host: the pods' own addresses (the Ingress hosts are not resolvable here).
    const aliceBase = pods!.podUrl(`${NAME}-0`)!;
    const bobBase = pods!.podUrl(`${NAME}-1`)!;
    expect(aliceBase && bobBase, 'both pods have an IP').toBeTruthy();
    const alice = await createUser(aliceBase, 'alice');
    const bob = await createUser(bobBase, 'bob');
    const r = recorder(bobBase, bob.token, { discover: false });
    clients.push(r);
    await r.client.connect();
    const sent = await new ChatApi(aliceBase, { token: alice.token }).postMessage({
      to: bob.userId,
      text: 'from the production sample',
    });
    await until('bob got the message', () => r.seen.some((m) => m.messageId === sent.messageId), 30_000);
    const history = await new ChatApi(bobBase, { token: bob.token }).history(sent.conversation, {
      limit: 10,
    });
    expect(history.map((m) => m.text)).toContain('from the production sample');
  });

  it('shows no secret value in the ChatCluster, the ConfigMaps, the pod specs or the logs', async () => {
    const readable = await readableState(core, custom, ns.name);
    expect(readable).toContain(backendSecret); // the references are there…
    const secrets = {
      'the NATS password': env!.CHAT_NATS_PASSWORD!,
      'the Redis password': env!.CHAT_REDIS_PASSWORD!,
      'the Cassandra password': env!.CHAT_CASSANDRA_PASSWORD!,
      'the JWT secret': jwt,
      'the admin token': adminToken,
      // A line of the Ingress certificate's private key.
      'the TLS key': tlsKey.split('\n').filter((l) => l.length === 64)[2]!,
    };
    for (const [what, value] of Object.entries(secrets)) {
      expect(value.length, what).toBeGreaterThan(8);
      expect(readable.includes(value), `${what} in what the API server or the logs hold`).toBe(false);
    }
  });
});
