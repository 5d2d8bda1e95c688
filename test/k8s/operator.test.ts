/**
 * The operator end to end on pods that really run: `helm install` of charts/chat-operator runs the
 * operator from its image with the chart's RBAC only, and the ChatClusters it reconciles run chat
 * nodes as pods of the chat-node image on the backends of `npm run services:up` (published in the
 * namespace under the samples' names). Everything the operator renders into the pod template is
 * exercised: image, command, ConfigMap and Secret references, CHAT_PUBLIC_URL, ordinal → node id,
 * probes, SIGTERM and the grace period.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ChatApi } from '../../client/index.ts';
import { AdminClient, type LoadReport } from '../../common/admin-api.ts';
import { errorMessage } from '../../common/errors.ts';
import { snowflakeNode } from '../../common/snowflake.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { helm, helmBinary } from '../charts/helm.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { createUser, type TestUser } from '../helpers/users.ts';
import {
  chatNodeImage,
  imageTag,
  isHomeCluster,
  kubeConfig,
  kubeconfigPath,
  operatorImage,
  publishBackends,
  testNamespace,
} from './cluster.ts';
import { PodAddresses } from './pod-addresses.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Small requests: the test machine has two cores. */
const NODE_RESOURCES = { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } };

describe('the operator, installed by its chart, with ChatClusters on real pods', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let custom: CustomObjectsApi;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let helmPath: string;
  let pods: PodAddresses;
  const release = `op-${randomBytes(2).toString('hex')}`;
  const jwt = randomBytes(32).toString('hex');
  const adminToken = randomBytes(24).toString('hex');
  const clients: Recorder[] = [];

  const ref = (name: string) => ({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: ns.name,
    name,
  });
  const readCluster = async (name: string) =>
    (await custom.getNamespacedCustomObject(ref(name))) as ChatCluster;
  const nodePods = async (name: string) =>
    (
      await core.listNamespacedPod({
        namespace: ns.name,
        labelSelector: `app.kubernetes.io/instance=${name}`,
      })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);
  const readyOrdinals = async (name: string) =>
    (await nodePods(name))
      .filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => Number(p.metadata!.name!.slice(name.length + 1)))
      .sort((a, b) => a - b);
  const baseUrl = (name: string) => `http://${name}-0.${name}-nodes.${ns.name}.svc:8080`;
  const admin = (name: string, ordinal: number) =>
    new AdminClient(pods.rewrite(`http://${name}-${ordinal}.${name}-nodes.${ns.name}.svc:8080`), {
      token: adminToken,
      timeoutMs: 3000,
    });
  async function loads(name: string): Promise<Map<number, LoadReport>> {
    await pods.refresh();
    const out = new Map<number, LoadReport>();
    for (const o of await readyOrdinals(name)) {
      const l = await admin(name, o)
        .load()
        .catch(() => undefined);
      if (l) out.set(o, l);
    }
    return out;
  }
  async function explain(name: string): Promise<string> {
    const list = await nodePods(name).catch(() => []);
    const podState = list.map(
      (p) =>
        `${p.metadata?.name}: ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.[0]?.state)}`,
    );
    const l = [...(await loads(name).catch(() => new Map<number, LoadReport>())).values()].map(
      (x) => `${x.nodeId}:${x.connections}${x.draining ? 'd' : ''}`,
    );
    const opPods = await core.listNamespacedPod({
      namespace: ns.name,
      labelSelector: 'app.kubernetes.io/name=chat-operator',
    });
    let opLog = '';
    for (const p of opPods.items) {
      opLog += await core
        .readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns.name, tailLines: 15 })
        .catch((e) => `(no log: ${errorMessage(e)})`);
    }
    let nodeLogs = '';
    for (const p of list) {
      const restarted = (p.status?.containerStatuses?.[0]?.restartCount ?? 0) > 0;
      nodeLogs += `${p.metadata?.name}: ${await core
        .readNamespacedPodLog({
          name: p.metadata!.name!,
          namespace: ns.name,
          tailLines: 5,
          previous: restarted,
        })
        .catch((e) => `(no log: ${errorMessage(e)})`)}\n`;
    }
    return `pods: ${podState.join('; ')}; loads: ${l.join(' ')}; node logs: ${nodeLogs}; operator: ${opLog}`;
  }
  const explained = (name: string) => async (err: unknown) => {
    throw new Error(`${errorMessage(err)}; ${await explain(name)}`);
  };

  beforeAll(async () => {
    kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ns = await testNamespace(core, 'e2e');
    if (isHomeCluster) publishBackends(ns.name);
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'chat-auth' }, stringData: { 'jwt-secret': jwt, admin: adminToken } },
    });
    pods = new PodAddresses(core, ns.name);
    await pods.start();
    helmPath = await helmBinary();
    await helm(helmPath, [
      'install',
      release,
      join(ROOT, 'charts', 'chat-operator'),
      '--kubeconfig',
      kubeconfigPath,
      '--namespace',
      ns.name,
      '--set',
      `image.tag=${imageTag}`,
      '--set',
      `watchNamespace=${ns.name}`,
      '--set',
      'resyncMs=1000',
      '--wait',
      '--timeout',
      '3m',
    ]);
  }, 300_000);

  afterAll(async () => {
    for (const r of clients) r.client.close();
    pods?.stop();
    if (helmPath) {
      await helm(helmPath, [
        'uninstall',
        release,
        '--kubeconfig',
        kubeconfigPath,
        '--namespace',
        ns.name,
      ]).catch(() => {});
    }
    await ns?.remove();
  }, 120_000);

  it('runs the operator from its image, one leader among its replicas, and `helm test` passes', async () => {
    const deployments = await apps.listNamespacedDeployment({ namespace: ns.name });
    const deployment = deployments.items.find(
      (d) => d.metadata?.labels?.['app.kubernetes.io/name'] === 'chat-operator',
    );
    expect(deployment?.spec?.template.spec?.containers[0]?.image).toBe(operatorImage);
    expect(deployment?.status?.readyReplicas).toBe(deployment?.spec?.replicas);
    const operatorPods = (
      await core.listNamespacedPod({
        namespace: ns.name,
        labelSelector: 'app.kubernetes.io/name=chat-operator',
      })
    ).items.map((p) => p.metadata!.name!);
    const leases = kc.makeApiClient(CoordinationV1Api);
    await until(
      'an operator pod holds the leader Lease',
      async () => {
        const l = await leases
          .readNamespacedLease({ name: 'chatplatform-operator', namespace: ns.name })
          .catch(() => undefined);
        const holder = l?.spec?.holderIdentity ?? '';
        return operatorPods.some((p) => holder.startsWith(`${p}-`));
      },
      60_000,
    );
    const out = await helm(helmPath, [
      'test',
      release,
      '--kubeconfig',
      kubeconfigPath,
      '--namespace',
      ns.name,
      '--timeout',
      '2m',
    ]);
    expect(out).toMatch(/Phase:\s+Succeeded/);
  }, 180_000);

  it('makes crds/samples/minimal.yaml, applied unchanged, Ready: each node has its ordinal as node id and serves clients', async () => {
    const sample = YAML.parse(readFileSync(join(ROOT, 'crds', 'samples', 'minimal.yaml'), 'utf8'));
    expect(sample.spec.image).toBe(chatNodeImage);
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns.name,
      body: sample,
    });
    const name = sample.metadata.name as string;
    await until(
      'the sample ChatCluster is Ready',
      async () => {
        const c = await readCluster(name);
        return c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;
      },
      180_000,
    ).catch(explained(name));
    await pods.refresh();
    const a = await createUserVia(pods, baseUrl(name), 'sample-a');
    const b = await createUserVia(pods, baseUrl(name), 'sample-b');
    const r = recorder(baseUrl(name), b.token, { fetch: pods.fetch, WebSocket: pods.WebSocket });
    clients.push(r);
    await r.client.connect();
    // A message id carries the Snowflake node id of the node that accepted it.
    for (const p of await nodePods(name)) {
      const ordinal = Number(p.metadata!.name!.slice(name.length + 1));
      const via = `http://${p.metadata!.name}.${name}-nodes.${ns.name}.svc:8080`;
      const sent = await new ChatApi(via, { token: a.token, fetch: pods.fetch }).postMessage({
        to: b.userId,
        text: `hi through ${p.metadata!.name}`,
      });
      expect(snowflakeNode(BigInt(sent.messageId)), `node id of pod ${p.metadata!.name}`).toBe(ordinal);
      await until('the message reached the other user', () =>
        r.seen.some((m) => m.messageId === sent.messageId),
      );
    }
    r.client.close();
    await custom.deleteNamespacedCustomObject(ref(name));
    await until('the sample’s pods are gone', async () => (await nodePods(name)).length === 0, 120_000);
  }, 400_000);
});

/** A user created through a node reached by its cluster name. */
async function createUserVia(pods: PodAddresses, base: string, prefix: string): Promise<TestUser> {
  return createUser(pods.rewrite(base), prefix);
}
