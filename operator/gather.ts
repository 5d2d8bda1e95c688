/**
 * The gather step: what one ChatCluster looks like now, from the Kubernetes API (its StatefulSet and
 * pods) and from the chat nodes themselves (their load reports in the Redis node registry).
 */
import { ApiException, type AppsV1Api, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { type NodeInfo, RegistryReader } from '../common/node-registry.ts';
import type { RedisAuth } from '../common/redis.ts';
import { type ChatCluster, namespaceOf } from './chatcluster-schema.ts';
import { clusterId, selectorString, TEMPLATE_HASH_ANNOTATION } from './objects.ts';
import type { NodeObservation, Observation } from './types.ts';

/** What the gather step reads (least privilege: see rbac.ts). No watches: the loop re-lists. */
export const RBAC_RULES = [
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
];

/** Live load reports of a cluster's nodes. */
export type LoadSource = (cluster: ChatCluster) => Promise<NodeInfo[]>;

/** The credentials and TLS the operator needs to read a cluster's node registry. */
export type RedisAuthSource = (cluster: ChatCluster) => Promise<RedisAuth | undefined>;

/**
 * Reads spec.redis's password and CA from their Secrets (the only secret values the operator reads,
 * besides checking that the admin token is set). A missing Secret or key is an error that names it.
 */
export function redisAuthFromSecrets(core: CoreV1Api): RedisAuthSource {
  return async (cluster) => {
    const { redis } = cluster.spec;
    const namespace = namespaceOf(cluster);
    const value = async (ref: { name: string; key: string }) => {
      const secret = await core.readNamespacedSecret({ name: ref.name, namespace });
      const data = secret.data?.[ref.key];
      if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
      const plain = secret.stringData?.[ref.key];
      if (plain !== undefined) return plain;
      throw new Error(`Secret ${namespace}/${ref.name} has no key ${ref.key}`);
    };
    const auth: RedisAuth = {};
    if (redis.username) auth.username = redis.username;
    if (redis.passwordRef) auth.password = await value(redis.passwordRef);
    if (redis.tls?.enabled) auth.tls = true;
    if (redis.tls?.caRef) auth.ca = await value(redis.tls.caRef);
    return Object.keys(auth).length > 0 ? auth : undefined;
  };
}

const isNotFound = (err: unknown) => err instanceof ApiException && err.code === 404;

/**
 * Reads node loads from the Redis node registry named by spec.redis.url (one client per registry).
 * A registry that cannot be reached is not tried again for `retryMs`: until then its loads fail at
 * once instead of holding every reconcile for the connect timeout.
 */
export class RegistryLoads {
  private readonly registries = new Map<string, Promise<RegistryReader>>();
  /** The registries that opened, to close them without waiting for those still connecting. */
  private readonly open = new Set<RegistryReader>();
  private closed = false;
  private readonly log: Logger;
  private readonly retryMs: number;

  private readonly authOf: RedisAuthSource;

  /**
   * @param retryMs wait after a failed connect before the next attempt; default 30 s.
   * @param authOf the Redis credentials of a cluster (spec.redis.passwordRef, tls), read from its
   *   Secrets; default: none.
   */
  constructor(log: Logger, retryMs = 30_000, authOf: RedisAuthSource = async () => undefined) {
    this.log = log;
    this.retryMs = retryMs;
    this.authOf = authOf;
  }

  readonly loads: LoadSource = async (cluster) => {
    const key = `${cluster.spec.redis.url} ${clusterId(cluster)}`;
    let registry = this.registries.get(key);
    if (!registry) {
      const opening = this.authOf(cluster).then((auth) =>
        RegistryReader.open({
          url: cluster.spec.redis.url,
          ...(auth && { auth }),
          cluster: clusterId(cluster),
          log: this.log,
        }),
      );
      void opening.then(
        (r) => {
          if (this.closed) r.close().catch(() => {});
          else this.open.add(r);
        },
        (err: Error) => {
          this.log.warn(
            { cluster: clusterId(cluster), err: err.message },
            `node registry unreachable: node loads unknown; next attempt in ${this.retryMs} ms`,
          );
          const retry = setTimeout(() => {
            if (this.registries.get(key) === opening) this.registries.delete(key);
          }, this.retryMs);
          retry.unref();
        },
      );
      this.registries.set(key, opening);
      registry = opening;
    }
    return (await registry).list();
  };

  /** Closes the registries; one still connecting is closed when it connects. */
  async close(): Promise<void> {
    this.closed = true;
    this.registries.clear();
    const all = [...this.open];
    this.open.clear();
    await Promise.allSettled(all.map((r) => r.close()));
  }
}

export interface GathererDeps {
  apps: AppsV1Api;
  core: CoreV1Api;
  loads: LoadSource;
  /** Longest wait for the loads; past it the nodes count as not reporting. Default 2000 ms. */
  loadsTimeoutMs?: number;
  log?: Logger;
}

export class Gatherer {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly loads: LoadSource;
  private readonly loadsTimeoutMs: number;
  private readonly log: Logger | undefined;

  constructor(deps: GathererDeps) {
    this.apps = deps.apps;
    this.core = deps.core;
    this.loads = deps.loads;
    this.loadsTimeoutMs = deps.loadsTimeoutMs ?? 2000;
    this.log = deps.log;
  }

  async observe(cluster: ChatCluster): Promise<Observation> {
    const namespace = namespaceOf(cluster);
    const [statefulSet, pods, loads, canMoveSessions] = await Promise.all([
      this.statefulSet(cluster, namespace),
      this.core.listNamespacedPod({ namespace, labelSelector: selectorString(cluster) }),
      this.nodeLoads(cluster),
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

  /**
   * For a ChatCluster being deleted: whether its StatefulSet is still there, and how many of its
   * pods are, terminating ones included (a terminating node may still write).
   */
  async observeDeletion(cluster: ChatCluster): Promise<{ statefulSetExists: boolean; pods: number }> {
    const namespace = namespaceOf(cluster);
    const [statefulSet, pods] = await Promise.all([
      this.statefulSet(cluster, namespace),
      this.core.listNamespacedPod({ namespace, labelSelector: selectorString(cluster) }),
    ]);
    return { statefulSetExists: statefulSet !== undefined, pods: pods.items.length };
  }

  /** The loads, or none when the source fails or does not answer in time (nodes not reporting). */
  private async nodeLoads(cluster: ChatCluster): Promise<NodeInfo[]> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer in ${this.loadsTimeoutMs} ms`)),
        this.loadsTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.loads(cluster), late]);
    } catch (err) {
      this.log?.debug({ cluster: clusterId(cluster), err: errorMessage(err) }, 'no node loads');
      return [];
    } finally {
      clearTimeout(timer);
    }
  }

  private async statefulSet(cluster: ChatCluster, namespace: string): Promise<Observation['statefulSet']> {
    try {
      const s = await this.apps.readNamespacedStatefulSet({ name: cluster.metadata.name, namespace });
      return {
        replicas: s.spec?.replicas ?? 0,
        readyReplicas: s.status?.readyReplicas ?? 0,
        currentRevision: s.status?.currentRevision,
        updateRevision: s.status?.updateRevision,
        templateHash: s.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION],
        controllerCurrent: (s.status?.observedGeneration ?? 0) >= (s.metadata?.generation ?? 0),
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
      ...(load.adminUrl ? { adminUrl: load.adminUrl } : {}),
      connections: load.connections,
      capacity: load.capacity,
      draining: load.draining,
    },
  };
}
