/** `sync` (catching up, paging, limits, the frame cap) and `read` cursors of PROTOCOL.md. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Message } from '../../common/protocol.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import type { Frame, TestSocket } from '../helpers/socket.ts';
import { createUsers, login, type TestUser } from '../helpers/users.ts';
import { createGroup, dmOf, roundTrip, SocketPool } from '../helpers/ws.ts';

const MIB = 1024 * 1024;

describe('sync and read over the WebSocket', () => {
  let t: TestNode;
  const pool = new SocketPool();
  const open = (u: { token: string }) => pool.open(t.wsUrl, u.token);
  let seq = 0;

  /** Sends one message and returns it as a Message (as sync should return it). */
  async function send(
    s: TestSocket,
    from: string,
    target: { to: string } | { group: string },
    text: string,
  ): Promise<Message> {
    const id = `m-${++seq}`;
    s.send({ type: 'send', id, ...target, text });
    const sent = await s.next('sent', (f) => f.id === id);
    return { messageId: sent.messageId, conversation: sent.conversation, from, ...target, text, ts: sent.ts };
  }

  /** Sends `n` messages at once and waits for all of them; returns their ids in order. */
  async function burst(s: TestSocket, to: string, n: number, text: (i: number) => string): Promise<string[]> {
    const base = ++seq;
    for (let i = 0; i < n; i++) s.send({ type: 'send', id: `b-${base}-${i}`, to, text: text(i) });
    const ids: string[] = [];
    for (let i = 0; i < n; i++)
      ids.push((await s.next('sent', (f) => f.id === `b-${base}-${i}`, 30_000)).messageId);
    return ids;
  }

  async function sync(s: TestSocket, since: string, limit?: number): Promise<Frame> {
    s.send(limit === undefined ? { type: 'sync', since } : { type: 'sync', since, limit });
    // An error answer (e.g. internal) is returned too, so that assertions name it at once.
    return s.nextOf(['sync', 'error'], () => true, 20_000);
  }

  /** Walks every page from `since` with `limit`; returns the pages. */
  async function walk(s: TestSocket, since: string, limit?: number): Promise<Frame[]> {
    const pages: Frame[] = [];
    for (let cursor = since; pages.length < 2000; ) {
      const page = await sync(s, cursor, limit);
      pages.push(page);
      if (!page.more) break;
      cursor = page.messages.at(-1).messageId;
    }
    return pages;
  }

  const ids = (messages: readonly { messageId: string }[]) => messages.map((m) => m.messageId);

  beforeAll(async () => {
    t = await startTestNode({ framesPerSecond: 100_000, frameBurst: 100_000 });
  });
  afterAll(async () => {
    pool.closeAll();
    await t.close();
  });

  describe('sync', () => {
    let u: TestUser;
    let v: TestUser;
    let w: TestUser;
    let x: TestUser;
    let su: TestSocket;
    /** Every message of u's conversations, in the order sent. */
    const mine: Message[] = [];
    /** Messages in conversations u is not part of. */
    const others: Message[] = [];

    beforeAll(async () => {
      [u, v, w, x] = (await createUsers(t.baseUrl, 4, 'sync')) as [TestUser, TestUser, TestUser, TestUser];
      const groupId = await createGroup(t.baseUrl, u.token, [v.userId, w.userId], 'uvw');
      const otherGroup = await createGroup(t.baseUrl, v.token, [w.userId, x.userId], 'vwx');
      su = await open(u);
      const sv = await open(v);
      const sw = await open(w);
      const sx = await open(x);
      mine.push(await send(su, u.userId, { to: v.userId }, 'u to v'));
      mine.push(await send(sw, w.userId, { to: u.userId }, 'w to u'));
      mine.push(await send(sv, v.userId, { group: groupId }, 'v to uvw'));
      others.push(await send(sv, v.userId, { to: w.userId }, 'v to w'));
      others.push(await send(sx, x.userId, { group: otherGroup }, 'x to vwx'));
      mine.push(await send(su, u.userId, { group: groupId }, 'u to uvw'));
      others.push(await send(sx, x.userId, { to: v.userId }, 'x to v'));
      mine.push(await send(sv, v.userId, { to: u.userId }, 'v to u'));
      mine.push(await send(su, u.userId, { to: x.userId }, 'u to x'));
    });

    it('since "0" returns every message of the user’s conversations, oldest first, as Messages', async () => {
      const page = await sync(su, '0');
      expect(page).toEqual({ type: 'sync', messages: mine, updates: [], more: false });
    });

    it('includes no message of conversations the user is not in', async () => {
      const page = await sync(su, '0');
      const other = new Set(ids(others));
      expect(page.messages.filter((m: Message) => other.has(m.messageId))).toEqual([]);
    });

    it('returns messages in increasing id order', async () => {
      const got: string[] = ids((await sync(su, '0')).messages);
      for (let i = 1; i < got.length; i++) expect(BigInt(got[i - 1]!) < BigInt(got[i]!)).toBe(true);
    });

    it('since an id returns exactly the newer messages', async () => {
      for (let k = 0; k < mine.length; k++) {
        const page = await sync(su, mine[k]!.messageId);
        expect(ids(page.messages)).toEqual(ids(mine.slice(k + 1)));
        expect(page.more).toBe(false);
      }
    });

    it('since an id that is no message’s id returns the messages with larger ids', async () => {
      const between = (BigInt(mine[2]!.messageId) + 1n).toString();
      expect(ids((await sync(su, between)).messages)).toEqual(ids(mine.slice(3)));
    });

    it('since the newest id returns no messages and more: false', async () => {
      expect(await sync(su, mine.at(-1)!.messageId)).toEqual({
        type: 'sync',
        messages: [],
        updates: [],
        more: false,
      });
    });

    it('since the largest 64-bit id returns no messages and more: false', async () => {
      for (const since of ['9223372036854775807', '9223372036854775808', '18446744073709551615'])
        expect(await sync(su, since)).toEqual({ type: 'sync', messages: [], updates: [], more: false });
    });

    it('gives another participant its own view of the same conversations', async () => {
      const sv = await open(v);
      const page = await sync(sv, '0');
      // Both groups include v.
      const expected = [...mine, ...others]
        .filter((m) => m.from === v.userId || m.to === v.userId || m.group !== undefined)
        .sort((a, b) => (BigInt(a.messageId) < BigInt(b.messageId) ? -1 : 1));
      expect(ids(page.messages)).toEqual(ids(expected));
    });

    it('returns a user’s messages on every device, a new one included', async () => {
      const device = await open(await login(t.baseUrl, u.username, u.password));
      expect((await sync(device, '0')).messages).toEqual(mine);
    });
  });

  describe('paging', () => {
    let reader: TestSocket;
    let all: string[];

    beforeAll(async () => {
      const [p, q] = (await createUsers(t.baseUrl, 2, 'page')) as [TestUser, TestUser];
      const sp = await open(p);
      const sq = await open(q);
      all = [
        ...(await burst(sp, q.userId, 30, (i) => `p${i}`)),
        ...(await burst(sq, p.userId, 17, (i) => `q${i}`)),
      ];
      reader = await open(p);
    });

    it('walks every message with limit and more, without a gap or a repeat', async () => {
      const pages = await walk(reader, '0', 10);
      expect(pages.map((pg) => pg.messages.length)).toEqual([10, 10, 10, 10, 7]);
      expect(pages.map((pg) => pg.more)).toEqual([true, true, true, true, false]);
      expect(pages.flatMap((pg) => ids(pg.messages))).toEqual(all);
    });

    it('says more: false on a last page that is exactly full', async () => {
      const pages = await walk(reader, '0', 47);
      expect(pages.map((pg) => [pg.messages.length, pg.more])).toEqual([[47, false]]);
      const short = await walk(reader, '0', 46);
      expect(short.map((pg) => [pg.messages.length, pg.more])).toEqual([
        [46, true],
        [1, false],
      ]);
      expect(short.flatMap((pg) => ids(pg.messages))).toEqual(all);
    });

    it('walks page by page with limit 1', async () => {
      const pages = await walk(reader, '0', 1);
      expect(pages).toHaveLength(all.length);
      expect(pages.flatMap((pg) => ids(pg.messages))).toEqual(all);
      expect(pages.at(-1)!.more).toBe(false);
    });

    it('starts a walk in the middle from any id', async () => {
      const pages = await walk(reader, all[12]!, 8);
      expect(pages.flatMap((pg) => ids(pg.messages))).toEqual(all.slice(13));
    });
  });

  describe('limits', () => {
    let reader: TestSocket;
    let all: string[];

    beforeAll(async () => {
      const [p, q] = (await createUsers(t.baseUrl, 2, 'clamp')) as [TestUser, TestUser];
      const sp = await open(p);
      all = await burst(sp, q.userId, 1005, (i) => `c${i}`);
      reader = await open(q);
    });

    it('clamps a limit over 1000 to 1000', async () => {
      const page = await sync(reader, '0', 5000);
      expect(page.messages).toHaveLength(1000);
      expect(ids(page.messages)).toEqual(all.slice(0, 1000));
      expect(page.more).toBe(true);
      const rest = await sync(reader, page.messages.at(-1).messageId, 5000);
      expect(ids(rest.messages)).toEqual(all.slice(1000));
      expect(rest.more).toBe(false);
    });

    it('accepts a limit of exactly 1000', async () => {
      const page = await sync(reader, '0', 1000);
      expect(page.messages).toHaveLength(1000);
      expect(page.more).toBe(true);
    });

    it('clamps a limit beyond the safe integers as well', async () => {
      for (const limit of [2 ** 53, 1e21]) {
        const page = await sync(reader, '0', limit);
        expect(page.type).toBe('sync');
        expect(page.messages).toHaveLength(1000);
        expect(page.more).toBe(true);
      }
    });

    it('uses 100 when no limit is given', async () => {
      const page = await sync(reader, '0');
      expect(ids(page.messages)).toEqual(all.slice(0, 100));
      expect(page.more).toBe(true);
    });
  });

  describe('the frame cap', () => {
    it('keeps every answer under 2 MiB with many 100,000-character messages, saying more with fewer than limit', async () => {
      const [p, q] = (await createUsers(t.baseUrl, 2, 'cap')) as [TestUser, TestUser];
      const sp = await open(p);
      // 400 KB of UTF-8 per emoji text; 600 KB of JSON per text of control characters (\u0001).
      const texts = Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0 ? '🙂'.repeat(100_000) : String.fromCharCode(1).repeat(99_999) + String(i % 10),
      );
      const sent = await burst(sp, q.userId, texts.length, (i) => texts[i]!);
      const reader = await open(q);
      const sizes: number[] = [];
      reader.ws.on('message', (data: Buffer) => {
        if (data.subarray(0, 20).toString().includes('"sync"')) sizes.push(data.length);
      });
      const pages = await walk(reader, '0', 100);
      expect(pages.length).toBeGreaterThan(1);
      for (const page of pages.slice(0, -1)) {
        expect(page.more).toBe(true);
        expect(page.messages.length).toBeGreaterThan(0);
        expect(page.messages.length).toBeLessThan(100);
      }
      expect(pages.at(-1)!.more).toBe(false);
      expect(sizes).toHaveLength(pages.length);
      for (const size of sizes) expect(size).toBeLessThanOrEqual(2 * MIB);
      // Nothing lost, nothing repeated, nothing altered.
      const got = pages.flatMap((pg) => pg.messages as Message[]);
      expect(ids(got)).toEqual(sent);
      expect(got.map((m) => m.text)).toEqual(texts);
    });
  });

  describe('read', () => {
    let alice: TestUser;
    let bob: TestUser;
    let carol: TestUser;
    let a1: TestSocket;
    let a2: TestSocket;
    let a3: TestSocket;
    let b1: TestSocket;
    let aliceDevices: string[];

    beforeAll(async () => {
      [alice, bob, carol] = (await createUsers(t.baseUrl, 3, 'read')) as [TestUser, TestUser, TestUser];
      const d2 = await login(t.baseUrl, alice.username, alice.password);
      const d3 = await login(t.baseUrl, alice.username, alice.password);
      aliceDevices = [alice.deviceId, d2.deviceId, d3.deviceId];
      a1 = await open(alice);
      a2 = await open(d2);
      a3 = await open(d3);
      b1 = await open(bob);
    });
    beforeEach(async () => {
      // Each test starts with nothing unread on any socket.
      for (const s of [a1, a2, a3, b1]) {
        await roundTrip(s);
        s.frames.length = 0;
      }
    });

    it('tells the user’s other devices {type, conversation, upTo, userId, deviceId}, not the reading one', async () => {
      const m = await send(b1, bob.userId, { to: alice.userId }, 'read me');
      a1.send({ type: 'read', conversation: m.conversation, upTo: m.messageId });
      const expected = {
        type: 'read',
        conversation: dmOf(alice.userId, bob.userId),
        upTo: m.messageId,
        userId: alice.userId,
        deviceId: alice.deviceId,
      };
      expect(await a2.next('read')).toEqual(expected);
      expect(await a3.next('read')).toEqual(expected);
      // a1 was sent the event, if at all, before a2 and a3: a ping round trip settles it.
      await roundTrip(a1);
      expect(a1.pending('read')).toEqual([]);
      expect(a1.pending('error')).toEqual([]);
    });

    it('does not tell the other participant', async () => {
      const m = await send(b1, bob.userId, { to: alice.userId }, 'read privately');
      a2.send({ type: 'read', conversation: m.conversation, upTo: m.messageId });
      expect(await a1.next('read')).toMatchObject({ upTo: m.messageId, deviceId: aliceDevices[1] });
      await roundTrip(b1);
      expect(b1.pending('read')).toEqual([]);
    });

    it('works for a group conversation', async () => {
      const groupId = await createGroup(t.baseUrl, bob.token, [alice.userId, carol.userId], 'read group');
      const m = await send(b1, bob.userId, { group: groupId }, 'group read');
      a3.send({ type: 'read', conversation: `g:${groupId}`, upTo: m.messageId });
      for (const s of [a1, a2])
        expect(await s.next('read')).toEqual({
          type: 'read',
          conversation: `g:${groupId}`,
          upTo: m.messageId,
          userId: alice.userId,
          deviceId: aliceDevices[2],
        });
    });

    it('keeps a cursor per device and tells nobody when a cursor does not move forward', async () => {
      const first = await send(b1, bob.userId, { to: alice.userId }, 'cursor 1');
      const second = await send(b1, bob.userId, { to: alice.userId }, 'cursor 2');
      const conversation = first.conversation;
      a1.send({ type: 'read', conversation, upTo: second.messageId });
      expect((await a2.next('read')).upTo).toBe(second.messageId);
      // The same and an older position do not move a1's cursor.
      a1.send({ type: 'read', conversation, upTo: second.messageId });
      a1.send({ type: 'read', conversation, upTo: first.messageId });
      // a2's own cursor is separate: reading the first message moves it.
      a2.send({ type: 'read', conversation, upTo: first.messageId });
      expect(await a1.next('read')).toMatchObject({ upTo: first.messageId, deviceId: aliceDevices[1] });
      expect(await a3.next('read', (f) => f.deviceId === aliceDevices[0])).toMatchObject({
        upTo: second.messageId,
      });
      expect(await a3.next('read', (f) => f.deviceId === aliceDevices[1])).toMatchObject({
        upTo: first.messageId,
      });
      await roundTrip(a2);
      await roundTrip(a3);
      expect(a2.pending('read')).toEqual([]);
      expect(a3.pending('read')).toEqual([]);
    });

    it('accepts an upTo beyond the newest possible id and tells the other devices', async () => {
      const m = await send(b1, bob.userId, { to: alice.userId }, 'read all');
      const upTo = '18446744073709551615'; // 2^64 - 1, the largest 64-bit id
      a1.send({ type: 'read', id: 'far', conversation: m.conversation, upTo });
      expect(await a2.next('read')).toEqual({
        type: 'read',
        conversation: m.conversation,
        upTo,
        userId: alice.userId,
        deviceId: alice.deviceId,
      });
      await roundTrip(a1);
      expect(a1.pending('error')).toEqual([]);
    });

    it('answers not_member, with the frame’s id, for a conversation the user is not in', async () => {
      const m = await send(b1, bob.userId, { to: carol.userId }, 'not for alice');
      const carolsGroup = await createGroup(t.baseUrl, carol.token, [bob.userId], 'no alice');
      const cases = [
        ['r-dm', m.conversation],
        ['r-group', `g:${carolsGroup}`],
        ['r-nogroup', 'g:no-such-group'],
      ];
      for (const [id, conversation] of cases) a1.send({ type: 'read', id, conversation, upTo: m.messageId });
      for (const [id] of cases)
        expect(await a1.next('error', (f) => f.id === id)).toEqual({
          type: 'error',
          id,
          code: 'not_member',
          message: expect.any(String),
        });
      await roundTrip(a2);
      expect(a2.pending('read')).toEqual([]);
    });

    it('answers bad_request for a conversation id that is not dm:<a>:<b> sorted or g:<id>', async () => {
      const [lo, hi] = [alice.userId, bob.userId].sort();
      for (const [id, conversation] of [
        ['c-unsorted', `dm:${hi}:${lo}`],
        ['c-junk', 'conversation-1'],
      ])
        a1.send({ type: 'read', id, conversation, upTo: '1' });
      expect((await a1.next('error', (f) => f.id === 'c-unsorted')).code).toBe('bad_request');
      expect((await a1.next('error', (f) => f.id === 'c-junk')).code).toBe('bad_request');
    });
  });
});
