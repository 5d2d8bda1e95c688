#!/usr/bin/env node
/**
 * The ceiling: a raw `ws` relay in Node. A client connects to `/?id=<userId>[&groups=a,b]`; each
 * text frame `{"to": userId, …}` is forwarded as is to that user's sockets, and `{"group": id, …}` to
 * every socket that joined the group. It parses each frame (JSON.parse, as any relay that routes by
 * a field must) and does nothing else: no auth, no storage, no acknowledgement.
 *
 *   node bench/targets/ws-relay.ts --port 0 [--host 127.0.0.1]   # prints "listening on host:port"
 */
import { parseArgs } from 'node:util';
import { type WebSocket, WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});

const users = new Map<string, Set<WebSocket>>();
const groups = new Map<string, Set<WebSocket>>();

function join(map: Map<string, Set<WebSocket>>, key: string, ws: WebSocket): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(ws);
}

function leave(map: Map<string, Set<WebSocket>>, key: string, ws: WebSocket): void {
  const set = map.get(key);
  set?.delete(ws);
  if (set?.size === 0) map.delete(key);
}

const wss = new WebSocketServer({
  port: Number(values.port),
  host: values.host,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 2 * 1024 * 1024,
});

wss.on('connection', (ws, req) => {
  const q = new URL(req.url ?? '/', 'http://relay').searchParams;
  const id = q.get('id') ?? '';
  const joined = (q.get('groups') ?? '').split(',').filter(Boolean);
  join(users, id, ws);
  for (const g of joined) join(groups, g, ws);
  ws.on('message', (data: Buffer, isBinary) => {
    let frame: { to?: unknown; group?: unknown };
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    const set =
      typeof frame.to === 'string'
        ? users.get(frame.to)
        : typeof frame.group === 'string'
          ? groups.get(frame.group)
          : undefined;
    if (set) for (const peer of set) peer.send(data, { binary: isBinary });
  });
  ws.on('close', () => {
    leave(users, id, ws);
    for (const g of joined) leave(groups, g, ws);
  });
  ws.on('error', () => {});
});

wss.on('listening', () => {
  const a = wss.address() as { address: string; port: number };
  console.log(`listening on ${a.address}:${a.port}`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
