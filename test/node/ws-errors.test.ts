/**
 * Bad input on the WebSocket: malformed frames, oversized frames, floods and slow readers. Each gets
 * its error or its close code, and never disturbs anybody else's session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi, ChatClient } from '../../client/index.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import type { Frame, TestSocket } from '../helpers/socket.ts';
import { createUsers, login, type TestUser } from '../helpers/users.ts';
import { dmOf, presenceOf, roundTrip, SocketPool, waitUntil } from '../helpers/ws.ts';

const MIB = 1024 * 1024;

/** A ping frame padded with an ignored field to exactly `bytes` bytes of JSON. */
function paddedPing(bytes: number): string {
  const empty = '{"type":"ping","pad":""}';
  const frame = `{"type":"ping","pad":"${'p'.repeat(bytes - empty.length)}"}`;
  if (Buffer.byteLength(frame) !== bytes) throw new Error('padding is off');
  return frame;
}

describe('malformed and hostile WebSocket input', () => {
  const pool = new SocketPool();
  afterAll(() => pool.closeAll());

  describe('malformed frames', () => {
    let t: TestNode;
    let alice: TestUser;
    let bob: TestUser;
    beforeAll(async () => {
      t = await startTestNode({ framesPerSecond: 100_000, frameBurst: 100_000 });
      [alice, bob] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
    });
    afterAll(() => t.close());

    const tooManyUsers = Array.from({ length: 1001 }, (_, i) => `u${i}`);
    const cases: [string, unknown][] = [
      ['text that is not JSON', 'not json at all'],
      ['truncated JSON', '{"type":"ping"'],
      ['an empty text frame', ''],
      ['a JSON array', '[{"type":"ping"}]'],
      ['a JSON string', '"ping"'],
      ['a JSON number', '42'],
      ['JSON null', 'null'],
      ['an object without type', { to: 'someone', text: 'hi' }],
      ['a type that is not a string', { type: 5 }],
      ['an unknown type', { type: 'shout' }],
      ['a known type in the wrong case', { type: 'PING' }],
      ['a server frame type', { type: 'welcome' }],
      ['"to" as a number', { type: 'send', to: 42, text: 'x' }],
      ['"to" that is not an id', { type: 'send', to: 'has space', text: 'x' }],
      ['"group" as a list', { type: 'send', group: ['g'], text: 'x' }],
      ['an "id" that is an object', { type: 'send', id: { a: 1 }, to: 'someone', text: 'x' }],
      ['both "to" and "group"', { type: 'send', to: 'a', group: 'b', text: 'x' }],
      ['neither "to" nor "group"', { type: 'send', text: 'x' }],
      ['"since" as a number', { type: 'sync', since: 5 }],
      ['"since" that is not decimal', { type: 'sync', since: 'abc' }],
      ['a negative "since"', { type: 'sync', since: '-1' }],
      ['"since" beyond 64 bits', { type: 'sync', since: '18446744073709551616' }],
      ['a missing "since"', { type: 'sync' }],
      ['"limit" as a string', { type: 'sync', since: '0', limit: '10' }],
      ['a fractional "limit"', { type: 'sync', since: '0', limit: 1.5 }],
      ['a zero "limit"', { type: 'sync', since: '0', limit: 0 }],
      ['"upTo" that is not an id', { type: 'read', conversation: 'dm:a:b', upTo: 'x' }],
      ['"conversation" as a number', { type: 'read', conversation: 5, upTo: '1' }],
      ['"users" that is not a list', { type: 'presence.subscribe', users: 'bob' }],
      ['"users" holding numbers', { type: 'presence.subscribe', users: [1, 2] }],
      ['"users" missing', { type: 'presence.subscribe' }],
      ['"users" over 1000', { type: 'presence.subscribe', users: tooManyUsers }],
    ];

    it.each(cases)(
      'answers %s with bad_request and the connection still answers a ping',
      async (_name, frame) => {
        const s = await pool.open(t.wsUrl, alice.token);
        s.send(frame);
        const err = await s.next('error');
        expect(err).toEqual({ type: 'error', code: 'bad_request', message: expect.any(String) });
        await roundTrip(s);
        expect(s.closed).toBeUndefined();
      },
    );

    it.each([
      ['an unknown type', { type: 'shout', id: 'e-1' }, 'e-1'],
      ['"since" as a number', { type: 'sync', id: 'e-2', since: 5 }, 'e-2'],
      ['"users" over 1000', { type: 'presence.subscribe', id: 33, users: tooManyUsers }, 33],
      ['"to" as a number', { type: 'send', id: 'e-4', to: 42, text: 'x' }, 'e-4'],
      ['"since" beyond 64 bits', { type: 'sync', id: 'e-5', since: '99999999999999999999' }, 'e-5'],
    ])('echoes the id of a frame with %s in its bad_request', async (_name, frame, id) => {
      const s = await pool.open(t.wsUrl, alice.token);
      s.send(frame);
      expect(await s.next('error')).toEqual({
        type: 'error',
        id,
        code: 'bad_request',
        message: expect.any(String),
      });
    });

    it('answers a binary frame with bad_request, even one holding valid JSON, and stays usable', async () => {
      const s = await pool.open(t.wsUrl, alice.token);
      s.ws.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true });
      expect(await s.next('error')).toMatchObject({ code: 'bad_request' });
      expect(s.pending('pong')).toEqual([]);
      await roundTrip(s);
    });

    it('answers every one of many bad frames in a row, then still delivers messages', async () => {
      const s = await pool.open(t.wsUrl, alice.token);
      const sb = await pool.open(t.wsUrl, bob.token);
      for (const [, frame] of cases) s.send(frame);
      for (let i = 0; i < cases.length; i++) await s.next('error', (f) => f.code === 'bad_request');
      s.send({ type: 'send', id: 'after-garbage', to: bob.userId, text: 'still here' });
      const sent = await s.next('sent', (f) => f.id === 'after-garbage');
      expect((await sb.next('message', (f) => f.messageId === sent.messageId)).text).toBe('still here');
    });

    it('accepts a frame of exactly 2 MiB', async () => {
      const s = await pool.open(t.wsUrl, alice.token);
      s.send(paddedPing(2 * MIB));
      expect(await s.next('pong')).toEqual({ type: 'pong' });
      expect(s.closed).toBeUndefined();
    });

    it('closes a connection that sends a frame over 2 MiB with 1009 and keeps serving others', async () => {
      const other = await pool.open(t.wsUrl, bob.token);
      const sameUser = await pool.open(
        t.wsUrl,
        (await login(t.baseUrl, alice.username, alice.password)).token,
      );
      const s = await pool.open(t.wsUrl, alice.token);
      s.send(paddedPing(2 * MIB + 1));
      expect((await s.waitClosed()).code).toBe(1009);
      // Open connections go on, the user's other device included, and new ones are accepted.
      await roundTrip(other);
      await roundTrip(sameUser);
      sameUser.send({ type: 'send', id: 'after-1009', to: bob.userId, text: 'after the big one' });
      const sent = await sameUser.next('sent', (f) => f.id === 'after-1009');
      expect((await other.next('message', (f) => f.messageId === sent.messageId)).text).toBe(
        'after the big one',
      );
      const fresh = await pool.open(t.wsUrl, alice.token);
      await roundTrip(fresh);
    });

    it('closes with 1009 for an oversized send whose text would be refused anyway', async () => {
      const s = await pool.open(t.wsUrl, alice.token);
      s.send({ type: 'send', id: 'huge', to: bob.userId, text: 'x'.repeat(2 * MIB + 10) });
      expect((await s.waitClosed()).code).toBe(1009);
      expect(s.pending('sent')).toEqual([]);
    });

    it('never lets one client’s garbage disturb another client’s conversation', async () => {
      const [u, v, attacker] = (await createUsers(t.baseUrl, 3)) as [TestUser, TestUser, TestUser];
      const su = await pool.open(t.wsUrl, u.token);
      const sv = await pool.open(t.wsUrl, v.token);
      const bad = await pool.open(t.wsUrl, attacker.token);
      // The attacker's garbage and u's messages interleave.
      for (let i = 0; i < 50; i++) {
        const [, frame] = cases[i % cases.length]!;
        bad.send(frame);
        bad.ws.send(Buffer.from([0xff, 0x00, i]), { binary: true });
        bad.send({ type: 'send', to: v.userId, text: '' });
        su.send({ type: 'send', id: `clean-${i}`, to: v.userId, text: `clean ${i}` });
      }
      bad.send(paddedPing(2 * MIB + 1));
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) ids.push((await su.next('sent', (f) => f.id === `clean-${i}`)).messageId);
      const got = await Promise.all(ids.map((id) => sv.next('message', (f) => f.messageId === id)));
      expect(got.map((m) => m.text)).toEqual(ids.map((_, i) => `clean ${i}`));
      expect((await bad.waitClosed()).code).toBe(1009);
      // No error frame meant for the attacker reached the clean clients.
      expect(su.pending('error')).toEqual([]);
      expect(sv.pending('error')).toEqual([]);
      expect(sv.pending('message')).toEqual([]);
      await roundTrip(su);
      await roundTrip(sv);
    });
  });

  describe('the rate limit (5 frames per second, bursts of 5)', () => {
    let t: TestNode;
    let alice: TestUser;
    let bob: TestUser;
    beforeAll(async () => {
      t = await startTestNode({ framesPerSecond: 5, frameBurst: 5 });
      [alice, bob] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
    });
    afterAll(() => t.close());

    /** Pings until one is answered with pong (the bucket refills at 5 per second); bounded. */
    async function pingUntilPong(s: TestSocket): Promise<void> {
      await waitUntil(
        'a ping is answered with pong',
        async () => {
          s.send({ type: 'ping' });
          const answer = await s.nextOf(['pong', 'error']);
          return answer.type === 'pong' ? true : undefined;
        },
        10_000,
        250,
      );
    }

    it('answers rate_limited once the burst is spent, and the connection stays open', async () => {
      const s = await pool.open(t.wsUrl, alice.token);
      for (let i = 0; i < 12; i++) s.send({ type: 'ping' });
      const answers: Frame[] = [];
      for (let i = 0; i < 12; i++) answers.push(await s.nextOf(['pong', 'error']));
      const pongs = answers.filter((f) => f.type === 'pong');
      const limited = answers.filter((f) => f.type === 'error');
      expect(pongs.length).toBeGreaterThanOrEqual(5);
      expect(limited.length).toBeGreaterThan(0);
      for (const e of limited) expect(e).toMatchObject({ code: 'rate_limited', message: expect.any(String) });
      expect(s.closed).toBeUndefined();
      await pingUntilPong(s);
    });

    it('answers each send of a burst with sent or rate_limited, and a refused send can be sent again', async () => {
      const s = await pool.open(t.wsUrl, alice.token);
      const ids = Array.from({ length: 10 }, (_, i) => `rl-${i}`);
      for (const id of ids) s.send({ type: 'send', id, to: bob.userId, text: id });
      // A refused frame is not parsed, so its error names no id (PROTOCOL.md: `id`?): count the answers.
      const answers: Frame[] = [];
      for (let i = 0; i < ids.length; i++)
        answers.push(
          await s.nextOf(['sent', 'error'], (f) => f.type === 'sent' || f.code === 'rate_limited'),
        );
      const accepted = answers.filter((f) => f.type === 'sent').map((f) => f.id as string);
      const refused = answers.filter((f) => f.type === 'error');
      expect(accepted.length).toBeGreaterThanOrEqual(5);
      expect(refused.length).toBe(ids.length - accepted.length);
      expect(refused.length).toBeGreaterThan(0);

      // The client sends the unanswered ids again once the bucket refills; each is then stored once.
      for (const id of ids.filter((i) => !accepted.includes(i))) {
        await waitUntil(
          `send ${id} is accepted`,
          async () => {
            s.send({ type: 'send', id, to: bob.userId, text: id });
            const f = await s.nextOf(['sent', 'error'], (g) => g.id === id || g.code === 'rate_limited');
            return f.type === 'sent' ? f : undefined;
          },
          10_000,
          250,
        );
      }
      const reader = await pool.open(t.wsUrl, bob.token);
      reader.send({ type: 'sync', since: '0' });
      const page = await reader.next('sync');
      expect(page.messages.map((m: Frame) => m.text).sort()).toEqual([...ids].sort());
    });

    it('closes a client that keeps sending after rate_limited with 1008', async () => {
      const s = await pool.open(t.wsUrl, alice.token);
      for (let i = 0; i < 200 && !s.closed; i++) s.send({ type: 'ping' });
      expect((await s.waitClosed()).code).toBe(1008);
      expect(s.frames.some((f) => f.type === 'error' && f.code === 'rate_limited')).toBe(true);
    });

    it('limits each connection on its own: the flooder’s other device and other users are served', async () => {
      const flooder = await pool.open(t.wsUrl, alice.token);
      const sameUser = await pool.open(
        t.wsUrl,
        (await login(t.baseUrl, alice.username, alice.password)).token,
      );
      const other = await pool.open(t.wsUrl, bob.token);
      for (let i = 0; i < 200 && !flooder.closed; i++) flooder.send({ type: 'ping' });
      expect((await flooder.waitClosed()).code).toBe(1008);
      sameUser.send({ type: 'send', id: 'calm', to: bob.userId, text: 'calm device' });
      const sent = await sameUser.next('sent', (f) => f.id === 'calm');
      expect((await other.next('message', (f) => f.messageId === sent.messageId)).text).toBe('calm device');
      expect(sameUser.pending('error')).toEqual([]);
      expect(other.pending('error')).toEqual([]);
    });
  });

  describe('a node at its bound of sends in flight (maxPendingSends 2)', () => {
    const refusals = async (node: TestNode) => {
      const m = await node.node.metrics.errors.get();
      return m.values.find((v) => v.labels.code === 'rate_limited')?.value ?? 0;
    };
    let t: TestNode;
    beforeAll(async () => {
      t = await startTestNode({ framesPerSecond: 100_000, frameBurst: 100_000, maxPendingSends: 2 });
    });
    afterAll(() => t.close());

    it('answers the sends past the bound rate_limited with their ids, and takes them when sent again', async () => {
      const [alice, bob] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const s = await pool.open(t.wsUrl, alice.token);
      // Written in one turn, the 20 frames reach the node together, before the first is durable.
      for (let i = 0; i < 20; i++) s.send({ type: 'send', id: `b${i}`, to: bob.userId, text: `${i}` });
      const answers: Frame[] = [];
      for (let i = 0; i < 20; i++) answers.push(await s.nextOf(['sent', 'error']));
      const refused = answers.filter((f) => f.type === 'error');
      expect(refused.length).toBeGreaterThan(0);
      for (const f of refused)
        expect(f).toMatchObject({ code: 'rate_limited', id: expect.stringMatching(/^b/) });
      expect(answers.filter((f) => f.type === 'sent').length).toBe(20 - refused.length);
      // Sent again one at a time, each is taken; the connection was never at fault, so it stays open.
      for (const f of refused) {
        s.send({ type: 'send', id: f.id, to: bob.userId, text: 'again' });
        expect(await s.next('sent', (x) => x.id === f.id)).toMatchObject({ id: f.id });
      }
      expect(s.closed).toBeUndefined();
    });

    it('lets the SDK deliver every send: it sends a refused one again after a backoff', async () => {
      const [bob, ...senders] = (await createUsers(t.baseUrl, 4)) as TestUser[];
      // Three clients with two sends in flight each: up to six at the node, which holds two.
      const clients = senders.map(
        (u) => new ChatClient({ baseUrl: t.baseUrl, token: u.token, discover: false, maxInFlightSends: 2 }),
      );
      const refusedBefore = await refusals(t);
      try {
        await Promise.all(clients.map((c) => c.connect()));
        const sent = await Promise.all(
          clients.flatMap((c, k) =>
            Array.from({ length: 10 }, (_, i) => c.send({ to: bob!.userId, text: `${k}/${i}` })),
          ),
        );
        expect(new Set(sent.map((m) => m.messageId)).size).toBe(30);
        expect(await refusals(t)).toBeGreaterThan(refusedBefore);
        const api = new ChatApi(t.baseUrl, { token: bob!.token });
        for (const [k, u] of senders.entries()) {
          const texts = (await api.history(dmOf(u.userId, bob!.userId), { limit: 100 })).map((m) => m.text);
          expect(texts.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `${k}/${i}`).sort());
        }
      } finally {
        for (const c of clients) c.close();
      }
    }, 30_000);
  });

  describe('a slow reader', () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await startTestNode({ framesPerSecond: 100_000, frameBurst: 100_000, maxBufferedBytes: 65_536 });
    });
    afterAll(() => t.close());

    it('is disconnected by the node while the sender and everybody else stay connected', async () => {
      const [sender, slow, watcher] = (await createUsers(t.baseUrl, 3)) as [TestUser, TestUser, TestUser];
      const reader = await pool.open(t.wsUrl, slow.token);
      const ss = await pool.open(t.wsUrl, sender.token);
      const sw = await pool.open(t.wsUrl, watcher.token);
      sw.send({ type: 'presence.subscribe', users: [slow.userId] });
      expect(await sw.next('presence')).toMatchObject({ userId: slow.userId, status: 'online' });

      // The reader stops reading: kernel buffers fill, then the node's send buffer grows.
      (reader.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const text = 'z'.repeat(100_000);
      let n = 0;
      // One message at a time: the sender gets a copy of each, and it reads (in this same process)
      // only between rounds, so its own buffer on the node stays under the small limit.
      for (let round = 0; round < 1000 && sw.pending('presence').length === 0; round++) {
        const id = `big-${++n}`;
        ss.send({ type: 'send', id, to: slow.userId, text });
        await ss.next('sent', (f) => f.id === id);
        // The sender's own copies are not needed; keep memory flat.
        ss.frames.length = 0;
      }
      const off = await sw.next('presence', (f) => f.userId === slow.userId);
      expect(off).toMatchObject({ userId: slow.userId, status: 'offline' });
      expect((await presenceOf(t.baseUrl, watcher.token, [slow.userId]))[0]!.status).toBe('offline');
      expect(await t.node.metrics.registry.getSingleMetricAsString('chat_disconnects_total')).toMatch(
        /reason="slow_reader"[^\n]* [1-9]/,
      );

      // The sender was never cut and still sends; the watcher too.
      expect(ss.closed).toBeUndefined();
      await roundTrip(ss);
      ss.send({ type: 'send', id: 'after-slow', to: watcher.userId, text: 'still sending' });
      const sent = await ss.next('sent', (f) => f.id === 'after-slow');
      expect((await sw.next('message', (f) => f.messageId === sent.messageId)).text).toBe('still sending');

      // Once it reads again, the slow client finds its connection closed.
      (reader.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      await reader.waitClosed(20_000);
      expect(reader.closed).toBeDefined();
    });
  });
});
