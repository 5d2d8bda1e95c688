/**
 * Two contract checks that once failed on three nodes with the real services and passed on one
 * embedded node: one device's pipelined sends get ids in send order and arrive in that order, and a
 * `read` reaches the user's other devices on the same node and on another node (over a real NATS).
 * Run on every topology: test/cluster/order-read.test.ts (one NATS, Redis, Cassandra) and
 * test/ha/ (the clustered backends).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Frame, TestSocket } from './socket.ts';
import { createUsers, login, type TestUser } from './users.ts';
import { dmOf, SocketPool } from './ws.ts';

/** The node URLs of a running cluster (at least two). */
export type NodeUrls = () => string[];

const wsOf = (base: string) => `${base.replace(/^http/, 'ws')}/v1/ws`;

export function describeOrderAndRead(name: string, urls: NodeUrls): void {
  describe(`${name}: send order and read events`, () => {
    const pool = new SocketPool();
    afterAll(() => pool.closeAll());

    it("gives one device's 20 pipelined sends ids in send order, delivered in that order on both nodes", async () => {
      const [a, b] = urls() as [string, string];
      const [alice, bob] = (await createUsers(a, 2)) as [TestUser, TestUser];
      const bobPhone = await login(a, bob.username, bob.password, 'phone');
      const sender = await pool.open(wsOf(a), alice.token);
      const sameNode = await pool.open(wsOf(a), bob.token);
      const otherNode = await pool.open(wsOf(b), bobPhone.token);
      const N = 20;
      // Some with client ids (a dedup lookup each), some without: their lookups finish in any order.
      for (let i = 0; i < N; i++) {
        const frame: Frame = { type: 'send', to: bob.userId, text: `pipelined ${i}` };
        if (i % 3 !== 2) frame.id = `order-${i}`;
        sender.send(frame);
      }
      const sent: Frame[] = [];
      for (let i = 0; i < N; i++) sent.push(await sender.nextOf(['sent', 'error'], () => true, 15_000));
      expect(sent.every((f) => f.type === 'sent')).toBe(true);
      // Answers may come in any order; the ids must follow the send order.
      const textOf = new Map<string, number>();
      const received = async (s: TestSocket): Promise<number[]> => {
        const got: number[] = [];
        while (got.length < N) {
          const m = await s.next('message', (f) => f.from === alice.userId, 15_000);
          got.push(Number(/pipelined (\d+)/.exec(m.text as string)![1]));
          textOf.set(m.messageId as string, got.at(-1)!);
        }
        return got;
      };
      const [onSame, onOther] = await Promise.all([received(sameNode), received(otherNode)]);
      const inOrder = Array.from({ length: N }, (_, i) => i);
      expect(onSame).toEqual(inOrder);
      expect(onOther).toEqual(inOrder);
      const ids = [...textOf.entries()].sort((x, y) => x[1] - y[1]).map(([id]) => BigInt(id));
      for (let i = 1; i < N; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
      for (const f of sent) {
        if (f.id === undefined) continue;
        expect(textOf.get(f.messageId as string)).toBe(Number(String(f.id).slice('order-'.length)));
      }
    }, 60_000);

    it("delivers a read to the user's other devices on the same node and on another node, not to the reader", async () => {
      const [a, b] = urls() as [string, string];
      const [alice, bob] = (await createUsers(a, 2)) as [TestUser, TestUser];
      const laptop = await login(a, bob.username, bob.password, 'laptop');
      const tablet = await login(b, bob.username, bob.password, 'tablet');
      const sender = await pool.open(wsOf(a), alice.token);
      const reader = await pool.open(wsOf(a), bob.token);
      const sameNode = await pool.open(wsOf(a), laptop.token);
      const otherNode = await pool.open(wsOf(b), tablet.token);
      sender.send({ type: 'send', id: 'r1', to: bob.userId, text: 'read me' });
      const { messageId } = await sender.next('sent', () => true, 10_000);
      const conversation = dmOf(alice.userId, bob.userId);
      reader.send({ type: 'read', conversation, upTo: messageId });
      const want = {
        type: 'read',
        conversation,
        upTo: messageId,
        userId: bob.userId,
        deviceId: bob.deviceId,
      };
      for (const s of [sameNode, otherNode]) {
        expect(await s.next('read', () => true, 8000)).toMatchObject(want);
      }
      // The reader's own device is told nothing: a ping's pong comes after anything sent before it.
      reader.send({ type: 'ping' });
      await reader.next('pong');
      expect(reader.pending('read')).toEqual([]);
    }, 30_000);
  });
}
