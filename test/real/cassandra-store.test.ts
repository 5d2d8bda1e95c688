/**
 * CassandraStore against the Cassandra of `.services/env`: the Store contract, then what only a
 * distributed store has (concurrent migrations, large values, per-node high-water marks). The file
 * works in its own keyspace and drops it at the end.
 */
import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CassandraStore } from '../../chat-node/backends/real/cassandra-store.ts';
import { silentLogger } from '../../common/logger.ts';
import { Snowflake } from '../../common/snowflake.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { describeStoreContract, dm, uniqueId } from '../helpers/store-contract.ts';

const env = servicesEnv();
const contactPoints = env.CHAT_CASSANDRA_CONTACT_POINTS!.split(',').map((s) => s.trim());
const localDataCenter = env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1';
const keyspace = `chat_test_${randomBytes(6).toString('hex')}`;
const open = () =>
  CassandraStore.open({ contactPoints, localDataCenter, keyspace, replication: 1, log: silentLogger() });

/** Two stores opened at once on a new keyspace: both run every migration concurrently. */
let first: CassandraStore;
let second: CassandraStore;

beforeAll(async () => {
  [first, second] = await Promise.all([open(), open()]);
});

afterAll(async () => {
  await Promise.allSettled([first?.close(), second?.close()]);
  const admin = new cassandra.Client({ contactPoints, localDataCenter });
  try {
    await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await admin.shutdown();
  }
});

describeStoreContract('CassandraStore', async () => ({ store: first, cleanup: async () => {} }));

describe('CassandraStore', () => {
  it('runs its migrations from two stores at once on a new keyspace, and both serve', async () => {
    const user = { userId: uniqueId('u'), username: uniqueId('n'), passwordHash: 'h', createdAt: 5 };
    await first.createUser(user);
    expect(await second.userByUsername(user.username)).toEqual(user);
    expect(second.isReady()).toBe(true);
  });

  it('opens again on an existing keyspace (migrations are idempotent)', async () => {
    const again = await open();
    try {
      expect(again.isReady()).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('round-trips a message of 100,000 emoji through history, sync and its dedup key', async () => {
    const [a, b] = [uniqueId('a'), uniqueId('b')];
    const e = dm(a, b, undefined, '😀'.repeat(100_000));
    e.dedupKey = `${a}/d/big`;
    expect(Buffer.byteLength(e.message.text)).toBe(400_000);
    await first.saveMessages([e]);
    expect(await first.history(e.message.conversation, undefined, 1)).toStrictEqual([e.message]);
    expect((await first.sync(b, 0n, 1)).messages).toStrictEqual([e.message]);
    expect(await first.messageByDedupKey(e.dedupKey)).toStrictEqual(e.message);
  });

  it('keeps a high-water mark per node that never moves back', async () => {
    const [a, b] = [uniqueId('a'), uniqueId('b')];
    const now = Date.now();
    const newer = new Snowflake(41, { clock: () => now }).next();
    const older = new Snowflake(41, { clock: () => now - 60_000 }).next();
    const other = new Snowflake(42, { clock: () => now - 120_000 }).next();
    await first.saveMessages([dm(a, b, newer), dm(a, b, other)]);
    await second.saveMessages([dm(a, b, older)]);
    expect(await first.maxMessageId(41)).toBe(newer);
    expect(await first.maxMessageId(42)).toBe(other);
    expect(await first.maxMessageId(43)).toBe(0n);
  });

  it('is not ready once closed', async () => {
    const store = await open();
    await store.close();
    expect(store.isReady()).toBe(false);
  });
});
