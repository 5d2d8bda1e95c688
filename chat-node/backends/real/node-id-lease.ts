/**
 * Snowflake node ids (0–1023) leased in Redis, so no two live nodes of a cluster share one.
 *
 *   chat:{<cluster>}:node-id:<id>   the holder's instance token (host:pid:random), PX ttlMs
 *
 *   claim (SET NX PX) ──▶ held ──every ttl/3: renew if GET = token (PEXPIRE)──▶ held
 *                          │  no key (Redis restarted empty, or it expired while Redis was
 *                          │  unreachable): claimed again at once (SET NX PX) ──▶ held
 *                          │ renewal finds another token
 *                          ▼
 *                        lost: onLost(nodeId), renewals stop; the node must stop issuing ids
 *
 * A Redis restart or outage is not fatal: every node takes its own id back at its next renewal.
 *
 * Two live nodes never mint under one id, even when Redis loses every lease (the fence):
 *   - a holder mints only while its last confirmed renewal is younger than ttl (`mayMint`); it
 *     counts from when it sent that renewal, so it stops no later than the key would have expired;
 *   - a leased (not requested) id is usable only from the cluster's epoch `safeAt`: the first claim
 *     after Redis lost its keys (or ever) finds no `node-id:epoch` key and sets it to now + ttl, and
 *     every claim under that epoch waits until then. Any holder from before the loss confirmed
 *     before the loss, so it has stopped minting by then; one that re-took its key is not free.
 * A requested id (CHAT_NODE_ID, the StatefulSet ordinal) is unique by its StatefulSet; its lease
 * only catches a misconfiguration, and it mints without waiting for the epoch.
 *   release: DEL only while the key still holds our token.
 *
 * Without `requested` the first free id is claimed, in one script so concurrent starters never race.
 * With `requested` (CHAT_NODE_ID, e.g. a StatefulSet ordinal) exactly that id is claimed, waiting up
 * to one ttl for a previous holder that died (a restarted pod) to expire.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { errorMessage } from '../../../common/errors.ts';
import type { Logger } from '../../../common/logger.ts';
import {
  closeRedis,
  clusterPrefix,
  defineScript,
  openRedis,
  type RedisAuth,
  type RedisClient,
  type Script,
} from '../../../common/redis.ts';
import { MAX_NODE_ID } from '../../../common/snowflake.ts';

/**
 * KEYS[1]: id 0's key (routes the script to the cluster's slot), KEYS[2]: the epoch key. ARGV: key
 * prefix, token, max id, ttl, now (ms). Returns {id or -1, the epoch's safeAt}.
 */
const CLAIM_FIRST_FREE_LUA = `
local safe = redis.call('GET', KEYS[2])
if not safe then
  safe = tostring(tonumber(ARGV[5]) + tonumber(ARGV[4]))
  redis.call('SET', KEYS[2], safe)
end
for id = 0, tonumber(ARGV[3]) do
  if redis.call('SET', ARGV[1] .. id, ARGV[2], 'NX', 'PX', ARGV[4]) then return {id, safe} end
end
return {-1, safe}`;

/** 1: renewed; 0: another token holds the key; 2: there was no key, it is ours again. */
const RENEW_LUA = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2`;

const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface NodeIdLeaseOptions {
  url: string;
  /** Credentials and TLS beyond the URL. */
  auth?: RedisAuth;
  cluster: string;
  /** The id to claim (CHAT_NODE_ID). Unset: the first free one. */
  requested?: number;
  /** How long a lease outlives its holder's last renewal; renewed every ttlMs/3. */
  ttlMs: number;
  log: Logger;
  /** The lease was lost (taken over or expired while unrenewed): the id is no longer exclusive. */
  onLost: (nodeId: number) => void;
}

export interface NodeIdLease {
  nodeId: number;
  /**
   * True while this instance may mint ids under the node id: the epoch's safe time has passed, the
   * lease was confirmed less than a ttl ago, and it was not lost.
   */
  mayMint(): boolean;
  /** Stops renewing and frees the id if this instance still holds it. */
  release(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Claims exactly `id`, waiting up to one ttl (plus a margin) for an expiring holder. Returns when the
 * successful SET was sent.
 */
async function claimRequested(
  redis: RedisClient,
  key: string,
  token: string,
  o: NodeIdLeaseOptions & { requested: number },
): Promise<number> {
  const deadline = Date.now() + o.ttlMs + Math.max(100, o.ttlMs / 10);
  let holder: string | null = null;
  for (;;) {
    const sentAt = Date.now();
    if ((await redis.set(key, token, 'PX', o.ttlMs, 'NX')) === 'OK') return sentAt;
    holder = (await redis.get(key)) ?? holder;
    const left = deadline - Date.now();
    if (left <= 0) break;
    const pttl = await redis.pttl(key);
    await sleep(Math.min(left, Math.max(20, pttl + 5)));
  }
  throw new Error(
    `CHAT_NODE_ID=${o.requested}: node id ${o.requested} of cluster "${o.cluster}" is held by another live instance (${holder ?? 'unknown'}); give each node its own CHAT_NODE_ID, or unset it to lease a free id`,
  );
}

/** Leases a Snowflake node id for this instance; see the diagram at the top of this file. */
export async function leaseNodeId(options: NodeIdLeaseOptions): Promise<NodeIdLease> {
  const { requested, ttlMs, log } = options;
  if (!(ttlMs >= 30)) throw new RangeError(`node id lease ttlMs must be at least 30, got ${ttlMs}`);
  if (requested !== undefined && !(Number.isInteger(requested) && requested >= 0 && requested <= MAX_NODE_ID))
    throw new RangeError(`CHAT_NODE_ID must be an integer from 0 to ${MAX_NODE_ID}, got ${requested}`);
  const prefix = `${clusterPrefix(options.cluster)}node-id:`;
  const token = `${hostname()}:${process.pid}:${randomBytes(8).toString('hex')}`;
  // A renewal stuck on a dead connection must not outlive its tick.
  const redis = await openRedis({
    url: options.url,
    auth: options.auth,
    log,
    role: 'node-id-lease',
    commandTimeoutMs: Math.max(1000, Math.floor(ttlMs / 3)),
  });

  let nodeId: number;
  // The key's expiry was set no earlier than this: the lease is ours until heldSince + ttlMs.
  let heldSince = Date.now();
  let safeAt = 0;
  try {
    if (requested === undefined) {
      const claim = defineScript(redis, 'chatClaimNodeId', 2, CLAIM_FIRST_FREE_LUA);
      const [id, safe] = (await claim(
        `${prefix}0`,
        `${prefix}epoch`,
        prefix,
        token,
        MAX_NODE_ID,
        ttlMs,
        heldSince,
      )) as [number, string];
      nodeId = Number(id);
      safeAt = Number(safe);
      if (nodeId < 0)
        throw new Error(
          `no free Snowflake node id in cluster "${options.cluster}": all ${MAX_NODE_ID + 1} ids are leased by live nodes`,
        );
    } else {
      heldSince = await claimRequested(redis, `${prefix}${requested}`, token, { ...options, requested });
      nodeId = requested;
    }
  } catch (err) {
    await closeRedis(redis);
    throw err;
  }

  const key = `${prefix}${nodeId}`;
  const renew: Script = defineScript(redis, 'chatRenewNodeId', 1, RENEW_LUA);
  const releaseScript: Script = defineScript(redis, 'chatReleaseNodeId', 1, RELEASE_LUA);
  let renewing = false;
  let released = false;
  let lost = false;
  let failing = false;
  const lose = (reason: 'taken', why: string) => {
    if (lost || released) return;
    lost = true;
    clearInterval(timer);
    log.error({ nodeId, reason }, `node id ${nodeId} lease lost: ${why}`);
    options.onLost(nodeId);
  };
  const tick = async () => {
    if (renewing || released || lost) return;
    renewing = true;
    const sentAt = Date.now();
    try {
      const r = Number(await renew(key, token, ttlMs));
      if (failing) log.info({ nodeId }, 'node id lease renewed again');
      failing = false;
      if (r === 0) return lose('taken', 'another instance holds it');
      if (r === 2 || sentAt - heldSince >= ttlMs)
        log.warn({ nodeId, unrenewedMs: sentAt - heldSince }, `node id ${nodeId} lease claimed again`);
      heldSince = sentAt;
    } catch (err) {
      if (!failing) log.warn({ nodeId, err: errorMessage(err) }, 'node id lease renewal failed; retrying');
      failing = true;
    } finally {
      renewing = false;
    }
  };
  const timer = setInterval(() => void tick(), Math.max(10, Math.floor(ttlMs / 3)));
  timer.unref();
  log.info({ nodeId, requested: requested !== undefined }, `leased Snowflake node id ${nodeId}`);
  const mayMint = () => {
    const now = Date.now();
    return !lost && !released && now >= safeAt && now < heldSince + ttlMs;
  };
  if (safeAt > Date.now()) {
    // A fresh epoch (a new cluster, or a Redis that lost its keys): wait out any earlier holder.
    log.info(
      { nodeId, waitMs: safeAt - Date.now() },
      'new node-id epoch: waiting one lease ttl before minting',
    );
    while (safeAt > Date.now() && !lost) await sleep(Math.min(250, safeAt - Date.now()));
  }

  return {
    nodeId,
    mayMint,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        if (!lost) await releaseScript(key, token);
      } catch (err) {
        log.warn({ nodeId, err: errorMessage(err) }, 'node id lease release failed; it will expire');
      } finally {
        await closeRedis(redis);
      }
    },
  };
}
