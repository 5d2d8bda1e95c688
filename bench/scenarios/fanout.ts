/**
 * Group fan-out: one group of `members` members (100, the protocol's maximum), all connected; some
 * members send to the group at a fixed total rate (open loop). Every message is delivered to every
 * member (the sender's device included, on all three targets), so deliveries/s = rate × members.
 */
import { CpuMeter, sleep } from '../lib/proc.ts';
import { Histogram } from '../loadgen/histogram.ts';
import { closeAll, keepAlive, openMany } from '../loadgen/pool.ts';
import { payload } from '../loadgen/protocols.ts';
import type { Target } from '../targets/types.ts';
import { type Log, type ResultRow, row } from './result.ts';

export interface FanoutOptions {
  members: number;
  senders: number;
  /** Group messages per second, total. */
  rates: number[];
  seconds: number;
  textSize: number;
}

export async function fanout(target: Target, o: FanoutOptions, log: Log): Promise<ResultRow[]> {
  const accounts = await target.accounts(o.members);
  const group = await target.group(accounts);
  const opened = await openMany(target.endpoint, accounts, {
    concurrency: 50,
    options: () => ({ groups: [group] }),
  });
  if (opened.failed) throw new Error(`fan-out: ${opened.failed} connects failed: ${opened.firstError}`);
  const conns = opened.conns;
  const stopPings = keepAlive(conns);
  const rows: ResultRow[] = [];
  try {
    for (const rate of o.rates) {
      const hist = new Histogram();
      let delivered = 0;
      let measuring = false;
      let inWindow = 0;
      for (const c of conns)
        c.onDeliver = (sentAt) => {
          delivered++;
          if (measuring) {
            inWindow++;
            hist.record(performance.now() - sentAt);
          }
        };
      const start = performance.now();
      const interval = 1000 / rate;
      let k = 0;
      let running = true;
      const tick = () => {
        if (!running) return;
        const due = Math.floor((performance.now() - start) / interval) + 1; // message k is due at start + k·interval
        while (k < due) {
          conns[k % o.senders]!.sendGroup(group, payload(start + k * interval, o.textSize));
          k++;
        }
        setTimeout(tick, 1);
      };
      tick();
      await sleep(1000);
      hist.reset();
      measuring = true;
      const cpu = new CpuMeter([target.pid, process.pid]);
      const t0 = performance.now();
      await sleep(o.seconds * 1000);
      measuring = false;
      const secs = (performance.now() - t0) / 1000;
      const [targetCpu, loadgenCpu] = cpu.cores();
      running = false;
      const expected = k * conns.length;
      const deadline = Date.now() + 3000;
      while (delivered < expected && Date.now() < deadline) await sleep(50);
      const s = hist.summary();
      const perSec = Math.round(inWindow / secs);
      log(
        `  ${target.id} ${rate} group msgs/s: ${perSec} deliveries/s, p50 ${s.p50} ms, p99 ${s.p99} ms (cpu target ${targetCpu})`,
      );
      rows.push(
        row(
          'fan-out',
          target,
          { members: conns.length, senders: o.senders, rate, seconds: o.seconds },
          {
            deliveriesPerSec: perSec,
            p50Ms: s.p50,
            p99Ms: s.p99,
            p999Ms: s.p999,
            lost: expected - delivered,
            targetCpuCores: targetCpu!,
            /** Target CPU per delivery (one message to one member's device), as 1:1's per message. */
            targetCpuUsPerMsg: perSec > 0 ? Math.round((targetCpu! * 1e6) / perSec) : null,
            loadgenCpuCores: loadgenCpu!,
          },
        ),
      );
    }
  } finally {
    stopPings();
    closeAll(conns);
  }
  return rows;
}
