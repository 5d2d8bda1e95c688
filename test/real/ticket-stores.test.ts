/**
 * The TicketStore contract on both implementations: in process (MemoryTickets) and on the real
 * shared Redis of `.services/env` (RedisTickets): a ticket is taken once, not after it expired, and
 * one user gets at most its bound of tickets per lifetime while others get theirs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryTickets } from '../../chat-node/backends/embedded/memory-tickets.ts';
import { RedisTickets } from '../../chat-node/backends/real/redis-tickets.ts';
import type { TicketStore } from '../../chat-node/backends/types.ts';
import { silentLogger } from '../../common/logger.ts';
import { servicesEnv } from '../helpers/cluster.ts';

const ticket = () => randomBytes(32).toString('base64url');
const claims = (userId: string) => ({ userId, deviceId: 'd1', issuedAt: 1234 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ticketContract(name: string, open: () => Promise<TicketStore>): void {
  describe(`${name} (TicketStore)`, () => {
    let store: TicketStore;
    const user = () => `u${randomBytes(6).toString('hex')}`;

    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store.close();
    });

    it('gives a ticket’s claims once', async () => {
      const t = ticket();
      const u = user();
      const now = Date.now();
      expect(await store.put(t, claims(u), now + 60_000, 10, now)).toBe(true);
      expect(await store.take(t, Date.now())).toEqual(claims(u));
      expect(await store.take(t, Date.now())).toBeUndefined();
      expect(await store.take(ticket(), Date.now())).toBeUndefined();
    });

    it('gives nothing for an expired ticket', async () => {
      const t = ticket();
      const now = Date.now();
      expect(await store.put(t, claims(user()), now + 100, 10, now)).toBe(true);
      await sleep(200);
      expect(await store.take(t, Date.now())).toBeUndefined();
    });

    it('refuses a user past its bound per lifetime, and not another user', async () => {
      const u = user();
      const now = Date.now();
      const kept: boolean[] = [];
      for (let i = 0; i < 4; i++) kept.push(await store.put(ticket(), claims(u), now + 60_000, 3, now));
      expect(kept).toEqual([true, true, true, false]);
      expect(await store.put(ticket(), claims(user()), now + 60_000, 3, now)).toBe(true);
    });
  });
}

ticketContract('MemoryTickets', async () => new MemoryTickets());
ticketContract('RedisTickets', () =>
  RedisTickets.open({
    url: servicesEnv().CHAT_REDIS_URL!,
    cluster: `t${randomBytes(4).toString('hex')}`,
    log: silentLogger(),
  }),
);

describe('MemoryTickets bounds', () => {
  it('holds at most maxTickets in all, and frees expired ones as time passes', async () => {
    const store = new MemoryTickets({ maxTickets: 5 });
    const now = 1_000_000;
    for (let i = 0; i < 5; i++)
      expect(await store.put(ticket(), claims(`u${i}`), now + 60_000, 10, now)).toBe(true);
    expect(await store.put(ticket(), claims('u9'), now + 60_000, 10, now)).toBe(false);
    expect(await store.put(ticket(), claims('u9'), now + 120_001, 10, now + 60_001)).toBe(true);
    expect(store.size).toBe(1);
  });
});
