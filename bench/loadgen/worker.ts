#!/usr/bin/env node
/**
 * A load-generator worker process: opens a slice of connections and holds them (with heartbeats)
 * until told to close. Each process has its own open-files limit, so several workers hold more
 * connections than one process could. Talks to bench/scenarios/idle.ts over the IPC channel.
 */
import { closeAll, keepAlive, openMany } from './pool.ts';
import type { Account, Endpoint } from './protocols.ts';

export interface WorkerOpen {
  cmd: 'open';
  endpoint: Endpoint;
  accounts: Account[];
  /** The worker's source addresses (disjoint from the other workers'). */
  addresses: string[];
  concurrency: number;
}

export type WorkerReply =
  | { type: 'progress'; done: number; failed: number }
  | { type: 'opened'; ok: number; failed: number; firstError?: string; elapsedMs: number };

let stop: (() => void) | undefined;
let conns: Parameters<typeof closeAll>[0] = [];

process.on('message', (msg: WorkerOpen | { cmd: 'close' }) => {
  if (msg.cmd === 'close') {
    stop?.();
    closeAll(conns);
    setTimeout(() => process.exit(0), 100);
    return;
  }
  let last = 0;
  openMany(msg.endpoint, msg.accounts, {
    concurrency: msg.concurrency,
    addresses: msg.addresses,
    progress: (done, failed) => {
      if (done - last >= 1000) {
        last = done;
        process.send!({ type: 'progress', done, failed } satisfies WorkerReply);
      }
    },
  }).then(
    (r) => {
      conns = r.conns;
      stop = keepAlive(r.conns);
      const reply: WorkerReply = {
        type: 'opened',
        ok: r.conns.length,
        failed: r.failed,
        firstError: r.firstError,
        elapsedMs: r.elapsedMs,
      };
      process.send!(reply);
    },
    (err: Error) => {
      process.send!({
        type: 'opened',
        ok: 0,
        failed: msg.accounts.length,
        firstError: err.message,
        elapsedMs: 0,
      });
    },
  );
});
process.on('disconnect', () => process.exit(0));
