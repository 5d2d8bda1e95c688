/** Heartbeats (`ping`/`pong`) and presence (`presence.subscribe`, `presence` frames, GET /v1/presence). */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import type { Frame, TestSocket } from '../helpers/socket.ts';
import { createUser, createUsers, login, type TestUser } from '../helpers/users.ts';
import { firstFrame, presenceOf, roundTrip, SocketPool, waitUntil } from '../helpers/ws.ts';

describe('heartbeats and presence', () => {
  const pool = new SocketPool();
  afterAll(() => pool.closeAll());

  describe('on a node with a long heartbeat', () => {
    let t: TestNode;
    let watcherUser: TestUser;
    let watcher: TestSocket;
    const open = (u: { token: string }) => pool.open(t.wsUrl, u.token);
    /** Connections of a user open on the node (to know that a disconnect was processed). */
    const connectionsOf = (userId: string) =>
      [...t.node.gateway.sessions.all()].filter((c) => c.userId === userId).length;

    beforeAll(async () => {
      t = await startTestNode({ heartbeatMs: 60_000 });
      watcherUser = await createUser(t.baseUrl, 'watcher');
      watcher = await open(watcherUser);
    });
    afterAll(() => t.close());
    beforeEach(async () => {
      // Each test starts with no unread frame on the watcher.
      await roundTrip(watcher);
      watcher.frames.length = 0;
    });

    /** Subscribes the watcher and returns the immediate frames, by user. */
    async function subscribe(s: TestSocket, users: string[]): Promise<Map<string, Frame>> {
      s.send({ type: 'presence.subscribe', users });
      const byUser = new Map<string, Frame>();
      for (const userId of new Set(users))
        byUser.set(userId, await s.next('presence', (f) => f.userId === userId));
      return byUser;
    }

    describe('ping', () => {
      it('is answered with pong', async () => {
        const s = await open(watcherUser);
        s.send({ type: 'ping' });
        expect(await s.next('pong')).toEqual({ type: 'pong' });
      });

      it('is answered once per ping, also when pings come in a burst', async () => {
        const s = await open(watcherUser);
        for (let i = 0; i < 20; i++) s.send({ type: 'ping' });
        for (let i = 0; i < 20; i++) await s.next('pong');
        await roundTrip(s);
        expect(s.pending('pong')).toEqual([]);
      });

      it('is answered with pong when it carries an id', async () => {
        const s = await open(watcherUser);
        s.send({ type: 'ping', id: 'hb-1' });
        expect((await s.next('pong')).type).toBe('pong');
        expect(s.pending('error')).toEqual([]);
      });
    });

    describe('presence.subscribe', () => {
      it('answers at once with one presence frame per user: online, offline after a visit, never seen', async () => {
        const [online, visited, never] = (await createUsers(t.baseUrl, 3, 'sub')) as [
          TestUser,
          TestUser,
          TestUser,
        ];
        const before = Date.now();
        const so = await open(online);
        const sv = await open(visited);
        sv.close();
        await waitUntil('the visitor’s connection is gone', () =>
          connectionsOf(visited.userId) === 0 ? true : undefined,
        );
        const frames = await subscribe(watcher, [
          online.userId,
          visited.userId,
          never.userId,
          'no-such-user',
        ]);
        expect(frames.get(online.userId)).toEqual({
          type: 'presence',
          userId: online.userId,
          status: 'online',
          lastActiveAt: expect.any(Number),
        });
        expect(frames.get(online.userId)!.lastActiveAt).toBeGreaterThanOrEqual(before);
        expect(frames.get(visited.userId)).toEqual({
          type: 'presence',
          userId: visited.userId,
          status: 'offline',
          lastActiveAt: expect.any(Number),
        });
        expect(frames.get(visited.userId)!.lastActiveAt).toBeGreaterThanOrEqual(before);
        expect(frames.get(never.userId)).toEqual({
          type: 'presence',
          userId: never.userId,
          status: 'offline',
          lastActiveAt: null,
        });
        expect(frames.get('no-such-user')).toEqual({
          type: 'presence',
          userId: 'no-such-user',
          status: 'offline',
          lastActiveAt: null,
        });
        await roundTrip(watcher);
        expect(watcher.pending('presence')).toEqual([]);
        so.close();
      });

      it('answers an empty list with no frame and no error', async () => {
        watcher.send({ type: 'presence.subscribe', users: [] });
        await roundTrip(watcher);
        expect(watcher.pending('presence')).toEqual([]);
        expect(watcher.pending('error')).toEqual([]);
      });

      it('accepts exactly 1000 users and answers for each', async () => {
        const s = await open(watcherUser);
        const users = Array.from({ length: 1000 }, (_, i) => `nobody-${i}`);
        s.send({ type: 'presence.subscribe', users });
        for (const userId of users) await s.next('presence', (f) => f.userId === userId);
        expect(s.pending('error')).toEqual([]);
      });

      it('counts each distinct user once toward the 1000 users a connection may watch', async () => {
        const s = await open(watcherUser);
        const first = Array.from({ length: 999 }, (_, i) => `w999-${i}`);
        s.send({ type: 'presence.subscribe', users: first });
        for (const userId of first) await s.next('presence', (f) => f.userId === userId);
        // The 1000th user, named twice, and users already watched are no new users.
        s.send({
          type: 'presence.subscribe',
          id: 'dup',
          users: ['w999-last', 'w999-last', first[0]!, first[1]!],
        });
        expect(await s.next('presence', (f) => f.userId === 'w999-last')).toMatchObject({
          status: 'offline',
        });
        await roundTrip(s);
        expect(s.pending('error')).toEqual([]);
        // A 1001st is one too many.
        s.send({ type: 'presence.subscribe', id: 'over', users: ['w999-over'] });
        expect(await s.next('error', (f) => f.id === 'over')).toMatchObject({ code: 'bad_request' });
      });

      it('reports a subscribed user coming online and going offline when its last device disconnects', async () => {
        const carol = await createUser(t.baseUrl, 'carol');
        expect((await subscribe(watcher, [carol.userId])).get(carol.userId)!.status).toBe('offline');
        const before = Date.now();
        const c = await open(carol);
        const on = await watcher.next('presence', (f) => f.userId === carol.userId);
        expect(on).toEqual({
          type: 'presence',
          userId: carol.userId,
          status: 'online',
          lastActiveAt: expect.any(Number),
        });
        expect(on.lastActiveAt).toBeGreaterThanOrEqual(before);
        c.send({ type: 'ping' });
        await c.next('pong');
        const lastFrame = Date.now();
        c.close();
        const off = await watcher.next('presence', (f) => f.userId === carol.userId);
        expect(off).toEqual({
          type: 'presence',
          userId: carol.userId,
          status: 'offline',
          lastActiveAt: expect.any(Number),
        });
        expect(off.lastActiveAt).toBeGreaterThanOrEqual(on.lastActiveAt);
        expect(off.lastActiveAt).toBeLessThanOrEqual(lastFrame);
        expect(await presenceOf(t.baseUrl, watcherUser.token, [carol.userId])).toEqual([
          { userId: carol.userId, status: 'offline', lastActiveAt: off.lastActiveAt },
        ]);
      });

      it('reports offline after a clean close (1000) as well as after a cut connection', async () => {
        const erin = await createUser(t.baseUrl, 'erin');
        await subscribe(watcher, [erin.userId]);
        const e = await open(erin);
        expect((await watcher.next('presence', (f) => f.userId === erin.userId)).status).toBe('online');
        e.ws.close(1000, 'bye');
        expect((await watcher.next('presence', (f) => f.userId === erin.userId)).status).toBe('offline');
      });

      it('keeps a user with two devices online when one disconnects, offline when both have', async () => {
        const dave = await createUser(t.baseUrl, 'dave');
        const d1 = await open(dave);
        expect((await subscribe(watcher, [dave.userId])).get(dave.userId)!.status).toBe('online');
        const d2 = await open(await login(t.baseUrl, dave.username, dave.password));
        d1.close();
        await waitUntil('dave’s first device is gone', () =>
          connectionsOf(dave.userId) === 1 ? true : undefined,
        );
        expect((await presenceOf(t.baseUrl, watcherUser.token, [dave.userId]))[0]!.status).toBe('online');
        await roundTrip(watcher);
        expect(watcher.pending('presence')).toEqual([]);
        d2.close();
        const off = await watcher.next('presence', (f) => f.userId === dave.userId);
        expect(off.status).toBe('offline');
        expect((await presenceOf(t.baseUrl, watcherUser.token, [dave.userId]))[0]!.status).toBe('offline');
      });

      it('keeps a device online while another connection of the same device is open', async () => {
        const frank = await createUser(t.baseUrl, 'frank');
        const first = await open(frank);
        const again = await open(frank); // the same token: the same device reconnecting
        await subscribe(watcher, [frank.userId]);
        first.close();
        await waitUntil('the first connection is gone', () =>
          connectionsOf(frank.userId) === 1 ? true : undefined,
        );
        await roundTrip(watcher);
        expect(watcher.pending('presence')).toEqual([]);
        expect((await presenceOf(t.baseUrl, watcherUser.token, [frank.userId]))[0]!.status).toBe('online');
        again.close();
        expect((await watcher.next('presence', (f) => f.userId === frank.userId)).status).toBe('offline');
      });

      it('sends nothing about users the connection did not subscribe to', async () => {
        const [watched, unwatched] = (await createUsers(t.baseUrl, 2, 'w')) as [TestUser, TestUser];
        await subscribe(watcher, [watched.userId]);
        const su = await open(unwatched);
        const sw = await open(watched);
        expect((await watcher.next('presence', (f) => f.userId === watched.userId)).status).toBe('online');
        su.close();
        sw.close();
        expect((await watcher.next('presence', (f) => f.userId === watched.userId)).status).toBe('offline');
        expect(watcher.frames.filter((f) => f.userId === unwatched.userId)).toEqual([]);
      });

      it('tells every subscribed connection', async () => {
        const gina = await createUser(t.baseUrl, 'gina');
        const [w1, w2] = (await createUsers(t.baseUrl, 2, 'ww')) as [TestUser, TestUser];
        const s1 = await open(w1);
        const s2 = await open(w2);
        await subscribe(s1, [gina.userId]);
        await subscribe(s2, [gina.userId]);
        const g = await open(gina);
        for (const s of [s1, s2])
          expect((await s.next('presence', (f) => f.userId === gina.userId)).status).toBe('online');
        g.close();
        for (const s of [s1, s2])
          expect((await s.next('presence', (f) => f.userId === gina.userId)).status).toBe('offline');
      });
    });

    describe('GET /v1/presence', () => {
      it('gives lastActiveAt null and offline for users never seen', async () => {
        const never = await createUser(t.baseUrl, 'never');
        expect(await presenceOf(t.baseUrl, watcherUser.token, [never.userId, 'nobody-ever'])).toEqual([
          { userId: never.userId, status: 'offline', lastActiveAt: null },
          { userId: 'nobody-ever', status: 'offline', lastActiveAt: null },
        ]);
      });

      it('gives online with a lastActiveAt for a connected user', async () => {
        const hank = await createUser(t.baseUrl, 'hank');
        const before = Date.now();
        await open(hank);
        const [p] = await presenceOf(t.baseUrl, watcherUser.token, [hank.userId]);
        expect(p).toMatchObject({ userId: hank.userId, status: 'online' });
        expect(p!.lastActiveAt).toBeGreaterThanOrEqual(before);
      });
    });
  });

  describe('on a node with heartbeatMs 200', () => {
    const HEARTBEAT = 200;
    let t: TestNode;
    let keepAlive: NodeJS.Timeout | undefined;
    const alive: TestSocket[] = [];

    beforeAll(async () => {
      t = await startTestNode({ heartbeatMs: HEARTBEAT });
      // Sockets in `alive` send a frame every half interval, as a client should.
      keepAlive = setInterval(() => {
        for (const s of alive) if (!s.closed) s.send({ type: 'ping' });
      }, HEARTBEAT / 2);
    });
    afterAll(async () => {
      clearInterval(keepAlive);
      await t.close();
    });

    async function watcherFor(users: string[]): Promise<{ s: TestSocket; u: TestUser }> {
      const u = await createUser(t.baseUrl, 'hbw');
      const s = await pool.open(t.wsUrl, u.token);
      alive.push(s);
      s.send({ type: 'presence.subscribe', users });
      for (const userId of users) await s.next('presence', (f) => f.userId === userId);
      return { s, u };
    }

    it('announces heartbeatMs 200 in welcome', async () => {
      const u = await createUser(t.baseUrl, 'hb');
      const welcome = await firstFrame(t.wsUrl, { authorization: `Bearer ${u.token}` });
      expect(welcome).toMatchObject({ type: 'welcome', heartbeatMs: HEARTBEAT });
    });

    it('shows a device that stops sending offline after three intervals, with its last frame as lastActiveAt', async () => {
      const quiet = await createUser(t.baseUrl, 'quiet');
      const s = await pool.open(t.wsUrl, quiet.token);
      const { s: watcher, u: watcherUser } = await watcherFor([quiet.userId]);
      const before = Date.now();
      s.send({ type: 'ping' });
      await s.next('pong');
      const after = Date.now();
      // From now on the quiet device sends nothing.
      const off = await watcher.next('presence', (f) => f.userId === quiet.userId, 10_000);
      const seenOffAt = Date.now();
      expect(off.status).toBe('offline');
      expect(off.lastActiveAt).toBeGreaterThanOrEqual(before);
      expect(off.lastActiveAt).toBeLessThanOrEqual(after);
      // Not before its 3 × heartbeat grace had run out.
      expect(seenOffAt - after).toBeGreaterThanOrEqual(3 * HEARTBEAT);
      expect(await presenceOf(t.baseUrl, watcherUser.token, [quiet.userId])).toEqual([
        { userId: quiet.userId, status: 'offline', lastActiveAt: off.lastActiveAt },
      ]);
      // The node also closes the silent connection.
      await s.waitClosed(10_000);
    });

    it('uses the welcome as the last activity of a device that never sends a frame', async () => {
      const mute = await createUser(t.baseUrl, 'mute');
      const { s: watcher } = await watcherFor([mute.userId]);
      const before = Date.now();
      const s = await pool.open(t.wsUrl, mute.token);
      const after = Date.now();
      expect((await watcher.next('presence', (f) => f.userId === mute.userId)).status).toBe('online');
      const off = await watcher.next('presence', (f) => f.userId === mute.userId, 10_000);
      expect(off.status).toBe('offline');
      expect(off.lastActiveAt).toBeGreaterThanOrEqual(before);
      expect(off.lastActiveAt).toBeLessThanOrEqual(after);
      await s.waitClosed(10_000);
    });

    it('keeps devices online that send pings, or any other frame, while a silent one goes offline', async () => {
      const [silent, pinger, syncer] = (await createUsers(t.baseUrl, 3, 'hb3')) as [
        TestUser,
        TestUser,
        TestUser,
      ];
      const ss = await pool.open(t.wsUrl, silent.token);
      const sp = await pool.open(t.wsUrl, pinger.token);
      const sy = await pool.open(t.wsUrl, syncer.token);
      alive.push(sp);
      // The syncer never pings: its sync frames are its heartbeat.
      const syncing = setInterval(() => {
        if (!sy.closed) sy.send({ type: 'sync', since: '0', limit: 1 });
      }, HEARTBEAT / 2);
      try {
        const { s: watcher, u: watcherUser } = await watcherFor([
          silent.userId,
          pinger.userId,
          syncer.userId,
        ]);
        const off = await watcher.next('presence', (f) => f.userId === silent.userId, 10_000);
        expect(off.status).toBe('offline');
        await ss.waitClosed(10_000);
        // The silent device has been gone for three intervals; the others, connected as long, are not.
        const now = await presenceOf(t.baseUrl, watcherUser.token, [pinger.userId, syncer.userId]);
        expect(now.map((p) => p.status)).toEqual(['online', 'online']);
        expect(watcher.pending('presence')).toEqual([]);
        expect(sp.closed).toBeUndefined();
        expect(sy.closed).toBeUndefined();
        // Their activity keeps moving lastActiveAt past the silent device's.
        for (const p of now) expect(p.lastActiveAt).toBeGreaterThan(off.lastActiveAt);
      } finally {
        clearInterval(syncing);
      }
    });

    it('shows a device online again when it reconnects after timing out', async () => {
      const back = await createUser(t.baseUrl, 'back');
      const { s: watcher } = await watcherFor([back.userId]);
      const first = await pool.open(t.wsUrl, back.token);
      expect((await watcher.next('presence', (f) => f.userId === back.userId)).status).toBe('online');
      expect((await watcher.next('presence', (f) => f.userId === back.userId, 10_000)).status).toBe(
        'offline',
      );
      await first.waitClosed(10_000);
      const second = await pool.open(t.wsUrl, back.token);
      alive.push(second);
      expect((await watcher.next('presence', (f) => f.userId === back.userId)).status).toBe('online');
    });
  });
});
