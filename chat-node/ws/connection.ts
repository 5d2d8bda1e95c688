/**
 * One device's WebSocket: identity, heartbeat bookkeeping, rate limit, presence subscriptions, and
 * sends that refuse to grow memory without bound (a slow reader is disconnected instead), gathered
 * into one socket write per turn.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { ServerFrame } from '../../common/protocol.ts';
import type { Metrics } from '../metrics.ts';
import { TokenBucket } from '../rate-limit.ts';

/** WebSocket close codes used by the node. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  tryAgain: 1013,
} as const;

export class Connection {
  readonly ws: WebSocket;
  readonly userId: string;
  readonly deviceId: string;
  readonly connectedAt: number;
  lastFrameAt: number;
  /** lastFrameAt as last reported to the presence backend. */
  reportedActiveAt: number;
  /** Consecutive frames refused by the rate limit. */
  strikes = 0;
  readonly bucket: TokenBucket;
  /** Users this connection watches (presence.subscribe). */
  readonly watching = new Set<string>();
  closed = false;
  /** Set once a reconnect frame was sent (shed or drain). */
  movingAt = 0;
  private readonly metrics: Metrics;
  private readonly maxBuffered: number;
  private readonly onSlow: (c: Connection) => void;
  /** True while this turn's frames are being gathered into one socket write. */
  private corked = false;
  private corkedBytes = 0;

  constructor(o: {
    ws: WebSocket;
    userId: string;
    deviceId: string;
    now: number;
    framesPerSecond: number;
    frameBurst: number;
    maxBufferedBytes: number;
    metrics: Metrics;
    onSlow: (c: Connection) => void;
  }) {
    this.ws = o.ws;
    this.userId = o.userId;
    this.deviceId = o.deviceId;
    this.connectedAt = o.now;
    this.lastFrameAt = o.now;
    this.reportedActiveAt = o.now;
    this.bucket = new TokenBucket(o.framesPerSecond, o.frameBurst, o.now);
    this.metrics = o.metrics;
    this.maxBuffered = o.maxBufferedBytes;
    this.onSlow = o.onSlow;
  }

  send(frame: ServerFrame): void {
    this.sendRaw(JSON.stringify(frame), frame.type);
  }

  /** Sends an already serialized frame (fan-out serializes once for every device). */
  sendRaw(data: string | Buffer, type: string): void {
    if (this.closed) return;
    // Bytes held back by this turn's cork are not the reader's backlog.
    if (this.ws.bufferedAmount - this.corkedBytes > this.maxBuffered) {
      this.onSlow(this);
      return;
    }
    if (this.cork()) this.corkedBytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.ws.send(data, { binary: false });
    this.metrics.framesOut.inc({ type });
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
}
