/**
 * The real backends' contract suites on the clustered services of `services:up -- --ha`: presence
 * and the registry on a three-master Redis Cluster, the bus on a three-server JetStream cluster
 * (stream replicas 3). Plus what only a cluster shows: presence keys spread over the masters, and a
 * change that reaches only the nodes that watch its user.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import { JetStreamBus } from '../../chat-node/backends/real/jetstream-bus.ts';
import { RedisPresence } from '../../chat-node/backends/real/redis-presence.ts';
import { RedisRegistry } from '../../chat-node/backends/real/redis-registry.ts';
import { silentLogger } from '../../common/logger.ts';
import type { PresenceInfo } from '../../common/protocol.ts';
import { redisTarget } from '../../common/redis.ts';
import { describeBusContract } from '../helpers/bus-contract.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { describePresenceContract } from '../helpers/presence-contract.ts';
import { describeRegistryContract } from '../helpers/registry-contract.ts';
import { deleteStreams, streamOf } from '../helpers/streams.ts';
import { until } from '../helpers/until.ts';
import { ensureHaServices } from './ha-services.ts';

ensureHaServices();
const env = servicesEnv('env-ha');
const redisUrl = env.CHAT_REDIS_URL!;
const natsUrl = env.CHAT_NATS_URL!;
let admin: Cluster;
beforeAll(() => {
  const target = redisTarget(redisUrl);
  if (!target.cluster) throw new Error(`${redisUrl} is not a Redis Cluster`);
  admin = new Cluster(target.seeds);
});
afterAll(async () => {
  await admin.quit();
});

/** Deletes a test cluster's keys on every master. */
async function dropCluster(cluster: string): Promise<void> {
  for (const node of admin.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `chat:{${cluster}*`, 'COUNT', 1000);
      for (const k of keys) await node.del(k);
      cursor = next;
    } while (cursor !== '0');
  }
}
const freshCluster = () => `h${randomBytes(4).toString('hex')}`;

describePresenceContract('RedisPresence on a Redis Cluster', async ({ expireMs }) => {
  const cluster = freshCluster();
  const presence = await RedisPresence.open({ url: redisUrl, cluster, expireMs, log: silentLogger() });
  return { presence, cleanup: () => dropCluster(cluster) };
});

describeRegistryContract('RedisRegistry on a Redis Cluster', async () => {
  const cluster = freshCluster();
  const registry = await RedisRegistry.open({ url: redisUrl, cluster, ttlMs: 10_000, log: silentLogger() });
  return { registry, cleanup: () => dropCluster(cluster) };
});

describeBusContract('JetStreamBus on a three-server JetStream cluster', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'js-ha-contract-'));
  const store = new SqliteStore(dir);
  const cluster = freshCluster();
  const bus = await JetStreamBus.open({ url: natsUrl, cluster, store, log: silentLogger() });
  expect(bus.replicas).toBe(3);
  return {
    bus,
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      await deleteStreams(natsUrl, streamOf(cluster));
    },
  };
});

describe('RedisPresence sharded over a Redis Cluster', () => {
  const cluster = freshCluster();
  const opened: RedisPresence[] = [];
  const node = async () => {
    const p = await RedisPresence.open({ url: redisUrl, cluster, expireMs: 60_000, log: silentLogger() });
    opened.push(p);
    const heard: PresenceInfo[] = [];
    p.onChange((c) => heard.push(c));
    return { p, heard };
  };
  afterAll(async () => {
    for (const p of opened) await p.close();
    await dropCluster(cluster);
  });

  it('spreads the users over every master', async () => {
    const { p } = await node();
    const users = Array.from({ length: 64 }, (_, i) => `spread${i}`);
    await Promise.all(users.map((u) => p.deviceOnline(u, 'd', 1, Date.now())));
    const perMaster = await Promise.all(admin.nodes('master').map((m) => m.dbsize()));
    expect(perMaster).toHaveLength(3);
    for (const n of perMaster) expect(n).toBeGreaterThan(10);
  });

  it('tells a change only to the nodes that watch its user', async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    await a.p.watch(['watched']);
    await b.p.watch(['watched', 'other']);
    await c.p.watch(['other']);
    await c.p.deviceOnline('watched', 'phone', 3, Date.now());
    await c.p.deviceOnline('other', 'phone', 3, Date.now());
    await until('a and b heard "watched" go online', () =>
      [a, b].every((n) => n.heard.some((x) => x.userId === 'watched' && x.status === 'online')),
    );
    await until('b and c heard "other" go online', () =>
      [b, c].every((n) => n.heard.some((x) => x.userId === 'other')),
    );
    // c's "other" came after its "watched" was published: c would have heard both by now.
    expect(c.heard.map((x) => x.userId)).toEqual(['other']);
    expect(a.heard.map((x) => x.userId)).toEqual(['watched']);
    a.p.unwatch(['watched']);
    await new Promise((r) => setTimeout(r, 100));
    await c.p.deviceOffline('watched', 'phone', Date.now());
    await until('b heard "watched" go offline', () => b.heard.some((x) => x.status === 'offline'));
    await new Promise((r) => setTimeout(r, 200));
    expect(a.heard.filter((x) => x.status === 'offline')).toEqual([]);
  });
});
