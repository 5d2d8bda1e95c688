/**
 * The dedup index in Redis, in front of the store's `messages_by_dedup`: a send with a client id asks
 * it instead of reading the store (the read was on every such send's critical path).
 *
 *   chat:{<cluster>:p<shard>}:dedup:<dedupKey>   the message id of the key's first send, for HORIZON_MS
 *   chat:{<cluster>:p<shard>}:dedup:since        from when the shard holds every key (ms; 0: always)
 *
 * Keys are sharded by the sender's user id (a dedup key starts with it) over the presence shards, so
 * one claim is one script in one slot. A claim that finds the key answers 'seen' (the caller reads the
 * store, or lets the stream's window answer a resend racing its original). A key not found is 'new'
 * only while the shard holds the whole horizon: `since` is 0 for a cluster that started with an empty
 * stream, else the time the shard was found empty (a Redis that lost its keys); until `since` is a
 * horizon old, claims answer 'unknown' and the caller reads the store, as without this index.
 * A resend more than HORIZON_MS after the key's first send is not recognised (docs/cluster.md).
 */
import type { Logger } from '../../../common/logger.ts';
import {
  closeRedis,
  defineScript,
  openRedis,
  type RedisAuth,
  type RedisClient,
  type Script,
  shardPrefix,
  userShard,
} from '../../../common/redis.ts';
import type { DedupIndex } from '../types.ts';

/** How long a key is remembered: longer than any client keeps a send waiting. */
export const HORIZON_MS = 24 * 3600_000;
/** The presence backend's shard count: a user's dedup keys sit in the same slot as its presence. */
const SHARDS = 32;

/** KEYS: since, key. ARGV: message id, horizon ms, now − horizon. -1 no since, 1 seen, 2 unknown, 0 new. */
const CLAIM_LUA = `
local since = redis.call('GET', KEYS[1])
if not since then return -1 end
local prev = redis.call('SET', KEYS[2], ARGV[1], 'NX', 'GET', 'PX', ARGV[2])
if prev then return 1 end
if tonumber(since) > tonumber(ARGV[3]) then return 2 end
return 0`;

export class RedisDedup implements DedupIndex {
  private readonly redis: RedisClient;
  private readonly cluster: string;
  private readonly claimScript: Script;
  private readonly clock: () => number;

  private constructor(redis: RedisClient, cluster: string, clock: () => number) {
    this.redis = redis;
    this.cluster = cluster;
    this.clock = clock;
    this.claimScript = defineScript(redis, 'chatDedupClaim', 2, CLAIM_LUA);
  }

  static async open(options: {
    url: string;
    /** Credentials and TLS beyond the URL. */
    auth?: RedisAuth;
    cluster: string;
    log: Logger;
    clock?: () => number;
  }): Promise<RedisDedup> {
    const redis = await openRedis({ url: options.url, auth: options.auth, log: options.log, role: 'dedup' });
    return new RedisDedup(redis, options.cluster, options.clock ?? Date.now);
  }

  private prefix(shard: number): string {
    return `${shardPrefix(this.cluster, shard)}dedup:`;
  }

  /**
   * Sets each shard's `since` where missing: 0 when the cluster has never stored a message (the index
   * then holds every key there is), else now.
   */
  async prepare(fresh: boolean): Promise<void> {
    const value = fresh ? '0' : String(Math.floor(this.clock()));
    await Promise.all(
      Array.from({ length: SHARDS }, (_, s) => this.redis.set(`${this.prefix(s)}since`, value, 'NX')),
    );
  }

  async claim(dedupKey: string, messageId: string): Promise<'new' | 'seen' | 'unknown'> {
    const userId = dedupKey.slice(0, Math.max(0, dedupKey.indexOf('/')));
    const prefix = this.prefix(userShard(userId, SHARDS));
    const now = Math.floor(this.clock());
    const r = Number(
      await this.claimScript(
        `${prefix}since`,
        `${prefix}${dedupKey}`,
        messageId,
        HORIZON_MS,
        now - HORIZON_MS,
      ),
    );
    if (r === 0) return 'new';
    if (r === 1) return 'seen';
    // The shard lost its keys (or never had them): from now on it holds them; until then, the store.
    if (r === -1) await this.redis.set(`${prefix}since`, String(now), 'NX');
    return 'unknown';
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }
}
