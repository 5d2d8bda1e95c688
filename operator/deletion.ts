/**
 * What the operator does about `spec.deletionPolicy`: pure decisions over what it observed.
 *
 * A live ChatCluster carries the finalizer exactly while its policy is Delete. Once it is deleted:
 *
 *   Retain, or no finalizer of ours ─▶ nothing to do (the finalizer, if there, is removed at once)
 *   Delete:  StatefulSet there ─▶ delete it ─▶ pods still there ─▶ wait (no node may write after)
 *              ─▶ another ChatCluster names the keyspace ─▶ refuse (KeyspaceInUse), check again
 *              ─▶ remove the data (async, attempt n) ─▶ failed ─▶ retry after backoff(n)
 *                                                  └▶ done ─▶ remove the finalizer: the object goes
 *
 * The removal runs outside the reconcile (data-removal.ts), so a slow or unreachable backend holds
 * no other ChatCluster; its attempts are counted in status.deletion, so a new leader goes on from there.
 */
import {
  type ChatCluster,
  type ChatClusterCondition,
  type ChatClusterStatus,
  GROUP,
  namespaceOf,
} from './chatcluster-schema.ts';
import type { ClusterEvent } from './types.ts';

/** The finalizer that holds a ChatCluster with deletionPolicy Delete until its data is gone. */
export const FINALIZER = `${GROUP}/remove-data`;

/** Wait before removal attempt n + 1 after attempt n failed: 5 s doubling, at most 5 minutes. */
export function backoffMs(failedAttempt: number): number {
  return Math.min(300_000, 5000 * 2 ** Math.max(0, failedAttempt - 1));
}

/**
 * The finalizers a live ChatCluster should carry, or undefined when they are right: ours with
 * deletionPolicy Delete, not with Retain. Other finalizers are kept as they are.
 */
export function finalizersFor(cluster: ChatCluster): string[] | undefined {
  const current = cluster.metadata.finalizers ?? [];
  const has = current.includes(FINALIZER);
  const wants = cluster.spec.deletionPolicy === 'Delete';
  if (has === wants) return undefined;
  return wants ? [...current, FINALIZER] : current.filter((f) => f !== FINALIZER);
}

/** This operator's data removal of one cluster, as far as it knows (lost on restart). */
export interface RemovalState {
  running?: { attempt: number };
  done?: { attempt: number; ok: boolean; at: number; message: string };
}

export interface DeletionObservation {
  /** A ChatCluster with metadata.deletionTimestamp set. */
  cluster: ChatCluster;
  statefulSetExists: boolean;
  /** Its pods still there, terminating ones included. */
  pods: number;
  /** Every other ChatCluster this operator sees. */
  others: ChatCluster[];
  removal: RemovalState;
}

export interface DeletionDecision {
  deleteStatefulSet: boolean;
  /** Start removal attempt n now (after writing the status, which counts it). */
  startRemoval?: { attempt: number };
  /** Write these finalizers (ours left out): the deletion may finish. */
  finalizers?: string[];
  /** The status to write; undefined when the object is let go. */
  status?: ChatClusterStatus;
  events: ClusterEvent[];
}

type Deletion = NonNullable<ChatClusterStatus['deletion']>;

/**
 * The ChatClusters that name the same keyspace as `cluster` ("<namespace>/<name>"), whatever their
 * contact points (one Cassandra may be named in more than one way). One that is being deleted with
 * deletionPolicy Delete too does not count: it wants the keyspace gone as well.
 */
export function keyspaceUsers(cluster: ChatCluster, others: readonly ChatCluster[]): string[] {
  const keyspace = cluster.spec.cassandra.keyspace;
  return others
    .filter((o) => !(namespaceOf(o) === namespaceOf(cluster) && o.metadata.name === cluster.metadata.name))
    .filter((o) => o.spec.cassandra.keyspace === keyspace)
    .filter((o) => !(o.metadata.deletionTimestamp && o.spec.deletionPolicy === 'Delete'))
    .map((o) => `${namespaceOf(o)}/${o.metadata.name}`)
    .sort();
}

/** Decides one reconcile of a ChatCluster that is being deleted. Pure. */
export function decideDeletion(o: DeletionObservation, now: number): DeletionDecision {
  const { cluster } = o;
  const finalizers = cluster.metadata.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) return { deleteStatefulSet: false, events: [] };
  if (cluster.spec.deletionPolicy !== 'Delete') {
    const message = 'deletionPolicy is Retain: the stream, the keyspace and the Redis keys stay';
    return {
      deleteStatefulSet: false,
      finalizers: finalizers.filter((f) => f !== FINALIZER),
      events: [{ type: 'Normal', reason: 'DataRetained', message }],
    };
  }
  return waitForPods(o, now) ?? refuseSharedKeyspace(o, now) ?? removalStep(o, now);
}

/** The status with status.deletion and the Deleting condition. */
function deletingStatus(cluster: ChatCluster, now: number, deletion: Deletion): ChatClusterStatus {
  return {
    ...cluster.status,
    deletion,
    conditions: withCondition(cluster, now, deletion.phase, deletion.message),
  };
}

/** What status.deletion keeps of the attempts so far. */
function attemptsSoFar(cluster: ChatCluster): { attempts: number; lastAttemptAt?: string } {
  const before = cluster.status?.deletion;
  return {
    attempts: before?.attempts ?? 0,
    ...(before?.lastAttemptAt && { lastAttemptAt: before.lastAttemptAt }),
  };
}

/** No node may write after its data is gone: first the StatefulSet, then every pod must go. */
function waitForPods(o: DeletionObservation, now: number): DeletionDecision | undefined {
  if (!o.statefulSetExists && o.pods === 0) return undefined;
  const message = o.statefulSetExists
    ? 'deleting the StatefulSet; the data is removed once its pods are gone'
    : `waiting for ${o.pods} ${o.pods === 1 ? 'pod' : 'pods'} to go before removing the data`;
  const deletion: Deletion = { phase: 'WaitingForPods', message, ...attemptsSoFar(o.cluster) };
  return {
    deleteStatefulSet: o.statefulSetExists,
    status: deletingStatus(o.cluster, now, deletion),
    events: o.statefulSetExists ? [{ type: 'Normal', reason: 'DeletingNodes', message }] : [],
  };
}

function refuseSharedKeyspace(o: DeletionObservation, now: number): DeletionDecision | undefined {
  const users = keyspaceUsers(o.cluster, o.others);
  if (users.length === 0) return undefined;
  const { keyspace } = o.cluster.spec.cassandra;
  const one = users.length === 1;
  const message = `not removing any data: keyspace ${keyspace} is also named by ChatCluster ${users.join(', ')}; delete ${one ? 'that one' : 'those'} first or move ${one ? 'it' : 'them'} to another keyspace, or set spec.deletionPolicy Retain here to keep the data and let the deletion finish`;
  const deletion: Deletion = { phase: 'KeyspaceInUse', message, ...attemptsSoFar(o.cluster) };
  return {
    deleteStatefulSet: false,
    status: deletingStatus(o.cluster, now, deletion),
    events: [{ type: 'Warning', reason: 'KeyspaceInUse', message }],
  };
}

/** A removal running, done (the finalizer goes), failed (retry after the backoff) or to start. */
function removalStep(o: DeletionObservation, now: number): DeletionDecision {
  const { cluster } = o;
  const before = cluster.status?.deletion;
  const so = attemptsSoFar(cluster);
  const { running, done } = o.removal;
  if (running && running.attempt === so.attempts) {
    const message = `removing the stream, the keyspace and the Redis keys (attempt ${so.attempts})`;
    const deletion: Deletion = {
      ...so,
      phase: 'RemovingData',
      message,
      ...(before?.lastError && { lastError: before.lastError }),
    };
    return { deleteStatefulSet: false, status: deletingStatus(cluster, now, deletion), events: [] };
  }
  const current = done && done.attempt === so.attempts ? done : undefined;
  if (current?.ok) {
    return {
      deleteStatefulSet: false,
      finalizers: (cluster.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
      events: [{ type: 'Normal', reason: 'DataRemoved', message: current.message }],
    };
  }
  // Failed, or nothing known of the current attempt (a new leader): the next one, after the backoff.
  const events: ClusterEvent[] = current
    ? [{ type: 'Warning', reason: 'DataRemovalFailed', message: current.message }]
    : [];
  const lastError = current?.message ?? before?.lastError;
  const planned = before?.nextAttemptAt ? Date.parse(before.nextAttemptAt) : Number.NaN;
  const notBefore = current ? current.at + backoffMs(so.attempts) : Number.isNaN(planned) ? now : planned;
  if (now >= notBefore) {
    const attempt = so.attempts + 1;
    const deletion: Deletion = {
      phase: 'RemovingData',
      attempts: attempt,
      lastAttemptAt: new Date(now).toISOString(),
      ...(lastError && { lastError }),
      message: `removing the stream, the keyspace and the Redis keys (attempt ${attempt})`,
    };
    return {
      deleteStatefulSet: false,
      startRemoval: { attempt },
      status: deletingStatus(cluster, now, deletion),
      events,
    };
  }
  const nextAttemptAt = new Date(notBefore).toISOString();
  const deletion: Deletion = {
    ...so,
    phase: 'Retrying',
    nextAttemptAt,
    ...(lastError && { lastError }),
    message: `removing the data failed (attempt ${so.attempts}): ${lastError ?? 'no result'}; next attempt at ${nextAttemptAt}`,
  };
  return { deleteStatefulSet: false, status: deletingStatus(cluster, now, deletion), events };
}

/** The conditions with Deleting set (lastTransitionTime kept while it stays True). */
function withCondition(
  cluster: ChatCluster,
  now: number,
  reason: string,
  message: string,
): ChatClusterCondition[] {
  const conditions = cluster.status?.conditions ?? [];
  const before = conditions.find((c) => c.type === 'Deleting');
  const deleting: ChatClusterCondition = {
    type: 'Deleting',
    status: 'True',
    reason,
    message,
    lastTransitionTime: before?.status === 'True' ? before.lastTransitionTime : new Date(now).toISOString(),
    ...(cluster.metadata.generation !== undefined && { observedGeneration: cluster.metadata.generation }),
  };
  return [...conditions.filter((c) => c.type !== 'Deleting'), deleting];
}
