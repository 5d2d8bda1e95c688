/** Plain-text tables and durations the way kubectl prints them: upper-case headers, aligned columns. */

export type Cell = string | number | boolean | undefined | null;

/** The text of one cell: `-` for nothing, `yes`/`no` for booleans. */
export function cellText(cell: Cell): string {
  if (cell === undefined || cell === null || cell === '') return '-';
  if (typeof cell === 'boolean') return cell ? 'yes' : 'no';
  return String(cell);
}

/** Columns separated by at least three spaces; no trailing spaces. Empty `rows` prints only the headers. */
export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string[] {
  const text = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...text.map(line)];
}

/** A duration as kubectl shows ages: `45s`, `3m20s` (under 10 min), `42m`, `5h10m` (under 8 h), `20h`, `3d4h` (under 8 d), `12d`, `2y30d`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
}

/** `part` of `whole` as a percentage with no decimals, `-` when `whole` is 0 or unknown. */
export function percent(part: number | undefined, whole: number | undefined): string {
  if (part === undefined || !whole) return '-';
  return `${Math.round((part / whole) * 100)}%`;
}
