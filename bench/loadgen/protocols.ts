/**
 * The three protocols the load generator speaks over raw `ws` sockets: the chat client protocol
 * (PROTOCOL.md, frames typed by common/protocol.ts), the raw relay's (a frame names its addressee:
 * `{"to"|"group", "text"}`) and Centrifugo's JSON protocol (connect with a token, subscribe,
 * publish, pushes; `{}` pings answered with `{}`).
 *
 * Every payload text starts with the send time (`performance.now()`, ms) followed by `|`, so a
 * delivered frame tells its send→deliver latency without a full JSON parse on the hot path.
 */
import WebSocket from 'ws';
import type { ErrorFrame, SendFrame, WelcomeFrame } from '../../common/protocol.ts';

export type TargetKind = 'chat' | 'relay' | 'centrifugo';

export interface Account {
  userId: string;
  token: string;
}

export interface Endpoint {
  kind: TargetKind;
  /** ws:// URL of the WebSocket endpoint (for the chat node: …/v1/ws). */
  wsUrl: string;
}

export interface ConnectOptions {
  localAddress?: string;
  timeoutMs?: number;
  /** Groups to join (relay: declared at connect; Centrifugo: subscribed to `group:<id>`). */
  groups?: string[];
  /** Another URL than the endpoint's (a reconnect to another node). */
  wsUrl?: string;
}

/** One load-generator connection. */
export interface LgConn {
  readonly userId: string;
  readonly ws: WebSocket;
  /** Heartbeat interval the server asked for (chat), 0 when the client need not ping. */
  readonly heartbeatMs: number;
  /** Called with the embedded send time of each delivered message. */
  onDeliver: ((sentAt: number) => void) | undefined;
  /** Called with every other frame (chat: sent, sync, reconnect, error, …). */
  onOther: ((data: Buffer) => void) | undefined;
  errors: number;
  sendTo(userId: string, text: string): void;
  sendGroup(groupId: string, text: string): void;
  /** A heartbeat (chat ping); a no-op for protocols whose server pings. */
  ping(): void;
  close(): void;
}

const TEXT_KEY = Buffer.from('"text":"');
const CHAT_MESSAGE = Buffer.from('{"type":"message"');
const CHAT_ERROR = Buffer.from('{"type":"error"');

/** The send time at the start of the first `"text":"…|` in `buf` between `from` and `end`, or NaN. */
export function sentAtOf(buf: Buffer, from = 0, end = buf.length): number {
  const at = buf.indexOf(TEXT_KEY, from);
  if (at < 0 || at >= end) return Number.NaN;
  let whole = 0;
  let frac = 0;
  let scale = 1;
  let inFrac = false;
  for (let i = at + TEXT_KEY.length; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x7c /* | */) return whole + frac / scale;
    if (c === 0x2e /* . */) inFrac = true;
    else if (c >= 0x30 && c <= 0x39) {
      if (inFrac) {
        frac = frac * 10 + (c - 0x30);
        scale *= 10;
      } else whole = whole * 10 + (c - 0x30);
    } else return Number.NaN;
  }
  return Number.NaN;
}

/** A payload text: the send time, `|`, then padding up to `size` characters. */
export function payload(sentAt: number, size: number): string {
  const head = `${sentAt.toFixed(3)}|`;
  return size > head.length ? head + 'x'.repeat(size - head.length) : head;
}

function startsWith(buf: Buffer, prefix: Buffer): boolean {
  return buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

function open(url: string, o: ConnectOptions, headers?: Record<string, string>): WebSocket {
  return new WebSocket(url, {
    headers,
    localAddress: o.localAddress,
    perMessageDeflate: false,
    handshakeTimeout: o.timeoutMs ?? 30_000,
  });
}

/** Rejects on the handshake's failure (HTTP status, socket error, close or timeout); returns a disarm. */
function failure(ws: WebSocket, timeoutMs: number, reject: (e: Error) => void): () => void {
  const timer = setTimeout(() => {
    reject(new Error('no answer in time'));
    ws.terminate();
  }, timeoutMs);
  const onError = (err: Error) => reject(err);
  const onClose = (code: number) => reject(new Error(`closed during connect (${code})`));
  ws.once('error', onError);
  ws.once('close', onClose);
  ws.once('unexpected-response', (_req, res) => {
    reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
    ws.terminate();
  });
  return () => {
    clearTimeout(timer);
    ws.off('error', onError);
    ws.off('close', onClose);
  };
}

abstract class BaseConn implements LgConn {
  readonly userId: string;
  readonly ws: WebSocket;
  heartbeatMs = 0;
  onDeliver: ((sentAt: number) => void) | undefined;
  onOther: ((data: Buffer) => void) | undefined;
  errors = 0;
  constructor(userId: string, ws: WebSocket) {
    this.userId = userId;
    this.ws = ws;
    ws.on('error', () => {
      this.errors++;
    });
  }
  abstract sendTo(userId: string, text: string): void;
  abstract sendGroup(groupId: string, text: string): void;
  ping(): void {}
  close(): void {
    this.ws.terminate();
  }
}

class ChatConn extends BaseConn {
  private seq = 0;
  handle(data: Buffer): void {
    if (startsWith(data, CHAT_MESSAGE)) {
      if (this.onDeliver) this.onDeliver(sentAtOf(data));
      return;
    }
    if (startsWith(data, CHAT_ERROR)) this.errors++;
    this.onOther?.(data);
  }
  sendTo(to: string, text: string): void {
    const f: SendFrame = { type: 'send', id: ++this.seq, to, text };
    this.ws.send(JSON.stringify(f));
  }
  sendGroup(group: string, text: string): void {
    const f: SendFrame = { type: 'send', id: ++this.seq, group, text };
    this.ws.send(JSON.stringify(f));
  }
  override ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send('{"type":"ping"}');
  }
}

async function connectChat(ep: Endpoint, a: Account, o: ConnectOptions): Promise<LgConn> {
  const ws = open(o.wsUrl ?? ep.wsUrl, o, { authorization: `Bearer ${a.token}` });
  const conn = new ChatConn(a.userId, ws);
  await new Promise<void>((resolve, reject) => {
    const done = failure(ws, o.timeoutMs ?? 30_000, reject);
    // The welcome may arrive in the same packet as the handshake answer: listen from the start.
    ws.once('message', (data: Buffer) => {
      done();
      const w = JSON.parse(data.toString()) as WelcomeFrame | ErrorFrame;
      if (w.type !== 'welcome') return reject(new Error(`expected welcome, got ${data.toString()}`));
      conn.heartbeatMs = w.heartbeatMs;
      ws.on('message', (d: Buffer) => conn.handle(d));
      resolve();
    });
  });
  return conn;
}

class RelayConn extends BaseConn {
  sendTo(to: string, text: string): void {
    this.ws.send(`{"to":${JSON.stringify(to)},"text":${JSON.stringify(text)}}`);
  }
  sendGroup(group: string, text: string): void {
    this.ws.send(`{"group":${JSON.stringify(group)},"text":${JSON.stringify(text)}}`);
  }
}

async function connectRelay(ep: Endpoint, a: Account, o: ConnectOptions): Promise<LgConn> {
  const q = new URLSearchParams({ id: a.userId });
  if (o.groups?.length) q.set('groups', o.groups.join(','));
  const ws = open(`${o.wsUrl ?? ep.wsUrl}?${q}`, o);
  const conn = new RelayConn(a.userId, ws);
  ws.on('message', (d: Buffer) => {
    if (conn.onDeliver) conn.onDeliver(sentAtOf(d));
  });
  await new Promise<void>((resolve, reject) => {
    const done = failure(ws, o.timeoutMs ?? 30_000, reject);
    ws.once('open', () => {
      done();
      resolve();
    });
  });
  return conn;
}

const PUSH_KEY = Buffer.from('"push"');

class CentrifugoConn extends BaseConn {
  private id = 0;
  private readonly replies = new Map<number, (line: string) => void>();
  handle(data: Buffer): void {
    // The server may put several replies and pushes in one frame, one JSON object a line.
    let start = 0;
    while (start < data.length) {
      let end = data.indexOf(10, start);
      if (end < 0) end = data.length;
      this.line(data, start, end);
      start = end + 1;
    }
  }
  private line(data: Buffer, start: number, end: number): void {
    if (end - start === 2 && data[start] === 0x7b && data[start + 1] === 0x7d) {
      this.ws.send('{}'); // ping → pong
      return;
    }
    const push = data.indexOf(PUSH_KEY, start);
    if (push >= 0 && push < end) {
      if (this.onDeliver) this.onDeliver(sentAtOf(data, push, end));
      return;
    }
    if (this.replies.size === 0) {
      // A publish reply: nobody waits for it (errors are counted).
      if (data.indexOf('"error"', start) >= 0 && data.indexOf('"error"', start) < end) this.errors++;
      return;
    }
    const line = data.toString('utf8', start, end);
    const m = /^\{"id":(\d+)/.exec(line);
    const waiter = m ? this.replies.get(Number(m[1])) : undefined;
    if (waiter) {
      this.replies.delete(Number(m![1]));
      waiter(line);
    } else this.onOther?.(data.subarray(start, end));
  }
  /** Sends a command and resolves with its reply line. */
  command(body: Record<string, unknown>): Promise<string> {
    const id = ++this.id;
    return new Promise((resolve) => {
      this.replies.set(id, resolve);
      this.ws.send(JSON.stringify({ id, ...body }));
    });
  }
  sendTo(to: string, text: string): void {
    this.ws.send(
      `{"id":${++this.id},"publish":{"channel":${JSON.stringify(`personal:${to}`)},"data":{"text":${JSON.stringify(text)}}}}`,
    );
  }
  sendGroup(group: string, text: string): void {
    this.ws.send(
      `{"id":${++this.id},"publish":{"channel":${JSON.stringify(`group:${group}`)},"data":{"text":${JSON.stringify(text)}}}}`,
    );
  }
}

async function connectCentrifugo(ep: Endpoint, a: Account, o: ConnectOptions): Promise<LgConn> {
  const ws = open(o.wsUrl ?? ep.wsUrl, o);
  const conn = new CentrifugoConn(a.userId, ws);
  ws.on('message', (d: Buffer) => conn.handle(d));
  await new Promise<void>((resolve, reject) => {
    const done = failure(ws, o.timeoutMs ?? 30_000, reject);
    ws.once('open', () => {
      const steps = async () => {
        const connected = await conn.command({ connect: { token: a.token, name: 'bench' } });
        if (!connected.includes('"connect"')) throw new Error(`connect refused: ${connected}`);
        for (const channel of [`personal:${a.userId}`, ...(o.groups ?? []).map((g) => `group:${g}`)]) {
          const sub = await conn.command({ subscribe: { channel } });
          if (!sub.includes('"subscribe"')) throw new Error(`subscribe refused: ${sub}`);
        }
      };
      steps().then(
        () => {
          done();
          resolve();
        },
        (err: Error) => {
          done();
          reject(err);
        },
      );
    });
  });
  return conn;
}

/** Opens one connection of the endpoint's protocol; resolves once it can send and receive. */
export function connect(ep: Endpoint, account: Account, options: ConnectOptions = {}): Promise<LgConn> {
  switch (ep.kind) {
    case 'chat':
      return connectChat(ep, account, options);
    case 'relay':
      return connectRelay(ep, account, options);
    case 'centrifugo':
      return connectCentrifugo(ep, account, options);
  }
}
