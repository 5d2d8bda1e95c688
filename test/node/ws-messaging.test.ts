/** `send`, `sent`, `message` and the send errors of PROTOCOL.md, over real sockets to a real node. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snowflakeTime } from '../../common/snowflake.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import type { Frame, TestSocket } from '../helpers/socket.ts';
import { createUser, createUsers, http, login, type TestUser } from '../helpers/users.ts';
import { createGroup, dmOf, idLess, roundTrip, SocketPool } from '../helpers/ws.ts';

/** A user with a second device logged in. */
async function withSecondDevice(baseUrl: string, u: TestUser): Promise<{ token: string; deviceId: string }> {
  return login(baseUrl, u.username, u.password);
}

describe('sending messages over the WebSocket', () => {
  let t: TestNode;
  const pool = new SocketPool();
  let seq = 0;
  /** A client id never used before in this file. */
  const cid = (prefix = 'c') => `${prefix}-${++seq}`;
  const open = (u: { token: string }) => pool.open(t.wsUrl, u.token);
  /** Sends and waits for the answer to that frame: a sent or an error with its id. */
  const sendAndWait = async (s: TestSocket, frame: Record<string, unknown>): Promise<Frame> => {
    const id = cid();
    s.send({ type: 'send', id, ...frame });
    return s.nextOf(['sent', 'error'], (f) => f.id === id);
  };

  beforeAll(async () => {
    // Bursts of hundreds of frames are part of these tests; the rate limit has its own suite.
    t = await startTestNode({ framesPerSecond: 100_000, frameBurst: 100_000 });
  });
  afterAll(async () => {
    pool.closeAll();
    await t.close();
  });

  describe('a 1:1 send', () => {
    it('answers sent with the client id, a decimal messageId, the sorted dm conversation and a numeric ts', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const sa = await open(a);
      const before = Date.now();
      sa.send({ type: 'send', id: 'first', to: b.userId, text: 'hello' });
      const sent = await sa.next('sent', (f) => f.id === 'first');
      const after = Date.now();
      const [lo, hi] = [a.userId, b.userId].sort();
      expect(sent).toEqual({
        type: 'sent',
        id: 'first',
        messageId: expect.stringMatching(/^[1-9][0-9]*$/),
        conversation: `dm:${lo}:${hi}`,
        ts: expect.any(Number),
      });
      expect(Number.isInteger(sent.ts)).toBe(true);
      expect(sent.ts).toBeGreaterThanOrEqual(before - 1);
      expect(sent.ts).toBeLessThanOrEqual(after + 1);
      // The id is a Snowflake: its timestamp part is the message's ts.
      expect(snowflakeTime(BigInt(sent.messageId))).toBe(sent.ts);
    });

    it('names the same sorted conversation whichever side sends', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const sa = await open(a);
      const sb = await open(b);
      const fromA = await sendAndWait(sa, { to: b.userId, text: 'a→b' });
      const fromB = await sendAndWait(sb, { to: a.userId, text: 'b→a' });
      expect(fromA.type).toBe('sent');
      expect(fromB.type).toBe('sent');
      expect(fromA.conversation).toBe(dmOf(a.userId, b.userId));
      expect(fromB.conversation).toBe(fromA.conversation);
      expect(idLess(fromA.messageId, fromB.messageId)).toBe(true);
    });

    it('answers a send without id with a sent that has no id', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const sa = await open(a);
      sa.send({ type: 'send', to: b.userId, text: 'no id' });
      const sent = await sa.next('sent');
      expect(Object.keys(sent).sort()).toEqual(['conversation', 'messageId', 'ts', 'type']);
    });

    it('echoes a numeric client id as a number', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const sa = await open(a);
      sa.send({ type: 'send', id: 12345, to: b.userId, text: 'numbered' });
      const sent = await sa.next('sent', (f) => f.id === 12345);
      expect(sent.id).toBe(12345);
    });

    it('delivers to every device of the recipient and to the sender’s other devices, not to the sending one (three devices, two users)', async () => {
      const [alice, bob] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const a1 = await open(alice);
      const a2 = await open(await withSecondDevice(t.baseUrl, alice));
      const b1 = await open(bob);
      a1.send({ type: 'send', id: 'to-bob', to: bob.userId, text: 'hi bob' });
      const sent = await a1.next('sent', (f) => f.id === 'to-bob');
      const expected = {
        type: 'message',
        messageId: sent.messageId,
        conversation: dmOf(alice.userId, bob.userId),
        from: alice.userId,
        to: bob.userId,
        text: 'hi bob',
        ts: sent.ts,
      };
      expect(await a2.next('message', (f) => f.messageId === sent.messageId)).toEqual(expected);
      expect(await b1.next('message', (f) => f.messageId === sent.messageId)).toEqual(expected);
      // The sending device gets no copy: it has the message from `sent`. (The node writes a message
      // to a user's devices in one go, so a copy would have come before the pong.)
      await roundTrip(a1);
      expect(a1.frames.filter((f) => f.type === 'message' && f.messageId === sent.messageId)).toEqual([]);

      // And back: both of Alice's devices get Bob's answer.
      b1.send({ type: 'send', id: 'to-alice', to: alice.userId, text: 'hi alice' });
      const reply = await b1.next('sent', (f) => f.id === 'to-alice');
      for (const s of [a1, a2]) {
        expect(await s.next('message', (f) => f.messageId === reply.messageId)).toEqual({
          type: 'message',
          messageId: reply.messageId,
          conversation: expected.conversation,
          from: bob.userId,
          to: alice.userId,
          text: 'hi alice',
          ts: reply.ts,
        });
      }
    });

    it('does not deliver a 1:1 message to a third user', async () => {
      const [a, b, c] = (await createUsers(t.baseUrl, 3)) as [TestUser, TestUser, TestUser];
      const sa = await open(a);
      const sb = await open(b);
      const sc = await open(c);
      const sent = await sendAndWait(sa, { to: b.userId, text: 'private' });
      await sb.next('message', (f) => f.messageId === sent.messageId);
      await roundTrip(sc);
      expect(sc.pending('message')).toEqual([]);
    });
  });

  describe('a group send', () => {
    it('reaches every device of every member with group set and no to, and nobody else', async () => {
      const [alice, bob, carol, dave] = (await createUsers(t.baseUrl, 4)) as [
        TestUser,
        TestUser,
        TestUser,
        TestUser,
      ];
      const groupId = await createGroup(t.baseUrl, alice.token, [bob.userId, carol.userId]);
      const a1 = await open(alice);
      const a2 = await open(await withSecondDevice(t.baseUrl, alice));
      const b1 = await open(bob);
      const b2 = await open(await withSecondDevice(t.baseUrl, bob));
      const c1 = await open(carol);
      const outsider = await open(dave);
      b1.send({ type: 'send', id: 'grp', group: groupId, text: 'hello group' });
      const sent = await b1.next('sent', (f) => f.id === 'grp');
      expect(sent.conversation).toBe(`g:${groupId}`);
      for (const s of [a1, a2, b2, c1]) {
        const m = await s.next('message', (f) => f.messageId === sent.messageId);
        expect(m).toEqual({
          type: 'message',
          messageId: sent.messageId,
          conversation: `g:${groupId}`,
          from: bob.userId,
          group: groupId,
          text: 'hello group',
          ts: sent.ts,
        });
        expect('to' in m).toBe(false);
      }
      await roundTrip(outsider);
      expect(outsider.pending('message')).toEqual([]);
    });

    it('reaches all 100 members of a full group', async () => {
      const owner = await createUser(t.baseUrl, 'owner');
      const members = await createUsers(t.baseUrl, 99, 'm100');
      const groupId = await createGroup(
        t.baseUrl,
        owner.token,
        members.map((m) => m.userId),
        'hundred',
      );
      const sockets = await Promise.all([owner, ...members].map((u) => open(u)));
      expect(sockets).toHaveLength(100);
      // A member that is not the creator sends.
      const sender = sockets[42]!;
      sender.send({ type: 'send', id: 'all-100', group: groupId, text: 'to all hundred' });
      const sent = await sender.next('sent', (f) => f.id === 'all-100');
      // Every other member's device; the sending device has it from `sent`.
      const got = await Promise.all(
        sockets
          .filter((s) => s !== sender)
          .map((s) => s.next('message', (f) => f.messageId === sent.messageId, 10_000)),
      );
      expect(got).toHaveLength(99);
      for (const m of got) {
        expect(m).toMatchObject({ group: groupId, conversation: `g:${groupId}`, text: 'to all hundred' });
        expect(m.from).toBe(members[41]!.userId);
        expect(m.to).toBeUndefined();
      }
    });
  });

  describe('text limits, counted in code points', () => {
    let a: TestUser;
    let b: TestUser;
    let sa: TestSocket;
    let sb: TestSocket;
    beforeAll(async () => {
      [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      sa = await open(a);
      sb = await open(b);
    });

    it('accepts exactly 100,000 four-byte emoji and delivers them intact', async () => {
      const text = '😀'.repeat(100_000);
      expect(text.length).toBe(200_000);
      const sent = await sendAndWait(sa, { to: b.userId, text });
      expect(sent.type).toBe('sent');
      const m = await sb.next('message', (f) => f.messageId === sent.messageId);
      expect(m.text).toBe(text);
    });

    it('accepts exactly 100,000 ASCII characters', async () => {
      const text = 'a'.repeat(100_000);
      const sent = await sendAndWait(sa, { to: b.userId, text });
      expect(sent.type).toBe('sent');
      expect((await sb.next('message', (f) => f.messageId === sent.messageId)).text).toBe(text);
    });

    it('refuses 100,001 ASCII characters with too_long', async () => {
      const answer = await sendAndWait(sa, { to: b.userId, text: 'a'.repeat(100_001) });
      expect(answer).toMatchObject({ type: 'error', code: 'too_long', message: expect.any(String) });
    });

    it('refuses 100,001 emoji with too_long', async () => {
      const answer = await sendAndWait(sa, { to: b.userId, text: '😀'.repeat(100_001) });
      expect(answer).toMatchObject({ type: 'error', code: 'too_long' });
    });

    it('refuses 99,999 emoji and two ASCII characters (100,001 code points) with too_long', async () => {
      const answer = await sendAndWait(sa, { to: b.userId, text: `${'😀'.repeat(99_999)}ab` });
      expect(answer).toMatchObject({ type: 'error', code: 'too_long' });
    });

    it('accepts 50,000 emoji and 50,000 ASCII characters (100,000 code points)', async () => {
      const text = '😀'.repeat(50_000) + 'a'.repeat(50_000);
      const answer = await sendAndWait(sa, { to: b.userId, text });
      expect(answer.type).toBe('sent');
    });

    it('counts a combining accent as its own code point', async () => {
      // 'e' + U+0301 is one visible character but two code points.
      const ok = await sendAndWait(sa, { to: b.userId, text: 'e\u0301'.repeat(50_000) });
      expect(ok.type).toBe('sent');
      const tooLong = await sendAndWait(sa, { to: b.userId, text: `${'e\u0301'.repeat(50_000)}x` });
      expect(tooLong).toMatchObject({ type: 'error', code: 'too_long' });
    });

    it('accepts a one-character text', async () => {
      const answer = await sendAndWait(sa, { to: b.userId, text: '😀' });
      expect(answer.type).toBe('sent');
      expect((await sb.next('message', (f) => f.messageId === answer.messageId)).text).toBe('😀');
    });

    it('answers empty for an empty text and for a missing text', async () => {
      expect(await sendAndWait(sa, { to: b.userId, text: '' })).toMatchObject({
        type: 'error',
        code: 'empty',
      });
      expect(await sendAndWait(sa, { to: b.userId })).toMatchObject({ type: 'error', code: 'empty' });
    });

    it('refuses a text that is not well-formed Unicode (a lone surrogate) with bad_request', async () => {
      const id = cid('lone');
      sa.send(`{"type":"send","id":"${id}","to":"${b.userId}","text":"ab\\ud800cd"}`);
      expect(await sa.nextOf(['sent', 'error'], (f) => f.id === id)).toMatchObject({
        type: 'error',
        code: 'bad_request',
      });
    });

    it('answers bad_request for a text that is not a string', async () => {
      expect(await sendAndWait(sa, { to: b.userId, text: 42 })).toMatchObject({
        type: 'error',
        code: 'bad_request',
      });
      expect(await sendAndWait(sa, { to: b.userId, text: ['x'] })).toMatchObject({
        type: 'error',
        code: 'bad_request',
      });
    });

    it('stores nothing for a refused text', async () => {
      const refused = await sendAndWait(sa, { to: b.userId, text: 'r'.repeat(100_001) });
      expect(refused.code).toBe('too_long');
      const marker = await sendAndWait(sa, { to: b.userId, text: 'marker after refused' });
      await sb.next('message', (f) => f.messageId === marker.messageId);
      expect(sb.pending('message').filter((f) => f.text.startsWith('rrr'))).toEqual([]);
    });
  });

  describe('routing errors', () => {
    let a: TestUser;
    let b: TestUser;
    let sa: TestSocket;
    beforeAll(async () => {
      [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      sa = await open(a);
    });

    it('answers unknown_recipient for a user that does not exist', async () => {
      const answer = await sendAndWait(sa, { to: 'no-such-user-anywhere', text: 'hi' });
      expect(answer).toMatchObject({ type: 'error', code: 'unknown_recipient', message: expect.any(String) });
    });

    it('answers not_member for a group the sender is not in', async () => {
      const groupId = await createGroup(t.baseUrl, b.token, [], 'bob only');
      const answer = await sendAndWait(sa, { group: groupId, text: 'let me in' });
      expect(answer).toMatchObject({ type: 'error', code: 'not_member' });
    });

    it('answers not_member for a group that does not exist', async () => {
      const answer = await sendAndWait(sa, { group: 'g-does-not-exist', text: 'hello?' });
      expect(answer).toMatchObject({ type: 'error', code: 'not_member' });
    });

    it('answers not_member to a member who left the group, and stops delivering to it', async () => {
      const [c, d] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const groupId = await createGroup(t.baseUrl, c.token, [d.userId], 'leaving');
      const sc = await open(c);
      const sd = await open(d);
      const left = await http(t.baseUrl, 'DELETE', `/v1/groups/${groupId}/members/${d.userId}`, {
        token: d.token,
      });
      expect(left.status).toBe(204);
      expect(await sendAndWait(sd, { group: groupId, text: 'still here?' })).toMatchObject({
        type: 'error',
        code: 'not_member',
      });
      const sent = await sendAndWait(sc, { group: groupId, text: 'after d left' });
      expect(sent.type).toBe('sent');
      await roundTrip(sd);
      expect(sd.pending('message')).toEqual([]);
    });

    it('answers bad_request when both to and group are given', async () => {
      const groupId = await createGroup(t.baseUrl, a.token, [b.userId], 'both');
      const answer = await sendAndWait(sa, { to: b.userId, group: groupId, text: 'both' });
      expect(answer).toMatchObject({ type: 'error', code: 'bad_request' });
    });

    it('answers bad_request when neither to nor group is given', async () => {
      const answer = await sendAndWait(sa, { text: 'nowhere' });
      expect(answer).toMatchObject({ type: 'error', code: 'bad_request' });
    });

    it('delivers nothing to the recipient of a refused send', async () => {
      const sb = await open(b);
      const groupId = await createGroup(t.baseUrl, a.token, [b.userId], 'refused');
      await sendAndWait(sa, { to: b.userId, group: groupId, text: 'refused both' });
      await sendAndWait(sa, { to: b.userId, text: '' });
      const ok = await sendAndWait(sa, { to: b.userId, text: 'accepted' });
      const m = await sb.next('message', (f) => f.messageId === ok.messageId);
      expect(m.text).toBe('accepted');
      expect(sb.pending('message')).toEqual([]);
    });
  });

  describe('error frames', () => {
    let a: TestUser;
    let b: TestUser;
    let sa: TestSocket;
    beforeAll(async () => {
      [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      sa = await open(a);
    });

    it.each([
      ['too_long', () => ({ to: b.userId, text: 'x'.repeat(100_001) })],
      ['empty', () => ({ to: b.userId, text: '' })],
      ['unknown_recipient', () => ({ to: 'nobody-at-all', text: 'x' })],
      ['not_member', () => ({ group: 'nonexistent-group', text: 'x' })],
      ['bad_request', () => ({ text: 'x' })],
    ])('echo the frame’s string id with code %s', async (code, fields) => {
      const id = cid('err');
      sa.send({ type: 'send', id, ...fields() });
      expect(await sa.next('error', (f) => f.id === id)).toEqual({
        type: 'error',
        id,
        code,
        message: expect.any(String),
      });
    });

    it('echo a numeric id as a number', async () => {
      sa.send({ type: 'send', id: 777, to: 'nobody-at-all', text: 'x' });
      expect(await sa.next('error', (f) => f.id === 777)).toMatchObject({
        id: 777,
        code: 'unknown_recipient',
      });
    });

    it('carry no id when the frame had none', async () => {
      sa.send({ type: 'send', to: 'nobody-at-all', text: 'x' });
      const err = await sa.next('error', (f) => f.code === 'unknown_recipient' && f.id === undefined);
      expect('id' in err).toBe(false);
    });

    it('answer each of several failing frames with its own id', async () => {
      sa.send({ type: 'send', id: 'm-1', to: b.userId, text: '' });
      sa.send({ type: 'send', id: 'm-2', to: 'nobody-at-all', text: 'x' });
      sa.send({ type: 'send', id: 'm-3', to: b.userId, text: 'fine' });
      expect((await sa.next('error', (f) => f.id === 'm-1')).code).toBe('empty');
      expect((await sa.next('error', (f) => f.id === 'm-2')).code).toBe('unknown_recipient');
      expect((await sa.next('sent', (f) => f.id === 'm-3')).conversation).toBe(dmOf(a.userId, b.userId));
    });
  });

  describe('a repeated client id', () => {
    it('gives a resend after sent the same messageId, and the recipient’s devices see that messageId once', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const sa = await open(a);
      const b1 = await open(b);
      const b2 = await open(await withSecondDevice(t.baseUrl, b));
      sa.send({ type: 'send', id: 'once', to: b.userId, text: 'only once' });
      const first = await sa.next('sent', (f) => f.id === 'once');
      sa.send({ type: 'send', id: 'once', to: b.userId, text: 'only once' });
      const second = await sa.next('sent', (f) => f.id === 'once');
      expect(second).toEqual(first);
      const marker = await sendAndWait(sa, { to: b.userId, text: 'marker' });
      for (const s of [b1, b2]) {
        await s.next('message', (f) => f.messageId === marker.messageId);
        const copies = [...s.frames].filter((f) => f.type === 'message' && f.text === 'only once');
        expect(copies.map((f) => f.messageId)).toEqual([first.messageId]);
      }
    });

    it('gives two sends racing with the same id one messageId, delivered once', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const sa = await open(a);
      const sb = await open(b);
      for (let i = 0; i < 5; i++) sa.send({ type: 'send', id: 'race', to: b.userId, text: 'raced' });
      const answers: Frame[] = [];
      for (let i = 0; i < 5; i++) answers.push(await sa.next('sent', (f) => f.id === 'race'));
      expect(new Set(answers.map((f) => f.messageId)).size).toBe(1);
      const marker = await sendAndWait(sa, { to: b.userId, text: 'marker' });
      await sb.next('message', (f) => f.messageId === marker.messageId);
      expect(sb.frames.filter((f) => f.type === 'message' && f.text === 'raced')).toHaveLength(1);
    });

    it('gives the same id over a new connection of the same device the same messageId', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const s1 = await open(a);
      s1.send({ type: 'send', id: 'across', to: b.userId, text: 'before reconnect' });
      const first = await s1.next('sent', (f) => f.id === 'across');
      s1.close();
      const s2 = await open(a);
      s2.send({ type: 'send', id: 'across', to: b.userId, text: 'before reconnect' });
      expect((await s2.next('sent', (f) => f.id === 'across')).messageId).toBe(first.messageId);
    });

    it('is a different message when it comes from another device', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const a1 = await open(a);
      const a2 = await open(await withSecondDevice(t.baseUrl, a));
      a1.send({ type: 'send', id: 'same', to: b.userId, text: 'from device 1' });
      const one = await a1.next('sent', (f) => f.id === 'same');
      a2.send({ type: 'send', id: 'same', to: b.userId, text: 'from device 2' });
      const two = await a2.next('sent', (f) => f.id === 'same');
      expect(two.messageId).not.toBe(one.messageId);
    });
  });

  describe('message ids', () => {
    it('strictly increase, in the order sent, for 500 concurrent sends on one socket', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const sa = await open(a);
      const sb = await open(b);
      const n = 500;
      for (let i = 0; i < n; i++) sa.send({ type: 'send', id: `burst-${i}`, to: b.userId, text: `n${i}` });
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push((await sa.next('sent', (f) => f.id === `burst-${i}`)).messageId);
      for (let i = 1; i < n; i++)
        expect(idLess(ids[i - 1]!, ids[i]!), `id ${i} after id ${i - 1}`).toBe(true);
      // The recipient gets every one of them, each text with its id.
      const got = await Promise.all(ids.map((id) => sb.next('message', (f) => f.messageId === id)));
      expect(got.map((m) => m.text)).toEqual(ids.map((_, i) => `n${i}`));
    });

    it('are unique and increasing per device for 500 sends spread over five devices at once', async () => {
      const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const devices = [await open(a)];
      for (let d = 1; d < 5; d++) devices.push(await open(await withSecondDevice(t.baseUrl, a)));
      devices.forEach((s, d) => {
        for (let i = 0; i < 100; i++)
          s.send({ type: 'send', id: `d${d}-${i}`, to: b.userId, text: `d${d}-${i}` });
      });
      const all: string[] = [];
      for (const [d, s] of devices.entries()) {
        const ids: string[] = [];
        for (let i = 0; i < 100; i++)
          ids.push((await s.next('sent', (f) => f.id === `d${d}-${i}`)).messageId);
        for (let i = 1; i < ids.length; i++) expect(idLess(ids[i - 1]!, ids[i]!)).toBe(true);
        all.push(...ids);
      }
      expect(new Set(all).size).toBe(500);
    });
  });
});
