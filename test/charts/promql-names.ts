/**
 * The metric names a PromQL expression (or a Grafana `label_values(…)` query) reads: what is left
 * once strings, label matchers, ranges, label lists (by, without, on, ignoring, group_left/right),
 * numbers, keywords and function calls are taken out. Small on purpose: enough for the queries of
 * the chart's dashboard, and checked by its test against a misspelled name.
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);

export function metricNames(query: string): string[] {
  // label_values(<series>, <label>) names a label after the series: keep only the series.
  const labelValues = /^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/.exec(query);
  const expr = labelValues ? labelValues[1]! : query;
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const before = stripped[m.index - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue; // the exponent of a number (1e3) or a unit (5m)
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    if (
      stripped
        .slice(m.index + m[0].length)
        .trimStart()
        .startsWith('(')
    )
      continue; // a function call
    names.add(m[0]);
  }
  return [...names];
}
