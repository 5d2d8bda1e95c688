/**
 * The drain and rebalance annotations against a real API server (npm run k8s:up): what the reconciler
 * writes into the status for them, that reconciling again writes nothing (a GitOps tool that keeps
 * the annotation and the operator do not fight), that a new value is a new request, and that
 * removing the annotations removes their status. (The moves themselves are decide()'s, in
 * requests.test.ts.)
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
import { silentLogger } from '../../common/logger.ts';
import { Applier } from '../../operator/apply.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { DataRemover, removeDataWith } from '../../operator/data-removal.ts';
import { Gatherer } from '../../operator/gather.ts';
import { Reconciler } from '../../operator/reconciler.ts';
import { DRAIN_ANNOTATION, REBALANCE_ANNOTATION } from '../../operator/requests.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { installChatClusterCrd, testKubeConfig } from '../helpers/kube.ts';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('drain and rebalance requests against a real API server', () => {
  let kc: KubeConfig;
  let ns: string;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let reconciler: Reconciler;
  const ref = (name: string) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name });
  const read = async () => (await custom.getNamespacedCustomObject(ref('asked'))) as ChatCluster;
  const annotate = (annotations: Record<string, string | null>) =>
    custom.patchNamespacedCustomObject({ ...ref('asked'), body: { metadata: { annotations } } }, merge);
  const reconcile = () => reconciler.reconcileOnce(ns, 'asked');

  beforeAll(async () => {
    kc = testKubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ns = `req-${randomBytes(3).toString('hex')}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'chat-auth' }, stringData: { jwt: 'j'.repeat(40), admin: 'a'.repeat(40) } },
    });
    await installChatClusterCrd(kc, ns);
    const log = silentLogger();
    reconciler = new Reconciler({
      custom,
      gatherer: new Gatherer({ apps: kc.makeApiClient(AppsV1Api), core, loads: async () => [] }),
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
});
