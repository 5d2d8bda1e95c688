/**
 * `sync` of missed messages: a sender stores `messages` messages for an offline recipient (pipelined
 * sends, each acknowledged by `sent`), then the recipient connects and pages through them with
 * `sync` (limit 1000, the protocol's maximum) from "0". Time from the first `sync` to the last page.
 */
import type { Message, SyncAnswerFrame } from '../../common/protocol.ts';
import { sleep } from '../lib/proc.ts';
import { connect, type LgConn, payload } from '../loadgen/protocols.ts';
import type { Target } from '../targets/types.ts';
import { type Log, type ResultRow, row } from './result.ts';

const SENT = Buffer.from('{"type":"sent"');

async function store(sender: LgConn, to: string, n: number, textSize: number): Promise<number> {
  const t0 = performance.now();
  let acked = 0;
  let sent = 0;
  const window = 200;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${acked} of ${n} sends acknowledged in 120 s`)),
      120_000,
    );
    const more = () => {
      while (sent < n && sent - acked < window) {
        sender.sendTo(to, payload(performance.now(), textSize));
        sent++;
      }
    };
    sender.onOther = (d) => {
      if (d.compare(SENT, 0, SENT.length, 0, SENT.length) !== 0) return;
      if (++acked === n) {
        clearTimeout(timer);
        resolve();
      } else more();
    };
    more();
  });
  sender.onOther = undefined;
  return n / ((performance.now() - t0) / 1000);
}

interface SyncPass {
  count: number;
  pages: number;
  ms: number;
  /** `internal` answers (the store writer was behind) that were retried, as a client would. */
  retries: number;
}

/** One page: the answer, or 'retry' for an `internal` error (history not caught up yet). */
function page(conn: LgConn, since: string): Promise<SyncAnswerFrame | 'retry'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no sync answer in 30 s')), 30_000);
    conn.onOther = (d) => {
      const f = JSON.parse(d.toString()) as SyncAnswerFrame | { type: string; code?: string };
      if (f.type !== 'sync' && f.type !== 'error') return;
      clearTimeout(timer);
      if (f.type === 'sync') resolve(f as SyncAnswerFrame);
      else if ((f as { code?: string }).code === 'internal') resolve('retry');
      else reject(new Error(`sync: ${d.toString()}`));
    };
    conn.ws.send(JSON.stringify({ type: 'sync', since, limit: 1000 }));
  });
}

async function syncAll(conn: LgConn): Promise<SyncPass> {
  let since = '0';
  let count = 0;
  let pages = 0;
  let retries = 0;
  const t0 = performance.now();
  for (;;) {
    const p = await page(conn, since);
    if (p === 'retry') {
      if (++retries > 100) throw new Error('sync: still not caught up after 100 retries');
      await sleep(100);
      continue;
    }
    pages++;
    count += p.messages.length;
    const last: Message | undefined = p.messages.at(-1);
    if (last) since = last.messageId;
    if (!p.more || !last) break;
  }
  return { count, pages, ms: performance.now() - t0, retries };
}

export async function syncMissed(
  target: Target,
  o: { messages: number; textSize: number },
  log: Log,
): Promise<ResultRow> {
  const [a, b] = await target.accounts(2);
  const sender = await connect(target.endpoint, a!);
  const storedPerSec = await store(sender, b!.userId, o.messages, o.textSize);
  sender.close();
  await sleep(200);
  const receiver = await connect(target.endpoint, b!);
  // Twice: the first pass is what a client sees right after the sends (on the real backends it may
  // wait for the store writer); the second reads the same messages again.
  const cold = await syncAll(receiver);
  const warm = await syncAll(receiver);
  receiver.close();
  log(
    `  ${target.id}: stored ${o.messages} at ${Math.round(storedPerSec)}/s; sync of ${cold.count} in ${cold.pages} pages ` +
      `took ${cold.ms.toFixed(0)} ms${cold.retries ? ` (${cold.retries} retries: the store writer was behind)` : ''} ` +
      `(again: ${warm.ms.toFixed(0)} ms)`,
  );
  return row(
    'sync',
    target,
    { messages: o.messages, textSize: o.textSize, pageLimit: 1000 },
    {
      syncedMessages: cold.count,
      pages: cold.pages,
      syncMs: Math.round(cold.ms),
      syncAgainMs: Math.round(warm.ms),
      retries: cold.retries,
      storedPerSec: Math.round(storedPerSec),
    },
  );
}
