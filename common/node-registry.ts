/**
 * The node registry: the record each chat node announces about itself, where it lives in Redis, and a
 * read-only reader for programs that only look (the operator, chatctl). The chat node's writer is
 * chat-node/backends/real/redis-registry.ts; both use the keys below.
 *
 *   chat:{<cluster>}:node:<nodeId>   NodeInfo as JSON, with a TTL the node refreshes
 *   chat:{<cluster>}:nodes           set of nodeIds (index)
 */
import type { Logger } from './logger.ts';
import { closeRedis, clusterPrefix, openRedis, type RedisAuth, type RedisClient } from './redis.ts';

/** One live node, as announced in the registry. */
export interface NodeInfo {
  nodeId: number;
  url: string;
  connections: number;
  capacity: number;
  draining: boolean;
  zone?: string;
  /** Base URL of the node's admin API when it is on a port of its own (CHAT_ADMIN_PORT); else `url`. */
  adminUrl?: string;
  startedAt: number;
  updatedAt: number;
}

/** The registry's keys for one cluster. */
export function registryKeys(cluster: string): { index: string; nodePrefix: string } {
  const prefix = clusterPrefix(cluster);
  return { index: `${prefix}nodes`, nodePrefix: `${prefix}node:` };
}

/** The live nodes, by node id. Reads only: index members whose entry expired are skipped, not removed. */
export async function readNodes(redis: RedisClient, cluster: string): Promise<NodeInfo[]> {
  const { index, nodePrefix } = registryKeys(cluster);
  const ids = await redis.smembers(index);
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => nodePrefix + id));
  return values
    .filter((v): v is string => v !== null)
    .map((json) => JSON.parse(json) as NodeInfo)
    .sort((a, b) => a.nodeId - b.nodeId);
}

/** A read-only view of one cluster's registry over its own Redis connection. */
export class RegistryReader {
  private readonly redis: RedisClient;
  private readonly cluster: string;

  private constructor(redis: RedisClient, cluster: string) {
    this.redis = redis;
    this.cluster = cluster;
  }

  static async open(options: {
    url: string;
    /** Credentials and TLS beyond the URL. */
    auth?: RedisAuth;
    cluster: string;
    log: Logger;
    connectTimeoutMs?: number;
  }): Promise<RegistryReader> {
    const redis = await openRedis({
      url: options.url,
      auth: options.auth,
      log: options.log,
      role: 'registry-reader',
      connectTimeoutMs: options.connectTimeoutMs,
    });
    return new RegistryReader(redis, options.cluster);
  }

  list(): Promise<NodeInfo[]> {
    return readNodes(this.redis, this.cluster);
  }

  close(): Promise<void> {
    return closeRedis(this.redis);
  }
}
