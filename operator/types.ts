/**
 * The seams of the operator's loop, gather → decide → apply:
 *
 *   gather.ts (Kubernetes API, node registry / admin API) ──▶ Observation ─┐
 *                                                    Memory (per cluster) ─┼─▶ decide.ts (pure) ──▶ Decision
 *                                                                  now ────┘                        │
 *   apply.ts: server-side apply of `objects`, the status, node actions (admin API), events ◀────────┘
 *
 * decide() is a pure function of these plain objects; everything that talks to the outside world
 * lives in gather.ts and apply.ts and gets its clients through its constructor.
 */
import type { Recommendation } from './autoscale.ts';
import type { ChatCluster, ChatClusterCondition, ChatClusterStatus } from './chatcluster-schema.ts';

/** A Kubernetes object as server-side apply takes it (apiVersion, kind, metadata.name/namespace…). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
      blockOwnerDeletion?: boolean;
    }[];
  };
  [field: string]: unknown;
}

/** One chat node (a pod of the StatefulSet) as gathered. */
export interface NodeObservation {
  /** Pod name, `<cluster>-<ordinal>`. */
  name: string;
  ordinal: number;
  /** Pod is Ready (its /readyz passes). False when the pod is missing or not ready. */
  ready: boolean;
  /** The pod exists (a missing pod is one the StatefulSet has not made yet, or that was deleted). */
  exists: boolean;
  /** The pod's controller-revision-hash label; compared with the StatefulSet's update revision. */
  revision?: string;
  /** From the node registry or its admin API; undefined when the node did not report (yet). */
  load?: {
    nodeId: number;
    /** The URL the node advertises to clients. */
    url: string;
    /** Its admin API (CHAT_ADMIN_URL, on the admin port); the node actions call it, else `url`. */
    adminUrl?: string;
    connections: number;
    capacity: number;
    draining: boolean;
  };
}

/** What gather.ts read for one ChatCluster. */
export interface Observation {
  cluster: ChatCluster;
  /** The owned StatefulSet as it is now, if it exists. */
  statefulSet?: {
    replicas: number;
    readyReplicas: number;
    currentRevision?: string;
    updateRevision?: string;
    /** Its TEMPLATE_HASH_ANNOTATION: the pod template it was last applied with. */
    templateHash?: string;
    /** Its controller has seen its latest spec (status.observedGeneration ≥ metadata.generation). */
    controllerCurrent?: boolean;
  };
  nodes: NodeObservation[];
  /** Whether the admin token secret is set: without it the operator cannot drain or rebalance. */
  canMoveSessions: boolean;
}

/** What the operator remembers between reconciles of one cluster (in memory; lost on restart). */
export interface Memory {
  /** Autoscaler recommendations inside the stabilization windows. */
  recommendations: Recommendation[];
  /** Sessions asked to move, with when and from which node: the rebalance budget is per minute. */
  moves: { at: number; count: number; ordinal?: number }[];
}

export const emptyMemory = (): Memory => ({ recommendations: [], moves: [] });

/** A call on one node's admin API. */
export type NodeAction =
  | { kind: 'shed'; ordinal: number; url: string; count: number; ratePerSec: number }
  | { kind: 'drain'; ordinal: number; url: string; ratePerSec: number }
  | { kind: 'undrain'; ordinal: number; url: string }
  /** Delete the pod so the StatefulSet recreates it on the new revision (after it was drained). */
  | { kind: 'restart'; ordinal: number; podName: string };

/** A Kubernetes Event to record on the ChatCluster. */
export interface ClusterEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Everything decide() returns. */
export interface Decision {
  /** The owned objects, complete, to server-side apply (StatefulSet with `replicas`, Services, …). */
  objects: KubeObject[];
  /** The StatefulSet replicas chosen now (also inside `objects`). */
  replicas: number;
  /**
   * The autoscaler's desired count, to write into spec.replicas through the scale subresource, so
   * that the scale (kubectl, an HPA) reads what the cluster is heading for. Only while
   * replicasManagedBy is Operator, and only when spec.replicas differs.
   */
  specReplicas?: number;
  actions: NodeAction[];
  /** The status to write (conditions with lastTransitionTime kept when their status did not change). */
  status: ChatClusterStatus;
  events: ClusterEvent[];
  memory: Memory;
  /** The finalizers to write into metadata (deletion.ts: ours exactly while deletionPolicy is Delete). */
  finalizers?: string[];
}

export type { ChatClusterCondition };
