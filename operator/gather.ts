/**
 * The gather step: what one ChatCluster looks like now, from the Kubernetes API (its StatefulSet and
 * pods) and from the chat nodes themselves (their load reports in the Redis node registry).
 */
import { ApiException, type AppsV1Api, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import type { NodeInfo } from '../chat-node/backends/types.ts';
import type { Logger } from '../chat-node/logger.ts';
import { RedisRegistry } from '../chat-node/real/redis-registry.ts';
import type { ChatCluster } from './chatcluster-schema.ts';
import { clusterId, selectorString } from './objects.ts';
import type { NodeObservation, Observation } from './types.ts';

/** What the gather step reads (least privilege: see rbac.ts). */
export const RBAC_RULES = [
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
];

/** Live load reports of a cluster's nodes. */
export type LoadSource = (cluster: ChatCluster) => Promise<NodeInfo[]>;

const isNotFound = (err: unknown) => err instanceof ApiException && err.code === 404;

/** Reads node loads from the Redis node registry named by spec.redis.url (one client per registry). */
export class RegistryLoads {
  private readonly registries = new Map<string, Promise<RedisRegistry>>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  readonly loads: LoadSource = async (cluster) => {
    const key = `${cluster.spec.redis.url} ${clusterId(cluster)}`;
    let registry = this.registries.get(key);
    if (!registry) {
      registry = RedisRegistry.open({
        url: cluster.spec.redis.url,
        cluster: clusterId(cluster),
        ttlMs: 10_000,
        log: this.log,
      });
      // A registry that failed to open is tried again next time.
      registry.catch(() => this.registries.delete(key));
      this.registries.set(key, registry);
    }
    return (await registry).list();
  };

  async close(): Promise<void> {
    const all = [...this.registries.values()];
    this.registries.clear();
    await Promise.allSettled(all.map(async (r) => (await r).close()));
  }
}

export class Gatherer {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly loads: LoadSource;

  constructor(deps: { apps: AppsV1Api; core: CoreV1Api; loads: LoadSource }) {
    this.apps = deps.apps;
    this.core = deps.core;
    this.loads = deps.loads;
  }

  async observe(cluster: ChatCluster): Promise<Observation> {
    const namespace = cluster.metadata.namespace ?? 'default';
    const [statefulSet, pods, loads, canMoveSessions] = await Promise.all([
      this.statefulSet(cluster, namespace),
      this.core.listNamespacedPod({ namespace, labelSelector: selectorString(cluster) }),
      this.loads(cluster).catch(() => [] as NodeInfo[]),
      this.adminTokenSet(cluster, namespace),
    ]);
    const byNodeId = new Map(loads.map((l) => [l.nodeId, l]));
    const nodes: NodeObservation[] = [];
    for (const pod of pods.items) {
      const node = observePod(pod, byNodeId);
      if (node) nodes.push(node);
    }
    nodes.sort((a, b) => a.ordinal - b.ordinal);
    return { cluster, statefulSet, nodes, canMoveSessions };
  }

  private async statefulSet(cluster: ChatCluster, namespace: string): Promise<Observation['statefulSet']> {
    try {
      const s = await this.apps.readNamespacedStatefulSet({ name: cluster.metadata.name, namespace });
      return {
        replicas: s.spec?.replicas ?? 0,
        readyReplicas: s.status?.readyReplicas ?? 0,
        currentRevision: s.status?.currentRevision,
        updateRevision: s.status?.updateRevision,
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async adminTokenSet(cluster: ChatCluster, namespace: string): Promise<boolean> {
    const ref = cluster.spec.auth.adminTokenRef;
    if (!ref) return false;
    try {
      const secret = await this.core.readNamespacedSecret({ name: ref.name, namespace });
      return Boolean(secret.data?.[ref.key] ?? secret.stringData?.[ref.key]);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

/** One pod as a node; undefined for a pod that is going away (it is no longer a node). */
function observePod(pod: V1Pod, loads: Map<number, NodeInfo>): NodeObservation | undefined {
  if (pod.metadata?.deletionTimestamp) return undefined;
  const name = pod.metadata?.name ?? '';
  const label = pod.metadata?.labels?.['apps.kubernetes.io/pod-index'];
  const ordinal = Number(label ?? name.slice(name.lastIndexOf('-') + 1));
  if (!Number.isInteger(ordinal) || ordinal < 0) return undefined;
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const load = loads.get(ordinal);
  return {
    name,
    ordinal,
    ready,
    exists: true,
    revision: pod.metadata?.labels?.['controller-revision-hash'],
    load: load && {
      nodeId: load.nodeId,
      url: load.url,
      connections: load.connections,
      capacity: load.capacity,
      draining: load.draining,
    },
  };
}
