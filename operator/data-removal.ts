/**
 * Removes one chat cluster's data from its backends, for a ChatCluster deleted with
 * deletionPolicy Delete (deletion.ts decides when): its JetStream stream, its Cassandra keyspace
 * (the one its spec names, never a system one) and its Redis keys, those under its hash tags
 * `chat:{<cluster>}:` and `chat:{<cluster>:p<shard>}:` (common/redis.ts), found with a bounded SCAN
 * on every master, never KEYS. Each step is idempotent: what is already gone counts as removed.
 *
 * DataRemover runs removals outside the reconcile, one at a time per cluster, and keeps how the last
 * one ended for the next reconcile to see.
 */

import type { CoreV1Api } from '@kubernetes/client-node';
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { type ConnectionOptions, connect } from '@nats-io/transport-node';
import cassandra from 'cassandra-driver';
import { Cluster } from 'ioredis';
import { errorMessage } from '../common/errors.ts';
import { jetStreamNames } from '../common/jetstream-names.ts';
import type { Logger } from '../common/logger.ts';
import { closeRedis, clusterPrefix, openRedis, type RedisAuth, type RedisClient } from '../common/redis.ts';
import { type BackendAuth, backendAuth } from './backend-secrets.ts';
import { type ChatCluster, namespaceOf } from './chatcluster-schema.ts';
import type { RemovalState } from './deletion.ts';
import { clusterId } from './objects.ts';

/** Connect timeout of each backend. */
const CONNECT_TIMEOUT_MS = 5000;
/** SCAN COUNT: keys Redis looks at per call. */
export const SCAN_COUNT = 500;
/** SCAN calls per master in one attempt (× SCAN_COUNT keys looked at); past it the next attempt goes on. */
export const MAX_SCAN_CALLS = 20_000;
/** Keys of one hash tag removed per UNLINK. */
const UNLINK_BATCH = 500;
/** Names Cassandra keeps for itself: never dropped. */
const SYSTEM_KEYSPACE = /^system/;
const KEYSPACE_NAME = /^[a-z][a-z0-9_]{0,47}$/;

/** Where a cluster's data is and how to reach it. */
export interface RemovalTarget {
  /** CHAT_CLUSTER of its nodes (`<namespace>.<name>`). */
  cluster: string;
  nats: { url: string; options?: Partial<ConnectionOptions> };
  redis: { url: string; auth?: RedisAuth };
  cassandra: {
    contactPoints: string[];
    localDataCenter: string;
    keyspace: string;
    options?: BackendAuth['cassandra'];
  };
}

export interface RemovalReport {
  stream: { name: string; deleted: boolean };
  keyspace: { name: string; dropped: boolean };
  redisKeys: number;
}

/** The removal target of a ChatCluster, with its credentials. */
export function removalTarget(cluster: ChatCluster, auth: BackendAuth): RemovalTarget {
  const { nats, redis, cassandra: c } = cluster.spec;
  return {
    cluster: clusterId(cluster),
    nats: { url: nats.url, options: auth.nats },
    redis: { url: redis.url, ...(auth.redis && { auth: auth.redis }) },
    cassandra: {
      contactPoints: c.contactPoints,
      localDataCenter: c.localDataCenter,
      keyspace: c.keyspace,
      options: auth.cassandra,
    },
  };
}

/** Deletes the cluster's stream; false when there was none. */
export async function deleteStream(target: RemovalTarget): Promise<boolean> {
  const nc = await connect({ servers: target.nats.url, timeout: CONNECT_TIMEOUT_MS, ...target.nats.options });
  try {
    const jsm = await jetstreamManager(nc, { timeout: CONNECT_TIMEOUT_MS });
    try {
      return await jsm.streams.delete(jetStreamNames(target.cluster).stream);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return false;
      throw err;
    }
  } finally {
    await nc.close();
  }
}

/** Drops the keyspace; false when there was none. */
export async function dropKeyspace(target: RemovalTarget): Promise<boolean> {
  const { keyspace } = target.cassandra;
  if (!KEYSPACE_NAME.test(keyspace) || SYSTEM_KEYSPACE.test(keyspace)) {
    throw new Error(
      `refusing to drop Cassandra keyspace ${JSON.stringify(keyspace)}: not a chat keyspace name`,
    );
  }
  const client = new cassandra.Client({
    contactPoints: target.cassandra.contactPoints,
    localDataCenter: target.cassandra.localDataCenter,
    ...target.cassandra.options,
    // Dropping a keyspace waits for schema agreement: longer than a query.
    socketOptions: { connectTimeout: CONNECT_TIMEOUT_MS, readTimeout: 60_000 },
  });
  try {
    await client.connect();
    const found = await client.execute(
      'SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?',
      [keyspace],
      { prepare: true },
    );
    if (found.rowLength === 0) return false;
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    return true;
  } finally {
    await client.shutdown();
  }
}

/**
 * Which keys are the cluster's: a SCAN pattern that finds them (and maybe some of a cluster whose
 * name starts the same) and the exact test.
 */
export function clusterKeys(cluster: string): { pattern: string; owns: (key: string) => boolean } {
  const open = 'chat:{';
  const prefix = clusterPrefix(cluster);
  const tag = prefix.slice(open.length, -'}:'.length);
  const glob = tag.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
  const exact = new RegExp(`^chat:\\{${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(:p\\d+)?\\}:`);
  return { pattern: `${open}${glob}*`, owns: (key) => exact.test(key) };
}

/**
 * Where unfinished scans stopped, by server (`host:port`): a call given it goes on from there
 * (SCAN cursors stay valid across connections).
 */
export type ScanCursors = Map<string, string>;

/**
 * Removes the cluster's keys from one Redis or every master of a Redis Cluster; returns how many,
 * and whether the scan finished within its bound (false: call again with the same `cursors`).
 */
export async function deleteRedisKeys(
  redis: RedisClient,
  cluster: string,
  bounds: { count?: number; maxCalls?: number } = {},
  cursors: ScanCursors = new Map(),
): Promise<{ deleted: number; complete: boolean }> {
  const { pattern, owns } = clusterKeys(cluster);
  const count = bounds.count ?? SCAN_COUNT;
  const maxCalls = bounds.maxCalls ?? MAX_SCAN_CALLS;
  const masters = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let deleted = 0;
  let complete = true;
  for (const node of masters) {
    const server = `${node.options.host}:${node.options.port}`;
    let cursor = cursors.get(server) ?? '0';
    let calls = 0;
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      calls++;
      deleted += await unlinkByTag(redis, keys.filter(owns));
    } while (cursor !== '0' && calls < maxCalls);
    if (cursor === '0') {
      cursors.delete(server);
    } else {
      cursors.set(server, cursor);
      complete = false;
    }
  }
  return { deleted, complete };
}

/** UNLINK in groups of one hash tag (one slot: a Redis Cluster refuses keys of several). */
async function unlinkByTag(redis: RedisClient, keys: string[]): Promise<number> {
  const byTag = new Map<string, string[]>();
  for (const key of keys) {
    const tag = key.slice(0, key.indexOf('}') + 1);
    const group = byTag.get(tag) ?? [];
    group.push(key);
    byTag.set(tag, group);
  }
  let n = 0;
  for (const group of byTag.values()) {
    for (let i = 0; i < group.length; i += UNLINK_BATCH) {
      n += await redis.unlink(...group.slice(i, i + UNLINK_BATCH));
    }
  }
  return n;
}

/**
 * Removes the stream, the Redis keys and the keyspace; throws on the first step that fails.
 * `cursors`: where the last attempt's scan stopped at its bound, to go on from there.
 */
export async function removeClusterData(
  target: RemovalTarget,
  log: Logger,
  cursors: ScanCursors = new Map(),
): Promise<RemovalReport> {
  const stream = jetStreamNames(target.cluster).stream;
  const streamDeleted = await deleteStream(target).catch((err: unknown) => {
    throw new Error(`deleting JetStream stream ${stream} at ${target.nats.url} failed: ${errorMessage(err)}`);
  });
  const redis = await openRedis({
    url: target.redis.url,
    ...(target.redis.auth && { auth: target.redis.auth }),
    log,
    role: 'operator-data-removal',
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    commandTimeoutMs: 10_000,
  }).catch((err: unknown) => {
    throw new Error(`removing the Redis keys failed: ${errorMessage(err)}`);
  });
  let keys: { deleted: number; complete: boolean };
  try {
    keys = await deleteRedisKeys(redis, target.cluster, {}, cursors);
  } catch (err) {
    throw new Error(`removing the Redis keys of ${target.cluster} failed: ${errorMessage(err)}`);
  } finally {
    await closeRedis(redis);
  }
  if (!keys.complete) {
    throw new Error(
      `removed ${keys.deleted} Redis keys of ${target.cluster}, more are left past the scan bound (${MAX_SCAN_CALLS} SCAN calls per master): the next attempt goes on`,
    );
  }
  const { keyspace } = target.cassandra;
  const dropped = await dropKeyspace(target).catch((err: unknown) => {
    throw new Error(`dropping Cassandra keyspace ${keyspace} failed: ${errorMessage(err)}`);
  });
  return {
    stream: { name: stream, deleted: streamDeleted },
    keyspace: { name: keyspace, dropped },
    redisKeys: keys.deleted,
  };
}

/** The report as an event message. */
export function describeRemoval(r: RemovalReport): string {
  const stream = r.stream.deleted ? `deleted stream ${r.stream.name}` : `no stream ${r.stream.name}`;
  const keyspace = r.keyspace.dropped
    ? `dropped keyspace ${r.keyspace.name}`
    : `no keyspace ${r.keyspace.name}`;
  return `data removed: ${stream}, ${keyspace}, ${r.redisKeys} Redis keys removed`;
}

/** Removes one ChatCluster's data; resolves with the event message. */
export type RemoveData = (cluster: ChatCluster) => Promise<string>;

/**
 * The real removal: credentials from the cluster's Secrets, then removeClusterData, going on from
 * where the cluster's last scan stopped (kept here, in memory).
 */
export function removeDataWith(core: CoreV1Api, log: Logger): RemoveData {
  const scans = new Map<string, ScanCursors>();
  return async (cluster) => {
    const key = keyOf(cluster);
    const cursors = scans.get(key) ?? new Map<string, string>();
    scans.set(key, cursors);
    const auth = await backendAuth(core, cluster);
    const report = await removeClusterData(removalTarget(cluster, auth), log, cursors);
    scans.delete(key);
    return describeRemoval(report);
  };
}

/**
 * Runs data removals in the background, at most one per ChatCluster, and remembers how each ended.
 * A removal that outlives a change of leader is harmless: every step is idempotent.
 */
export class DataRemover {
  private readonly states = new Map<string, RemovalState>();
  private readonly running = new Set<Promise<void>>();
  /** Clusters gone while their removal ran: its outcome is not kept. */
  private readonly gone = new Set<string>();
  private readonly remove: RemoveData;
  private readonly log: Logger;
  private readonly clock: () => number;

  constructor(remove: RemoveData, log: Logger, clock: () => number = Date.now) {
    this.remove = remove;
    this.log = log;
    this.clock = clock;
  }

  /** What this remover knows of a cluster's removal. */
  state(cluster: ChatCluster): RemovalState {
    return this.states.get(keyOf(cluster)) ?? {};
  }

  /** Starts attempt `attempt` unless one is running. */
  start(cluster: ChatCluster, attempt: number): void {
    const key = keyOf(cluster);
    const state = this.states.get(key) ?? {};
    if (state.running) return;
    this.gone.delete(key);
    this.states.set(key, { ...state, running: { attempt } });
    const run = this.remove(cluster).then(
      (message) => ({ ok: true, message }),
      (err: unknown) => ({ ok: false, message: errorMessage(err) }),
    );
    const tracked: Promise<void> = run.then(({ ok, message }) => {
      if (this.gone.delete(key)) this.states.delete(key);
      else this.states.set(key, { done: { attempt, ok, at: this.clock(), message } });
      if (ok) this.log.info({ cluster: key, attempt }, message);
      else this.log.warn({ cluster: key, attempt, err: message }, 'data removal failed; retrying later');
      this.running.delete(tracked);
    });
    this.running.add(tracked);
  }

  /** Forgets a cluster that is gone. */
  forget(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (this.states.get(key)?.running) this.gone.add(key);
    else this.states.delete(key);
  }

  /** Resolves when every running removal ended (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}

const keyOf = (c: ChatCluster) => `${namespaceOf(c)}/${c.metadata.name}`;
