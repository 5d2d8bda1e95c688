/**
 * 1:1 messages: `connections` connections in pairs, the first of each pair sending to the second.
 * Phases on the same connections:
 * - `max`: closed loop, `window` messages in flight per pair (the next is sent when one arrives):
 *   the delivered msgs/s a target sustains;
 * - `rate` steps: open loop at a fixed total rate, latency measured from each message's intended send
 *   time (so a load generator that falls behind does not hide queueing): the latency-vs-load curve.
 */
import { CpuMeter, rssBytes, sleep } from '../lib/proc.ts';
import { Histogram } from '../loadgen/histogram.ts';
import { closeAll, keepAlive, openMany } from '../loadgen/pool.ts';
import { type LgConn, payload } from '../loadgen/protocols.ts';
import type { Target } from '../targets/types.ts';
import { type Log, mib, type ResultRow, row } from './result.ts';

export interface OneToOneOptions {
  connections: number;
  /** Closed-loop phase length, ms (0 skips it). */
  maxMs: number;
  /** Messages in flight per pair in the closed-loop phase. */
  window: number;
  /** Open-loop total rates, msgs/s. */
  rates: number[];
  rateMs: number;
  warmupMs: number;
  textSize: number;
  scenario?: string;
}

interface Counters {
  sent: number;
  delivered: number;
  inWindow: number;
  measuring: boolean;
  hist: Histogram;
}

interface Pairs {
  senders: LgConn[];
  receivers: LgConn[];
}

export async function oneToOne(target: Target, o: OneToOneOptions, log: Log): Promise<ResultRow[]> {
  const pairs = Math.floor(o.connections / 2);
  const accounts = await target.accounts(pairs * 2);
  const opened = await openMany(target.endpoint, accounts, { concurrency: 100 });
  if (opened.failed > 0) log(`  ${opened.failed} connects failed: ${opened.firstError}`);
  const conns = opened.conns;
  const stopPings = keepAlive(conns);
  const half = Math.floor(conns.length / 2);
  const p: Pairs = { senders: conns.slice(0, half), receivers: conns.slice(half, half * 2) };
  const rows: ResultRow[] = [];
  try {
    if (o.maxMs > 0) rows.push(await closedLoop(target, p, o, log));
    for (const rate of o.rates) {
      const r = await openLoop(target, p, rate, o, log);
      rows.push(r);
      // Past saturation the queues only grow (and a durable backlog outlives the run): stop there.
      if (
        Number(r.metrics.deliveredPerSec) < 0.8 * rate ||
        Number(r.metrics.lost) > 0.05 * rate * (o.rateMs / 1000)
      ) {
        log(`  ${target.id}: saturated at ${rate}/s; higher rates skipped`);
        break;
      }
    }
  } finally {
    stopPings();
    closeAll(conns);
  }
  return rows;
}

function counters(): Counters {
  return { sent: 0, delivered: 0, inWindow: 0, measuring: false, hist: new Histogram() };
}

function receive(c: Counters): (sentAt: number) => void {
  return (sentAt) => {
    c.delivered++;
    if (c.measuring) {
      c.inWindow++;
      c.hist.record(performance.now() - sentAt);
    }
  };
}

async function measure(
  target: Target,
  c: Counters,
  o: OneToOneOptions,
  ms: number,
): Promise<{ seconds: number; cpu: number[]; rss: number }> {
  await sleep(o.warmupMs);
  c.hist.reset();
  c.inWindow = 0;
  c.measuring = true;
  const cpu = new CpuMeter([target.pid, process.pid]);
  const t0 = performance.now();
  await sleep(ms);
  c.measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, cpu: cpu.cores(), rss: rssBytes(target.pid) };
}

/** Waits (≤ 3 s) for what is in flight to arrive; returns how many never did. */
async function settle(c: Counters, p: Pairs): Promise<number> {
  const deadline = Date.now() + 3000;
  while (c.delivered < c.sent && Date.now() < deadline) await sleep(50);
  for (const r of p.receivers) r.onDeliver = undefined;
  return c.sent - c.delivered;
}

function common(target: Target, c: Counters, m: { seconds: number; cpu: number[]; rss: number }) {
  const s = c.hist.summary();
  const perSec = c.inWindow / m.seconds;
  return {
    deliveredPerSec: Math.round(perSec),
    /** Target CPU per delivered message: less sensitive to other load on the machine than msgs/s. */
    targetCpuUsPerMsg: perSec > 0 ? Math.round((m.cpu[0]! * 1e6) / perSec) : null,
    p50Ms: s.p50,
    p99Ms: s.p99,
    p999Ms: s.p999,
    maxMs: s.max,
    targetCpuCores: m.cpu[0]!,
    loadgenCpuCores: m.cpu[1]!,
    targetRssMiB: mib(m.rss),
    targetPid: target.pid,
  };
}

async function closedLoop(target: Target, p: Pairs, o: OneToOneOptions, log: Log): Promise<ResultRow> {
  const c = counters();
  let running = true;
  p.senders.forEach((s, i) => {
    const r = p.receivers[i]!;
    const send = () => {
      c.sent++;
      s.sendTo(r.userId, payload(performance.now(), o.textSize));
    };
    const got = receive(c);
    r.onDeliver = (sentAt) => {
      got(sentAt);
      if (running) send();
    };
    for (let k = 0; k < o.window; k++) send();
  });
  const m = await measure(target, c, o, o.maxMs);
  running = false;
  const lost = await settle(c, p);
  const metrics = { ...common(target, c, m), lost, errors: p.senders.reduce((n, s) => n + s.errors, 0) };
  log(
    `  ${target.id} max: ${metrics.deliveredPerSec} delivered msgs/s, p50 ${metrics.p50Ms} ms, p99 ${metrics.p99Ms} ms ` +
      `(${p.senders.length * o.window} in flight; cpu target ${metrics.targetCpuCores}, loadgen ${metrics.loadgenCpuCores})`,
  );
  return row(
    '1:1',
    target,
    {
      phase: 'max',
      connections: p.senders.length * 2,
      window: o.window,
      seconds: o.maxMs / 1000,
      textSize: o.textSize,
    },
    metrics,
  );
}

async function openLoop(
  target: Target,
  p: Pairs,
  rate: number,
  o: OneToOneOptions,
  log: Log,
): Promise<ResultRow> {
  const c = counters();
  for (const r of p.receivers) r.onDeliver = receive(c);
  const start = performance.now();
  const interval = 1000 / rate;
  let k = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    const due = Math.floor((performance.now() - start) / interval) + 1; // message k is due at start + k·interval
    // Every message due by now, each stamped with its intended send time.
    while (k < due) {
      const i = k % p.senders.length;
      p.senders[i]!.sendTo(p.receivers[i]!.userId, payload(start + k * interval, o.textSize));
      c.sent++;
      k++;
    }
    setTimeout(tick, 1);
  };
  tick();
  const m = await measure(target, c, o, o.rateMs);
  running = false;
  const lost = await settle(c, p);
  const metrics = { ...common(target, c, m), lost, errors: p.senders.reduce((n, s) => n + s.errors, 0) };
  log(
    `  ${target.id} at ${rate}/s: ${metrics.deliveredPerSec} delivered/s, p50 ${metrics.p50Ms} ms, ` +
      `p99 ${metrics.p99Ms} ms, p99.9 ${metrics.p999Ms} ms (cpu target ${metrics.targetCpuCores})`,
  );
  return row(
    '1:1',
    target,
    {
      phase: 'rate',
      connections: p.senders.length * 2,
      rate,
      seconds: o.rateMs / 1000,
      textSize: o.textSize,
    },
    metrics,
  );
}
