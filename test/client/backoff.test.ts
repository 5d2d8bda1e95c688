import { describe, expect, it } from 'vitest';
import { Backoff } from '../../client/backoff.ts';

describe('Backoff', () => {
  it('doubles the cap from 250 ms until it reaches 10 s, by default', () => {
    const backoff = new Backoff({}, () => 0.5);
    const caps: number[] = [];
    for (let i = 0; i < 9; i++) {
      caps.push(backoff.cap);
      backoff.next();
    }
    expect(caps).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it.each([
    ['the smallest random number', 0, 0],
    ['a middle one', 0.5, 500],
    ['the largest one', 0.999_999, 999],
  ])('draws each delay uniformly from 0 to the cap (full jitter): %s', (_name, random, delay) => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 5000 }, () => random);
    expect(backoff.next()).toBe(delay);
  });

  it('never waits longer than maxMs, however many attempts failed', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, factor: 3 }, () => 0.999_999);
    for (let i = 0; i < 2000; i++) expect(backoff.next()).toBeLessThan(1000);
    expect(backoff.cap).toBe(1000);
  });

  it('stays within [0, cap] with the real random source', () => {
    const backoff = new Backoff({ initialMs: 10, maxMs: 80 });
    for (let i = 0; i < 200; i++) {
      const cap = backoff.cap;
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(cap);
    }
  });

  it('starts from the first delay again after reset', () => {
    const backoff = new Backoff({ initialMs: 100 }, () => 0.5);
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.cap).toBe(100);
  });

  it('refuses a delay that is not a positive number', () => {
    expect(() => new Backoff({ initialMs: 0 })).toThrow(/initialMs/);
    expect(() => new Backoff({ maxMs: Number.NaN })).toThrow(/maxMs/);
  });
});
