import { describe, expect, it } from 'vitest';
import { parseId, syncSince } from '../../client/message-ids.ts';
import { EPOCH_MS, Snowflake, snowflakeTime } from '../../common/snowflake.ts';

/** An id made at `ms` (Unix time) by `node`, sequence 0. */
function idAt(ms: number, node = 7): bigint {
  return new Snowflake(node, { clock: () => ms }).next();
}

describe('syncSince', () => {
  const now = Date.UTC(2025, 5, 1, 12, 0, 0);

  it('starts the sync overlapMs before the max id: the next id after it is at exactly that time', () => {
    const since = syncSince(idAt(now), 2000);
    expect(snowflakeTime(since + 1n)).toBe(now - 2000);
    expect((since + 1n) & 0x3f_ffffn).toBe(0n);
  });

  it('includes the messages of any node at the overlap boundary', () => {
    const since = syncSince(idAt(now), 2000);
    for (const node of [0, 1, 1023]) expect(idAt(now - 2000, node)).toBeGreaterThan(since);
    expect(idAt(now - 2001, 1023)).toBeLessThanOrEqual(since);
  });

  it.each([
    ['the max itself with no overlap', () => syncSince(idAt(now), 0), idAt(now)],
    ['0 when nothing was seen', () => syncSince(0n, 2000), 0n],
    ['0 when the overlap reaches before the epoch', () => syncSince(idAt(EPOCH_MS + 500), 2000), 0n],
  ])('answers %s', (_name, compute, expected) => {
    expect(compute()).toBe(expected);
  });
});

describe('parseId', () => {
  it.each([
    ['0', 0n],
    ['18446744073709551615', 18_446_744_073_709_551_615n],
    ['18446744073709551616', undefined],
    ['012', undefined],
    ['-1', undefined],
    ['', undefined],
    [12, undefined],
  ])('reads %j as %s', (value, expected) => {
    expect(parseId(value)).toBe(expected);
  });
});
