/**
 * The MessageBus contract (chat-node/backends/types.ts), run against every implementation: the
 * embedded bus and JetStreamBus on a real nats-server. Each test opens a bus over a fresh store.
 * Delivery to other nodes is tested beside JetStreamBus (the embedded bus has one node).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Envelope, MessageBus, Store, UserEvent } from '../../chat-node/backends/types.ts';
import { Snowflake, snowflakeTime } from '../../common/snowflake.ts';
import { until } from './until.ts';

export type BusOpener = () => Promise<{ bus: MessageBus; store: Store; cleanup: () => Promise<void> }>;

const ids = new Snowflake(11);
const run = randomBytes(3).toString('hex');

function envelope(text: string, dedupKey?: string): Envelope {
  const id = ids.next();
  const e: Envelope = {
    message: {
      messageId: id.toString(),
      conversation: `dm:a${run}:b${run}`,
      from: `a${run}`,
      to: `b${run}`,
      text,
      ts: snowflakeTime(id),
    },
    recipients: [`a${run}`, `b${run}`],
  };
  if (dedupKey) e.dedupKey = dedupKey;
  return e;
}

export function describeBusContract(name: string, open: BusOpener): void {
  describe(`${name} (MessageBus contract)`, () => {
    const opened: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of opened.splice(0)) await cleanup();
    });
    async function bus() {
      const o = await open();
      opened.push(async () => {
        await o.bus.close();
        await o.cleanup();
      });
      const delivered: Envelope[] = [];
      const events: UserEvent[] = [];
      o.bus.onMessage((e) => delivered.push(e));
      o.bus.onEvent((e) => events.push(e));
      return { ...o, delivered, events };
    }

    it('acknowledges a message as stored, delivers it, and has it readable after settled()', async () => {
      const { bus: b, store, delivered } = await bus();
      const e = envelope('hello');
      expect(await b.publish(e)).toEqual(e.message);
      await until('delivered', () => delivered.some((d) => d.message.messageId === e.message.messageId));
      await b.settled(10_000);
      const page = await store.sync(`b${run}`, 0n, 100);
      expect(page.messages.filter((m) => m.messageId === e.message.messageId)).toEqual([e.message]);
    });

    it('delivers one publisher’s messages in the order they were acknowledged', async () => {
      const { bus: b, delivered } = await bus();
      const sent: string[] = [];
      for (let i = 0; i < 20; i++) {
        const e = envelope(`n${i}`);
        await b.publish(e);
        sent.push(e.message.messageId);
      }
      await until('all delivered', () =>
        sent.every((id) => delivered.some((d) => d.message.messageId === id)),
      );
      const order = delivered.map((d) => d.message.messageId).filter((id) => sent.includes(id));
      expect([...new Set(order)]).toEqual(sent);
    });

    it('answers a resend of a dedup key with the first message, and stores one', async () => {
      const { bus: b, store } = await bus();
      const key = `a${run}/d1/${randomBytes(4).toString('hex')}`;
      const first = envelope('once', key);
      const again = envelope('once', key);
      expect(await b.publish(first)).toEqual(first.message);
      expect(await b.publish(again)).toEqual(first.message);
      await b.settled(10_000);
      expect((await store.messageByDedupKey(key))?.messageId).toBe(first.message.messageId);
    });

    it('answers sends of one dedup key published together with the same message', async () => {
      const { bus: b, store } = await bus();
      const key = `a${run}/d1/${randomBytes(4).toString('hex')}`;
      const answers = await Promise.all([0, 1, 2].map(() => b.publish(envelope('together', key))));
      expect(new Set(answers.map((m) => m.messageId)).size).toBe(1);
      await b.settled(10_000);
      expect((await store.messageByDedupKey(key))?.messageId).toBe(answers[0]!.messageId);
    });

    it('has nothing earlier for a new dedup key, and no other message than the first for a sent one', async () => {
      const { bus: b } = await bus();
      const key = `a${run}/d1/${randomBytes(4).toString('hex')}`;
      const first = envelope('first', key);
      expect(await b.earlier(key, first.message.messageId)).toBeUndefined();
      await b.publish(first);
      await b.settled(10_000);
      // A bus may leave the answer to publish (the embedded one does); if it answers, it is the first.
      const again = await b.earlier(key, envelope('again', key).message.messageId);
      if (again !== undefined) expect(again).toEqual(first.message);
    });

    it('delivers user events to onEvent, in order, with their frame and users', async () => {
      const { bus: b, events } = await bus();
      const tag = randomBytes(3).toString('hex');
      const sent: UserEvent[] = Array.from({ length: 10 }, (_, i) => ({
        userIds: [`u${tag}`],
        frame: {
          type: 'read',
          conversation: `dm:${tag}`,
          upTo: String(i),
          userId: `u${tag}`,
          deviceId: 'laptop',
        },
        exceptDevice: { userId: `u${tag}`, deviceId: 'phone' },
      }));
      for (const e of sent) await b.publishEvent(e);
      const mine = () => events.filter((e) => e.userIds[0] === `u${tag}`);
      await until('every event delivered', () => mine().length >= sent.length);
      expect(mine()).toEqual(sent);
    });

    it('is ready while open, then refuses publishes after close', async () => {
      const { bus: b, cleanup } = await open();
      try {
        expect(b.isReady()).toBe(true);
        await b.close();
        expect(b.isReady()).toBe(false);
        await expect(b.publish(envelope('late'))).rejects.toThrow();
      } finally {
        await cleanup();
      }
    });
  });
}
