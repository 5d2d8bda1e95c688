#!/usr/bin/env node
/**
 * Prints the Markdown tables of a saved run (scenario tables, ratios, targets), for BENCHMARKS.md:
 *
 *   node bench/render.ts bench/results/summary.json [--svg bench/results/latency.svg]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { checks, latencySvg, ratios, scenarioTables, table } from './report.ts';
import type { ResultRow } from './scenarios/result.ts';

const file = process.argv[2] ?? 'bench/results/summary.json';
const s = JSON.parse(readFileSync(file, 'utf8')) as {
  mode: string;
  date: string;
  rows: ResultRow[];
  targets?: ReturnType<typeof checks>;
};
console.log(scenarioTables(s.rows));
console.log(
  `\n### ratios\n\n${table(
    ['ratio', 'value', 'measured'],
    ratios(s.rows).map((r) => [r.what, r.value, r.detail]),
  )}`,
);
const cs = s.targets ?? checks(s.rows, { triedMax: s.mode === 'full' });
console.log(
  `\n### targets\n\n${table(
    ['target', 'goal', 'measured', 'met'],
    cs.map((c) => [c.target, c.goal, c.measured, c.met === null ? '?' : c.met ? 'yes' : 'no']),
  )}`,
);
const svgAt = process.argv.indexOf('--svg');
if (svgAt > 0 && process.argv[svgAt + 1])
  writeFileSync(
    process.argv[svgAt + 1]!,
    latencySvg(s.rows, `1:1 send→deliver latency vs load (${s.date.slice(0, 10)}, ${s.mode})`),
  );
