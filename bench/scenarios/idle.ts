/**
 * Idle authenticated connections: node RSS per connection. Connections are opened by worker
 * processes (at most `perWorker` each, so that no load-generator process reaches its open-files
 * limit), held with heartbeats, and the target's RSS is read before and after (after a settle).
 *
 * A Node target started under `--inspect` (target.inspectPort) is then made to collect its garbage
 * (bench/lib/inspector.ts), and read again: live heap per connection (`heapPerConn`), apart from the
 * heap the connect storm grew, and RSS per connection after that GC (`gcRssPerConn`). Both are
 * against the same readings taken after a GC before the first connection.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { type HeapReading, heapAfterGc } from '../lib/inspector.ts';
import { CpuMeter, rssBytes, sleep } from '../lib/proc.ts';
import { freshSourceAddresses } from '../loadgen/addresses.ts';
import type { WorkerOpen, WorkerReply } from '../loadgen/worker.ts';
import type { Target } from '../targets/types.ts';
import { type Log, mib, type ResultRow, row } from './result.ts';

export interface IdleOptions {
  /** Connection counts to reach, in increasing order, on the same target process. */
  steps: number[];
  perWorker: number;
  concurrency: number;
  settleMs: number;
  /** Why the largest step is what it is (e.g. the open-files limit), for the table. */
  note?: string;
}

interface Worker {
  child: ReturnType<typeof fork>;
  opened: Promise<Extract<WorkerReply, { type: 'opened' }>>;
}

function startWorker(msg: WorkerOpen, onProgress: (done: number) => void): Worker {
  const child = fork(join(import.meta.dirname, '..', 'loadgen', 'worker.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const opened = new Promise<Extract<WorkerReply, { type: 'opened' }>>((resolve, reject) => {
    child.on('message', (m: WorkerReply) => {
      if (m.type === 'progress') onProgress(m.done);
      else resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`load-generator worker exited with ${code}`)));
  });
  child.send(msg);
  return { child, opened };
}

export async function idle(target: Target, o: IdleOptions, log: Log): Promise<ResultRow[]> {
  await sleep(500);
  const base = rssBytes(target.pid);
  const gc = (): Promise<HeapReading | undefined> =>
    target.inspectPort === undefined ? Promise.resolve(undefined) : heapAfterGc(target.inspectPort);
  const baseGc = await gc();
  const workers: Worker[] = [];
  const rows: ResultRow[] = [];
  let held = 0;
  let failedTotal = 0;
  try {
    for (const step of o.steps) {
      const t0 = performance.now();
      let stepFailed = 0;
      let firstError: string | undefined;
      while (held < step && stepFailed === 0) {
        const n = Math.min(o.perWorker, step - held);
        const accounts = await target.identities(n);
        const w = startWorker(
          {
            cmd: 'open',
            endpoint: target.endpoint,
            accounts,
            addresses: freshSourceAddresses(n),
            concurrency: o.concurrency,
          },
          (done) => process.stdout.write(`\r  ${target.id}: ${held + done} connections…   `),
        );
        workers.push(w);
        const r = await w.opened;
        held += r.ok;
        stepFailed += r.failed;
        firstError ??= r.firstError;
      }
      process.stdout.write('\r');
      failedTotal += stepFailed;
      const connectSecs = (performance.now() - t0) / 1000;
      const cpu = new CpuMeter([target.pid]);
      await sleep(o.settleMs);
      // CPU of holding the connections (heartbeats, sweeps) during the settle.
      const [idleCpu] = cpu.cores();
      const rss = rssBytes(target.pid);
      const perConn = held > 0 ? (rss - base) / held : Number.NaN;
      const after = await gc();
      const per = (a: number | undefined, b: number | undefined) =>
        a !== undefined && b !== undefined && held > 0 ? Math.round((a - b) / held) : null;
      const heapPerConn = per(after?.heapUsed, baseGc?.heapUsed);
      const gcRssPerConn = per(after?.rss, baseGc?.rss);
      log(
        `  ${target.id}: ${held} idle connections, RSS ${mib(rss)} MiB (base ${mib(base)}), ` +
          `${(perConn / 1024).toFixed(2)} KiB per connection` +
          (after
            ? `; after a GC: heap ${mib(after.heapUsed)} MiB (base ${mib(baseGc!.heapUsed)}), ` +
              `${heapPerConn} B heap and ${gcRssPerConn} B RSS per connection`
            : '') +
          `${stepFailed ? `; ${stepFailed} failed: ${firstError}` : ''}`,
      );
      rows.push(
        row(
          'idle',
          target,
          { connections: step, ...(o.note && step === o.steps.at(-1) ? { note: o.note } : {}) },
          {
            held,
            failed: stepFailed,
            firstError: firstError ?? null,
            baseRssMiB: mib(base),
            rssMiB: mib(rss),
            bytesPerConn: Math.round(perConn),
            gcRssPerConn,
            heapPerConn,
            externalPerConn: per(after?.external, baseGc?.external),
            heapUsedMiB: after ? mib(after.heapUsed) : null,
            idleCpuCores: idleCpu!,
            connectSeconds: Math.round(connectSecs * 10) / 10,
          },
        ),
      );
      if (stepFailed > 0) break;
    }
  } finally {
    for (const w of workers) if (w.child.connected) w.child.send({ cmd: 'close' });
    await Promise.all(
      workers.map((w) => new Promise((r) => (w.child.exitCode === null ? w.child.once('exit', r) : r(0)))),
    );
  }
  if (failedTotal > 0) log(`  ${target.id}: ${failedTotal} connections failed in all`);
  return rows;
}
