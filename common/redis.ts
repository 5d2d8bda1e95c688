/**
 * Redis connection plumbing shared by the node's Redis backends and by readers of the node registry
 * (the operator, chatctl): open with capped reconnects, duplicate for pub/sub, Lua scripts, MULTI
 * with errors, polite close, and the key prefixes of a cluster.
 *
 * A URL names one Redis (`redis://host:port`) or a Redis Cluster: `redis+cluster://h:p[,h:p...]`
 * (seeds; the client discovers the other masters), or several comma-separated `redis://` URLs.
 * Keys that one Lua script or MULTI touches together always share a hash tag (one slot):
 *   chat:{<cluster>}:…            per ChatCluster: node registry, node-id leases (small, one slot)
 *   chat:{<cluster>:p<shard>}:…   presence and sessions, by user (userShard), spread over the masters
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { splitUrls } from './config.ts';
import type { Logger } from './logger.ts';
import { redactUrl } from './urls.ts';

/** One Redis or a Redis Cluster: the commands used here work on both. */
export type RedisClient = Redis | Cluster;

/** `chat:{<cluster>}:`: braces and spaces in the name would break the hash tag. */
export function clusterPrefix(cluster: string): string {
  return `chat:{${safe(cluster)}}:`;
}

const safe = (cluster: string) => cluster.replace(/[{}\s]/g, '_');

/** `chat:{<cluster>:p<shard>}:`: the keys of one presence shard share a slot. */
export function shardPrefix(cluster: string, shard: number): string {
  return `chat:{${safe(cluster)}:p${shard}}:`;
}

/** The presence shard of a user (FNV-1a of its id): the same on every node. */
export function userShard(userId: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/** What a CHAT_REDIS_URL names: one server (its URL) or the seeds of a Redis Cluster. */
export function redisTarget(
  url: string,
):
  | { cluster: false; url: string }
  | { cluster: true; seeds: { host: string; port: number }[]; options: RedisOptions } {
  const urls = splitUrls(url);
  const first = urls[0];
  if (!first) throw new TypeError('no Redis URL');
  const isCluster = urls.length > 1 || first.protocol.endsWith('+cluster:');
  if (!isCluster) return { cluster: false, url };
  const options: RedisOptions = {};
  if (first.username) options.username = decodeURIComponent(first.username);
  if (first.password) options.password = decodeURIComponent(first.password);
  if (first.protocol.startsWith('rediss')) options.tls = {};
  return {
    cluster: true,
    seeds: urls.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    options,
  };
}

/** Reconnect delay: 50 ms doubling to a 2 s cap, with up to 100 ms of jitter. */
function retryStrategy(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 10), 2000) + Math.floor(Math.random() * 100);
}

/** Logs a lost connection once (not every failed reconnect attempt) and its recovery. */
function watch(redis: RedisClient, log: Logger, role: string): void {
  let up = false;
  redis.on('ready', () => {
    if (!up) log.info({ redis: role }, `Redis ${role} connection ready`);
    up = true;
  });
  redis.on('error', (err: Error) => {
    if (up) log.warn({ redis: role, err: err.message }, `Redis ${role} connection lost; reconnecting`);
    up = false;
  });
  redis.on('close', () => {
    up = false;
  });
}

/** Resolves once `redis` is ready; rejects after `timeoutMs` (the client keeps retrying until then). */
function ready(redis: RedisClient, timeoutMs: number, url: string): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError = '';
    const onError = (err: Error) => {
      lastError = err.message;
    };
    const done = (err?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const timer = setTimeout(
      () =>
        done(
          new Error(
            `Redis at ${url.split(',').map(redactUrl).join(',')} not reachable in ${timeoutMs} ms: ${lastError}`,
          ),
        ),
      timeoutMs,
    );
    redis.on('ready', onReady);
    redis.on('error', onError);
    if (redis.status === 'wait') redis.connect().catch(onError);
  });
}

/**
 * Credentials and TLS for a Redis that asks for them, kept out of the URL (so out of ConfigMaps and
 * logs). A `rediss://` URL also turns TLS on; `ca` (PEM) replaces the system's trusted CAs.
 */
export interface RedisAuth {
  username?: string;
  password?: string;
  tls?: boolean;
  ca?: string;
}

export interface OpenRedisOptions {
  url: string;
  /** Credentials and TLS beyond what the URL says. */
  auth?: RedisAuth;
  log: Logger;
  /** Names the connection in logs and in `CLIENT LIST`. */
  role: string;
  /** How long to wait for the first connection. Default 10 s. */
  connectTimeoutMs?: number;
  /** Fail a command not answered in this time. Default: no limit. */
  commandTimeoutMs?: number;
  /** On a Redis Cluster: one subscriber connection per master, for SSUBSCRIBE. */
  sharded?: boolean;
}

/**
 * A connected ioredis client that reconnects by itself (capped backoff) and resubscribes its channels
 * after a reconnect. Commands issued while disconnected wait for at most two reconnect attempts, then
 * fail, so callers see an outage quickly instead of hanging.
 */
export async function openRedis(options: OpenRedisOptions): Promise<RedisClient> {
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    connectionName: `chat-node-${options.role}`,
    retryStrategy,
    maxRetriesPerRequest: 2,
    autoResubscribe: true,
  };
  if (options.commandTimeoutMs) redisOptions.commandTimeout = options.commandTimeoutMs;
  const auth = options.auth ?? {};
  if (auth.username !== undefined) redisOptions.username = auth.username;
  if (auth.password !== undefined) redisOptions.password = auth.password;
  if (auth.tls || auth.ca !== undefined || options.url.startsWith('rediss'))
    redisOptions.tls = auth.ca === undefined ? {} : { ca: auth.ca };
  const target = redisTarget(options.url);
  let redis: RedisClient;
  if (target.cluster) {
    const { lazyConnect: _, retryStrategy: __, ...perNode } = redisOptions;
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      // The URL's own credentials count only where no separate ones are given.
      redisOptions: { ...target.options, ...perNode },
      clusterRetryStrategy: retryStrategy,
      // A master that died: its slots fail fast (the others keep serving), and it is reconnected
      // when it comes back.
      clusterNodeRetryStrategy: retryStrategy,
      retryDelayOnClusterDown: 200,
      retryDelayOnFailover: 100,
      maxRedirections: 8,
      slotsRefreshInterval: 2000,
      shardedSubscribers: options.sharded ?? false,
    };
    redis = new Cluster(target.seeds, clusterOptions);
  } else {
    redis = new Redis(options.url, redisOptions);
  }
  watch(redis, options.log, options.role);
  try {
    await ready(redis, options.connectTimeoutMs ?? 10_000, options.url);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return redis;
}

/** A second connection with the same settings (for pub/sub: a subscriber runs no other commands). */
export async function duplicateRedis(redis: RedisClient, options: OpenRedisOptions): Promise<RedisClient> {
  if (redis instanceof Cluster) return openRedis(options);
  const copy = redis.duplicate({ connectionName: `chat-node-${options.role}` });
  watch(copy, options.log, options.role);
  try {
    await ready(copy, options.connectTimeoutMs ?? 10_000, options.url);
  } catch (err) {
    copy.disconnect();
    throw err;
  }
  return copy;
}

export type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * A Lua script run with EVALSHA (EVAL the first time), as a function of its keys then its args; with
 * `numberOfKeys` undefined, of the number of keys first.
 */
export function defineScript(
  redis: RedisClient,
  name: string,
  numberOfKeys: number | undefined,
  lua: string,
): Script {
  redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
  return (redis as unknown as Record<string, Script>)[name]!.bind(redis);
}

/** Runs a MULTI and throws the first command error (exec() only reports them). */
export async function execOrThrow(multi: ReturnType<RedisClient['multi']>): Promise<void> {
  const results = await multi.exec();
  if (!results) throw new Error('Redis transaction aborted');
  for (const [err] of results) if (err) throw err;
}

/** Closes politely, or drops the socket when Redis is unreachable (quit would wait for it). */
export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}
