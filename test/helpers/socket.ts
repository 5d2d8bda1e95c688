/**
 * A raw protocol client for tests: a real WebSocket, every frame recorded, and `next()` to wait
 * for the next frame that matches, with a timeout that fails the test with what was seen.
 */
import WebSocket from 'ws';

export type Frame = Record<string, any> & { type: string };

export class TestSocket {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  private cursor = 0;
  private waiters: (() => void)[] = [];
  closed?: { code: number; reason: string };

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Connects with the token in the Authorization header (or `?token=` with `viaQuery`); resolves after welcome. */
  static async open(wsUrl: string, token: string, options: { viaQuery?: boolean } = {}): Promise<TestSocket> {
    const ws = options.viaQuery
      ? new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`)
      : new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    // Listen before 'open': the welcome can arrive in the same packet as the handshake answer.
    const s = new TestSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`handshake refused: ${res.statusCode}`)),
      );
    });
    await s.next('welcome');
    return s;
  }

  /** The HTTP status of a refused handshake (or 101 if it was accepted). */
  static async handshakeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
    const ws = new WebSocket(url, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.terminate();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for the next unread frame of `type` that satisfies `match`; frames skipped stay unread for others. */
  async next(type: string, match: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = this.cursor; i < this.frames.length; i++) {
        const f = this.frames[i]!;
        if (f.type === type && match(f)) {
          this.frames.splice(i, 1);
          return f;
        }
      }
      if (this.closed)
        throw new Error(
          `socket closed (${this.closed.code}) while waiting for ${type}; saw ${this.describe()}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type}; saw ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Like `next`, for the next unread frame whose type is any of `types` (e.g. a `sent` or an `error`). */
  async nextOf(
    types: readonly string[],
    match: (f: Frame) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => types.includes(f.type) && match(f));
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      const what = types.join(' or ');
      if (this.closed)
        throw new Error(
          `socket closed (${this.closed.code}) while waiting for ${what}; saw ${this.describe()}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; saw ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves with the close code once the server closes the connection. */
  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('timed out waiting for close');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closed;
  }

  /** Unread frames of a type, without waiting. */
  pending(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  private describe(): string {
    return JSON.stringify(
      this.frames
        .slice(-5)
        .map((f) => ({ ...f, text: typeof f.text === 'string' ? `${f.text.slice(0, 20)}…` : undefined })),
    );
  }

  close(): void {
    this.ws.terminate();
  }
}
