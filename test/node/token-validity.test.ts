/**
 * TokenValidity on a store that can fail: the last answer stands in for a bounded time while the
 * store is away, a token never looked at is refused, and a revocation drops the stand-in.
 */
import { describe, expect, it } from 'vitest';
import type { MessageBus, Store } from '../../chat-node/backends/types.ts';
import {
  CACHE_MAX_DEVICES_PER_USER,
  STALE_IF_ERROR_MS,
  TokenValidity,
} from '../../chat-node/chat/token-validity.ts';

function setup() {
  let now = 1_000_000;
  let down = false;
  let lookups = 0;
  const cutoffs = new Map<string, number>([['u1', 0]]);
  const store = {
    tokenCutoff: async (userId: string) => {
      lookups++;
      if (down) throw new Error('store unavailable');
      return cutoffs.get(userId);
    },
    revokeTokens: async (userId: string, _device: string | undefined, cutoff: number) => {
      if (down) throw new Error('store unavailable');
      cutoffs.set(userId, cutoff);
    },
  } as unknown as Store;
  const bus = { publishEvent: async () => {} } as unknown as MessageBus;
  const validity = new TokenValidity({ store, bus, cacheMs: 5000, clock: () => now });
  return {
    validity,
    claims: (userId: string, deviceId = 'd1') => ({ userId, deviceId, issuedAt: now - 1 }),
    advance: (ms: number) => {
      now += ms;
    },
    setDown: (v: boolean) => {
      down = v;
    },
    lookups: () => lookups,
  };
}

describe('TokenValidity', () => {
  it('keeps a known token valid while the store is away, up to STALE_IF_ERROR_MS after its last answer', async () => {
    const t = setup();
    const claims = t.claims('u1');
    expect(await t.validity.valid(claims)).toBe(true);
    t.setDown(true);
    t.advance(6000);
    expect(await t.validity.valid(claims)).toBe(true);
    // The stand-in is trusted for cacheMs, then the store is asked again.
    const asked = t.lookups();
    t.advance(1000);
    expect(await t.validity.valid(claims)).toBe(true);
    expect(t.lookups()).toBe(asked);
    t.advance(STALE_IF_ERROR_MS);
    await expect(t.validity.valid(claims)).rejects.toThrow('store unavailable');
  });

  it('refuses a token it never looked at while the store is away, and answers again when it is back', async () => {
    const t = setup();
    t.setDown(true);
    await expect(t.validity.valid(t.claims('u1'))).rejects.toThrow('store unavailable');
    t.setDown(false);
    expect(await t.validity.valid(t.claims('u1'))).toBe(true);
    expect(await t.validity.valid(t.claims('nobody'))).toBe(false);
  });

  it('drops the stand-in on a revocation', async () => {
    const t = setup();
    const claims = t.claims('u1');
    expect(await t.validity.valid(claims)).toBe(true);
    t.validity.forget('u1');
    t.setDown(true);
    await expect(t.validity.valid(claims)).rejects.toThrow('store unavailable');
  });

  it('asks the store once for concurrent requests of one device', async () => {
    const t = setup();
    const claims = t.claims('u1');
    await Promise.all(Array.from({ length: 10 }, () => t.validity.valid(claims)));
    expect(t.lookups()).toBe(1);
  });

  it('keeps at most CACHE_MAX_DEVICES_PER_USER devices of one user, then starts that user over', async () => {
    const t = setup();
    const device = (i: number) => t.claims('u1', `d${i}`);
    for (let i = 0; i < CACHE_MAX_DEVICES_PER_USER; i++) expect(await t.validity.valid(device(i))).toBe(true);
    // All of them are cached: asking again costs no lookup.
    const asked = t.lookups();
    expect(await t.validity.valid(device(0))).toBe(true);
    expect(t.lookups()).toBe(asked);
    // One device more: the user's cache starts over, so the first device is looked up again.
    expect(await t.validity.valid(device(CACHE_MAX_DEVICES_PER_USER))).toBe(true);
    expect(await t.validity.valid(device(0))).toBe(true);
    expect(t.lookups()).toBe(asked + 2);
  });
});
