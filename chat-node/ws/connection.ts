/**
 * One device's WebSocket: identity, heartbeat bookkeeping, rate limit, presence subscriptions, and
 * sends that refuse to grow memory without bound (a slow reader is disconnected instead), gathered
 * into one socket write per turn. Its requests are answered in order, and one that produces a large
 * answer waits until the earlier answers have mostly left: a client that asks for more than it
 * reads makes the node wait, not hold more, and is cut once too many requests wait.
 *
 *   frame ──▶ queue empty and light? ──yes──▶ run now
 *                 │ no
 *                 ▼
 *   queue (≤ MAX_WAITING_REQUESTS, else cut) ──▶ heavy: wait until queued ≤ half the bound ──▶ run
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { MAX_FRAME_BYTES, type ServerFrame } from '../../common/protocol.ts';
import type { Metrics } from '../metrics.ts';

/** WebSocket close codes used by the node. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  tryAgain: 1013,
} as const;

/** ws send options of every frame (one object, not one per send). */
const TEXT = { binary: false } as const;

/** Requests of one connection waiting behind earlier ones; past it the connection is cut (slow reader). */
export const MAX_WAITING_REQUESTS = 16;

/**
 * What every connection of a gateway shares (one object for all of them, not fields on each): the
 * frame budget's rate and burst, the slow-reader bound, the metrics and the slow-reader handler.
 */
export interface ConnectionShared {
  /** Frames per millisecond a connection earns. */
  readonly framesPerMs: number;
  readonly frameBurst: number;
  readonly maxBufferedBytes: number;
  readonly metrics: Metrics;
  readonly onSlow: (c: Connection) => void;
}

/** The shared part of connections made with these settings (a gateway makes one for all of its own). */
export function connectionShared(o: {
  framesPerSecond: number;
  frameBurst: number;
  maxBufferedBytes: number;
  metrics: Metrics;
  onSlow: (c: Connection) => void;
}): ConnectionShared {
  return {
    framesPerMs: o.framesPerSecond / 1000,
    frameBurst: o.frameBurst,
    maxBufferedBytes: o.maxBufferedBytes,
    metrics: o.metrics,
    onSlow: o.onSlow,
  };
}

/**
 * One small record per connection: what is not needed by an idle connection (presence
 * subscriptions, the request queue, drain waiters) is created on first use, and the frame budget is
 * two numbers here rather than an object.
 */
export class Connection {
  readonly ws: WebSocket;
  readonly userId: string;
  readonly deviceId: string;
  /** When its token was issued (ms): a revocation at or after this closes the connection. */
  readonly tokenIssuedAt: number;
  /** Bytes handed to the socket and not yet written to the kernel, corked or not. */
  queued = 0;
  /** The most `queued` ever was (tests and the slow-reader bound's proof). */
  peakQueued = 0;
  readonly connectedAt: number;
  lastFrameAt: number;
  /** lastFrameAt as last reported to the presence backend. */
  reportedActiveAt: number;
  /** Consecutive frames refused by the rate limit. */
  strikes = 0;
  /** The frame budget (a token bucket): tokens left, and when they were last counted. */
  private tokens: number;
  private tokensAt: number;
  /** Users this connection watches (presence.subscribe, and v1.1's contacts); created on first use. */
  watching: Set<string> | undefined;
  /** Users it subscribed to itself (a contact removed stays watched when it is one); on first use. */
  subscribed: Set<string> | undefined;
  closed = false;
  /** Set once `welcome` is sent: messages and events reach the connection from then on. */
  welcomed = false;
  /** Set once a reconnect frame was sent (shed or drain). */
  movingAt = 0;
  private readonly shared: ConnectionShared;
  /** True while this turn's frames are being gathered into one socket write. */
  private corked = false;
  private corkedBytes = 0;
  /** Requests not yet answered that came after the one in progress. */
  private waiting = 0;
  /** The last queued request (undefined until a request has to wait). */
  private tail: Promise<void> | undefined;
  /** Heavy requests waiting for `queued` to fall to the low-water mark (on first use). */
  private drainWaiters: (() => void)[] | undefined;

  constructor(o: {
    ws: WebSocket;
    userId: string;
    deviceId: string;
    tokenIssuedAt?: number;
    now: number;
    shared: ConnectionShared;
  }) {
    this.ws = o.ws;
    this.userId = o.userId;
    this.deviceId = o.deviceId;
    this.tokenIssuedAt = o.tokenIssuedAt ?? 0;
    this.connectedAt = o.now;
    this.lastFrameAt = o.now;
    this.reportedActiveAt = o.now;
    this.shared = o.shared;
    this.tokens = o.shared.frameBurst;
    this.tokensAt = o.now;
  }

  /** Takes one frame from the connection's budget; false when it is spent (rate limited). */
  takeFrame(now: number): boolean {
    const s = this.shared;
    this.tokens = Math.min(s.frameBurst, this.tokens + (now - this.tokensAt) * s.framesPerMs);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** The number of users watched. */
  get watchingCount(): number {
    return this.watching?.size ?? 0;
  }

  /** True if the connection watches this user. */
  watches(userId: string): boolean {
    return this.watching?.has(userId) ?? false;
  }

  /** Records users the connection subscribed to itself. */
  subscribe(userIds: readonly string[]): void {
    this.subscribed ??= new Set();
    for (const u of userIds) this.subscribed.add(u);
  }

  send(frame: ServerFrame): void {
    this.sendRaw(JSON.stringify(frame), frame.type);
  }

  /**
   * Sends an already serialized frame (fan-out serializes once for every device). The connection is
   * cut instead when the reader is behind: more than the bound left from earlier turns, or, counting
   * this turn's corked frames and this one, more than the bound and one frame. So the node never
   * holds more than `maxBufferedBytes + MAX_FRAME_BYTES` for a connection.
   */
  sendRaw(data: string | Buffer, type: string): void {
    if (this.closed) return;
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (
      this.queued - this.corkedBytes > this.shared.maxBufferedBytes ||
      this.queued + size > this.shared.maxBufferedBytes + MAX_FRAME_BYTES
    ) {
      this.shared.onSlow(this);
      return;
    }
    if (this.cork()) this.corkedBytes += size;
    this.queued += size;
    if (this.queued > this.peakQueued) this.peakQueued = this.queued;
    // Called once the bytes are in the kernel (or the socket failed): they are no longer held here.
    this.ws.send(data, TEXT, () => this.written(size));
    this.shared.metrics.framesOut.inc({ type });
  }

  private written(size: number): void {
    this.queued -= size;
    if (this.drainWaiters !== undefined && this.queued <= this.lowWater) this.wake();
  }

  /** Heavy answers are produced only while at most this much is queued. */
  private get lowWater(): number {
    return this.shared.maxBufferedBytes / 2;
  }

  private wake(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = undefined;
    for (const w of waiters ?? []) w();
  }

  /** Resolves once queued output is at the low-water mark (at once if it is, or if closed). */
  private drained(): Promise<void> {
    if (this.closed || this.queued <= this.lowWater) return Promise.resolve();
    this.drainWaiters ??= [];
    const waiters = this.drainWaiters;
    return new Promise((resolve) => waiters.push(resolve));
  }

  /** True when no request of this connection is in progress or waiting. */
  get idle(): boolean {
    return this.waiting === 0;
  }

  /**
   * Runs `job` after this connection's earlier requests, and for a heavy one once its earlier answers
   * have mostly left. False, without running it, when MAX_WAITING_REQUESTS already wait: the caller
   * cuts the connection. `job` handles its own errors.
   */
  enqueue(job: () => Promise<void>, heavy: boolean): boolean {
    if (this.waiting >= MAX_WAITING_REQUESTS) return false;
    this.waiting++;
    this.tail = (this.tail ?? Promise.resolve())
      .then(() => (heavy ? this.drained() : undefined))
      .then(() => (this.closed ? undefined : job()))
      .catch(() => {})
      .finally(() => {
        // The last one out lets the chain go, so an idle connection holds no promise.
        if (--this.waiting === 0) this.tail = undefined;
      });
    return true;
  }

  /**
   * Gathers the frames sent to this socket in the current turn (a sender's own copy of its message
   * and its `sent`, a sync page and its events) into one write: one syscall instead of one per frame,
   * which is most of a frame's cost on loopback. Uncorked once the microtasks of the turn have run.
   */
  private cork(): boolean {
    if (this.corked) return true;
    // ws has no public cork; its socket is a net.Socket (absent only in tests' fakes).
    const socket = (this.ws as unknown as { _socket?: Socket })._socket;
    if (!socket || typeof socket.cork !== 'function') return false;
    this.corked = true;
    socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.corkedBytes = 0;
      socket.uncork();
    });
    return true;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  /** Called once the socket is closed: waiting requests finish without running. */
  closedNow(): void {
    this.closed = true;
    this.wake();
  }
}
