/**
 * Devices' push registrations in both stores: SqliteStore in a temp dir, CassandraStore on the
 * Cassandra of `.services/env` (the shared keyspace, under user ids of this run).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import { CassandraStore } from '../../chat-node/backends/real/cassandra-store.ts';
import type { PushRegistration, Store } from '../../chat-node/backends/types.ts';
import { silentLogger } from '../../common/logger.ts';
import { servicesEnv } from '../helpers/cluster.ts';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

async function sqlite(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), 'push-tokens-'));
  const store = new SqliteStore(dir);
  closers.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

async function cassandra(): Promise<Store> {
  const env = servicesEnv();
  const store = await CassandraStore.open({
    contactPoints: env.CHAT_CASSANDRA_CONTACT_POINTS!.split(',').map((s) => s.trim()),
    localDataCenter: env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1',
    keyspace: env.CHAT_CASSANDRA_KEYSPACE ?? 'chat',
    replication: 1,
    log: silentLogger(),
  });
  closers.push(() => store.close());
  return store;
}

const reg = (userId: string, deviceId: string, token: string, updatedAt: number): PushRegistration => ({
  userId,
  deviceId,
  provider: 'fcm',
  token,
  updatedAt,
});

for (const [name, open] of [
  ['SqliteStore', sqlite],
  ['CassandraStore', cassandra],
] as const) {
  describe(`${name}: push registrations`, () => {
    const user = () => `push-${randomBytes(6).toString('hex')}`;

    it('keeps one registration per device, the latest replacing the earlier, and lists the user’s', async () => {
      const store = await open();
      const u = user();
      await store.setPushToken(reg(u, 'd1', 'one', 1000));
      await store.setPushToken({ ...reg(u, 'd2', 'sub', 1001), provider: 'webpush' });
      await store.setPushToken({ ...reg(u, 'd1', 'two', 1002), provider: 'apns' });
      await store.setPushToken(reg(user(), 'd1', 'someone else', 1003));
      const got = await store.pushTokens(u, 100);
      expect(got.sort((a, b) => a.deviceId.localeCompare(b.deviceId))).toEqual([
        { userId: u, deviceId: 'd1', provider: 'apns', token: 'two', updatedAt: 1002 },
        { userId: u, deviceId: 'd2', provider: 'webpush', token: 'sub', updatedAt: 1001 },
      ]);
      expect(await store.pushTokens(u, 1)).toHaveLength(1);
      expect(await store.pushTokens(user(), 100)).toEqual([]);
    });

    it('removes a device’s registration, or only while it is still the token given', async () => {
      const store = await open();
      const u = user();
      const now = Date.now();
      await store.setPushToken(reg(u, 'd1', 'old', now));
      await store.setPushToken(reg(u, 'd1', 'new', now + 1));
      await store.setPushToken(reg(u, 'd2', 'other', now));
      await store.removePushToken(u, 'd1', 'old'); // a rejection of a token replaced meanwhile
      expect((await store.pushTokens(u, 100)).map((r) => r.token).sort()).toEqual(['new', 'other']);
      await store.removePushToken(u, 'd1', 'new');
      expect((await store.pushTokens(u, 100)).map((r) => r.token)).toEqual(['other']);
      await store.removePushToken(u, 'd2');
      await store.removePushToken(u, 'never registered');
      expect(await store.pushTokens(u, 100)).toEqual([]);
      // Registrations and removals are last-writer-wins by the time they were made.
      await store.setPushToken(reg(u, 'd2', 'again', Date.now() + 1));
      expect((await store.pushTokens(u, 100)).map((r) => r.token)).toEqual(['again']);
    });
  });
}
