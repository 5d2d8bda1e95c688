/**
 * RedisPresence against real Redis: several instances on one cluster play the nodes. The shared Redis
 * of `.services/env` serves most tests (each test has its own cluster name); the restart test runs
 * a private redis-server.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisPresence } from '../../chat-node/backends/real/redis-presence.ts';
import { silentLogger } from '../../common/logger.ts';
import type { PresenceInfo } from '../../common/protocol.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.ts';
import { until } from '../helpers/until.ts';

const EXPIRE_MS = 400;

/** Deletes the keys matching `pattern` (SCAN, not KEYS: the Redis is shared). */
async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const statusOf = async (p: RedisPresence, userId: string) => (await p.get([userId]))[0]!.status;
const changesOf = (seen: PresenceInfo[], userId: string) => seen.filter((c) => c.userId === userId);
const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
/** The users these tests use: every "node" watches them (a node hears only the users it watches). */
const WATCHED = [
  ...['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank'],
  ...range('u', 20),
  ...range('many', 600),
  ...range('ivy', 50),
];

describe('RedisPresence', () => {
  const url = servicesEnv().CHAT_REDIS_URL!;
  let admin: Redis;
  let cluster: string;
  let opened: RedisPresence[] = [];

  /** One "node": a RedisPresence on the test's cluster, with every change it hears recorded. */
  async function node(options: { expireMs?: number; url?: string; clock?: () => number } = {}) {
    const presence = await RedisPresence.open({
      url: options.url ?? url,
      cluster,
      expireMs: options.expireMs ?? EXPIRE_MS,
      log: silentLogger(),
      clock: options.clock ?? Date.now,
    });
    opened.push(presence);
    const changes: PresenceInfo[] = [];
    presence.onChange((p) => changes.push(p));
    await presence.watch(WATCHED);
    return { presence, changes };
  }

  /**
   * Waits until every recorder has heard a marker change published after everything before it: on
   * one Redis every channel's messages reach a subscriber over its one connection, in order, so what
   * was not heard by then was never published.
   */
  async function settle(via: RedisPresence, recorders: PresenceInfo[][]): Promise<void> {
    const marker = `marker-${randomBytes(4).toString('hex')}`;
    await Promise.all(opened.map((p) => p.watch([marker])));
    await via.deviceOnline(marker, 'm', 99, Date.now());
    await until('the marker change reached every node', () =>
      recorders.every((r) => r.some((c) => c.userId === marker)),
    );
  }

  beforeAll(() => {
    admin = new Redis(url);
  });
  afterAll(async () => {
    await admin.quit();
  });
  beforeEach(() => {
    cluster = `t${randomBytes(4).toString('hex')}`;
  });
  afterEach(async () => {
    for (const p of opened) await p.close();
    opened = [];
    await deleteKeys(admin, `chat:{${cluster}*`);
  });

  it('shows a device that went online on one node to another node, whose onChange fires once', async () => {
    const a = await node();
    const b = await node();
    await a.presence.deviceOnline('alice', 'phone', 1, Date.now());

    expect(await statusOf(b.presence, 'alice')).toBe('online');
    await until('node B heard alice go online', () => changesOf(b.changes, 'alice').length > 0);
    await settle(a.presence, [a.changes, b.changes]);
    expect(changesOf(b.changes, 'alice')).toEqual([
      { userId: 'alice', status: 'online', lastActiveAt: expect.any(Number) },
    ]);
    expect(changesOf(a.changes, 'alice')).toHaveLength(1);
  });

  it('keeps a user online while a device on another node is online, and offline after the last leaves', async () => {
    const a = await node({ expireMs: 60_000 });
    const b = await node({ expireMs: 60_000 });
    const t0 = Date.now() - 1000; // in the past: deviceOffline takes no time after now
    await a.presence.deviceOnline('bob', 'phone', 1, t0);
    await b.presence.deviceOnline('bob', 'laptop', 2, t0 + 1);
    await a.presence.deviceOffline('bob', 'phone', t0 + 2);

    expect(await statusOf(a.presence, 'bob')).toBe('online');
    await settle(b.presence, [a.changes, b.changes]);
    expect(changesOf(a.changes, 'bob').map((c) => c.status)).toEqual(['online']);

    await b.presence.deviceOffline('bob', 'laptop', t0 + 3);
    expect(await b.presence.get(['bob'])).toEqual([
      { userId: 'bob', status: 'offline', lastActiveAt: t0 + 3 },
    ]);
    await settle(a.presence, [a.changes, b.changes]);
    for (const changes of [a.changes, b.changes]) {
      expect(changesOf(changes, 'bob')).toEqual([
        { userId: 'bob', status: 'online', lastActiveAt: t0 },
        { userId: 'bob', status: 'offline', lastActiveAt: t0 + 3 },
      ]);
    }
  });

  it('turns the devices of a crashed node offline after expireMs, with one offline change in the cluster', async () => {
    const crashed = await node();
    const b = await node();
    const c = await node();
    const onlineAt = Date.now();
    await crashed.presence.deviceOnline('carol', 'phone', 1, onlineAt);
    await until('B heard carol go online', () => changesOf(b.changes, 'carol').length === 1);
    // A crash: the node's connections vanish and nobody calls deviceOffline.
    await crashed.presence.close();

    await until('B and C heard carol go offline', () =>
      [b.changes, c.changes].every((ch) => changesOf(ch, 'carol').some((x) => x.status === 'offline')),
    );
    expect(Date.now() - onlineAt).toBeGreaterThanOrEqual(EXPIRE_MS);
    await sleep(EXPIRE_MS); // more sweeps on both survivors
    await settle(b.presence, [b.changes, c.changes]);
    for (const changes of [b.changes, c.changes])
      expect(changesOf(changes, 'carol').map((x) => x.status)).toEqual(['online', 'offline']);
    expect(await statusOf(c.presence, 'carol')).toBe('offline');
    expect(await c.presence.sessions('carol')).toEqual([]);
  });

  it('lets exactly one node claim each expired device when sweeps run concurrently', async () => {
    // Its clock lags an hour, so its own sweep never claims the devices before it "crashes".
    const crashed = await node({ expireMs: 200, clock: () => Date.now() - 3_600_000 });
    // Long expiry: their own timers stay quiet, only the explicit sweeps below run.
    const b = await node({ expireMs: 60_000 });
    const c = await node({ expireMs: 60_000 });
    const now = Date.now();
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => crashed.presence.deviceOnline(`u${i % 20}`, `d${i}`, 1, now)),
    );
    await crashed.presence.close();
    await sleep(300);

    const claimed = await Promise.all([b.presence.sweep(), c.presence.sweep(), b.presence.sweep()]);
    expect(claimed.reduce((x, y) => x + y, 0)).toBe(60);
    await settle(b.presence, [b.changes, c.changes]);
    const offline = b.changes.filter((x) => x.status === 'offline').map((x) => x.userId);
    expect(offline.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `u${i}`).sort());
    expect(c.changes.filter((x) => x.status === 'offline')).toHaveLength(20);
  });

  it('moves lastActiveAt forward with deviceActive and never back', async () => {
    const a = await node({ expireMs: 60_000 });
    const t0 = Date.now() - 1000;
    await a.presence.deviceOnline('dave', 'phone', 1, t0);
    await a.presence.deviceActive('dave', 'phone', t0 + 500);
    expect((await a.presence.get(['dave']))[0]!.lastActiveAt).toBe(t0 + 500);
    await a.presence.deviceActive('dave', 'phone', t0 + 100);
    expect((await a.presence.get(['dave']))[0]!.lastActiveAt).toBe(t0 + 500);
    expect(await a.presence.sessions('dave')).toEqual([
      { deviceId: 'phone', nodeId: 1, lastActiveAt: t0 + 500 },
    ]);

    await a.presence.deviceOffline('dave', 'phone', t0 + 700);
    expect(await a.presence.get(['dave'])).toEqual([
      { userId: 'dave', status: 'offline', lastActiveAt: t0 + 700 },
    ]);
  });

  it('keeps a device alive past expireMs while deviceActive reports it', async () => {
    const a = await node();
    const b = await node();
    await a.presence.deviceOnline('erin', 'phone', 1, Date.now());
    const end = Date.now() + 3 * EXPIRE_MS;
    while (Date.now() < end) {
      await a.presence.deviceActive('erin', 'phone', Date.now());
      await sleep(EXPIRE_MS / 4);
    }
    expect(await statusOf(b.presence, 'erin')).toBe('online');
    await settle(b.presence, [b.changes]);
    expect(changesOf(b.changes, 'erin').map((x) => x.status)).toEqual(['online']);
  });

  it('applies every report of a turn, past one script call’s batch, and re-adds a device Redis lost', async () => {
    const a = await node({ expireMs: 60_000 });
    const t0 = Date.now();
    const users = Array.from({ length: 600 }, (_, i) => `many${i}`);
    await Promise.all(users.map((u) => a.presence.deviceOnline(u, 'd', 1, t0)));
    // Redis loses one device (a Redis restart without persistence, say); its node still holds it.
    await admin.hdel(RedisPresence.keyOf(cluster, 'many7', 'dev'), 'd');
    // One turn of reports, as a sweep makes them: more than one script call's worth.
    await Promise.all(users.map((u, i) => a.presence.deviceActive(u, 'd', t0 + 1000 + i)));
    const seen = await a.presence.get(users);
    expect(seen.filter((p) => p.status !== 'online')).toEqual([]);
    expect(seen.map((p) => p.lastActiveAt)).toEqual(users.map((_, i) => t0 + 1000 + i));
  });

  it('answers offline with lastActiveAt null for users never seen', async () => {
    const a = await node();
    expect(await a.presence.get(['nobody', 'nobody-else'])).toEqual([
      { userId: 'nobody', status: 'offline', lastActiveAt: null },
      { userId: 'nobody-else', status: 'offline', lastActiveAt: null },
    ]);
    expect(await a.presence.get([])).toEqual([]);
    expect(await a.presence.sessions('nobody')).toEqual([]);
  });

  it('lists the sessions of a user: each live device and the node holding it', async () => {
    const a = await node({ expireMs: 60_000 });
    const b = await node({ expireMs: 60_000 });
    const t0 = Date.now();
    await a.presence.deviceOnline('frank', 'phone', 3, t0);
    await b.presence.deviceOnline('frank', 'laptop', 7, t0 + 5);
    expect(await a.presence.sessions('frank')).toEqual([
      { deviceId: 'laptop', nodeId: 7, lastActiveAt: t0 + 5 },
      { deviceId: 'phone', nodeId: 3, lastActiveAt: t0 },
    ]);
  });

  it('keeps a device that reconnected on another node when the old node reports it offline late', async () => {
    const a = await node({ expireMs: 60_000 });
    const b = await node({ expireMs: 60_000 });
    const t0 = Date.now() - 1000; // in the past: deviceOffline takes no time after now
    await a.presence.deviceOnline('gina', 'phone', 1, t0);
    await b.presence.deviceOnline('gina', 'phone', 2, t0 + 10);
    await a.presence.deviceOffline('gina', 'phone', t0 + 5);

    expect(await a.presence.sessions('gina')).toEqual([
      { deviceId: 'phone', nodeId: 2, lastActiveAt: t0 + 10 },
    ]);
    expect(await statusOf(a.presence, 'gina')).toBe('online');
    await settle(a.presence, [b.changes]);
    expect(changesOf(b.changes, 'gina').map((x) => x.status)).toEqual(['online']);
  });

  it('reports not ready after close', async () => {
    const a = await node();
    expect(a.presence.isReady()).toBe(true);
    await a.presence.close();
    expect(a.presence.isReady()).toBe(false);
  });

  describe('when Redis restarts', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(async () => {
      await redis?.close();
    });

    it('goes not ready, then ready again, and changes keep flowing without reopening', async () => {
      const a = await node({ url: redis.url, expireMs: 60_000 });
      const b = await node({ url: redis.url, expireMs: 60_000 });
      await a.presence.deviceOnline('hank', 'phone', 1, Date.now());
      await until('B heard hank go online', () => changesOf(b.changes, 'hank').length === 1);

      await redis.stop();
      await until('both not ready', () => !a.presence.isReady() && !b.presence.isReady());
      await redis.start();
      await until('both ready again', () => a.presence.isReady() && b.presence.isReady(), 20_000);

      // Both subscribers are back: a new user's change reaches both nodes. (A change published
      // before a subscriber has resubscribed is lost to it, so each attempt uses a fresh user.)
      let attempt = 0;
      const heard = (changes: PresenceInfo[]) => changes.some((c) => c.userId.startsWith('ivy'));
      await until(
        'A and B heard a change made after the restart',
        async () => {
          await a.presence.deviceOnline(`ivy${attempt++}`, 'phone', 1, Date.now()).catch(() => {});
          return heard(a.changes) && heard(b.changes);
        },
        20_000,
      );
      // The restarted Redis lost hank's device; the next activity report from his node restores it.
      expect(await statusOf(b.presence, 'hank')).toBe('offline');
      await a.presence.deviceActive('hank', 'phone', Date.now());
      expect(await statusOf(b.presence, 'hank')).toBe('online');
      await until('B heard hank go online again', () => changesOf(b.changes, 'hank').length === 2);
    }, 60_000);
  });
});
