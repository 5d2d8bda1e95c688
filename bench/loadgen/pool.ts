/**
 * Opens many connections with bounded concurrency, spread over loopback source addresses, and keeps
 * the chat ones alive with heartbeats.
 */

import { errorMessage } from '../../common/errors.ts';
import { addressFor, freshSourceAddresses } from './addresses.ts';
import { type Account, type ConnectOptions, connect, type Endpoint, type LgConn } from './protocols.ts';

export interface OpenResult {
  conns: LgConn[];
  failed: number;
  firstError?: string;
  /** Wall time from the first connect to the last answer, ms. */
  elapsedMs: number;
}

export interface OpenOptions {
  /** Connects in flight at once. */
  concurrency?: number;
  /** Per-connection options (groups), by index. */
  options?: (index: number) => ConnectOptions;
  /** Called after each connect (for progress). */
  progress?: (done: number, failed: number) => void;
  /** Index offset for the source-address round-robin. */
  offset?: number;
  /** Source addresses to use (default: fresh ones for this pool). */
  addresses?: string[];
  /** Give up after this many failures (the rest is not tried). */
  maxFailures?: number;
}

export async function openMany(
  ep: Endpoint,
  accounts: readonly Account[],
  o: OpenOptions = {},
): Promise<OpenResult> {
  const offset = o.offset ?? 0;
  const addresses = o.addresses ?? freshSourceAddresses(accounts.length);
  const conns: (LgConn | undefined)[] = new Array(accounts.length);
  let next = 0;
  let done = 0;
  let failed = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const maxFailures = o.maxFailures ?? Math.max(10, Math.floor(accounts.length / 100));
  const lane = async () => {
    while (next < accounts.length && failed < maxFailures) {
      const i = next++;
      try {
        conns[i] = await connect(ep, accounts[i]!, {
          ...o.options?.(i),
          localAddress: addressFor(offset + i, addresses),
        });
      } catch (err) {
        failed++;
        firstError ??= errorMessage(err);
      }
      o.progress?.(++done, failed);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 200, accounts.length) }, lane));
  return {
    conns: conns.filter((c): c is LgConn => c !== undefined),
    failed,
    firstError,
    elapsedMs: performance.now() - t0,
  };
}

/**
 * Sends a heartbeat on each connection that needs one, spread evenly over its interval (a tenth of
 * the connections every tenth of 80% of heartbeatMs). Returns a stop function.
 */
export function keepAlive(conns: readonly LgConn[]): () => void {
  const hb = conns.find((c) => c.heartbeatMs > 0)?.heartbeatMs ?? 0;
  if (hb === 0) return () => {};
  const slices = 10;
  let slice = 0;
  const timer = setInterval(
    () => {
      for (let i = slice; i < conns.length; i += slices) conns[i]!.ping();
      slice = (slice + 1) % slices;
    },
    Math.max(10, Math.floor((hb * 0.8) / slices)),
  );
  timer.unref();
  return () => clearInterval(timer);
}

export function closeAll(conns: readonly LgConn[]): void {
  for (const c of conns) c.close();
}
