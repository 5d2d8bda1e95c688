/**
 * Small helpers for WebSocket protocol tests: a pool that closes every socket a suite opens, the
 * raw first frame of a handshake, groups and presence over HTTP, and bounded polling.
 */
import WebSocket from 'ws';
import { type Frame, TestSocket } from './socket.ts';
import { http } from './users.ts';

/** Opens TestSockets and remembers them, so that a suite's afterAll can close them all. */
export class SocketPool {
  private readonly sockets = new Set<TestSocket>();

  async open(wsUrl: string, token: string, options: { viaQuery?: boolean } = {}): Promise<TestSocket> {
    const s = await TestSocket.open(wsUrl, token, options);
    this.sockets.add(s);
    return s;
  }

  closeAll(): void {
    for (const s of this.sockets) s.close();
    this.sockets.clear();
  }
}

/** The dm conversation id of two users (ids sorted). */
export function dmOf(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/**
 * Connects with a raw `ws` client and resolves with the very first frame the node sends (parsed),
 * then cuts the connection.
 */
export async function firstFrame(url: string, headers: Record<string, string> = {}): Promise<Frame> {
  const ws = new WebSocket(url, { headers });
  try {
    return await new Promise<Frame>((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(data.toString()) as Frame));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`handshake refused: ${res.statusCode}`)),
      );
      setTimeout(() => reject(new Error('no frame within 5 s')), 5000).unref();
    });
  } finally {
    ws.terminate();
  }
}

/** The status and the body text of a handshake's HTTP answer (101 and '' when it was accepted). */
export async function handshakeAnswer(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        ws.terminate();
      });
    });
    ws.once('error', reject);
  });
}

/** Creates a group (the creator is added) and returns its id. */
export async function createGroup(
  baseUrl: string,
  token: string,
  members: readonly string[],
  name = 'group',
): Promise<string> {
  const res = await http(baseUrl, 'POST', '/v1/groups', { token, body: { name, members } });
  if (res.status !== 201) throw new Error(`createGroup: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.groupId as string;
}

export interface Presence {
  userId: string;
  status: 'online' | 'offline';
  lastActiveAt: number | null;
}

/** GET /v1/presence for some users. */
export async function presenceOf(
  baseUrl: string,
  token: string,
  users: readonly string[],
): Promise<Presence[]> {
  const res = await http(baseUrl, 'GET', `/v1/presence?users=${users.join(',')}`, { token });
  if (res.status !== 200) throw new Error(`presence: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.presence as Presence[];
}

/** Polls `check` until it returns a value other than undefined; fails after `timeoutMs`, naming `what`. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Sends a ping and waits for its pong: every frame the node sent this socket before is then received. */
export async function roundTrip(s: TestSocket): Promise<void> {
  s.send({ type: 'ping' });
  await s.next('pong');
}

/** Compares two decimal message ids as 64-bit integers. */
export function idLess(a: string, b: string): boolean {
  return BigInt(a) < BigInt(b);
}
