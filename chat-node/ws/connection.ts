/**
 * One device's WebSocket: identity, heartbeat bookkeeping, rate limit, presence subscriptions, and
 * sends that refuse to grow memory without bound (a slow reader is disconnected instead).
 */
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
    if (this.ws.bufferedAmount > this.maxBuffered) {
      this.onSlow(this);
      return;
    }
    this.ws.send(data, { binary: false });
    this.metrics.framesOut.inc({ type });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}
