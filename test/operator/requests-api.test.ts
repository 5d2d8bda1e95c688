/**
 * The drain and rebalance annotations against a real API server (npm run k8s:up): what the reconciler
 * writes into the status for them, that reconciling again writes nothing (a GitOps tool that keeps
 * the annotation and the operator do not fight), that a new value is a new request, and that
 * removing the annotations removes their status; and a drain carried out through a real node's
 * admin API (a node with embedded backends on loopback stands in for the pod's, which cannot run
 * here). The moves themselves are decide()'s, in requests.test.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../common/admin-api.ts';
import { silentLogger } from '../../common/logger.ts';
import type { NodeInfo } from '../../common/node-registry.ts';
import { Applier } from '../../operator/apply.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { DataRemover, removeDataWith } from '../../operator/data-removal.ts';
import { Gatherer } from '../../operator/gather.ts';
import { Reconciler } from '../../operator/reconciler.ts';
import { DRAIN_ANNOTATION, REBALANCE_ANNOTATION } from '../../operator/requests.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { installChatClusterCrd, testKubeConfig } from '../helpers/kube.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { until } from '../helpers/until.ts';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const ADMIN_TOKEN = 'a'.repeat(40);

describe('drain and rebalance requests against a real API server', () => {
  let kc: KubeConfig;
  let ns: string;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let reconciler: Reconciler;
  let node: TestNode;
  const adminUrl = () => `http://127.0.0.1:${node.node.adminPort}`;
  /** The real node's load report as the node registry would give it, as the pod at ordinal 0. */
  const nodeLoads = async (): Promise<NodeInfo[]> => {
    const load = await new AdminClient(adminUrl(), { token: ADMIN_TOKEN }).load();
    return [{ ...load, nodeId: 0, adminUrl: adminUrl(), startedAt: 0, updatedAt: Date.now() }];
  };
  const ref = (name: string) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name });
  const read = async () => (await custom.getNamespacedCustomObject(ref('asked'))) as ChatCluster;
  const annotate = (annotations: Record<string, string | null>) =>
    custom.patchNamespacedCustomObject({ ...ref('asked'), body: { metadata: { annotations } } }, merge);
  const reconcile = () => reconciler.reconcileOnce(ns, 'asked');

  beforeAll(async () => {
    node = await startTestNode({ adminToken: ADMIN_TOKEN, adminPort: 0 });
    kc = testKubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ns = `req-${randomBytes(3).toString('hex')}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'chat-auth' }, stringData: { jwt: 'j'.repeat(40), admin: ADMIN_TOKEN } },
    });
    await installChatClusterCrd(kc, ns);
    const log = silentLogger();
    reconciler = new Reconciler({
      custom,
      gatherer: new Gatherer({
        apps: kc.makeApiClient(AppsV1Api),
        core,
        loads: (c) => (c.metadata.name === 'held' ? nodeLoads() : Promise.resolve([])),
      }),
      applier: new Applier({ objects: KubernetesObjectApi.makeApiClient(kc), custom, core, log }),
      remover: new DataRemover(removeDataWith(core, log), log),
      log,
      namespace: ns,
    });
    // No nodes (minReplicas 0): a rebalance has nothing to move and is done at once.
    const body = chatClusterBody('asked', {
      minReplicas: 0,
      auth: {
        jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
        adminTokenRef: { name: 'chat-auth', key: 'admin' },
      },
    });
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns,
      body: {
        ...body,
        metadata: {
          ...body.metadata,
          annotations: { [REBALANCE_ANNOTATION]: 'r1', [DRAIN_ANNOTATION]: 'web-1' },
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
    await node?.close();
  });

  it('shows each request’s outcome in the status', async () => {
    await reconcile();
    const { status } = await read();
    expect(status?.rebalanceRequest).toMatchObject({ request: 'r1', state: 'Done', sessionsMoved: 0 });
    expect(status?.rebalanceRequest?.finishedAt).toBeDefined();
    expect(status?.drainRequest).toMatchObject({ pod: 'web-1', state: 'Failed' });
    expect(status?.drainRequest?.message).toMatch(/not a pod of this ChatCluster/);
  });

  it('writes nothing when it reconciles again with the annotations unchanged', async () => {
    await reconcile();
    const before = (await read()).metadata.resourceVersion;
    await reconcile();
    await reconcile();
    expect((await read()).metadata.resourceVersion).toBe(before);
  });

  it('takes a new value of the rebalance annotation as a new request', async () => {
    const first = (await read()).status?.rebalanceRequest;
    await new Promise((r) => setTimeout(r, 1100)); // a later second for startedAt
    await annotate({ [REBALANCE_ANNOTATION]: 'r2' });
    await reconcile();
    const second = (await read()).status?.rebalanceRequest;
    expect(second).toMatchObject({ request: 'r2', state: 'Done' });
    expect(second?.startedAt).not.toBe(first?.startedAt);
  });

  it('removes a request’s status when its annotation is removed', async () => {
    await annotate({ [REBALANCE_ANNOTATION]: null, [DRAIN_ANNOTATION]: null });
    await reconcile();
    const { status } = await read();
    expect(status?.rebalanceRequest).toBeUndefined();
    expect(status?.drainRequest).toBeUndefined();
    expect(status?.conditions?.map((c) => c.type)).toEqual(['Ready', 'Scaling', 'Rebalancing', 'Degraded']);
  });

  it('drains the annotated pod through its admin API, holds it, and undrains it when the annotation goes', async () => {
    const body = chatClusterBody('held', {
      auth: {
        jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
        adminTokenRef: { name: 'chat-auth', key: 'admin' },
      },
    });
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns,
      body: { ...body, metadata: { ...body.metadata, annotations: { [DRAIN_ANNOTATION]: 'held-0' } } },
    });
    await reconciler.reconcileOnce(ns, 'held');
    await until('the StatefulSet made pod held-0', async () => {
      const pods = await core.listNamespacedPod({
        namespace: ns,
        labelSelector: 'app.kubernetes.io/instance=held',
      });
      return pods.items.length === 1;
    });
    const admin = new AdminClient(adminUrl(), { token: ADMIN_TOKEN });
    expect((await admin.load()).draining).toBe(false);
    const heldStatus = async () =>
      ((await custom.getNamespacedCustomObject(ref('held'))) as ChatCluster).status;
    await until('the request shows the pod drained', async () => {
      await reconciler.reconcileOnce(ns, 'held');
      return (await heldStatus())?.drainRequest?.state === 'Drained';
    });
    expect((await admin.load()).draining).toBe(true);
    expect((await heldStatus())?.drainRequest).toMatchObject({ pod: 'held-0', ordinal: 0, sessionsLeft: 0 });
    // Held: more reconciles leave it drained.
    await reconciler.reconcileOnce(ns, 'held');
    expect((await admin.load()).draining).toBe(true);

    await custom.patchNamespacedCustomObject(
      { ...ref('held'), body: { metadata: { annotations: { [DRAIN_ANNOTATION]: null } } } },
      merge,
    );
    await reconciler.reconcileOnce(ns, 'held');
    expect((await admin.load()).draining).toBe(false);
    expect((await heldStatus())?.drainRequest).toBeUndefined();
  }, 60_000);
});
