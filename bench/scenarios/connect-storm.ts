/** Connect storm: `connections` clients connect at once (bounded concurrency); connections/s accepted. */
import { CpuMeter, rssBytes } from '../lib/proc.ts';
import { closeAll, openMany } from '../loadgen/pool.ts';
import type { Target } from '../targets/types.ts';
import { type Log, mib, type ResultRow, row } from './result.ts';

export async function connectStorm(
  target: Target,
  o: { connections: number; concurrency: number },
  log: Log,
): Promise<ResultRow> {
  const accounts = await target.identities(o.connections);
  const cpu = new CpuMeter([target.pid, process.pid]);
  const r = await openMany(target.endpoint, accounts, { concurrency: o.concurrency });
  const [targetCpu, loadgenCpu] = cpu.cores();
  const [targetCpuSeconds] = cpu.used();
  const perSec = Math.round(r.conns.length / (r.elapsedMs / 1000));
  const rss = rssBytes(target.pid);
  closeAll(r.conns);
  log(
    `  ${target.id}: ${r.conns.length} connected in ${(r.elapsedMs / 1000).toFixed(2)} s = ${perSec}/s` +
      `${r.failed ? `, ${r.failed} failed (${r.firstError})` : ''} (cpu target ${targetCpu}, loadgen ${loadgenCpu})`,
  );
  return row(
    'connect-storm',
    target,
    { connections: o.connections, concurrency: o.concurrency },
    {
      acceptedPerSec: perSec,
      connected: r.conns.length,
      failed: r.failed,
      seconds: Math.round(r.elapsedMs) / 1000,
      targetCpuCores: targetCpu!,
      /** Target CPU per accepted connection (handshake, token check, welcome). */
      targetCpuUsPerConn: r.conns.length > 0 ? Math.round((targetCpuSeconds! * 1e6) / r.conns.length) : null,
      loadgenCpuCores: loadgenCpu!,
      targetRssMiB: mib(rss),
    },
  );
}
