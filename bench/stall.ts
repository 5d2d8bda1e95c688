/**
 * The worst event-loop stall one user's heavy reads cause on a chat node (issue: one 400 KB-message
 * sync page used to block every other client for ~0.45 s). A user fills its inbox with messages of
 * 100,000 emoji (400 KB each), then three of its connections each ask for 8 full `sync` pages at
 * once while 4 HTTP history pages of 200 run, for `--rounds` rounds. Another user pings every 5 ms.
 * Printed: that user's ping round trips (max, p99, p50) and the node's own largest event-loop delay
 * over the burst (prom-client's `nodejs_eventloop_lag_max_seconds`, reset by each scrape).
 *
 *   node bench/stall.ts [--durable] [--inbox 40] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { type ChatNodeTarget, startChatNode } from './targets/chat-node.ts';

const { values } = parseArgs({
  options: {
    durable: { type: 'boolean', default: false },
    inbox: { type: 'string', default: '40' },
    rounds: { type: 'string', default: '5' },
  },
});
const INBOX = Number(values.inbox);
const ROUNDS = Number(values.rounds);
const TEXT = '😀'.repeat(100_000);

async function open(url: string, token: string): Promise<{ ws: WebSocket; frames: () => number }> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  let frames = 0;
  ws.on('message', () => frames++);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames: () => frames };
}

async function until(check: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function lagMaxMs(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  return m ? Number(m[1]) * 1000 : Number.NaN;
}

async function main(): Promise<void> {
  const node: ChatNodeTarget = await startChatNode({ durable: values.durable });
  try {
    const [heavy, watcher] = await node.accounts(2);
    const wsUrl = `${node.url.replace(/^http/, 'ws')}/v1/ws`;
    // The inbox: messages from the heavy user to itself, 4 in flight.
    const writer = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${heavy!.token}` } });
    let sent = 0;
    writer.on('message', (d) => {
      if (d.toString('utf8', 0, 16).includes('"sent"')) sent++;
    });
    await new Promise((r) => writer.once('open', r));
    for (let i = 0; i < INBOX; i++) {
      writer.send(JSON.stringify({ type: 'send', id: `b${i}`, to: heavy!.userId, text: TEXT }));
      await until(() => sent >= i - 3);
    }
    await until(() => sent >= INBOX);
    writer.close();

    const observer = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${watcher!.token}` } });
    await new Promise((r) => observer.once('open', r));
    const rtts: number[] = [];
    let stop = false;
    const pinging = (async () => {
      while (!stop) {
        const t0 = performance.now();
        const pong = new Promise<void>((resolve) => {
          const on = (d: WebSocket.RawData) => {
            if (d.toString().includes('"pong"')) {
              observer.off('message', on);
              resolve();
            }
          };
          observer.on('message', on);
        });
        observer.send('{"type":"ping"}');
        await pong;
        rtts.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const sockets = await Promise.all([1, 2, 3].map(() => open(wsUrl, heavy!.token)));
    const cid = `dm:${heavy!.userId}:${heavy!.userId}`;
    await lagMaxMs(node.url); // resets the node's delay histogram
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of sockets)
        for (let i = 0; i < 8; i++) s.ws.send(JSON.stringify({ type: 'sync', since: '0', limit: 1000 }));
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const res = await fetch(`${node.url}/v1/conversations/${cid}/messages?limit=200`, {
            headers: { authorization: `Bearer ${heavy!.token}` },
          });
          await res.arrayBuffer();
        }),
      );
      await until(() => sockets.every((s) => s.frames() >= 1 + 8 * (round + 1)));
    }
    const seconds = (performance.now() - started) / 1000;
    const lag = await lagMaxMs(node.url);
    stop = true;
    await pinging;
    rtts.sort((a, b) => a - b);
    const q = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))]!;
    console.log(
      JSON.stringify({
        target: node.name,
        inbox: INBOX,
        rounds: ROUNDS,
        pages: ROUNDS * (3 * 8 + 4),
        seconds: Number(seconds.toFixed(2)),
        pings: rtts.length,
        pingMaxMs: Number(q(1).toFixed(1)),
        pingP99Ms: Number(q(0.99).toFixed(1)),
        pingP50Ms: Number(q(0.5).toFixed(1)),
        nodeLoopDelayMaxMs: Number(lag.toFixed(1)),
      }),
    );
    for (const s of sockets) s.ws.close();
    observer.close();
  } finally {
    await node.stop();
  }
}

await main();
