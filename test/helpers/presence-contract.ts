/**
 * The PresenceBackend contract (chat-node/backends/types.ts), run against every implementation: the
 * in-process MemoryPresence and RedisPresence on a real Redis. Each test opens its own presence on a
 * fresh cluster and closes it. What only a shared backend can do (several nodes, a crashed node's
 * devices) is tested beside the Redis implementation, not here.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceBackend } from '../../chat-node/backends/types.ts';
import type { PresenceInfo } from '../../common/protocol.ts';
import { until } from './until.ts';

export type PresenceOpener = (options: {
  expireMs: number;
}) => Promise<{ presence: PresenceBackend; cleanup: () => Promise<void> }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const user = (name: string) => `${name}_${randomBytes(3).toString('hex')}`;

export function describePresenceContract(name: string, open: PresenceOpener): void {
  describe(`${name} (PresenceBackend contract)`, () => {
    const opened: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of opened.splice(0)) await cleanup();
    });

    /** A presence with every change it reports recorded. */
    async function presence(expireMs = 60_000) {
      const { presence: p, cleanup } = await open({ expireMs });
      opened.push(async () => {
        await p.close();
        await cleanup();
      });
      const changes: PresenceInfo[] = [];
      p.onChange((c) => changes.push(c));
      // A shared backend reports the users this node watches: watch each one before it is used.
      const watching = async <A extends unknown[]>(userId: string, f: () => Promise<A | void>) => {
        await p.watch?.([userId]);
        return f();
      };
      const watched: PresenceBackend = Object.assign(Object.create(p) as PresenceBackend, {
        deviceOnline: (u: string, d: string, n: number, t: number) =>
          watching(u, () => p.deviceOnline(u, d, n, t)),
        deviceActive: (u: string, d: string, t: number) => watching(u, () => p.deviceActive(u, d, t)),
        deviceOffline: (u: string, d: string, t: number) => watching(u, () => p.deviceOffline(u, d, t)),
      });
      return { p: watched, changes };
    }
    const statusOf = async (p: PresenceBackend, userId: string) => (await p.get([userId]))[0]!.status;

    it('answers offline with lastActiveAt null for a user never seen', async () => {
      const { p } = await presence();
      const nobody = user('nobody');
      expect(await p.get([nobody])).toEqual([{ userId: nobody, status: 'offline', lastActiveAt: null }]);
    });

    it('reports online, then offline, each change once, with lastActiveAt of the last activity', async () => {
      const { p, changes } = await presence();
      const alice = user('alice');
      // In the past: a time reported past the backend's clock is taken as the clock's.
      const t0 = Date.now() - 1000;
      await p.deviceOnline(alice, 'phone', 1, t0);
      expect(await p.get([alice])).toEqual([{ userId: alice, status: 'online', lastActiveAt: t0 }]);
      await p.deviceOffline(alice, 'phone', t0 + 5);
      expect(await p.get([alice])).toEqual([{ userId: alice, status: 'offline', lastActiveAt: t0 + 5 }]);
      await until('both changes reported', () => changes.filter((c) => c.userId === alice).length >= 2);
      await sleep(50);
      expect(changes.filter((c) => c.userId === alice)).toEqual([
        { userId: alice, status: 'online', lastActiveAt: t0 },
        { userId: alice, status: 'offline', lastActiveAt: t0 + 5 },
      ]);
    });

    it('keeps a user online while any device is, without a change for the second device', async () => {
      const { p, changes } = await presence();
      const bob = user('bob');
      const t0 = Date.now() - 1000;
      await p.deviceOnline(bob, 'phone', 1, t0);
      await p.deviceOnline(bob, 'laptop', 1, t0 + 1);
      await p.deviceOffline(bob, 'phone', t0 + 2);
      expect(await statusOf(p, bob)).toBe('online');
      await p.deviceOffline(bob, 'laptop', t0 + 3);
      expect(await statusOf(p, bob)).toBe('offline');
      await until('offline reported', () => changes.some((c) => c.userId === bob && c.status === 'offline'));
      await sleep(50);
      expect(changes.filter((c) => c.userId === bob).map((c) => c.status)).toEqual(['online', 'offline']);
    });

    it('moves lastActiveAt forward with deviceActive and never back', async () => {
      const { p } = await presence();
      const carol = user('carol');
      const t0 = Date.now();
      await p.deviceOnline(carol, 'phone', 1, t0);
      await p.deviceActive(carol, 'phone', t0 + 500);
      await p.deviceActive(carol, 'phone', t0 + 100);
      expect((await p.get([carol]))[0]!.lastActiveAt).toBe(t0 + 500);
    });

    it('takes a time reported past its clock as the clock’s', async () => {
      const { p } = await presence();
      const eve = user('eve');
      await p.deviceOnline(eve, 'phone', 1, Date.now() - 1000);
      await p.deviceOffline(eve, 'phone', Date.now() + 3_600_000);
      expect((await p.get([eve]))[0]!.lastActiveAt).toBeLessThanOrEqual(Date.now());
    });

    it('ignores activity and offline reports of a device that is not online', async () => {
      const { p, changes } = await presence();
      const dan = user('dan');
      await p.deviceActive(dan, 'ghost', Date.now());
      await p.deviceOffline(dan, 'ghost', Date.now());
      expect(await p.get([dan])).toEqual([{ userId: dan, status: 'offline', lastActiveAt: null }]);
      await sleep(50);
      expect(changes.filter((c) => c.userId === dan)).toEqual([]);
    });

    it('turns a silent device offline after expireMs, and keeps an active one', async () => {
      const { p, changes } = await presence(300);
      const quiet = user('quiet');
      const busy = user('busy');
      await p.deviceOnline(quiet, 'phone', 1, Date.now());
      await p.deviceOnline(busy, 'phone', 1, Date.now());
      const keepAlive = setInterval(() => void p.deviceActive(busy, 'phone', Date.now()), 50);
      try {
        await until('the silent device expired', async () => (await statusOf(p, quiet)) === 'offline', 5000);
        expect(await statusOf(p, busy)).toBe('online');
      } finally {
        clearInterval(keepAlive);
      }
      await until('its offline change reported', () =>
        changes.some((c) => c.userId === quiet && c.status === 'offline'),
      );
    });

    it('answers many users in one get, in the order asked', async () => {
      const { p } = await presence();
      const users = Array.from({ length: 50 }, (_, i) => user(`u${i}`));
      const t0 = Date.now();
      for (const [i, u] of users.entries()) if (i % 2 === 0) await p.deviceOnline(u, 'd', 1, t0 + i);
      const got = await p.get(users);
      expect(got.map((g) => g.userId)).toEqual(users);
      expect(got.map((g) => g.status)).toEqual(users.map((_, i) => (i % 2 === 0 ? 'online' : 'offline')));
    });

    it('is ready while open and not after close', async () => {
      const { presence: p, cleanup } = await open({ expireMs: 60_000 });
      try {
        expect(p.isReady()).toBe(true);
        await p.close();
        expect(p.isReady()).toBe(false);
      } finally {
        await cleanup();
      }
    });
  });
}
