/**
 * Presence and the session registry in Redis, shared by every node of a cluster. Same rules as
 * MemoryPresence: a user is online while any device is; a device expires `expireMs` after its last
 * activity, even when the node that held it died without saying so.
 *
 * Users are spread over `shards` (32) shards by a hash of their id; each shard's keys share one hash
 * tag, so a Redis Cluster spreads the shards over its masters and every script touches one slot:
 *
 *   chat:{<cluster>:p<shard>}:presence:dev:<userId>    hash deviceId → "<nodeId>:<lastActiveAt>" (the sessions)
 *   chat:{<cluster>:p<shard>}:presence:last:<userId>   lastActiveAt (ms), PX lastSeenTtlMs (30 days),
 *                                                      refreshed on every write
 *   chat:{<cluster>:p<shard>}:presence:expiry          sorted set "<userId>/<deviceId>" by expiry time
 *   chat:{<cluster>:p<shard>}:presence:changes:<user>  sharded pub/sub channel (SPUBLISH) of the user's
 *                                                      status changes (PresenceInfo JSON)
 *   chat:{<cluster>:p<shard>}:presence:since           when the shard's keys started (ms): set by the
 *                                                      first node that finds it missing
 *
 * `nodesOf` answers where users' devices are (the bus routes messages by it). A shard that lost its
 * keys (a Redis restart without persistence) would answer "nowhere" for devices that are connected:
 * every node checks each shard's `since` every REGISTRY_CHECK_MS and, when it changed, puts its own
 * devices of that shard back at once; until REGISTRY_SETTLE_MS after `since` the shard's answers are
 * "unknown" (the bus then sends to every node).
 *
 * A node subscribes (SSUBSCRIBE) only to the users its devices watch (`watch`/`unwatch`), so a change
 * reaches only the nodes that asked for that user. Every transition is one Lua script that updates
 * the hash, the expiry set and lastActiveAt and publishes the change, so two nodes racing on one
 * user cannot both (or neither) announce it.
 *
 *   offline ──first device online──▶ online ──last device offline, or expired by a sweep──▶ offline
 *
 * Each node sweeps the expiry set every expireMs/3 in bounded batches; the sweep script removes what
 * it claims, so exactly one node handles each expired device.
 */
import { errorMessage } from '../../../common/errors.ts';
import type { Logger } from '../../../common/logger.ts';
import type { PresenceInfo } from '../../../common/protocol.ts';
import {
  closeRedis,
  defineScript,
  duplicateRedis,
  openRedis,
  type RedisAuth,
  type RedisClient,
  type Script,
  shardPrefix,
  userShard,
} from '../../../common/redis.ts';
import type { PresenceBackend } from '../types.ts';

/** Lua shared by the scripts below. ARGV layout differs per script; helpers take explicit values. */
const LUA_HELPERS = `
local function bump_last(key, at, ttl)
  local last = tonumber(redis.call('GET', key) or '0')
  if at > last then last = at end
  redis.call('SET', key, string.format('%d', last), 'PX', ttl)
  return last
end
local function announce(channel_prefix, user, status, last)
  redis.call('SPUBLISH', channel_prefix .. user, cjson.encode({userId = user, status = status, lastActiveAt = last}))
end
local function go_online(dev, last_key, expiry, user, device, node, at, expire_ms, ttl, channel)
  local was_online = redis.call('HLEN', dev) > 0
  redis.call('HSET', dev, device, node .. ':' .. string.format('%d', at))
  redis.call('ZADD', expiry, at + expire_ms, user .. '/' .. device)
  local last = bump_last(last_key, at, ttl)
  if not was_online then announce(channel, user, 'online', last) return 1 end
  return 0
end
`;

/** KEYS: dev, last, expiry. ARGV: user, device, node, at, expireMs, lastTtl, channel. 1 if it announced. */
const ONLINE_LUA = `${LUA_HELPERS}
return go_online(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]),
  ARGV[6], ARGV[7])`;

/**
 * Activity reports of many devices in one call (a node's sweep reports all its active devices at
 * once; one call each would spend most of Redis's time on per-call overhead). KEYS: expiry, then dev
 * and last of each report. ARGV: expireMs, lastTtl, channel, then user, device, node, at of each.
 * Moves each device's activity forward. A device this node holds but Redis lost (swept during a
 * stall, or a Redis restart without persistence) is added back, which announces the user online
 * again; without a node (''), an unknown device is ignored. Returns how many reports it applied.
 */
const ACTIVE_LUA = `${LUA_HELPERS}
local expire_ms = tonumber(ARGV[1])
local ttl = ARGV[2]
local channel = ARGV[3]
local n = (#KEYS - 1) / 2
for i = 0, n - 1 do
  local dev, last_key = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local user, device, node = ARGV[4 + 4 * i], ARGV[5 + 4 * i], ARGV[6 + 4 * i]
  local at = tonumber(ARGV[7 + 4 * i])
  local cur = redis.call('HGET', dev, device)
  if not cur then
    if node ~= '' then go_online(dev, last_key, KEYS[1], user, device, node, at, expire_ms, ttl, channel) end
  else
    local held_by, prev = string.match(cur, '^(%d+):(%d+)$')
    if at > tonumber(prev) then
      redis.call('HSET', dev, device, held_by .. ':' .. string.format('%d', at))
      redis.call('ZADD', KEYS[1], at + expire_ms, user .. '/' .. device)
    end
    bump_last(last_key, at, ttl)
  end
end
return n`;

/** Most activity reports in one script call (it holds Redis for well under a millisecond). */
const ACTIVE_BATCH = 256;

/**
 * KEYS: dev, last, expiry. ARGV: user, device, node ('' = any), at, lastTtl, channel. A device now
 * held by another node (it reconnected there before this node saw it leave) is left alone.
 */
const OFFLINE_LUA = `${LUA_HELPERS}
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur then return 0 end
if ARGV[3] ~= '' and string.match(cur, '^(%d+):') ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1] .. '/' .. ARGV[2])
local last = bump_last(KEYS[2], tonumber(ARGV[4]), ARGV[5])
if redis.call('HLEN', KEYS[1]) == 0 then announce(ARGV[6], ARGV[1], 'offline', last) return 1 end
return 0`;

/**
 * KEYS: expiry. ARGV: now, batch size, dev key prefix, last key prefix, channel. Claims (removes) up to
 * a batch of expired devices and announces users left without a device. Returns how many it claimed.
 * The per-user keys are built here, not passed: they share the expiry set's hash tag (same slot).
 */
const SWEEP_LUA = `${LUA_HELPERS}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local user, device = string.match(member, '^(.*)/([^/]*)$')
  local dev = ARGV[3] .. user
  if redis.call('HDEL', dev, device) == 1 and redis.call('HLEN', dev) == 0 then
    announce(ARGV[5], user, 'offline', tonumber(redis.call('GET', ARGV[4] .. user) or '0'))
  end
end
return #due`;

/** Expired devices one sweep script call claims, and calls per tick: bounds each tick's work. */
const SWEEP_BATCH = 500;
const SWEEP_MAX_BATCHES = 20;
const DEFAULT_LAST_SEEN_TTL_MS = 30 * 24 * 3600_000;
const DEFAULT_SHARDS = 32;
/** How often each node checks every shard's `since` marker. */
const REGISTRY_CHECK_MS = 1000;
/** A shard's registry is trusted this long after its `since`: every node has re-added its devices. */
const REGISTRY_SETTLE_MS = 3 * REGISTRY_CHECK_MS;

export interface RedisPresenceOptions {
  url: string;
  /** Credentials and TLS beyond the URL. */
  auth?: RedisAuth;
  cluster: string;
  /** A device is dropped this long after its last activity (the gateway uses 3 heartbeats). */
  expireMs: number;
  log: Logger;
  clock?: () => number;
  /** How long a user's lastActiveAt is kept after their last activity. Default 30 days. */
  lastSeenTtlMs?: number;
  /** Shards the users are spread over; the same on every node of a cluster. Default 32. */
  shards?: number;
}

export interface DeviceSession {
  deviceId: string;
  nodeId: number;
  lastActiveAt: number;
}

export class RedisPresence implements PresenceBackend {
  private readonly cmd: RedisClient;
  private readonly sub: RedisClient;
  private readonly options: Required<Omit<RedisPresenceOptions, 'url' | 'auth' | 'cluster' | 'shards'>>;
  private readonly shards: number;
  /** Each shard's key prefix `chat:{<cluster>:p<shard>}:presence:`. */
  private readonly prefixes: string[];
  /** Users whose changes this node asked for (SSUBSCRIBE). */
  private readonly watched = new Set<string>();
  private readonly scripts: { online: Script; active: Script; offline: Script; sweep: Script };
  private readonly handlers: ((p: PresenceInfo) => void)[] = [];
  /** Devices this instance put online → their node id, so offline/active act only on our own. */
  private readonly held = new Map<string, number>();
  /** Activity reports waiting for this turn's script call. */
  private activeQueue: {
    userId: string;
    deviceId: string;
    at: number;
    resolve: () => void;
    reject: (err: unknown) => void;
  }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly registryTimer: NodeJS.Timeout;
  /** Each shard's `since` as this node last saw it. */
  private readonly since = new Map<number, string>();
  private checking = false;
  private sweeping = false;
  private sweepFailing = false;
  private closed = false;

  private constructor(cmd: RedisClient, sub: RedisClient, options: RedisPresenceOptions) {
    this.cmd = cmd;
    this.sub = sub;
    this.options = {
      expireMs: options.expireMs,
      log: options.log,
      clock: options.clock ?? Date.now,
      lastSeenTtlMs: options.lastSeenTtlMs ?? DEFAULT_LAST_SEEN_TTL_MS,
    };
    this.shards = options.shards ?? DEFAULT_SHARDS;
    this.prefixes = Array.from(
      { length: this.shards },
      (_, i) => `${shardPrefix(options.cluster, i)}presence:`,
    );
    this.scripts = {
      online: defineScript(cmd, 'chatPresenceOnline', 3, ONLINE_LUA),
      // Its number of keys varies: given as the first argument.
      active: defineScript(cmd, 'chatPresenceActive', undefined, ACTIVE_LUA),
      offline: defineScript(cmd, 'chatPresenceOffline', 3, OFFLINE_LUA),
      sweep: defineScript(cmd, 'chatPresenceSweep', 1, SWEEP_LUA),
    };
    sub.on('smessage', (channel: string, message: string) => {
      if (channel.includes(':presence:changes:')) this.deliver(message);
    });
    this.timer = setInterval(() => void this.sweep(), Math.max(50, Math.floor(options.expireMs / 3)));
    this.timer.unref();
    this.registryTimer = setInterval(() => void this.checkShards(), REGISTRY_CHECK_MS);
    this.registryTimer.unref();
    void this.checkShards();
  }

  /**
   * Sets every shard's `since` where it is missing, and puts this node's devices back into each
   * shard whose `since` changed since the last check (the shard lost its keys and started again).
   */
  async checkShards(): Promise<void> {
    if (this.checking || this.closed || this.cmd.status !== 'ready') return;
    this.checking = true;
    try {
      const now = Math.floor(this.options.clock());
      await Promise.allSettled(
        this.prefixes.map(async (prefix, shard) => {
          const prev = (await this.cmd.set(`${prefix}since`, String(now), 'NX', 'GET')) as string | null;
          const since = prev ?? String(now);
          const seen = this.since.get(shard);
          this.since.set(shard, since);
          // The first look is the baseline; a later change means the shard lost its keys since.
          if (seen === undefined || seen === since) return;
          const mine = [...this.held.keys()]
            .map((id) => id.split('/') as [string, string])
            .filter(([u]) => userShard(u, this.shards) === shard)
            .map(([userId, deviceId]) => ({
              userId,
              deviceId,
              at: now,
              resolve: () => {},
              reject: () => {},
            }));
          if (mine.length > 0) this.flushShard(prefix, mine);
        }),
      );
    } finally {
      this.checking = false;
    }
  }

  /**
   * Where the users' live devices are: their node ids, or undefined for a user whose shard cannot
   * answer now (down, or refilled less than REGISTRY_SETTLE_MS ago). One pipeline per shard.
   */
  async nodesOf(userIds: readonly string[]): Promise<Map<string, readonly number[] | undefined>> {
    const byShard = new Map<number, string[]>();
    for (const u of new Set(userIds)) {
      const shard = userShard(u, this.shards);
      const list = byShard.get(shard);
      if (list) list.push(u);
      else byShard.set(shard, [u]);
    }
    const out = new Map<string, readonly number[] | undefined>();
    const now = this.options.clock();
    await Promise.all(
      [...byShard].map(async ([shard, users]) => {
        const prefix = this.prefixes[shard]!;
        const pipeline = this.cmd.pipeline();
        pipeline.get(`${prefix}since`);
        for (const u of users) pipeline.hvals(`${prefix}dev:${u}`);
        const results = await pipeline.exec().catch(() => null);
        const since = Number((results?.[0]?.[1] as string | null) ?? Number.NaN);
        const trusted =
          results &&
          !results.some(([err]) => err) &&
          Number.isFinite(since) &&
          now - since >= REGISTRY_SETTLE_MS;
        users.forEach((u, i) => {
          if (!trusted) {
            out.set(u, undefined);
            return;
          }
          const nodes = new Set<number>();
          for (const v of results[i + 1]![1] as string[]) {
            const d = this.live(v, now);
            if (d) nodes.add(d.nodeId);
          }
          out.set(u, [...nodes]);
        });
      }),
    );
    return out;
  }

  /** Connects (a command connection and a subscriber) and starts sweeping. */
  static async open(options: RedisPresenceOptions): Promise<RedisPresence> {
    if (!(options.expireMs > 0))
      throw new RangeError(`presence expireMs must be positive, got ${options.expireMs}`);
    const cmd = await openRedis({ url: options.url, auth: options.auth, log: options.log, role: 'presence' });
    let sub: RedisClient | undefined;
    let presence: RedisPresence | undefined;
    try {
      sub = await duplicateRedis(cmd, {
        url: options.url,
        auth: options.auth,
        log: options.log,
        role: 'presence-sub',
        sharded: true,
      });
      presence = new RedisPresence(cmd, sub, options);
      return presence;
    } catch (err) {
      if (presence) await presence.close();
      else {
        if (sub) await closeRedis(sub);
        await closeRedis(cmd);
      }
      throw err;
    }
  }

  private prefixOf(userId: string): string {
    return this.prefixes[userShard(userId, this.shards)]!;
  }

  private keys(userId: string): [dev: string, last: string, expiry: string] {
    const prefix = this.prefixOf(userId);
    return [`${prefix}dev:${userId}`, `${prefix}last:${userId}`, `${prefix}expiry`];
  }

  /** The prefix of the user's change channel (`…changes:` + user id), in the user's slot. */
  private channelPrefix(userId: string): string {
    return `${this.prefixOf(userId)}changes:`;
  }

  /**
   * This node wants the changes of these users (its devices watch them): SSUBSCRIBE each once.
   * Resolves once subscribed (callers need not wait).
   */
  async watch(userIds: readonly string[]): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const u of userIds) {
      if (this.watched.has(u)) continue;
      this.watched.add(u);
      pending.push(
        this.sub.ssubscribe(this.channelPrefix(u) + u).catch((err: unknown) => {
          this.options.log.warn({ err: errorMessage(err) }, 'presence subscribe failed');
        }),
      );
    }
    await Promise.all(pending);
  }

  /** A presence key of a user, as this class names it (for tests and tools). */
  static keyOf(cluster: string, userId: string, kind: 'dev' | 'last', shards = DEFAULT_SHARDS): string {
    return `${shardPrefix(cluster, userShard(userId, shards))}presence:${kind}:${userId}`;
  }

  /** No device of this node watches these users any more. */
  unwatch(userIds: readonly string[]): void {
    for (const u of userIds) {
      if (!this.watched.delete(u)) continue;
      this.sub.sunsubscribe(this.channelPrefix(u) + u).catch(() => {});
    }
  }

  private deliver(message: string): void {
    let p: PresenceInfo;
    try {
      const raw = JSON.parse(message) as {
        userId: string;
        status: PresenceInfo['status'];
        lastActiveAt: number;
      };
      p = {
        userId: raw.userId,
        status: raw.status,
        lastActiveAt: raw.lastActiveAt > 0 ? raw.lastActiveAt : null,
      };
    } catch {
      this.options.log.warn('unparsable presence change ignored');
      return;
    }
    for (const h of this.handlers) {
      try {
        h(p);
      } catch (err) {
        this.options.log.error({ err: errorMessage(err) }, 'presence change handler threw');
      }
    }
  }

  async deviceOnline(userId: string, deviceId: string, nodeId: number, now: number): Promise<void> {
    this.held.set(`${userId}/${deviceId}`, nodeId);
    await this.scripts.online(
      ...this.keys(userId),
      userId,
      deviceId,
      nodeId,
      Math.floor(now),
      this.options.expireMs,
      this.options.lastSeenTtlMs,
      this.channelPrefix(userId),
    );
  }

  /**
   * Reports made in the same turn (a sweep) go to Redis together, ACTIVE_BATCH per script call; each
   * promise settles with its call.
   */
  deviceActive(userId: string, deviceId: string, now: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.activeQueue.push({ userId, deviceId, at: Math.floor(now), resolve, reject });
      if (this.activeQueue.length === 1) queueMicrotask(() => this.flushActive());
    });
  }

  private flushActive(): void {
    const byShard = new Map<number, typeof this.activeQueue>();
    for (const r of this.activeQueue) {
      const shard = userShard(r.userId, this.shards);
      const list = byShard.get(shard);
      if (list) list.push(r);
      else byShard.set(shard, [r]);
    }
    this.activeQueue = [];
    for (const [shard, queue] of byShard) this.flushShard(this.prefixes[shard]!, queue);
  }

  /** One shard's reports: every key of a call is in the shard's slot. */
  private flushShard(prefix: string, queue: typeof this.activeQueue): void {
    for (let i = 0; i < queue.length; i += ACTIVE_BATCH) {
      const batch = queue.slice(i, i + ACTIVE_BATCH);
      const keys: string[] = [`${prefix}expiry`];
      const args: (string | number)[] = [
        this.options.expireMs,
        this.options.lastSeenTtlMs,
        `${prefix}changes:`,
      ];
      for (const r of batch) {
        const [dev, last] = this.keys(r.userId);
        keys.push(dev, last);
        args.push(r.userId, r.deviceId, this.held.get(`${r.userId}/${r.deviceId}`) ?? '', r.at);
      }
      this.scripts.active(keys.length, ...keys, ...args).then(
        () => {
          for (const r of batch) r.resolve();
        },
        (err: unknown) => {
          for (const r of batch) r.reject(err);
        },
      );
    }
  }

  async deviceOffline(userId: string, deviceId: string, now: number): Promise<void> {
    const id = `${userId}/${deviceId}`;
    const nodeId = this.held.get(id);
    this.held.delete(id);
    await this.scripts.offline(
      ...this.keys(userId),
      userId,
      deviceId,
      nodeId ?? '',
      Math.floor(Math.min(now, this.options.clock())),
      this.options.lastSeenTtlMs,
      this.channelPrefix(userId),
    );
  }

  /**
   * Drops devices whose expiry passed (their node stopped reporting them) and announces users left
   * offline. Runs every expireMs/3 on every node; returns how many devices this call claimed.
   */
  async sweep(): Promise<number> {
    if (this.sweeping || this.closed || this.cmd.status !== 'ready') return 0;
    this.sweeping = true;
    let claimed = 0;
    try {
      // Every shard, in parallel; a shard whose master is down fails alone, the others are swept.
      const results = await Promise.allSettled(this.prefixes.map((prefix) => this.sweepShard(prefix)));
      let failed: unknown;
      for (const r of results) {
        if (r.status === 'fulfilled') claimed += r.value;
        else failed ??= r.reason;
      }
      if (failed) throw failed;
      this.sweepFailing = false;
    } catch (err) {
      if (!this.sweepFailing) this.options.log.warn({ err: errorMessage(err) }, 'presence sweep failed');
      this.sweepFailing = true;
    } finally {
      this.sweeping = false;
    }
    return claimed;
  }

  private async sweepShard(prefix: string): Promise<number> {
    let claimed = 0;
    for (let i = 0; i < SWEEP_MAX_BATCHES; i++) {
      const n = Number(
        await this.scripts.sweep(
          `${prefix}expiry`,
          Math.floor(this.options.clock()),
          SWEEP_BATCH,
          `${prefix}dev:`,
          `${prefix}last:`,
          `${prefix}changes:`,
        ),
      );
      claimed += n;
      if (n < SWEEP_BATCH) break;
    }
    return claimed;
  }

  private live(value: string, now: number): { nodeId: number; lastActiveAt: number } | undefined {
    const sep = value.indexOf(':');
    const lastActiveAt = Number(value.slice(sep + 1));
    if (lastActiveAt + this.options.expireMs <= now) return undefined;
    return { nodeId: Number(value.slice(0, sep)), lastActiveAt };
  }

  /**
   * One round trip: GET of lastActiveAt and HVALS of each user's devices, one pipeline per shard
   * (a Redis Cluster takes a pipeline only within one slot), all shards in parallel.
   */
  async get(userIds: readonly string[]): Promise<PresenceInfo[]> {
    if (userIds.length === 0) return [];
    const byShard = new Map<number, string[]>();
    for (const u of new Set(userIds)) {
      const shard = userShard(u, this.shards);
      const list = byShard.get(shard);
      if (list) list.push(u);
      else byShard.set(shard, [u]);
    }
    const found = new Map<string, { devices: string[]; last: number }>();
    await Promise.all(
      [...byShard.values()].map(async (users) => {
        const pipeline = this.cmd.pipeline();
        for (const u of users) {
          const [dev, last] = this.keys(u);
          pipeline.get(last);
          pipeline.hvals(dev);
        }
        const results = (await pipeline.exec()) ?? [];
        const firstError = results.find(([err]) => err)?.[0];
        if (firstError) throw firstError;
        users.forEach((u, i) => {
          found.set(u, {
            last: Number((results[2 * i]![1] as string | null) ?? 0),
            devices: results[2 * i + 1]![1] as string[],
          });
        });
      }),
    );
    const now = this.options.clock();
    return userIds.map((userId) => {
      const { devices, last } = found.get(userId)!;
      return {
        userId,
        status: devices.some((d) => this.live(d, now)) ? 'online' : 'offline',
        lastActiveAt: last > 0 ? last : null,
      };
    });
  }

  /** The user's live devices and the node each is connected to (the session registry). */
  async sessions(userId: string): Promise<DeviceSession[]> {
    const all = (await this.cmd.hgetall(this.keys(userId)[0])) as Record<string, string>;
    const now = this.options.clock();
    const out: DeviceSession[] = [];
    for (const [deviceId, value] of Object.entries(all)) {
      const d = this.live(value, now);
      if (d) out.push({ deviceId, ...d });
    }
    return out.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  }

  onChange(handler: (presence: PresenceInfo) => void): void {
    this.handlers.push(handler);
  }

  isReady(): boolean {
    return !this.closed && this.cmd.status === 'ready';
  }

  /** Stops sweeping and disconnects. Devices stay in Redis: they expire unless another node renews them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.registryTimer);
    await closeRedis(this.sub);
    await closeRedis(this.cmd);
  }
}
