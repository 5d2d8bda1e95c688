#!/usr/bin/env node
/**
 * The benchmarks: the chat node (embedded, and on the real backends), a raw `ws` relay (the ceiling
 * for Node) and Centrifugo (the peer), each in its own process, driven by one load generator over
 * real WebSocket connections. See BENCHMARKS.md.
 *
 *   npm run bench                 # quick mode (< 2 min): 1:1, idle 10k, sync 10k; prints the ratios
 *   npm run bench:full            # every scenario, also 50k connections and the durable backends
 *   npm run bench:compare         # ~3 min: the chat node, the relay and Centrifugo side by side
 *   node bench/run.ts --scenario 1:1 --targets embedded,relay
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { errorMessage } from '../common/errors.ts';
import { fileLimit, killAllChildren, load1 } from './lib/proc.ts';
import { portRangeSize } from './loadgen/addresses.ts';
import { checks, comparison, latencySvg, ratios, scenarioTables, table } from './report.ts';
import { connectStorm } from './scenarios/connect-storm.ts';
import { fanout } from './scenarios/fanout.ts';
import { idle } from './scenarios/idle.ts';
import { oneToOne } from './scenarios/one-to-one.ts';
import { reconnectWave } from './scenarios/reconnect-wave.ts';
import type { ResultRow } from './scenarios/result.ts';
import { syncMissed } from './scenarios/sync.ts';
import { buildCentrifugo, startCentrifugo } from './targets/centrifugo.ts';
import { ROOT, servicesEnv, startChatNode } from './targets/chat-node.ts';
import { startRelay } from './targets/relay.ts';
import type { Target, TargetId } from './targets/types.ts';

const SCENARIOS = ['1:1', 'idle', 'connect-storm', 'sync', 'fan-out', 'reconnect-wave', 'durable'] as const;
type Scenario = (typeof SCENARIOS)[number];

const program = new Command('bench')
  .description('Chat node benchmarks against a raw ws relay and Centrifugo, on this machine.')
  .option('--quick', 'quick mode, under 2 minutes (the default)')
  .option('--full', 'every scenario at full size')
  .option(
    '--compare',
    'the side-by-side table (about 3 minutes): 1:1 best and at 1,000/s, 10,000 idle, fan-out at 1,600/s',
  )
  .addOption(new Option('--scenario <name...>', 'only these scenarios').choices([...SCENARIOS]))
  .option('--targets <list>', 'only these targets (embedded,relay,centrifugo)')
  .option('--rates <list>', 'the open-loop rates (msgs/s) of the 1:1 and durable scenarios, e.g. 1000,2500')
  .option('--idle-connections <list>', 'the connection counts of the idle scenario, e.g. 10000,19900')
  .option(
    '--workers <list>',
    "the embedded node's event loops (CHAT_WORKERS), one run of each, e.g. 1,2 (default: its own, the CPUs less one)",
  )
  .option(
    '--out <dir>',
    'where to write results (default: bench/results for --full, bench/results/raw/<quick|compare> otherwise)',
  )
  .option('--ha', 'the durable scenario on the clustered services of `services:up -- --ha` (row durable-ha)')
  .option(
    '--profile',
    'run the chat node of the 1:1 and durable scenarios with --cpu-prof (profiles under <out>/prof)',
  )
  .parse();
const opts = program.opts<{
  quick?: boolean;
  full?: boolean;
  compare?: boolean;
  scenario?: Scenario[];
  targets?: string;
  out?: string;
  profile?: boolean;
  rates?: string;
  idleConnections?: string;
  workers?: string;
  ha?: boolean;
}>();
/** --rates, or the scenario's own steps. */
const ratesOr = (steps: number[]): number[] => (opts.rates ? opts.rates.split(',').map(Number) : steps);
const full = Boolean(opts.full);
const compare = Boolean(opts.compare) && !full;
const mode = full ? 'full' : compare ? 'compare' : 'quick';
const out = opts.out ?? join(ROOT, 'bench', 'results', ...(full ? [] : ['raw', mode]));
const started = Date.now();
const log = (line: string) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);
const rows: ResultRow[] = [];
const unavailable: Record<string, string> = {};
const failures: string[] = [];

for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    killAllChildren();
    process.exit(130);
  });
process.on('exit', killAllChildren);

function wanted(s: Scenario): boolean {
  if (opts.scenario) return opts.scenario.includes(s);
  if (compare) return s === '1:1' || s === 'idle' || s === 'fan-out';
  return full || s === '1:1' || s === 'idle' || s === 'sync';
}

function targetWanted(id: TargetId): boolean {
  return !opts.targets || opts.targets.split(',').includes(id);
}

/** Open-files and port limits; what to raise if they are too low. */
function environment(): { fdSoft: number; fdHard: number; maxIdle: number; note?: string } {
  const { soft, hard } = fileLimit();
  const fileMax = Number(readFileSync('/proc/sys/fs/file-max', 'utf8').trim());
  const ports = portRangeSize(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')) ?? 0;
  log(
    `machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${load1()}; ` +
      `open files ${soft} (hard ${hard}), fs.file-max ${fileMax}, ephemeral ports ${ports} per source address`,
  );
  const want = full ? 50_000 : 10_000;
  // The node holds one descriptor per connection plus a few dozen of its own.
  const maxIdle = Math.max(0, Math.min(soft, fileMax) - 100);
  let note: string | undefined;
  if (maxIdle < 50_000) {
    note = `the open-files limit is ${soft} (hard ${hard}); 50,000 needs ≥ 51,000`;
    log(
      `note: ${note}: raise it with \`ulimit -n 1048576\` (as root, or LimitNOFILE= / limits.conf for the hard ` +
        `limit)${fileMax < 200_000 ? ' and sysctl fs.file-max' : ''}; idle connections stop at ${maxIdle}`,
    );
  }
  if (soft < want / 2) log(`warning: only ${soft} open files: the scenarios will be cut short`);
  return { fdSoft: soft, fdHard: hard, maxIdle, note };
}

async function withTarget<T>(
  id: TargetId,
  start: () => Promise<Target>,
  fn: (t: Target) => Promise<T>,
): Promise<T | undefined> {
  if (!targetWanted(id)) return undefined;
  if (unavailable[id]) return undefined;
  let t: Target;
  try {
    t = await start();
  } catch (err) {
    unavailable[id] = errorMessage(err).split('\n')[0]!;
    log(`${id}: unavailable: ${unavailable[id]}`);
    return undefined;
  }
  try {
    return await fn(t);
  } catch (err) {
    // One scenario's failure is reported, and the others still run.
    const msg = errorMessage(err).split('\n')[0]!;
    failures.push(`${id}: ${msg}`);
    log(`${id}: failed: ${msg}`);
    return undefined;
  } finally {
    await t.stop();
  }
}

/** The chat node's flags for --profile: a CPU profile of the 1:1 and durable rate runs. */
function profileArgs(): string[] {
  return opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(out, 'prof')}`] : [];
}

/** The targets; with `inspect`, the Node ones under --inspect (the idle scenario's forced GC). */
function starters(profile = false, inspect = false): [TargetId, () => Promise<Target>][] {
  const list: [TargetId, () => Promise<Target>][] = [
    ['relay', () => startRelay({ inspect })],
    ...(opts.workers ? opts.workers.split(',').map(Number) : [undefined]).map(
      (workers): [TargetId, () => Promise<Target>] => [
        'embedded',
        () => startChatNode({ inspect, workers, ...(profile ? { nodeArgs: profileArgs() } : {}) }),
      ],
    ),
  ];
  if (targetWanted('centrifugo')) {
    const b = buildCentrifugo(log);
    if (b instanceof Error) {
      unavailable.centrifugo = b.message;
      log(`centrifugo: unavailable: ${b.message}`);
    } else list.push(['centrifugo', () => startCentrifugo(b)]);
  }
  return list;
}

async function runOneToOne(): Promise<void> {
  log(`1:1 messages (${full ? '2,000' : '1,000'} connections)`);
  const rates = ratesOr(full ? [1000, 2000, 5000, 10_000, 20_000, 40_000] : compare ? [1000] : [1000, 4000]);
  for (const [id, start] of starters(true)) {
    const r = await withTarget(id, start, (t) =>
      oneToOne(
        t,
        {
          connections: full ? 2000 : 1000,
          maxMs: full ? 10_000 : 5000,
          window: 4,
          rates,
          rateMs: full || compare ? 5000 : 3000,
          warmupMs: 1000,
          textSize: 100,
        },
        log,
      ),
    );
    rows.push(...(r ?? []));
  }
}

async function runDurable(): Promise<void> {
  const ha = opts.ha === true;
  if (ha && !servicesEnv('env-ha')) {
    log('durable-ha: skipped: .services/env-ha is missing (run `npm run services:up -- --ha`)');
    unavailable['durable-ha'] = '.services/env-ha is missing';
    return;
  }
  if (!ha && !servicesEnv()) {
    log(
      'durable: skipped: .services/env is missing (run `npm run services:up` to start NATS, Redis, Cassandra)',
    );
    unavailable.durable = '.services/env is missing';
    return;
  }
  log('durable mode (JetStream + Cassandra + Redis): 1:1 at 500 … 5,000 msgs/s, then sync on a fresh node');
  const start = () => startChatNode({ durable: true, ha });
  const profiled = () => startChatNode({ durable: true, ha, nodeArgs: profileArgs() });
  const r = await withTarget(ha ? 'durable-ha' : 'durable', profiled, (t) =>
    oneToOne(
      t,
      {
        connections: 1000,
        maxMs: 0,
        window: 4,
        rates: ratesOr([500, 1000, 2500, 5000]),
        rateMs: 8000,
        warmupMs: 2000,
        textSize: 100,
      },
      log,
    ),
  );
  rows.push(...(r ?? []));
  // A fresh cluster: a backlog the writer still owes from the rate steps would be waited for.
  const s = await withTarget(ha ? 'durable-ha' : 'durable', start, (t) =>
    syncMissed(t, { messages: 10_000, textSize: 100 }, log),
  );
  if (s) rows.push(s);
}

async function runIdle(env: ReturnType<typeof environment>): Promise<void> {
  const top = Math.min(full ? 50_000 : 10_000, env.maxIdle);
  const asked = opts.idleConnections?.split(',').map((n) => Math.min(Number(n), env.maxIdle));
  const steps =
    asked ?? (full ? [...new Set([10_000, top, env.maxIdle].filter((n) => n <= env.maxIdle))] : [top]);
  if (compare && !asked && top < 10_000) log(`note: only ${top} idle connections fit the open-files limit`);
  log(`idle connections: ${steps.join(', ')}`);
  for (const [id, start] of starters(false, true)) {
    const r = await withTarget(id, start, (t) =>
      idle(
        t,
        { steps, perWorker: 9000, concurrency: 200, settleMs: full ? 3000 : 1500, note: env.note },
        log,
      ),
    );
    rows.push(...(r ?? []));
  }
}

async function runStorm(): Promise<void> {
  log('connect storm: 10,000 connections, 500 at a time');
  for (const [id, start] of starters()) {
    const r = await withTarget(id, start, (t) =>
      connectStorm(t, { connections: 10_000, concurrency: 500 }, log),
    );
    if (r) rows.push(r);
  }
}

async function runFanout(): Promise<void> {
  log('group fan-out: 100 members, 10 senders');
  for (const [id, start] of starters(true)) {
    const r = await withTarget(id, start, (t) =>
      fanout(
        t,
        {
          members: 100,
          senders: 10,
          rates: compare ? [1600] : [100, 400, 800, 1600],
          seconds: 5,
          textSize: 100,
        },
        log,
      ),
    );
    rows.push(...(r ?? []));
  }
}

async function runSync(): Promise<void> {
  log('sync of 10,000 missed messages');
  const r = await withTarget(
    'embedded',
    () => startChatNode(),
    (t) => syncMissed(t, { messages: 10_000, textSize: 100 }, log),
  );
  if (r) rows.push(r);
}

async function runReconnectWave(): Promise<void> {
  log('reconnect wave: 5,000 clients, node A drained at 1,000/s, clients move to node B');
  if (!targetWanted('embedded')) return;
  const a = await startChatNode();
  const b = await startChatNode({ peerOf: a });
  try {
    rows.push(await reconnectWave(a, b, { connections: 5000, ratePerSec: 1000 }, log));
  } catch (err) {
    failures.push(`reconnect-wave: ${errorMessage(err)}`);
    log(`reconnect-wave: failed: ${errorMessage(err)}`);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

function save(env: ReturnType<typeof environment>): void {
  mkdirSync(join(out, 'raw'), { recursive: true });
  const summary = {
    mode,
    command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    machine: {
      cpu: cpus()[0]?.model ?? '?',
      cores: cpus().length,
      memGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      openFiles: { soft: env.fdSoft, hard: env.fdHard },
    },
    unavailable,
    failures,
    ratios: ratios(rows),
    targets: checks(rows, { maxConnectionsNote: env.note, triedMax: full }),
    rows,
  };
  const name = full ? 'summary.json' : `summary-${mode}.json`;
  writeFileSync(join(out, name), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(
    join(out, 'raw', `run-${mode}-${summary.date.replace(/[:.]/g, '-')}.json`),
    JSON.stringify(summary),
  );
  if (rows.some((r) => r.scenario === '1:1' && r.params.phase === 'rate')) {
    const svg = full ? 'latency.svg' : `latency-${mode}.svg`;
    writeFileSync(
      join(out, svg),
      latencySvg(rows, `1:1 send→deliver latency vs load (${summary.date.slice(0, 10)}, ${mode})`),
    );
  }
  log(`results: ${join(out, name)}`);
}

function print(): void {
  console.log(`\n${scenarioTables(rows)}\n`);
  if (compare)
    console.log(
      `### comparison (${cpus()[0]?.model ?? '?'} × ${cpus().length}, load ${load1()} at the end)\n\n${comparison(rows)}\n`,
    );
  const rs = ratios(rows);
  if (rs.length)
    console.log(
      `### ratios\n\n${table(
        ['ratio', 'value', 'measured'],
        rs.map((r) => [r.what, r.value, r.detail]),
      )}\n`,
    );
  const cs = checks(rows, { triedMax: full });
  if (cs.length)
    console.log(
      `### targets\n\n${table(
        ['target', 'goal', 'measured', 'met'],
        cs.map((c) => [c.target, c.goal, c.measured, c.met === null ? '?' : c.met ? 'yes' : 'no']),
      )}\n`,
    );
  for (const [id, why] of Object.entries(unavailable)) console.log(`${id}: unavailable: ${why}`);
  for (const f of failures) console.log(`failed: ${f}`);
}

const env = environment();
log(`mode: ${mode}; results to ${out}`);
try {
  if (wanted('1:1')) await runOneToOne();
  if (wanted('sync')) await runSync();
  if (wanted('idle')) await runIdle(env);
  if (wanted('connect-storm')) await runStorm();
  if (wanted('fan-out')) await runFanout();
  if (wanted('reconnect-wave')) await runReconnectWave();
  if (wanted('durable')) await runDurable();
} finally {
  print();
  save(env);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
process.exit(0);
