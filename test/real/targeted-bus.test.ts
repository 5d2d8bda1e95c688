/**
 * Targeted delivery and the dedup index on the real NATS and Redis of `npm run services:up`: three
 * JetStreamBus instances (nodes 1, 2, 3) route by three RedisPresence instances of one cluster; a
 * message reaches the nodes of its recipients' devices and no other, and every node while the
 * registry cannot answer. RedisDedup answers 'new' once per key, and 'unknown' when it lacks history.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import { JetStreamBus } from '../../chat-node/backends/real/jetstream-bus.ts';
import { RedisDedup } from '../../chat-node/backends/real/redis-dedup.ts';
import { RedisPresence } from '../../chat-node/backends/real/redis-presence.ts';
import type { Envelope } from '../../chat-node/backends/types.ts';
import { silentLogger } from '../../common/logger.ts';
import { Snowflake, snowflakeTime } from '../../common/snowflake.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { deleteStreams, streamOf } from '../helpers/streams.ts';
import { until } from '../helpers/until.ts';

const env = servicesEnv();
const redisUrl = env.CHAT_REDIS_URL!;
const natsUrl = env.CHAT_NATS_URL!;
const ids = new Snowflake(7);
const log = silentLogger();

function envelope(from: string, to: string, text: string): Envelope {
  const id = ids.next();
  return {
    message: {
      messageId: id.toString(),
      conversation: `dm:${[from, to].sort().join(':')}`,
      from,
      to,
      text,
      ts: snowflakeTime(id),
    },
    recipients: [from, to],
  };
}

let admin: Redis;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(() => {
  admin = new Redis(redisUrl);
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await admin.quit();
});

async function dropKeys(pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

describe('JetStreamBus routed by the session registry', () => {
  const cluster = `tb${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'targeted-bus-'));
  const store = new SqliteStore(dir);
  const nodes: { bus: JetStreamBus; presence: RedisPresence; got: string[] }[] = [];
  const u = (name: string) => `${name}_${cluster}`;

  beforeAll(async () => {
    cleanups.push(
      () => store.close(),
      async () => rmSync(dir, { recursive: true, force: true }),
      () => deleteStreams(natsUrl, streamOf(cluster)),
      () => dropKeys(`chat:{${cluster}*`),
    );
    for (const nodeId of [1, 2, 3]) {
      const presence = await RedisPresence.open({ url: redisUrl, cluster, expireMs: 60_000, log });
      const bus = await JetStreamBus.open({
        url: natsUrl,
        cluster,
        store,
        log,
        nodeId,
        maxBytes: 16 * 1024 ** 2,
        locate: (userIds) => presence.nodesOf(userIds),
      });
      const got: string[] = [];
      bus.onMessage((e) => got.push(e.message.messageId));
      nodes.push({ bus, presence, got });
      cleanups.push(
        () => bus.close(),
        () => presence.close(),
      );
    }
    // Devices: a on node 1, b on node 2 (two devices: one node), c on node 3.
    await nodes[0]!.presence.deviceOnline(u('a'), 'phone', 1, Date.now());
    await nodes[1]!.presence.deviceOnline(u('b'), 'phone', 2, Date.now());
    await nodes[1]!.presence.deviceOnline(u('b'), 'laptop', 2, Date.now());
    await nodes[2]!.presence.deviceOnline(u('c'), 'phone', 3, Date.now());
    // A new cluster's registry is trusted once every node has had time to put its devices in.
    await until(
      'the registry answers',
      async () => (await nodes[0]!.presence.nodesOf([u('a')])).get(u('a')) !== undefined,
      10_000,
    );
  }, 30_000);

  /** A message to c (node 3), awaited there: node 3 has had what was published before it. */
  async function fenceOnNode3(): Promise<string> {
    const f = envelope(u('a'), u('c'), 'fence');
    await nodes[0]!.bus.publish(f);
    await until('node 3 got the fence', () => nodes[2]!.got.includes(f.message.messageId));
    return f.message.messageId;
  }

  it('delivers a message to the nodes of its recipients once each, and to no other node', async () => {
    expect(await nodes[0]!.presence.nodesOf([u('a'), u('b'), u('c'), u('nobody')])).toEqual(
      new Map([
        [u('a'), [1]],
        [u('b'), [2]],
        [u('c'), [3]],
        [u('nobody'), []],
      ]),
    );
    const e = envelope(u('a'), u('b'), 'a to b');
    await nodes[0]!.bus.publish(e);
    const id = e.message.messageId;
    await until('nodes 1 and 2 got it', () => nodes[0]!.got.includes(id) && nodes[1]!.got.includes(id));
    const fence = await fenceOnNode3();
    expect(nodes[2]!.got).toEqual([fence]);
    expect(nodes[1]!.got.filter((x) => x === id)).toHaveLength(1);
  });

  it('sends to every node while a shard of the registry has lost its keys, then targets again', async () => {
    const got3 = nodes[2]!.got.length;
    // The shard of b loses every key (as a Redis restarted without persistence would).
    const shard = /^(chat:\{[^}]+\})/.exec(RedisPresence.keyOf(cluster, u('b'), 'dev'))![1]!;
    await dropKeys(`${shard}*`);
    const e = envelope(u('a'), u('b'), 'while lost');
    await nodes[0]!.bus.publish(e);
    await until('nodes 2 and 3 got it (broadcast)', () =>
      [1, 2].every((i) => nodes[i]!.got.includes(e.message.messageId)),
    );
    // Node 2 puts b's devices back at its next check; the shard is trusted again a few seconds on.
    await until(
      'the registry names node 2 for b again',
      async () => JSON.stringify((await nodes[0]!.presence.nodesOf([u('b')])).get(u('b'))) === '[2]',
      15_000,
    );
    const after = nodes[2]!.got.length;
    const again = envelope(u('a'), u('b'), 'targeted again');
    await nodes[0]!.bus.publish(again);
    await until('node 2 got it', () => nodes[1]!.got.includes(again.message.messageId));
    const fence = await fenceOnNode3();
    expect(nodes[2]!.got.slice(after)).toEqual([fence]);
    expect(after).toBeGreaterThan(got3);
  }, 30_000);
});

describe('RedisDedup', () => {
  const opened: RedisDedup[] = [];
  const open = async (cluster: string, clock?: () => number) => {
    const d = await RedisDedup.open({ url: redisUrl, cluster, log, ...(clock && { clock }) });
    opened.push(d);
    cleanups.push(
      () => d.close(),
      () => dropKeys(`chat:{${cluster}*`),
    );
    return d;
  };
  const fresh = () => `dd${randomBytes(4).toString('hex')}`;

  it('answers new once per key, then seen, on a cluster that started empty', async () => {
    const d = await open(fresh());
    await d.prepare(true);
    expect(await d.claim('u1/phone/1', '100')).toBe('new');
    expect(await d.claim('u1/phone/1', '101')).toBe('seen');
    expect(await d.claim('u1/phone/2', '102')).toBe('new');
    expect(await d.claim('u2/phone/1', '103')).toBe('new');
  });

  it('answers unknown while it lacks a horizon of history, and after it lost its keys', async () => {
    const cluster = fresh();
    let now = Date.now();
    const d = await open(cluster, () => now);
    // A cluster that has stored messages before the index existed.
    await d.prepare(false);
    expect(await d.claim('u1/phone/1', '100')).toBe('unknown');
    // Still recorded: a resend is 'seen'.
    expect(await d.claim('u1/phone/1', '101')).toBe('seen');
    now += 25 * 3600_000;
    expect(await d.claim('u1/phone/2', '102')).toBe('new');
    // Redis loses everything: unknown again (the caller reads the store), for a horizon.
    await dropKeys(`chat:{${cluster}*`);
    expect(await d.claim('u1/phone/3', '103')).toBe('unknown');
    expect(await d.claim('u1/phone/4', '104')).toBe('unknown');
  });

  it('leaves a recent resend to the stream’s window, and answers an older one from the store', async () => {
    const cluster = fresh();
    const dir = mkdtempSync(join(tmpdir(), 'dedup-bus-'));
    const store = new SqliteStore(dir);
    const dedup = await open(cluster);
    const opts = { url: natsUrl, cluster, store, log, dedup, maxBytes: 16 * 1024 ** 2 };
    const bus = await JetStreamBus.open(opts);
    cleanups.push(
      () => bus.close(),
      () => store.close(),
      async () => rmSync(dir, { recursive: true, force: true }),
      () => deleteStreams(natsUrl, streamOf(cluster)),
    );
    const first = { ...envelope('u1', 'u2', 'once'), dedupKey: 'u1/phone/x' };
    expect(await bus.earlier(first.dedupKey, first.message.messageId)).toBeUndefined();
    await bus.publish(first);
    await bus.settled(10_000);
    // Inside the window: nothing earlier; the publish is answered as the duplicate it is.
    const again = { ...envelope('u1', 'u2', 'once'), dedupKey: first.dedupKey };
    expect(await bus.earlier(again.dedupKey, again.message.messageId)).toBeUndefined();
    expect(await bus.publish(again)).toEqual(first.message);
    // A bus whose window is shorter than the original's age reads the store.
    const short = await JetStreamBus.open({ ...opts, duplicateWindowMs: 1000 });
    cleanups.push(() => short.close());
    expect(await short.earlier(first.dedupKey, '999')).toEqual(first.message);
  });
});
