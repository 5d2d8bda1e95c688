/** The JetStream bus against a real nats-server: durability, de-duplication, delivery, restarts. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import { JetStreamBus } from '../../chat-node/backends/real/jetstream-bus.ts';
import type { Envelope, Store } from '../../chat-node/backends/types.ts';
import { silentLogger } from '../../common/logger.ts';
import { Snowflake, snowflakeTime } from '../../common/snowflake.ts';
import { type NatsServer, startNatsServer } from '../helpers/nats-server.ts';
import { until } from '../helpers/until.ts';

const ids = new Snowflake(5);
function envelope(text: string, dedupKey?: string): Envelope {
  const id = ids.next();
  const e: Envelope = {
    message: {
      messageId: id.toString(),
      conversation: 'dm:a:b',
      from: 'a',
      to: 'b',
      text,
      ts: snowflakeTime(id),
    },
    recipients: ['a', 'b'],
  };
  if (dedupKey) e.dedupKey = dedupKey;
  return e;
}

describe('JetStreamBus', () => {
  let nats: NatsServer;
  let dir: string;
  let store: Store;
  const buses: JetStreamBus[] = [];
  const open = async (cluster = 'test') => {
    const bus = await JetStreamBus.open({ url: nats.url, cluster, store, log: silentLogger() });
    buses.push(bus);
    return bus;
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), 'js-bus-'));
    store = new SqliteStore(dir);
  });
  afterAll(async () => {
    for (const b of buses) await b.close();
    await store.close();
    await nats.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('acks a publish, delivers it to every bus and writes it to the store once', async () => {
    const a = await open();
    const b = await open();
    const seenA: string[] = [];
    const seenB: string[] = [];
    a.onMessage((e) => seenA.push(e.message.messageId));
    b.onMessage((e) => seenB.push(e.message.messageId));
    const e = envelope('hello');
    expect(await a.publish(e)).toEqual(e.message);
    await until(
      'both buses delivered',
      () => seenA.includes(e.message.messageId) && seenB.includes(e.message.messageId),
    );
    await until('stored', async () =>
      (await store.history('dm:a:b', undefined, 10)).some((m) => m.messageId === e.message.messageId),
    );
    const synced = await store.sync('b', 0n, 1000);
    expect(synced.messages.filter((m) => m.messageId === e.message.messageId)).toHaveLength(1);
  });

  it('answers a resend of a dedup key with the first message', async () => {
    const bus = await open();
    const first = envelope('once', 'a/d1/c1');
    const again = envelope('once', 'a/d1/c1');
    expect((await bus.publish(first)).messageId).toBe(first.message.messageId);
    expect((await bus.publish(again)).messageId).toBe(first.message.messageId);
  });

  it('keeps every acked message across a NATS restart and recovers without reopening', async () => {
    const bus = await open();
    const acked: Envelope[] = [];
    for (let i = 0; i < 50; i++) {
      const e = envelope(`r${i}`);
      await bus.publish(e);
      acked.push(e);
    }
    await nats.stop('SIGKILL');
    await nats.start();
    await until('bus ready again', () => bus.isReady());
    const after = envelope('after restart');
    await until('publish works again', () =>
      bus.publish(after).then(
        () => true,
        () => false,
      ),
    );
    acked.push(after);
    await until('every acked message stored', async () => {
      const page = await store.history('dm:a:b', undefined, 200);
      const stored = new Set(page.map((m) => m.messageId));
      return acked.every((e) => stored.has(e.message.messageId));
    });
  });
});
