/** Every WebSocket frame, field and error code of PROTOCOL.md, over real connections to a real node. */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { TestSocket } from '../helpers/socket.ts';
import { createUser, createUsers, http, login, type TestUser } from '../helpers/users.ts';

describe('WebSocket protocol', () => {
  let t: TestNode;
  let alice: TestUser;
  let bob: TestUser;
  const sockets: TestSocket[] = [];
  const open = async (u: { token: string }, viaQuery = false) => {
    const s = await TestSocket.open(t.wsUrl, u.token, { viaQuery });
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    // Frame limits out of the way here; the limits suite has its own node.
    t = await startTestNode({ heartbeatMs: 300, framesPerSecond: 100_000, frameBurst: 100_000 });
    [alice, bob] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  describe('handshake', () => {
    it('accepts the token in the Authorization header and in ?token=, then sends welcome', async () => {
      const viaHeader = await TestSocket.open(t.wsUrl, alice.token);
      sockets.push(viaHeader);
      const viaQuery = await TestSocket.open(t.wsUrl, alice.token, { viaQuery: true });
      sockets.push(viaQuery);
      // open() consumed welcome; a fresh raw socket shows its fields.
      const ws = new WebSocket(t.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });
      const welcome = await new Promise<any>((resolve) =>
        ws.once('message', (d) => resolve(JSON.parse(d.toString()))),
      );
      ws.terminate();
      expect(welcome).toEqual({
        type: 'welcome',
        userId: alice.userId,
        deviceId: alice.deviceId,
        nodeId: 0,
        heartbeatMs: 300,
      });
    });

    it('refuses a missing, malformed or forged token with HTTP 401', async () => {
      const forged = await new SignJWT({ did: 'd1' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(alice.userId)
        .setIssuer('chat-platform')
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode('x'.repeat(48)));
      expect(await TestSocket.handshakeStatus(t.wsUrl)).toBe(401);
      expect(await TestSocket.handshakeStatus(t.wsUrl, { authorization: 'Bearer nonsense' })).toBe(401);
      expect(await TestSocket.handshakeStatus(t.wsUrl, { authorization: `Bearer ${forged}` })).toBe(401);
      expect(await TestSocket.handshakeStatus(`${t.wsUrl}?token=${forged}`)).toBe(401);
      expect(await TestSocket.handshakeStatus(t.wsUrl, { authorization: `Bearer ${alice.token}` })).toBe(101);
    });

    it('refuses upgrades on other paths', async () => {
      const url = t.wsUrl.replace('/v1/ws', '/v1/other');
      expect(await TestSocket.handshakeStatus(url, { authorization: `Bearer ${alice.token}` })).toBe(404);
    });
  });

  describe('send and message', () => {
    it('answers ping with pong', async () => {
      const s = await open(alice);
      s.send({ type: 'ping' });
      expect(await s.next('pong')).toEqual({ type: 'pong' });
    });

    it('delivers to every device of the recipient and to the sender’s other devices', async () => {
      const a1 = await open(alice);
      const a2 = await open(await login(t.baseUrl, alice.username, alice.password));
      const b1 = await open(bob);
      const b2 = await open(await login(t.baseUrl, bob.username, bob.password));
      a1.send({ type: 'send', id: 'md-1', to: bob.userId, text: 'to all devices' });
      const sent = await a1.next('sent', (f) => f.id === 'md-1');
      const ids = [alice.userId, bob.userId].sort();
      expect(sent).toMatchObject({
        messageId: expect.stringMatching(/^\d+$/),
        conversation: `dm:${ids[0]}:${ids[1]}`,
      });
      expect(typeof sent.ts).toBe('number');
      for (const s of [a2, b1, b2]) {
        const m = await s.next('message', (f) => f.messageId === sent.messageId);
        expect(m).toEqual({
          type: 'message',
          messageId: sent.messageId,
          conversation: sent.conversation,
          from: alice.userId,
          to: bob.userId,
          text: 'to all devices',
          ts: sent.ts,
        });
      }
    });

    it('accepts 100,000 emoji and refuses 100,001 characters with too_long', async () => {
      const s = await open(alice);
      const b = await open(bob);
      const big = '🙂'.repeat(100_000);
      s.send({ type: 'send', id: 'big', to: bob.userId, text: big });
      const sent = await s.next('sent', (f) => f.id === 'big');
      expect((await b.next('message', (f) => f.messageId === sent.messageId)).text).toBe(big);
      s.send({ type: 'send', id: 'huge', to: bob.userId, text: 'x'.repeat(100_001) });
      expect(await s.next('error', (f) => f.id === 'huge')).toMatchObject({ code: 'too_long' });
    });

    it('answers empty for a missing or empty text', async () => {
      const s = await open(alice);
      s.send({ type: 'send', id: 'e1', to: bob.userId, text: '' });
      s.send({ type: 'send', id: 'e2', to: bob.userId });
      expect(await s.next('error', (f) => f.id === 'e1')).toMatchObject({ code: 'empty' });
      expect(await s.next('error', (f) => f.id === 'e2')).toMatchObject({ code: 'empty' });
    });

    it('answers unknown_recipient and not_member', async () => {
      const s = await open(alice);
      s.send({ type: 'send', id: 'u1', to: 'nobody-here', text: 'hi' });
      expect(await s.next('error', (f) => f.id === 'u1')).toMatchObject({ code: 'unknown_recipient' });
      s.send({ type: 'send', id: 'g1', group: 'no-such-group', text: 'hi' });
      expect(await s.next('error', (f) => f.id === 'g1')).toMatchObject({ code: 'not_member' });
      const carol = await createUser(t.baseUrl);
      const { body } = await http(t.baseUrl, 'POST', '/v1/groups', {
        token: carol.token,
        body: { name: 'x', members: [bob.userId] },
      });
      s.send({ type: 'send', id: 'g2', group: body.groupId, text: 'hi' });
      expect(await s.next('error', (f) => f.id === 'g2')).toMatchObject({ code: 'not_member' });
    });

    it('gives a repeated client id the same message, delivered once', async () => {
      const s = await open(alice);
      const b = await open(bob);
      s.send({ type: 'send', id: 'dup', to: bob.userId, text: 'once' });
      s.send({ type: 'send', id: 'dup', to: bob.userId, text: 'once' });
      const first = await s.next('sent', (f) => f.id === 'dup');
      const second = await s.next('sent', (f) => f.id === 'dup');
      expect(second.messageId).toBe(first.messageId);
      s.send({ type: 'send', id: 'marker', to: bob.userId, text: 'marker' });
      await b.next('message', (f) => f.text === 'marker');
      expect(b.pending('message').filter((f) => f.messageId === first.messageId)).toHaveLength(1);
    });

    it('keeps ids strictly increasing for a burst of sends', async () => {
      const s = await open(alice);
      for (let i = 0; i < 300; i++) s.send({ type: 'send', id: `burst-${i}`, to: bob.userId, text: `b${i}` });
      const ids: bigint[] = [];
      for (let i = 0; i < 300; i++)
        ids.push(BigInt((await s.next('sent', (f) => f.id === `burst-${i}`)).messageId));
      expect(new Set(ids).size).toBe(300);
      // Sends on one connection are answered after their commit: later sends have larger ids.
      expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    });

    it('delivers a group message to all 100 members and sets group, not to', async () => {
      const members = await createUsers(t.baseUrl, 99, 'member');
      const { body } = await http(t.baseUrl, 'POST', '/v1/groups', {
        token: alice.token,
        body: { name: 'hundred', members: members.map((m) => m.userId) },
      });
      const memberSockets = await Promise.all(members.map((m) => open(m)));
      const s = await open(alice);
      s.send({ type: 'send', id: 'grp', group: body.groupId, text: 'hello all' });
      const sent = await s.next('sent', (f) => f.id === 'grp');
      expect(sent.conversation).toBe(`g:${body.groupId}`);
      for (const ms of memberSockets) {
        const m = await ms.next('message', (f) => f.messageId === sent.messageId);
        expect(m.group).toBe(body.groupId);
        expect(m.to).toBeUndefined();
      }
    });
  });

  describe('bad input', () => {
    const malformed: [string, unknown][] = [
      ['non-JSON', 'not json'],
      ['a JSON array', '[1,2]'],
      ['a JSON string', '"send"'],
      ['a frame without type', { to: 'x' }],
      ['an unknown type', { type: 'shout' }],
      ['a number as "to"', { type: 'send', to: 42, text: 'x' }],
      ['both to and group', { type: 'send', to: 'a', group: 'b', text: 'x' }],
      ['neither to nor group', { type: 'send', text: 'x' }],
      ['since that is not a decimal string', { type: 'sync', since: 5 }],
      ['limit as a string', { type: 'sync', since: '0', limit: '10' }],
      ['users that is not a list', { type: 'presence.subscribe', users: 'bob' }],
      [
        'more than 1000 users',
        { type: 'presence.subscribe', users: Array.from({ length: 1001 }, (_, i) => `u${i}`) },
      ],
      ['upTo that is not an id', { type: 'read', conversation: 'dm:a:b', upTo: 'x' }],
    ];
    it.each(malformed)('answers bad_request to %s and keeps the connection usable', async (_name, frame) => {
      const s = await open(alice);
      s.send(frame);
      expect(await s.next('error')).toMatchObject({ code: 'bad_request', message: expect.any(String) });
      s.send({ type: 'ping' });
      await s.next('pong');
    });

    it('echoes the frame id in an error', async () => {
      const s = await open(alice);
      s.send({ type: 'sync', id: 'q1', since: 'nope' });
      expect(await s.next('error')).toMatchObject({ id: 'q1', code: 'bad_request' });
    });

    it('answers bad_request to a binary frame', async () => {
      const s = await open(alice);
      s.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
      expect(await s.next('error')).toMatchObject({ code: 'bad_request' });
    });

    it('closes with 1009 on a frame over 2 MiB and keeps serving others', async () => {
      const s = await open(alice);
      const other = await open(bob);
      s.send({ type: 'send', to: bob.userId, text: 'x'.repeat(2 * 1024 * 1024 + 10) });
      expect((await s.waitClosed()).code).toBe(1009);
      other.send({ type: 'ping' });
      await other.next('pong');
    });
  });

  describe('sync', () => {
    it('returns exactly the newer messages, oldest first, in pages with more', async () => {
      const [u, v] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const s = await open(u);
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        s.send({ type: 'send', id: `s${i}`, to: v.userId, text: `s${i}` });
        ids.push((await s.next('sent', (f) => f.id === `s${i}`)).messageId);
      }
      const reader = await open(v);
      const seen: string[] = [];
      let since = '0';
      for (let page = 0; page < 10; page++) {
        reader.send({ type: 'sync', since, limit: 10 });
        const answer = await reader.next('sync');
        seen.push(...answer.messages.map((m: any) => m.messageId));
        if (!answer.more) break;
        since = answer.messages.at(-1).messageId;
      }
      expect(seen).toEqual(ids);
      reader.send({ type: 'sync', since: ids[19] });
      const tail = await reader.next('sync');
      expect(tail.messages.map((m: any) => m.messageId)).toEqual(ids.slice(20));
      expect(tail.more).toBe(false);
    });

    it('clamps limit to 1000', async () => {
      const [u, v] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const s = await open(u);
      for (let i = 0; i < 1005; i++) s.send({ type: 'send', id: `c${i}`, to: v.userId, text: `c${i}` });
      await s.next('sent', (f) => f.id === 'c1004', 20_000);
      const reader = await open(v);
      reader.send({ type: 'sync', since: '0', limit: 5000 });
      const page = await reader.next('sync');
      expect(page.messages).toHaveLength(1000);
      expect(page.more).toBe(true);
    });

    it('stays under 2 MiB with large messages and says more', async () => {
      const [u, v] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
      const s = await open(u);
      for (let i = 0; i < 30; i++)
        s.send({ type: 'send', id: `L${i}`, to: v.userId, text: 'y'.repeat(100_000) });
      await s.next('sent', (f) => f.id === 'L29');
      const reader = await open(v);
      reader.ws.once('message', () => {});
      reader.send({ type: 'sync', since: '0', limit: 100 });
      const page = await reader.next('sync');
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(2 * 1024 * 1024);
      expect(page.messages.length).toBeLessThan(30);
      expect(page.more).toBe(true);
    });
  });

  describe('read cursors', () => {
    it('tells the user’s other devices, not the reading one', async () => {
      const a1 = await open(alice);
      const a2 = await open(await login(t.baseUrl, alice.username, alice.password));
      a1.send({ type: 'send', id: 'r1', to: bob.userId, text: 'read me' });
      const sent = await a1.next('sent', (f) => f.id === 'r1');
      a1.send({ type: 'read', conversation: sent.conversation, upTo: sent.messageId });
      const read = await a2.next('read');
      expect(read).toEqual({
        type: 'read',
        conversation: sent.conversation,
        upTo: sent.messageId,
        userId: alice.userId,
        deviceId: alice.deviceId,
      });
      a1.send({ type: 'ping' });
      await a1.next('pong');
      expect(a1.pending('read')).toHaveLength(0);
    });

    it('answers not_member for a conversation the user is not in', async () => {
      const s = await open(alice);
      s.send({ type: 'read', id: 'rn', conversation: 'dm:someone:zz-other', upTo: '1' });
      expect(await s.next('error', (f) => f.id === 'rn')).toMatchObject({ code: 'not_member' });
    });
  });

  describe('presence', () => {
    it('answers a subscription at once, then reports online and offline', async () => {
      const watcher = await open(alice);
      const carol = await createUser(t.baseUrl);
      watcher.send({ type: 'presence.subscribe', users: [carol.userId] });
      expect(await watcher.next('presence')).toEqual({
        type: 'presence',
        userId: carol.userId,
        status: 'offline',
        lastActiveAt: null,
      });
      const c = await open(carol);
      expect(await watcher.next('presence')).toMatchObject({ userId: carol.userId, status: 'online' });
      c.close();
      const off = await watcher.next('presence');
      expect(off).toMatchObject({ userId: carol.userId, status: 'offline' });
      expect(off.lastActiveAt).toEqual(expect.any(Number));
    });

    it('keeps a user online while another device is connected', async () => {
      const watcher = await open(alice);
      const dave = await createUser(t.baseUrl);
      const d1 = await open(dave);
      const d2 = await open(await login(t.baseUrl, dave.username, dave.password));
      watcher.send({ type: 'presence.subscribe', users: [dave.userId] });
      expect(await watcher.next('presence')).toMatchObject({ status: 'online' });
      d1.close();
      const { body } = await http(t.baseUrl, 'GET', `/v1/presence?users=${dave.userId}`, {
        token: alice.token,
      });
      expect(body.presence[0].status).toBe('online');
      d2.close();
      expect(await watcher.next('presence')).toMatchObject({ userId: dave.userId, status: 'offline' });
    });

    it('shows a device offline after three missed heartbeats, with its last activity', async () => {
      const watcher = await open(alice);
      const erin = await createUser(t.baseUrl);
      const e = await open(erin);
      e.send({ type: 'ping' });
      await e.next('pong');
      const lastFrame = Date.now();
      watcher.send({ type: 'presence.subscribe', users: [erin.userId] });
      expect(await watcher.next('presence')).toMatchObject({ status: 'online' });
      // Erin sends nothing more; the watcher keeps its own connection alive.
      const keepAlive = setInterval(() => watcher.send({ type: 'ping' }), 100);
      try {
        const off = await watcher.next('presence', (f) => f.userId === erin.userId, 10_000);
        expect(off.status).toBe('offline');
        expect(off.lastActiveAt).toBeLessThanOrEqual(lastFrame + 50);
        expect((await e.waitClosed()).code).not.toBe(1000);
      } finally {
        clearInterval(keepAlive);
      }
    });
  });

  describe('limits', () => {
    let limited: TestNode;
    beforeAll(async () => {
      limited = await startTestNode({ framesPerSecond: 5, frameBurst: 5, maxBufferedBytes: 65_536 });
    });
    afterAll(() => limited.close());

    it('answers rate_limited, then closes a client that keeps sending with 1008', async () => {
      const u = await createUser(limited.baseUrl);
      const s = await TestSocket.open(limited.wsUrl, u.token);
      sockets.push(s);
      for (let i = 0; i < 8; i++) s.send({ type: 'ping' });
      expect(await s.next('error')).toMatchObject({ code: 'rate_limited' });
      for (let i = 0; i < 100; i++) s.send({ type: 'ping' });
      expect((await s.waitClosed()).code).toBe(1008);
    });

    it('disconnects a reader that does not read instead of buffering without bound', async () => {
      const fast = await startTestNode({
        framesPerSecond: 100_000,
        frameBurst: 100_000,
        maxBufferedBytes: 65_536,
      });
      try {
        const [sender, slow, other] = (await createUsers(fast.baseUrl, 3)) as [TestUser, TestUser, TestUser];
        const reader = await TestSocket.open(fast.wsUrl, slow.token);
        const bystander = await TestSocket.open(fast.wsUrl, other.token);
        sockets.push(reader, bystander);
        // Stop reading: the kernel's socket buffers fill, then the node's send buffer grows.
        (reader.ws as any)._socket.pause();
        const text = 'z'.repeat(100_000);
        // Sent over HTTP, so that no test socket has to absorb the flood's echoes.
        for (let round = 0; round < 40 && fast.node.gateway.sessions.size > 1; round++) {
          await Promise.all(
            Array.from({ length: 10 }, () =>
              http(fast.baseUrl, 'POST', '/v1/messages', {
                token: sender.token,
                body: { to: slow.userId, text },
              }),
            ),
          );
        }
        const stillThere = [...fast.node.gateway.sessions.all()].filter((c) => c.userId === slow.userId);
        expect(stillThere).toHaveLength(0);
        expect(await fast.node.metrics.registry.getSingleMetricAsString('chat_disconnects_total')).toMatch(
          /slow_reader/,
        );
        // Another connection was never affected.
        bystander.send({ type: 'ping' });
        await bystander.next('pong');
      } finally {
        await fast.close();
      }
    });
  });
});
