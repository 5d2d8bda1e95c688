import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../common/logger.ts';

describe('LogThrottle', () => {
  it('writes a key at most once per interval and reports how many it held back', () => {
    let now = 0;
    const t = new LogThrottle(1000, () => now);
    const lines: [string, number][] = [];
    const log = (key: string) => t.write(key, (held) => lines.push([key, held]));
    for (let i = 0; i < 5; i++) log('a');
    log('b');
    now = 999;
    log('a');
    now = 1000;
    log('a');
    log('a');
    expect(lines).toEqual([
      ['a', 0],
      ['b', 0],
      ['a', 5],
    ]);
  });
});
