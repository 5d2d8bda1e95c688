import { describe, expect, it } from 'vitest';
import { Dedupe } from '../../client/dedupe.ts';
import { SeenMessages } from '../../client/seen-messages.ts';

describe('Dedupe', () => {
  it('says an id is new the first time and a repeat after', () => {
    const dedupe = new Dedupe(10);
    expect(dedupe.add('1')).toBe(true);
    expect(dedupe.add('1')).toBe(false);
  });

  it('keeps 10000 ids by default', () => {
    expect(new Dedupe().capacity).toBe(10_000);
  });

  it('forgets the least recently seen id once full', () => {
    const dedupe = new Dedupe(3);
    for (const id of ['a', 'b', 'c', 'd']) dedupe.add(id);
    expect(dedupe.size).toBe(3);
    expect(dedupe.has('a')).toBe(false);
    expect(dedupe.has('d')).toBe(true);
  });

  it('counts seeing a repeat as recent use, so it outlives older ids', () => {
    const dedupe = new Dedupe(3);
    for (const id of ['a', 'b', 'c']) dedupe.add(id);
    dedupe.add('a');
    dedupe.add('d');
    expect(dedupe.has('a')).toBe(true);
    expect(dedupe.has('b')).toBe(false);
  });

  it('refuses a capacity below one', () => {
    expect(() => new Dedupe(0)).toThrow(RangeError);
  });
});

describe('SeenMessages', () => {
  it('keeps the highest id seen, comparing as integers and not as strings', () => {
    const seen = new SeenMessages(10, 0n);
    seen.record('9');
    seen.record('10');
    seen.record('8');
    expect(seen.max).toBe(10n);
  });

  it('starts from the max it is given', () => {
    expect(new SeenMessages(10, 42n).max).toBe(42n);
  });

  it('tells new ids, repeats and ids that are not ids apart', () => {
    const seen = new SeenMessages(10, 0n);
    expect(seen.record('5')).toBe('new');
    expect(seen.record('5')).toBe('repeat');
    expect(seen.record('05')).toBe('invalid');
    expect(seen.record(5)).toBe('invalid');
    expect(seen.record('18446744073709551616')).toBe('invalid');
  });
});
