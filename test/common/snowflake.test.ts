import { describe, expect, it } from 'vitest';
import { EPOCH_MS, Snowflake, snowflakeNode, snowflakeTime } from '../../common/snowflake.ts';

function increasing(ids: bigint[]): boolean {
  return ids.every((id, i) => i === 0 || id > ids[i - 1]!);
}

describe('Snowflake', () => {
  it('lays out time, node id and sequence', () => {
    const now = EPOCH_MS + 123_456;
    const id = new Snowflake(517, { clock: () => now }).next();
    expect(snowflakeTime(id)).toBe(now);
    expect(snowflakeNode(id)).toBe(517);
    expect(id & 0xfffn).toBe(0n);
  });

  it('stays strictly increasing with 10,000 ids in one millisecond', () => {
    const g = new Snowflake(1, { clock: () => EPOCH_MS + 1000 });
    const ids = Array.from({ length: 10_000 }, () => g.next());
    expect(increasing(ids)).toBe(true);
    // 4096 ids fit in a millisecond; the rest borrow the next ones.
    expect(snowflakeTime(ids[4095]!)).toBe(EPOCH_MS + 1000);
    expect(snowflakeTime(ids[4096]!)).toBe(EPOCH_MS + 1001);
  });

  it('stays strictly increasing when the clock steps back', () => {
    let now = EPOCH_MS + 50_000;
    const g = new Snowflake(3, { clock: () => now });
    const before = [g.next(), g.next()];
    now -= 10_000;
    const after = [g.next(), g.next()];
    expect(increasing([...before, ...after])).toBe(true);
  });

  it('issues ids above the floor after a restart whose clock is behind', () => {
    const first = new Snowflake(2, { clock: () => EPOCH_MS + 90_000 });
    const last = Array.from({ length: 5 }, () => first.next()).at(-1)!;
    const restarted = new Snowflake(2, { clock: () => EPOCH_MS + 10_000, floor: last });
    expect(restarted.next()).toBeGreaterThan(last);
  });

  it('gives the lanes of one node id (its event loops) disjoint ids, each lane increasing', () => {
    const clock = () => EPOCH_MS + 7000;
    const lanes = [0, 1, 2].map((index) => new Snowflake(5, { clock, lane: { index, count: 3 } }));
    // 3,000 ids per lane in one millisecond: each lane has 1,366 sequence numbers of it, then borrows.
    const ids = lanes.map((g) => Array.from({ length: 3000 }, () => g.next()));
    for (const l of ids) expect(increasing(l)).toBe(true);
    expect(new Set(ids.flat().map(String)).size).toBe(9000);
    expect(ids.flat().every((id) => snowflakeNode(id) === 5)).toBe(true);
    // A lane above a floor another lane set (a restart of the node) stays above it.
    const floor = ids[2]!.at(-1)!;
    expect(new Snowflake(5, { clock, floor, lane: { index: 0, count: 3 } }).next()).toBeGreaterThan(floor);
    expect(() => new Snowflake(5, { lane: { index: 3, count: 3 } })).toThrow(RangeError);
    expect(() => new Snowflake(5, { lane: { index: 0, count: 0 } })).toThrow(RangeError);
  });

  it('refuses node ids outside 0–1023', () => {
    expect(() => new Snowflake(1024)).toThrow(/0 to 1023/);
    expect(() => new Snowflake(-1)).toThrow(RangeError);
  });
});
