/**
 * The small per-connection records of an idle connection (BENCHMARKS.md, "Idle connections"): a
 * user's one connection is a map entry of its own until a second comes, presence keeps one device in
 * two fields until a second comes, token lookups likewise, and the frame budget is two numbers on
 * the connection. Each must behave as the Set, Map and object forms did.
 */

import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { MemoryPresence } from '../../chat-node/backends/embedded/memory-presence.ts';
import type { MessageBus, Store } from '../../chat-node/backends/types.ts';
import { TokenValidity } from '../../chat-node/chat/token-validity.ts';
import { createMetrics } from '../../chat-node/metrics.ts';
import { KeyedBuckets } from '../../chat-node/rate-limit.ts';
import { Connection, connectionShared } from '../../chat-node/ws/connection.ts';
import { LocalSessions } from '../../chat-node/ws/local-sessions.ts';

const metrics = createMetrics();
const shared = connectionShared({
  framesPerSecond: 10,
  frameBurst: 3,
  maxBufferedBytes: 1 << 20,
  metrics,
  onSlow: () => {},
});

function conn(userId: string, deviceId: string, now = 0): Connection & { frames: string[] } {
  const frames: string[] = [];
  const ws = {
    send: (data: string | Buffer, _o: unknown, cb: () => void) => {
      frames.push(String(data));
      cb();
    },
    close: () => {},
    terminate: () => {},
  } as unknown as WebSocket;
  const c = new Connection({ ws, userId, deviceId, now, shared });
  c.welcomed = true;
  return Object.assign(c, { frames });
}

const message = (id: string, from: string, to: string) => ({
  message: { messageId: id, conversation: `dm:${from}:${to}`, from, to, text: 'hi', ts: 1 },
  recipients: [from, to],
});

describe('LocalSessions with one and several connections of a user', () => {
  it('counts, lists and delivers to every connection as the user goes from one to three and back', () => {
    const s = new LocalSessions(metrics);
    const a = conn('u1', 'd1');
    const b = conn('u1', 'd2');
    const c = conn('u1', 'd2');
    expect(s.add(a)).toBe(true);
    expect(s.add(b)).toBe(false);
    expect(s.add(c)).toBe(false);
    expect(s.size).toBe(3);
    expect(s.countOf('u1', 'd2')).toEqual({ user: 3, device: 2 });
    expect(new Set(s.ofUser('u1'))).toEqual(new Set([a, b, c]));
    expect([...s.all()]).toHaveLength(3);
    s.deliver(message('1', 'u2', 'u1'));
    expect([a, b, c].map((x) => x.frames.length)).toEqual([1, 1, 1]);

    s.remove(b);
    expect(s.hasDevice('u1', 'd2', b)).toBe(true);
    s.remove(c);
    expect(s.hasDevice('u1', 'd2', c)).toBe(false);
    expect(s.countOf('u1', 'd1')).toEqual({ user: 1, device: 1 });
    expect(s.ofUser('u1')).toEqual([a]);
    s.deliver(message('2', 'u2', 'u1'));
    expect([a, b, c].map((x) => x.frames.length)).toEqual([2, 1, 1]);
    s.remove(a);
    expect(s.size).toBe(0);
    expect(s.ofUser('u1')).toEqual([]);
    expect([...s.all()]).toEqual([]);
  });

  it('skips the sending device and delivers events to the others', () => {
    const s = new LocalSessions(metrics);
    const a = conn('u1', 'd1');
    const b = conn('u1', 'd2');
    s.add(a);
    s.add(b);
    s.deliver({ ...message('1', 'u1', 'u2'), fromDevice: 'd1' });
    expect([a.frames.length, b.frames.length]).toEqual([0, 1]);
    s.deliverEvent({ userIds: ['u1'], frame: { type: 'typing', conversation: 'c', userId: 'u2' } } as never);
    expect([a.frames.length, b.frames.length]).toEqual([1, 2]);
  });

  it('creates no presence sets for a connection that watches nobody, and cleans up those it made', () => {
    const s = new LocalSessions(metrics);
    const changes: [string[], boolean][] = [];
    s.onWatched = (ids, watched) => changes.push([ids, watched]);
    const a = conn('u1', 'd1');
    s.add(a);
    expect(a.watching).toBeUndefined();
    expect(a.subscribed).toBeUndefined();
    s.watch(a, ['u2', 'u3']);
    expect(a.watchingCount).toBe(2);
    expect(a.watches('u2')).toBe(true);
    s.unwatch(a, ['u2']);
    s.remove(a);
    expect(changes).toEqual([
      [['u2', 'u3'], true],
      [['u2'], false],
      [['u3'], false],
    ]);
  });
});

describe('the frame budget of a connection (two numbers, settings shared)', () => {
  it('allows the burst, then the rate', () => {
    const c = conn('u1', 'd1', 1000);
    expect([c.takeFrame(1000), c.takeFrame(1000), c.takeFrame(1000), c.takeFrame(1000)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    // 10 frames/s: one more after 100 ms, never more than the burst after a long pause.
    expect(c.takeFrame(1100)).toBe(true);
    expect(c.takeFrame(1100)).toBe(false);
    const later = 100_000;
    expect([1, 2, 3, 4].map(() => c.takeFrame(later))).toEqual([true, true, true, false]);
  });

  it('is the same for keyed buckets', () => {
    const k = new KeyedBuckets(10, 2);
    expect([k.take('a', 0), k.take('a', 0), k.take('a', 0), k.take('b', 0)]).toEqual([
      true,
      true,
      false,
      true,
    ]);
    expect(k.take('a', 100)).toBe(true);
  });
});

describe('presence with one device in fields and a second in a map', () => {
  it('keeps a user online while any device is, and offline once the last goes or expires', async () => {
    let now = 1000;
    const p = new MemoryPresence({ expireMs: 100, clock: () => now });
    const status = async () => (await p.get(['u1']))[0]!.status;
    await p.deviceOnline('u1', 'd1', 1, now);
    await p.deviceOnline('u1', 'd2', 1, now);
    await p.deviceOffline('u1', 'd1', now);
    expect(await status()).toBe('online');
    await p.deviceOnline('u1', 'd1', 1, now);
    now += 60;
    await p.deviceActive('u1', 'd2', now);
    now += 60;
    p.sweep();
    // d1 was silent for 120 ms, d2 for 60 ms.
    expect(await status()).toBe('online');
    await p.deviceOffline('u1', 'd2', now);
    expect(await status()).toBe('offline');
    await p.deviceOnline('u2', 'd9', 1, now);
    now += 200;
    p.sweep();
    expect((await p.get(['u2']))[0]!.status).toBe('offline');
    await p.close();
  });
});

describe('token lookups of one and several devices of a user', () => {
  it('caches each device apart and forgets them all at once', async () => {
    let lookups = 0;
    const store = {
      tokenCutoff: async (_u: string, deviceId: string) => {
        lookups++;
        return deviceId === 'revoked' ? Number.MAX_SAFE_INTEGER : 0;
      },
    } as unknown as Store;
    const bus = { publishEvent: async () => {} } as unknown as MessageBus;
    const v = new TokenValidity({ store, bus, cacheMs: 60_000, clock: () => 1000 });
    const claims = (deviceId: string) => ({ userId: 'u1', deviceId, issuedAt: 500 });
    expect(await v.valid(claims('d1'))).toBe(true);
    expect(await v.valid(claims('revoked'))).toBe(false);
    expect(await v.valid(claims('d2'))).toBe(true);
    expect(await v.valid(claims('d1'))).toBe(true);
    expect(await v.valid(claims('revoked'))).toBe(false);
    expect(lookups).toBe(3);
    v.forget('u1');
    expect(await v.valid(claims('d2'))).toBe(true);
    expect(lookups).toBe(4);
  });
});
