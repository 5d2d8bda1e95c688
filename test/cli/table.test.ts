import { describe, expect, it } from 'vitest';
import { cellText, formatAge, formatTable, percent } from '../../cli/table.ts';

describe('formatTable', () => {
  it('aligns columns under upper-case headers with three spaces between them', () => {
    expect(
      formatTable(
        ['name', 'n'],
        [
          ['alpha', 1],
          ['b', 22],
        ],
      ),
    ).toEqual(['NAME    N', 'alpha   1', 'b       22']);
  });

  it('prints - for missing cells and yes/no for booleans, and leaves no trailing spaces', () => {
    expect(
      formatTable(
        ['a', 'b', 'c'],
        [
          [undefined, true, ''],
          [null, false, 'x'],
        ],
      ),
    ).toEqual(['A   B     C', '-   yes   -', '-   no    x']);
  });

  it('prints only the headers when there are no rows', () => {
    expect(formatTable(['one', 'two'], [])).toEqual(['ONE   TWO']);
  });
});

describe('formatAge', () => {
  const table: [number, string][] = [
    [0, '0s'],
    [-5000, '0s'],
    [45_000, '45s'],
    [119_000, '119s'],
    [200_000, '3m20s'],
    [300_000, '5m'],
    [42 * 60_000, '42m'],
    [(5 * 60 + 10) * 60_000, '5h10m'],
    [20 * 3_600_000, '20h'],
    [(3 * 24 + 4) * 3_600_000, '3d4h'],
    [12 * 86_400_000, '12d'],
    [(2 * 365 + 30) * 86_400_000, '2y30d'],
  ];
  for (const [ms, text] of table) {
    it(`shows ${ms} ms as ${text}`, () => expect(formatAge(ms)).toBe(text));
  }
});

describe('percent and cellText', () => {
  it('rounds to whole percent and shows - without a whole', () => {
    expect(percent(1, 3)).toBe('33%');
    expect(percent(5, 0)).toBe('-');
    expect(percent(undefined, 10)).toBe('-');
  });

  it('shows numbers as they are, zero included', () => {
    expect(cellText(0)).toBe('0');
  });
});
