/**
 * The apply step: server-side apply of the owned objects, the status through the status subresource,
 * node actions through each node's admin API, and Events. Idempotent: an object already applied with
 * the same content in the last minute is not sent again, a status that did not change is not written,
 * and an event repeated within a minute is recorded once.
 */
import {
  ApiException,
  type CoreV1Api,
  type CustomObjectsApi,
  type KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { AdminClient } from '../common/admin-api.ts';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { type ChatCluster, GROUP, namespaceOf, PLURAL, VERSION } from './chatcluster-schema.ts';
import type { DataRemover } from './data-removal.ts';
import type { DeletionDecision } from './deletion.ts';
import { FIELD_MANAGER } from './objects.ts';
import type { ClusterEvent, Decision, KubeObject, NodeAction } from './types.ts';

/**
 * Whether a JSON merge patch would change `current`: false when every field of `patch` already has
 * that value. Key order does not matter (the API server returns keys sorted, decide() does not), and
 * arrays compare whole, as a merge patch replaces them.
 */
export function mergePatchChanges(current: unknown, patch: unknown): boolean {
  if (isPlainObject(patch) && isPlainObject(current))
    return Object.entries(patch).some(([k, v]) => v !== undefined && mergePatchChanges(current[k], v));
  return canonical(current) !== canonical(patch);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON with object keys sorted. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    isPlainObject(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );

/**
 * What the apply step writes (least privilege: see rbac.ts). A server-side apply is a patch, and one
 * that creates the object is also authorized as a create; no get is needed.
 */
export const RBAC_RULES = [
  {
    apiGroups: [''],
    resources: ['services', 'configmaps', 'serviceaccounts'],
    verbs: ['create', 'patch'],
  },
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['create', 'patch'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['create', 'patch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['create', 'patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['delete'] },
  // The admin token, read for node actions.
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  { apiGroups: [GROUP], resources: [`${PLURAL}/status`], verbs: ['patch'] },
  // The autoscaler's decision into spec.replicas (replicasManagedBy Operator).
  { apiGroups: [GROUP], resources: [`${PLURAL}/scale`], verbs: ['patch'] },
  // deletionPolicy Delete: the finalizer in metadata, and the StatefulSet deleted before the data
  // (the garbage collector would delete it only once the ChatCluster is gone).
  { apiGroups: [GROUP], resources: [PLURAL], verbs: ['patch'] },
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['delete'] },
];

const REAPPLY_MS = 60_000;
const EVENT_REPEAT_MS = 60_000;
const ADMIN_TIMEOUT_MS = 5000;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface ApplierDeps {
  objects: KubernetesObjectApi;
  custom: CustomObjectsApi;
  core: CoreV1Api;
  log: Logger;
  clock?: () => number;
  /** Counts node actions by kind and result (metrics). */
  onAction?: (kind: NodeAction['kind'], ok: boolean) => void;
}

export class Applier {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly onAction: ApplierDeps['onAction'];
  /** cluster (`<namespace>/<name>`) → object key → [JSON last applied, when]. */
  private readonly applied = new Map<string, Map<string, [string, number]>>();
  /** cluster/reason/message → when recorded. */
  private readonly recorded = new Map<string, number>();

  constructor(deps: ApplierDeps) {
    this.objects = deps.objects;
    this.custom = deps.custom;
    this.core = deps.core;
    this.log = deps.log;
    this.clock = deps.clock ?? Date.now;
    this.onAction = deps.onAction;
  }

  async apply(cluster: ChatCluster, decision: Decision): Promise<void> {
    const key = `${namespaceOf(cluster)}/${cluster.metadata.name}`;
    // The finalizer first, before anything holds data, and while the resourceVersion read is current.
    if (decision.finalizers) await this.writeFinalizers(cluster, decision.finalizers);
    const applied = this.applied.get(key) ?? new Map<string, [string, number]>();
    this.applied.set(key, applied);
    for (const object of decision.objects) await this.applyObject(object, applied);
    // The scale first: the status decided counts the generation that this write makes.
    if (decision.specReplicas !== undefined) await this.writeScale(cluster, decision.specReplicas);
    await this.writeStatus(cluster, decision.status);
    const token = decision.actions.some((a) => a.kind !== 'restart')
      ? await this.adminToken(cluster)
      : undefined;
    for (const action of decision.actions) await this.act(cluster, action, token);
    for (const event of decision.events) await this.record(cluster, event);
  }

  /**
   * One reconcile of a ChatCluster being deleted (deletion.ts): delete its StatefulSet, write the
   * status (which counts a removal attempt before it starts), start the removal in the background,
   * record the events, and let the object go by writing the finalizers without ours.
   */
  async applyDeletion(cluster: ChatCluster, decision: DeletionDecision, remover: DataRemover): Promise<void> {
    if (decision.deleteStatefulSet) {
      await this.objects
        .delete(
          {
            apiVersion: 'apps/v1',
            kind: 'StatefulSet',
            metadata: { name: cluster.metadata.name, namespace: namespaceOf(cluster) },
          },
          undefined,
          undefined,
          undefined,
          undefined,
          'Background',
        )
        .catch((err: unknown) => {
          if (!(err instanceof ApiException && err.code === 404)) throw err;
        });
    }
    if (decision.status) await this.writeStatus(cluster, decision.status);
    if (decision.startRemoval) remover.start(cluster, decision.startRemoval.attempt);
    for (const event of decision.events) await this.record(cluster, event);
    if (decision.finalizers) await this.writeFinalizers(cluster, decision.finalizers);
  }

  /**
   * metadata.finalizers, as of the resourceVersion read: a change made meanwhile (another
   * finalizer) makes it fail with a conflict, and the next reconcile reads it again.
   */
  private async writeFinalizers(cluster: ChatCluster, finalizers: string[]): Promise<void> {
    await this.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: namespaceOf(cluster),
        name: cluster.metadata.name,
        body: { metadata: { finalizers, resourceVersion: cluster.metadata.resourceVersion } },
        fieldManager: FIELD_MANAGER,
      },
      mergePatch,
    );
  }

  /** Forgets what was applied for a cluster that is gone. */
  forget(namespace: string, name: string): void {
    this.applied.delete(`${namespace}/${name}`);
  }

  private async applyObject(object: KubeObject, applied: Map<string, [string, number]>): Promise<void> {
    const key = `${object.metadata.namespace}/${object.kind}/${object.metadata.name}`;
    const json = JSON.stringify(object);
    const last = applied.get(key);
    if (last && last[0] === json && this.clock() - last[1] < REAPPLY_MS) return;
    await this.objects.patch(
      object,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    applied.set(key, [json, this.clock()]);
  }

  private async writeStatus(cluster: ChatCluster, status: Decision['status']): Promise<void> {
    // A field the decision left out is gone (a request whose annotation was removed): null removes it.
    const removed = Object.keys(cluster.status ?? {}).filter((k) => !(k in status));
    const patch = { ...status, ...Object.fromEntries(removed.map((k) => [k, null])) };
    if (!mergePatchChanges(cluster.status ?? {}, patch)) return;
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: namespaceOf(cluster),
        name: cluster.metadata.name,
        body: { status: patch },
      },
      mergePatch,
    );
  }

  /** The autoscaler's decision into spec.replicas, through the scale subresource as any scaler writes it. */
  private async writeScale(cluster: ChatCluster, replicas: number): Promise<void> {
    await this.custom.patchNamespacedCustomObjectScale(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: namespaceOf(cluster),
        name: cluster.metadata.name,
        body: { spec: { replicas } },
        fieldManager: FIELD_MANAGER,
      },
      mergePatch,
    );
  }

  private async adminToken(cluster: ChatCluster): Promise<string | undefined> {
    const ref = cluster.spec.auth.adminTokenRef;
    if (!ref) return undefined;
    const secret = await this.core.readNamespacedSecret({
      name: ref.name,
      namespace: namespaceOf(cluster),
    });
    const value = secret.data?.[ref.key];
    return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
  }

  private async act(cluster: ChatCluster, action: NodeAction, token: string | undefined): Promise<void> {
    let ok = false;
    try {
      if (action.kind === 'restart') {
        await this.core.deleteNamespacedPod({
          name: action.podName,
          namespace: namespaceOf(cluster),
        });
      } else {
        await this.admin(action, token);
      }
      ok = true;
    } catch (err) {
      this.log.warn({ action, err: errorMessage(err) }, `node action ${action.kind} failed`);
    } finally {
      this.onAction?.(action.kind, ok);
    }
  }

  private async admin(
    action: Exclude<NodeAction, { kind: 'restart' }>,
    token: string | undefined,
  ): Promise<void> {
    const node = new AdminClient(action.url, { token, timeoutMs: ADMIN_TIMEOUT_MS });
    if (action.kind === 'shed') await node.shed(action.count, action.ratePerSec);
    else if (action.kind === 'drain') await node.drain(action.ratePerSec);
    else await node.undrain();
  }

  private async record(cluster: ChatCluster, event: ClusterEvent): Promise<void> {
    const ns = namespaceOf(cluster);
    const key = `${ns}/${cluster.metadata.name}/${event.reason}/${event.message}`;
    const now = this.clock();
    const last = this.recorded.get(key);
    if (last !== undefined && now - last < EVENT_REPEAT_MS) return;
    this.recorded.set(key, now);
    for (const [k, at] of this.recorded) if (now - at >= EVENT_REPEAT_MS) this.recorded.delete(k);
    const at = new Date(now);
    await this.core
      .createNamespacedEvent({
        namespace: ns,
        body: {
          metadata: { generateName: `${cluster.metadata.name}.` },
          involvedObject: {
            apiVersion: cluster.apiVersion,
            kind: cluster.kind,
            name: cluster.metadata.name,
            namespace: ns,
            uid: cluster.metadata.uid,
          },
          reason: event.reason,
          message: event.message.slice(0, 1024),
          type: event.type,
          count: 1,
          firstTimestamp: at,
          lastTimestamp: at,
          source: { component: FIELD_MANAGER },
        },
      })
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'could not record an event'));
  }
}
