/**
 * The real backends against their interfaces' contract suites, on the real Redis and NATS of
 * `npm run services:up` (the same suites run on the embedded backends in test/node/).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import { JetStreamBus } from '../../chat-node/backends/real/jetstream-bus.ts';
import { RedisPresence } from '../../chat-node/backends/real/redis-presence.ts';
import { RedisRegistry } from '../../chat-node/backends/real/redis-registry.ts';
import { silentLogger } from '../../common/logger.ts';
import { describeBusContract } from '../helpers/bus-contract.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { describePresenceContract } from '../helpers/presence-contract.ts';
import { describeRegistryContract } from '../helpers/registry-contract.ts';
import { deleteStreams, streamOf } from '../helpers/streams.ts';

const env = servicesEnv();
const redisUrl = env.CHAT_REDIS_URL!;
let admin: Redis;
beforeAll(() => {
  admin = new Redis(redisUrl);
});
afterAll(async () => {
  await admin.quit();
});

/** Deletes a test cluster's keys (SCAN, not KEYS: the Redis is shared). */
async function dropCluster(cluster: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `chat:{${cluster}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
const freshCluster = () => `c${randomBytes(4).toString('hex')}`;

describePresenceContract('RedisPresence', async ({ expireMs }) => {
  const cluster = freshCluster();
  const presence = await RedisPresence.open({ url: redisUrl, cluster, expireMs, log: silentLogger() });
  return { presence, cleanup: () => dropCluster(cluster) };
});

describeRegistryContract('RedisRegistry', async () => {
  const cluster = freshCluster();
  const registry = await RedisRegistry.open({ url: redisUrl, cluster, ttlMs: 10_000, log: silentLogger() });
  return { registry, cleanup: () => dropCluster(cluster) };
});

describeBusContract('JetStreamBus', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'js-contract-'));
  const store = new SqliteStore(dir);
  const cluster = freshCluster();
  const bus = await JetStreamBus.open({
    url: env.CHAT_NATS_URL!,
    cluster,
    store,
    log: silentLogger(),
    maxBytes: 16 * 1024 ** 2,
  });
  return {
    bus,
    store,
    cleanup: async () => {
      await deleteStreams(env.CHAT_NATS_URL!, streamOf(cluster));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
