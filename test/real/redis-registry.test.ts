/** The node registry and the Snowflake node-id lease against the real shared Redis of `.services/env`. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { leaseNodeId, type NodeIdLease } from '../../chat-node/backends/real/node-id-lease.ts';
import { RedisRegistry } from '../../chat-node/backends/real/redis-registry.ts';
import { silentLogger } from '../../common/logger.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { startRedisServer } from '../helpers/redis-server.ts';
import { nodeInfo } from '../helpers/registry-contract.ts';
import { until } from '../helpers/until.ts';

const TTL_MS = 400;

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

const info = nodeInfo;

const url = servicesEnv().CHAT_REDIS_URL!;
let admin: Redis;
let cluster: string;

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
  await deleteKeys(admin, `chat:{${cluster}}:*`);
});

describe('RedisRegistry', () => {
  let registries: RedisRegistry[] = [];
  const open = async (ttlMs = TTL_MS) => {
    const r = await RedisRegistry.open({ url, cluster, ttlMs, log: silentLogger() });
    registries.push(r);
    return r;
  };
  afterEach(async () => {
    for (const r of registries) await r.close();
    registries = [];
  });

  it('lists the nodes announced by every instance and forgets a withdrawn one', async () => {
    const a = await open(60_000);
    const b = await open(60_000);
    await a.announce(info(1));
    await b.announce(info(2));
    expect(await a.list()).toEqual([
      info(1, { updatedAt: expect.any(Number) }),
      info(2, { updatedAt: expect.any(Number) }),
    ]);

    await b.withdraw(2);
    expect((await a.list()).map((n) => n.nodeId)).toEqual([1]);
    expect(await admin.smembers(`chat:{${cluster}}:nodes`)).toEqual(['1']);
  });

  it('replaces a node entry when it announces again', async () => {
    const a = await open(60_000);
    await a.announce(info(4, { connections: 1 }));
    await a.announce(info(4, { connections: 2 }));
    expect((await a.list()).map((n) => n.connections)).toEqual([2]);
  });

  it('drops an entry not refreshed within the ttl, and its index member', async () => {
    const a = await open();
    await a.announce(info(1));
    await a.announce(info(2));
    const refresh = setInterval(() => void a.announce(info(2)), TTL_MS / 4);
    try {
      await sleep(TTL_MS * 2);
      expect((await a.list()).map((n) => n.nodeId)).toEqual([2]);
      expect(await admin.smembers(`chat:{${cluster}}:nodes`)).toEqual(['2']);
    } finally {
      clearInterval(refresh);
    }
    await until('node 2 expired too', async () => (await a.list()).length === 0);
    expect(await admin.exists(`chat:{${cluster}}:nodes`)).toBe(0);
  });

  it('round-trips the draining flag and the zone, and leaves an unset zone absent', async () => {
    const a = await open(60_000);
    await a.announce(info(1, { draining: true, zone: 'eu-west-1a' }));
    await a.announce(info(2));
    const [one, two] = await a.list();
    expect(one).toMatchObject({ nodeId: 1, draining: true, zone: 'eu-west-1a' });
    expect(two).toMatchObject({ nodeId: 2, draining: false });
    expect(two).not.toHaveProperty('zone');
  });

  it('is ready while connected and not after close', async () => {
    const a = await open();
    expect(a.isReady()).toBe(true);
    await a.close();
    expect(a.isReady()).toBe(false);
  });
});

describe('leaseNodeId', () => {
  let leases: NodeIdLease[] = [];
  const lease = async (
    options: { requested?: number; ttlMs?: number; onLost?: (id: number) => void; url?: string } = {},
  ) => {
    const l = await leaseNodeId({
      url: options.url ?? url,
      cluster,
      ttlMs: options.ttlMs ?? TTL_MS,
      log: silentLogger(),
      onLost: options.onLost ?? (() => {}),
      ...(options.requested === undefined ? {} : { requested: options.requested }),
    });
    leases.push(l);
    return l;
  };
  const key = (id: number) => `chat:{${cluster}}:node-id:${id}`;
  afterEach(async () => {
    for (const l of leases) await l.release();
    leases = [];
  });

  it('gives two instances different ids, the lowest free first', async () => {
    const a = await lease();
    const b = await lease();
    expect([a.nodeId, b.nodeId]).toEqual([0, 1]);
  });

  it('gives concurrent instances distinct ids', async () => {
    const all = await Promise.all([lease(), lease(), lease()]);
    expect(new Set(all.map((l) => l.nodeId)).size).toBe(3);
  });

  it('keeps its id past the ttl by renewing it', async () => {
    const a = await lease();
    await sleep(TTL_MS * 3);
    const b = await lease();
    expect(b.nodeId).not.toBe(a.nodeId);
    expect(await admin.pttl(key(a.nodeId))).toBeGreaterThan(0);
  });

  it('refuses a requested id that a live instance holds, naming CHAT_NODE_ID', async () => {
    const a = await lease({ requested: 7 });
    expect(a.nodeId).toBe(7);
    const started = Date.now();
    await expect(lease({ requested: 7 })).rejects.toThrow(/CHAT_NODE_ID=7.*held by another live instance/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TTL_MS);
  });

  it('claims a requested id once its holder released it', async () => {
    const a = await lease({ requested: 5 });
    await a.release();
    expect(await admin.exists(key(5))).toBe(0);
    expect((await lease({ requested: 5 })).nodeId).toBe(5);
  });

  it('claims a requested id after waiting for a crashed holder to expire', async () => {
    await admin.set(key(3), 'crashed-pod', 'PX', TTL_MS);
    expect((await lease({ requested: 3 })).nodeId).toBe(3);
  });

  it('calls onLost when another instance takes its key', async () => {
    const lost: number[] = [];
    const a = await lease({ onLost: (id) => lost.push(id) });
    await admin.set(key(a.nodeId), 'thief', 'PX', 60_000);
    await until('onLost was called', () => lost.length > 0);
    expect(lost).toEqual([a.nodeId]);
    await a.release();
    expect(await admin.get(key(a.nodeId))).toBe('thief');
  });

  it('takes its id back when its key vanished (a Redis restarted empty), without calling onLost', async () => {
    const lost: number[] = [];
    const a = await lease({ onLost: (id) => lost.push(id) });
    await admin.del(key(a.nodeId));
    await until('the key is ours again', async () => (await admin.get(key(a.nodeId))) !== null);
    expect(lost).toEqual([]);
    // A newcomer cannot take it now.
    const b = await lease();
    expect(b.nodeId).not.toBe(a.nodeId);
  });

  it('keeps its id across a Redis restart and still holds it afterwards', async () => {
    const redis = await startRedisServer();
    try {
      const lost: number[] = [];
      const a = await lease({ url: redis.url, onLost: (id) => lost.push(id) });
      await redis.stop();
      await new Promise((r) => setTimeout(r, TTL_MS * 2));
      await redis.start();
      const probe = new Redis(redis.url);
      try {
        await until(
          'the restarted Redis holds the lease again',
          async () => ((await probe.get(key(a.nodeId))) ?? '').length > 0,
        );
      } finally {
        probe.disconnect();
      }
      expect(lost).toEqual([]);
      await a.release();
    } finally {
      await redis.close();
    }
  });

  it('throws a clear error when all 1024 ids are taken', async () => {
    const fill = admin.pipeline();
    for (let id = 0; id < 1024; id++) fill.set(key(id), 'other', 'PX', 60_000);
    await fill.exec();
    await expect(lease()).rejects.toThrow(/all 1024 ids are leased/);
  });

  it('rejects a requested id outside 0–1023', async () => {
    await expect(lease({ requested: 1024 })).rejects.toThrow(
      /CHAT_NODE_ID must be an integer from 0 to 1023/,
    );
  });
});
