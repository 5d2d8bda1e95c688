/**
 * Reconnect wave after a node drain: `connections` clients on node A; A is drained through its admin
 * API at `ratePerSec`; each client, told `reconnect` (after its `afterMs`), connects to node B (what
 * discovery would answer) and sends `sync`. Reported: how long the wave took, reconnections/s, and
 * the per-client time from its reconnect attempt to its `sync` answer.
 */
import { sleep } from '../lib/proc.ts';
import { addressFor, freshSourceAddresses } from '../loadgen/addresses.ts';
import { Histogram } from '../loadgen/histogram.ts';
import { closeAll, openMany } from '../loadgen/pool.ts';
import { connect, type LgConn } from '../loadgen/protocols.ts';
import type { ChatNodeTarget } from '../targets/chat-node.ts';
import { type Log, type ResultRow, row } from './result.ts';

const RECONNECT = Buffer.from('{"type":"reconnect"');
const SYNC = Buffer.from('{"type":"sync"');

export async function reconnectWave(
  a: ChatNodeTarget,
  b: ChatNodeTarget,
  o: { connections: number; ratePerSec: number },
  log: Log,
): Promise<ResultRow> {
  const accounts = await a.identities(o.connections);
  const opened = await openMany(a.endpoint, accounts, { concurrency: 200 });
  const moved: LgConn[] = [];
  const hist = new Histogram();
  const addresses = freshSourceAddresses(o.connections);
  let failed = 0;
  let done = 0;
  let firstError: string | undefined;
  opened.conns.forEach((c, i) => {
    c.onOther = (d) => {
      if (d.compare(RECONNECT, 0, RECONNECT.length, 0, RECONNECT.length) !== 0) return;
      const { afterMs } = JSON.parse(d.toString()) as { afterMs: number };
      setTimeout(() => {
        c.close();
        const t0 = performance.now();
        connect(b.endpoint, accounts[i]!, { localAddress: addressFor(i, addresses) })
          .then((n) => {
            moved.push(n);
            n.onOther = (f) => {
              if (f.compare(SYNC, 0, SYNC.length, 0, SYNC.length) !== 0) return;
              hist.record(performance.now() - t0);
              done++;
            };
            n.ws.send('{"type":"sync","since":"0"}');
          })
          .catch((err: Error) => {
            failed++;
            firstError ??= err.message;
          });
      }, afterMs);
    };
  });
  const t0 = performance.now();
  const res = await fetch(`${a.url}/admin/v1/drain`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ratePerSec: o.ratePerSec }),
  });
  if (res.status !== 202) throw new Error(`drain: ${res.status} ${await res.text()}`);
  const expectMs = (opened.conns.length / o.ratePerSec) * 1000;
  const deadline = Date.now() + expectMs + 30_000;
  while (done + failed < opened.conns.length && Date.now() < deadline) await sleep(50);
  const waveMs = performance.now() - t0;
  closeAll(opened.conns);
  closeAll(moved);
  const s = hist.summary();
  log(
    `  drain of ${opened.conns.length} at ${o.ratePerSec}/s: ${done} back and synced in ${(waveMs / 1000).toFixed(1)} s ` +
      `(ideal ${(expectMs / 1000).toFixed(1)} s), reconnect→sync p50 ${s.p50} ms p99 ${s.p99} ms` +
      `${failed ? `, ${failed} failed (${firstError})` : ''}`,
  );
  return row(
    'reconnect-wave',
    a,
    { connections: opened.conns.length, drainRatePerSec: o.ratePerSec },
    {
      resynced: done,
      failed,
      waveSeconds: Math.round(waveMs) / 1000,
      idealSeconds: Math.round(expectMs) / 1000,
      reconnectsPerSec: Math.round(done / (waveMs / 1000)),
      p50Ms: s.p50,
      p99Ms: s.p99,
      maxMs: s.max,
    },
  );
}
