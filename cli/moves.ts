/**
 * Waiting for the sessions a drain or shed asked to move: polls the node's load until `moving`
 * reaches 0 (a drain: until the node is empty too), reporting progress when it changes (and every
 * few seconds when it does not).
 *
 *   POST shed/drain ──▶ asked N (moving M ≥ N) ──poll /admin/v1/load──▶ moving falls ──▶ 0: done
 *                                                        │ still > 0 after --wait
 *                                                        ▼
 *                                                 CliError (exit 1): the node keeps moving them
 */
import type { AdminClient, LoadReport } from './admin-client.ts';
import { CliError } from './errors.ts';
import { moveProgress } from './nodes-view.ts';

export interface WaitOptions {
  /** Give up after this long, in ms. */
  timeoutMs: number;
  /** Poll interval, in ms. Default 250. */
  intervalMs?: number;
  /** Report at least this often while nothing changes, in ms. Default 5000. */
  quietReportMs?: number;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Receives each progress line. */
  report(line: string): void;
  /** The command that shows the node's load, for the message when time runs out. */
  watch: string;
  /** Wait until the node has no connection left as well (a drain). Default false. */
  untilEmpty?: boolean;
}

/** Polls until no asked session is left on the node; returns the last load. */
export async function waitForMoves(
  admin: Pick<AdminClient, 'label' | 'load'>,
  start: { moving: number; connections: number },
  o: WaitOptions,
): Promise<LoadReport> {
  const begin = o.now();
  const total = start.moving;
  let last = -1;
  let lastReport = begin;
  for (;;) {
    const load = await admin.load();
    const now = o.now();
    const done = load.moving === 0 && (!o.untilEmpty || load.connections === 0);
    if (load.moving !== last || now - lastReport >= (o.quietReportMs ?? 5000) || done) {
      o.report(moveProgress(Math.max(total, load.moving), load.moving, load.connections, now - begin));
      last = load.moving;
      lastReport = now;
    }
    if (done) return load;
    if (now - begin >= o.timeoutMs) {
      const left =
        load.moving > 0
          ? `${load.moving} sessions were still moving off`
          : `${load.connections} connections were still on`;
      throw new CliError(
        `${left} ${admin.label} after ${Math.round(o.timeoutMs / 1000)} s; ` +
          'the node keeps asking them (and closes those that stay past their turn). ' +
          `Watch with: ${o.watch}, or wait longer with --wait <seconds>`,
      );
    }
    await o.sleep(o.intervalMs ?? 250);
  }
}
