/**
 * Rate limiters: token buckets, and fixed windows per key with a bounded key count. (A WebSocket
 * connection keeps its own bucket as two numbers: chat-node/ws/connection.ts.)
 */

/** Allows `ratePerSec` on average with bursts of `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;

  constructor(ratePerSec: number, burst: number, now: number) {
    this.rate = ratePerSec / 1000;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * At most `limit` hits per key in each window of `windowMs`. Keys are forgotten when their window
 * ends; past `maxKeys` live keys, new keys are refused (fail closed) until windows roll over.
 */
export class WindowLimiter {
  private readonly counts = new Map<string, number>();
  private windowStart: number;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;

  constructor(options: { limit: number; windowMs: number; now: number; maxKeys?: number }) {
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.windowStart = options.now;
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  hit(key: string, now: number): boolean {
    this.roll(now);
    const n = this.counts.get(key) ?? 0;
    if (n === 0 && this.counts.size >= this.maxKeys) return false;
    if (n >= this.limit) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  /** True if a hit for `key` would be allowed now, without counting one. */
  allows(key: string, now: number): boolean {
    this.roll(now);
    const n = this.counts.get(key) ?? 0;
    return n < this.limit && (n > 0 || this.counts.size < this.maxKeys);
  }

  private roll(now: number): void {
    if (now - this.windowStart >= this.windowMs) {
      this.counts.clear();
      this.windowStart = now;
    }
  }
}

/** One key's bucket in KeyedBuckets: two numbers (the rate and burst are the owner's). */
interface BucketState {
  tokens: number;
  last: number;
}

/** Token buckets by key (e.g. per user for HTTP sends), bounded like WindowLimiter. */
export class KeyedBuckets {
  private readonly buckets = new Map<string, BucketState>();
  /** Tokens per millisecond. */
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxKeys: number;

  constructor(ratePerSec: number, burst: number, maxKeys = 100_000) {
    this.rate = ratePerSec / 1000;
    this.burst = burst;
    this.maxKeys = maxKeys;
  }

  take(key: string, now: number): boolean {
    let b = this.buckets.get(key);
    if (!b) {
      // A full map is mostly idle keys: start over rather than grow.
      if (this.buckets.size >= this.maxKeys) this.buckets.clear();
      b = { tokens: this.burst, last: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + (now - b.last) * this.rate);
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
