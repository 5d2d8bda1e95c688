/**
 * The live nodes of a cluster, in Redis. Each node's entry is a key with a TTL that `announce`
 * refreshes (every 2 s from node.ts); an index set names the nodes, and `list()` drops index members
 * whose key has expired (a node that crashed without `withdraw`). The key layout and the read-only
 * reader for other programs are in common/node-registry.ts.
 */
import type { Logger } from '../../../common/logger.ts';
import { type NodeInfo, registryKeys } from '../../../common/node-registry.ts';
import {
  closeRedis,
  defineScript,
  execOrThrow,
  openRedis,
  type RedisAuth,
  type RedisClient,
  type Script,
} from '../../../common/redis.ts';
import type { NodeRegistry } from '../types.ts';

/** Returns the live entries (JSON) and removes index members whose key expired, in one step. */
const LIST_LUA = `
local live = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then table.insert(live, v) else redis.call('SREM', KEYS[1], id) end
end
return live`;

export interface RedisRegistryOptions {
  url: string;
  /** Credentials and TLS beyond the URL. */
  auth?: RedisAuth;
  cluster: string;
  /** How long an entry lives without a refresh. node.ts announces every 2 s. */
  ttlMs: number;
  log: Logger;
}

export class RedisRegistry implements NodeRegistry {
  private readonly redis: RedisClient;
  private readonly ttlMs: number;
  private readonly index: string;
  private readonly nodePrefix: string;
  private readonly listScript: Script;
  private closed = false;

  private constructor(redis: RedisClient, options: RedisRegistryOptions) {
    this.redis = redis;
    this.ttlMs = options.ttlMs;
    const keys = registryKeys(options.cluster);
    this.index = keys.index;
    this.nodePrefix = keys.nodePrefix;
    this.listScript = defineScript(redis, 'chatRegistryList', 1, LIST_LUA);
  }

  static async open(options: RedisRegistryOptions): Promise<RedisRegistry> {
    if (!(options.ttlMs > 0)) throw new RangeError(`registry ttlMs must be positive, got ${options.ttlMs}`);
    const redis = await openRedis({
      url: options.url,
      auth: options.auth,
      log: options.log,
      role: 'registry',
    });
    return new RedisRegistry(redis, options);
  }

  async announce(info: NodeInfo): Promise<void> {
    await execOrThrow(
      this.redis
        .multi()
        .set(this.nodePrefix + info.nodeId, JSON.stringify(info), 'PX', this.ttlMs)
        .sadd(this.index, String(info.nodeId)),
    );
  }

  async list(): Promise<NodeInfo[]> {
    const live = (await this.listScript(this.index, this.nodePrefix)) as string[];
    return live.map((json) => JSON.parse(json) as NodeInfo).sort((a, b) => a.nodeId - b.nodeId);
  }

  async withdraw(nodeId: number): Promise<void> {
    await execOrThrow(
      this.redis
        .multi()
        .del(this.nodePrefix + nodeId)
        .srem(this.index, String(nodeId)),
    );
  }

  isReady(): boolean {
    return !this.closed && this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeRedis(this.redis);
  }
}
