/**
 * "One client can never hurt another", as tests over real connections that run on any node: the
 * embedded one (embedded.test.ts) and one on JetStream, Cassandra and Redis (real.test.ts). Each
 * suite gets a node from `start` with the limits it needs.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { NodeConfig } from '../../common/node-config.ts';
import { MAX_FRAME_BYTES } from '../../common/protocol.ts';
import type { TestNode } from '../helpers/node.ts';
import type { TestSocket } from '../helpers/socket.ts';
import { createUser, createUsers, http, type TestUser } from '../helpers/users.ts';
import { dmOf, handshakeAnswer, SocketPool, waitUntil } from '../helpers/ws.ts';

/** A test node, and what the tests need from its store and secret. */
export interface IsolationNode extends TestNode {
  /** A token signed with the node's secret, for any claims. */
  signToken(claims: { userId: string; deviceId: string }): Promise<string>;
  /** Removes an account from the store directly (there is no API for it). */
  deleteUser(userId: string): Promise<void>;
}

export type StartNode = (overrides: Partial<NodeConfig>) => Promise<IsolationNode>;

/** 100,000 emoji: the longest text a message may have, 400 KB of UTF-8. */
const BIG_TEXT = '😀'.repeat(100_000);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMiB = () => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

/** Stores `n` messages of 400 KB from the user to itself: an inbox that makes every page heavy. */
async function fillInbox(pool: SocketPool, t: TestNode, user: TestUser, n: number): Promise<void> {
  const s = await pool.open(t.wsUrl, user.token);
  for (let i = 0; i < n; i += 4) {
    const ids = Array.from({ length: Math.min(4, n - i) }, (_, k) => `big-${i + k}`);
    for (const id of ids) s.send({ type: 'send', id, to: user.userId, text: BIG_TEXT });
    for (const id of ids) await s.next('sent', (f) => f.id === id, 30_000);
    s.frames.length = 0;
  }
  s.close();
}

/** A raw socket that reads (and counts) frames without parsing them, so the test's own JSON work stays small. */
async function rawSocket(wsUrl: string, token: string): Promise<{ ws: WebSocket; frames: () => number }> {
  const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
  let frames = 0;
  ws.on('message', () => frames++);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames: () => frames };
}

/** Pings until `done` resolves; the largest round trip seen, in ms. */
async function maxPingWhile(s: TestSocket, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  let max = 0;
  while (!finished) {
    const t0 = performance.now();
    s.send({ type: 'ping' });
    await s.next('pong', () => true, 10_000);
    max = Math.max(max, performance.now() - t0);
    s.frames.length = 0;
    await new Promise((r) => setTimeout(r, 5));
  }
  return max;
}

/**
 * `inbox`: the heavy user's messages (400 KB each). `maxPingMs`: the bound on another user's ping
 * while the heavy user reads (one such read stalled every client for about 450 ms before the bounds).
 */
export function describeIsolation(
  kind: string,
  start: StartNode,
  o: { inbox: number; maxPingMs: number },
): void {
  describe(`one client cannot hurt another (${kind})`, () => {
    const pool = new SocketPool();
    afterAll(() => pool.closeAll());

    describe('a user reading a heavy inbox in bursts', () => {
      let t: IsolationNode;
      let heavy: TestUser;
      beforeAll(async () => {
        t = await start({});
        heavy = await createUser(t.baseUrl, 'heavy');
        await fillInbox(pool, t, heavy, o.inbox);
      }, 240_000);
      afterAll(() => t?.close());

      it(`keeps another user's ping under ${o.maxPingMs} ms and closes no other connection`, async () => {
        const [watcher, bystander] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
        const observer = await pool.open(t.wsUrl, watcher.token);
        const idle = await pool.open(t.wsUrl, bystander.token);
        const sockets = await Promise.all([1, 2, 3].map(() => rawSocket(t.wsUrl, heavy.token)));
        const cid = dmOf(heavy.userId, heavy.userId);
        const burst = async () => {
          for (let round = 0; round < 3; round++) {
            // Each connection asks for 8 full pages in one go; HTTP history pages at the same time.
            for (const s of sockets)
              for (let i = 0; i < 8; i++)
                s.ws.send(JSON.stringify({ type: 'sync', since: '0', limit: 1000 }));
            const pages = Array.from({ length: 4 }, async () => {
              const res = await fetch(`${t.baseUrl}/v1/conversations/${cid}/messages?limit=200`, {
                headers: { authorization: `Bearer ${heavy.token}` },
              });
              await res.arrayBuffer();
              return res.status;
            });
            const statuses = await Promise.all(pages);
            expect(statuses.every((s) => s === 200 || s === 429 || s === 503)).toBe(true);
            const want = 1 + 8 * (round + 1);
            await waitUntil(
              'every sync page arrived',
              () => (sockets.every((s) => s.frames() >= want) ? true : undefined),
              60_000,
            );
          }
        };
        const maxRtt = await maxPingWhile(observer, burst());
        expect(maxRtt).toBeLessThan(o.maxPingMs);
        expect(observer.closed).toBeUndefined();
        expect(idle.closed).toBeUndefined();
        for (const s of sockets) expect(s.ws.readyState).toBe(WebSocket.OPEN);
        for (const s of sockets) s.ws.close();
      }, 120_000);

      it('holds no more than the bound for a client that never reads, and lets go of it after the cut', async () => {
        const before = heapMiB();
        const earlier = new Set(t.node.gateway.sessions.ofUser(heavy.userId));
        const { ws } = await rawSocket(t.wsUrl, heavy.token);
        const conn = await waitUntil('the node has the connection', () =>
          t.node.gateway.sessions.ofUser(heavy.userId).find((c) => !earlier.has(c)),
        );
        const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
        socket.pause();
        // Ten pages asked at once: the node answers while its buffer has room, then waits.
        socket.cork();
        for (let i = 0; i < 10; i++) ws.send(JSON.stringify({ type: 'sync', since: '0', limit: 1000 }));
        socket.uncork();
        await new Promise((r) => setTimeout(r, 1500));
        const bound = t.config.maxBufferedBytes + MAX_FRAME_BYTES;
        expect(conn.peakQueued).toBeGreaterThan(0);
        expect(conn.peakQueued).toBeLessThanOrEqual(bound);
        expect(conn.closed).toBe(false);
        // Sixty more in one write: past the requests that may wait, the connection is cut.
        socket.cork();
        for (let i = 0; i < 60; i++) ws.send(JSON.stringify({ type: 'sync', since: '0', limit: 1000 }));
        socket.uncork();
        await waitUntil('the node cut the connection', () => (conn.closed ? true : undefined), 20_000);
        expect(conn.peakQueued).toBeLessThanOrEqual(bound);
        expect(await t.node.metrics.registry.getSingleMetricAsString('chat_disconnects_total')).toMatch(
          /reason="slow_reader"[^\n]* [1-9]/,
        );
        ws.terminate();
        await waitUntil('the connection is gone', () =>
          t.node.gateway.sessions.ofUser(heavy.userId).includes(conn) ? undefined : true,
        );
        expect(heapMiB() - before).toBeLessThan(32);
      }, 60_000);

      it('keeps unread HTTP history answers within the node-wide bound', async () => {
        const readers = await createUsers(t.baseUrl, 2);
        const cid = dmOf(heavy.userId, heavy.userId);
        const before = heapMiB();
        const sockets: import('node:net').Socket[] = [];
        const { connect } = await import('node:net');
        // Ten connections that pipeline five history requests each and never read an answer.
        for (let i = 0; i < 10; i++) {
          const token = i < 5 ? heavy.token : readers[i % 2]!.token;
          const path = i < 5 ? `/v1/conversations/${cid}/messages?limit=200` : '/v1/discovery';
          const sock = connect(t.node.port, '127.0.0.1');
          sock.pause();
          const req = `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`;
          sock.write(req.repeat(5));
          sockets.push(sock);
        }
        let peak = 0;
        for (let i = 0; i < 30; i++) {
          await new Promise((r) => setTimeout(r, 100));
          const g = await t.node.metrics.httpUnreadBytes.get();
          peak = Math.max(peak, g.values[0]?.value ?? 0);
        }
        expect(peak).toBeGreaterThan(0);
        expect(peak).toBeLessThanOrEqual(t.config.httpUnreadBytes);
        expect(heapMiB() - before).toBeLessThan(t.config.httpUnreadBytes / 2 ** 20 + 32);
        for (const s of sockets) s.destroy();
        await waitUntil('the held answers are let go', async () => {
          const g = await t.node.metrics.httpUnreadBytes.get();
          return (g.values[0]?.value ?? 0) === 0 ? true : undefined;
        });
      }, 60_000);
    });

    describe('per-user limits', () => {
      let t: IsolationNode;
      beforeAll(async () => {
        t = await start({
          maxConnectionsPerUser: 3,
          maxConnectionsPerDevice: 2,
          framesPerSecond: 1,
          frameBurst: 5,
          userFrameBurst: 8,
        });
      }, 120_000);
      afterAll(() => t?.close());

      it('refuses a connection past the per-device and per-user caps with 429 rate_limited', async () => {
        const u = await createUser(t.baseUrl, 'cap');
        const auth = (token: string) => ({ authorization: `Bearer ${token}` });
        await pool.open(t.wsUrl, u.token);
        await pool.open(t.wsUrl, u.token);
        const device = await handshakeAnswer(t.wsUrl, auth(u.token));
        expect(device.status).toBe(429);
        expect(JSON.parse(device.body).error).toMatchObject({
          code: 'rate_limited',
          message: expect.stringContaining('CHAT_MAX_CONNECTIONS_PER_DEVICE'),
        });
        const other = await http(t.baseUrl, 'POST', '/v1/sessions', {
          body: { username: u.username, password: u.password },
        });
        await pool.open(t.wsUrl, other.body.token);
        const third = await http(t.baseUrl, 'POST', '/v1/sessions', {
          body: { username: u.username, password: u.password },
        });
        const user = await handshakeAnswer(t.wsUrl, auth(third.body.token));
        expect(user.status).toBe(429);
        expect(JSON.parse(user.body).error.message).toContain('CHAT_MAX_CONNECTIONS_PER_USER');
        // Another user is not affected.
        const v = await createUser(t.baseUrl, 'cap');
        expect((await handshakeAnswer(t.wsUrl, auth(v.token))).status).toBe(101);
      });

      it("shares one frame budget between a user's connections", async () => {
        const u = await createUser(t.baseUrl, 'budget');
        const two = await http(t.baseUrl, 'POST', '/v1/sessions', {
          body: { username: u.username, password: u.password },
        });
        const a = await pool.open(t.wsUrl, u.token);
        const b = await pool.open(t.wsUrl, two.body.token);
        // Each connection alone may send 5 at once; together they share the user's 8.
        for (let i = 0; i < 5; i++) a.send({ type: 'ping' });
        for (let i = 0; i < 5; i++) b.send({ type: 'ping' });
        const answers = [];
        for (let i = 0; i < 5; i++) answers.push(await a.nextOf(['pong', 'error']));
        for (let i = 0; i < 5; i++) answers.push(await b.nextOf(['pong', 'error']));
        const pongs = answers.filter((f) => f.type === 'pong').length;
        expect(pongs).toBeGreaterThanOrEqual(8);
        expect(pongs).toBeLessThanOrEqual(9); // 8, and at most one more refilled meanwhile
        expect(answers.filter((f) => f.type === 'error').every((f) => f.code === 'rate_limited')).toBe(true);
      });
    });

    describe('accounts and tokens', () => {
      let t: IsolationNode;
      beforeAll(async () => {
        t = await start({ loginFailuresPerAccount: 3, authCacheMs: 300 });
      }, 120_000);
      afterAll(() => t?.close());

      const status = async (token: string) =>
        (await http(t.baseUrl, 'GET', '/v1/discovery', { token })).status;
      const wsStatus = async (token: string) =>
        (await handshakeAnswer(t.wsUrl, { authorization: `Bearer ${token}` })).status;

      it('refuses a well-signed token of a user that does not exist, over HTTP and the WebSocket', async () => {
        const token = await t.signToken({ userId: 'u0000000000nobody', deviceId: 'd1' });
        expect(await status(token)).toBe(401);
        expect(await wsStatus(token)).toBe(401);
      });

      it('refuses the tokens of a user removed from the store', async () => {
        const u = await createUser(t.baseUrl, 'gone');
        expect(await status(u.token)).toBe(200);
        await t.deleteUser(u.userId);
        await waitUntil('the token is refused', async () =>
          (await status(u.token)) === 401 ? true : undefined,
        );
        expect(await wsStatus(u.token)).toBe(401);
      });

      it("logs out one device: its token is refused and its socket closed, the user's other device goes on", async () => {
        const u = await createUser(t.baseUrl, 'logout');
        const other = (
          await http(t.baseUrl, 'POST', '/v1/sessions', {
            body: { username: u.username, password: u.password },
          })
        ).body;
        const mine = await pool.open(t.wsUrl, u.token);
        const theirs = await pool.open(t.wsUrl, other.token);
        expect((await http(t.baseUrl, 'DELETE', '/v1/sessions/current', { token: u.token })).status).toBe(
          204,
        );
        expect((await mine.waitClosed()).code).toBe(1008);
        expect(await status(u.token)).toBe(401);
        expect(await wsStatus(u.token)).toBe(401);
        expect(await status(other.token)).toBe(200);
        theirs.send({ type: 'ping' });
        await theirs.next('pong');
      });

      it('changes the password: every old token is refused, the new one and the new password work', async () => {
        const u = await createUser(t.baseUrl, 'pw');
        const other = (
          await http(t.baseUrl, 'POST', '/v1/sessions', {
            body: { username: u.username, password: u.password },
          })
        ).body;
        const live = await pool.open(t.wsUrl, other.token);
        const wrong = await http(t.baseUrl, 'POST', '/v1/users/me/password', {
          token: u.token,
          body: { currentPassword: 'not it', newPassword: 'new-password' },
        });
        expect(wrong.status).toBe(403);
        const res = await http(t.baseUrl, 'POST', '/v1/users/me/password', {
          token: u.token,
          body: { currentPassword: u.password, newPassword: 'new-password' },
        });
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ userId: u.userId, deviceId: u.deviceId, token: expect.any(String) });
        expect((await live.waitClosed()).code).toBe(1008);
        for (const old of [u.token, other.token]) {
          expect(await status(old)).toBe(401);
          expect(await wsStatus(old)).toBe(401);
        }
        expect(await status(res.body.token)).toBe(200);
        expect(await wsStatus(res.body.token)).toBe(101);
        const login = (password: string) =>
          http(t.baseUrl, 'POST', '/v1/sessions', { body: { username: u.username, password } });
        expect((await login(u.password)).status).toBe(401);
        expect((await login('new-password')).status).toBe(200);
      });

      it('limits failed logins per account whatever the address, and not other accounts', async () => {
        const [u, v] = (await createUsers(t.baseUrl, 2, 'guess')) as [TestUser, TestUser];
        const login = (user: TestUser, password: string) =>
          http(t.baseUrl, 'POST', '/v1/sessions', { body: { username: user.username, password } });
        for (let i = 0; i < 3; i++) expect((await login(u, `guess-${i}`)).status).toBe(401);
        const limited = await login(u, u.password);
        expect(limited.status).toBe(429);
        expect(limited.body.error.code).toBe('rate_limited');
        expect((await login(v, v.password)).status).toBe(200);
      });

      it('makes look-alike usernames one name, and refuses invisible characters', async () => {
        const suffix = `${process.pid}${Date.now().toString(36)}`;
        const pairs: [string, string][] = [
          [`Straße${suffix}`, `STRASSE${suffix}`],
          [`café${suffix}`.normalize('NFC'), `café${suffix}`.normalize('NFD')],
          [`ａｌｉｃｅ${suffix}`, `alice${suffix}`],
          [`ﬁle${suffix}`, `FILE${suffix}`],
        ];
        for (const [first, second] of pairs) {
          const created = await http(t.baseUrl, 'POST', '/v1/users', {
            body: { username: first, password: 'p' },
          });
          expect(created.status).toBe(201);
          const twin = await http(t.baseUrl, 'POST', '/v1/users', {
            body: { username: second, password: 'p' },
          });
          expect(twin.status).toBe(409);
          expect(twin.body.error.code).toBe('username_taken');
          const login = await http(t.baseUrl, 'POST', '/v1/sessions', {
            body: { username: second, password: 'p' },
          });
          expect(login.body.userId).toBe(created.body.userId);
        }
        for (const bad of [
          `zw\u200b${suffix}`,
          `rlo\u202e${suffix}`,
          `bom\ufeff${suffix}`,
          `lrm\u200e${suffix}`,
        ]) {
          const res = await http(t.baseUrl, 'POST', '/v1/users', { body: { username: bad, password: 'p' } });
          expect(res.status).toBe(400);
          expect(res.body.error.code).toBe('bad_request');
        }
      });

      it('clamps limit=1000000000 on history to 200', async () => {
        const [a, b] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
        for (let i = 0; i < 205; i += 41)
          await Promise.all(
            Array.from({ length: 41 }, (_, k) =>
              http(t.baseUrl, 'POST', '/v1/messages', {
                token: a.token,
                body: { to: b.userId, text: `m${i + k}` },
              }),
            ),
          );
        const cid = dmOf(a.userId, b.userId);
        for (const limit of ['1000000000', '99999999999999999999999', '201']) {
          const res = await http(t.baseUrl, 'GET', `/v1/conversations/${cid}/messages?limit=${limit}`, {
            token: a.token,
          });
          expect(res.status).toBe(200);
          expect(res.body.messages).toHaveLength(200);
        }
      });
    });
  });
}
