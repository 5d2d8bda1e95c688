#!/usr/bin/env node
/**
 * The top of a V8 CPU profile (`--profile` writes them under <out>/prof): each function's share of the
 * sampled time it ran itself (self time, wall clock: a thread blocked in a syscall such as fsync
 * counts where it blocks). These are the shares BENCHMARKS.md quotes.
 *
 *   npm run bench:profile-top -- <file.cpuprofile> [--top 30]
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const program = new Command('bench-profile-top')
  .description('Self time by function of a .cpuprofile, largest first.')
  .argument('<file>', 'a .cpuprofile written by node --cpu-prof')
  .option('--top <n>', 'how many functions', '30')
  .parse();
const [file] = program.args as [string];
const top = Number(program.opts<{ top: string }>().top);

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const cf = byId.get(profile.samples[i]!)!.callFrame;
  const where = cf.url ? ` ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'}${where}`;
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
}
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
