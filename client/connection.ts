/**
 * One WebSocket from open to close: the wait for `welcome`, heartbeats, and the verdict that a silent
 * peer is dead. It reports every end exactly once, whoever caused it; reconnecting is the caller's job.
 */
import type { ServerFrame, WelcomeFrame } from '../common/protocol.ts';
import { CONNECTING, handshakeStatus, OPEN, type SocketLike } from './socket.ts';

export interface Closed {
  code: number;
  reason: string;
  /** The handshake completed (a `connected` was reported). */
  opened: boolean;
  /** The server's `welcome` arrived. */
  welcomed: boolean;
  /** The HTTP status of a refused handshake, when the socket tells it. */
  status?: number;
  error?: unknown;
}

export interface ConnectionHandlers {
  open(): void;
  welcome(frame: WelcomeFrame): void;
  /** Every frame but the first `welcome`. */
  frame(frame: ServerFrame): void;
  /** A text that is not a JSON object with a string `type`. */
  garbage(reason: string): void;
  closed(info: Closed): void;
}

export interface ConnectionOptions {
  /** Time from creating the socket to `welcome`, in ms. */
  connectTimeoutMs: number;
  /** Default `Date.now`. */
  now?: () => number;
}

/** Bounds on the server's `heartbeatMs`, so a bad value cannot spin the timer or stall it for days. */
const MIN_HEARTBEAT_MS = 10;
const MAX_HEARTBEAT_MS = 600_000;
const DEFAULT_HEARTBEAT_MS = 30_000;
/** Silence, in heartbeats, after which the peer counts as dead (the server's own rule for clients). */
const DEAD_AFTER_HEARTBEATS = 3;
/** Close code for ends the client decides (3000–4999 is the range applications may send). */
export const CLIENT_CLOSE = 4000;
/** What `disconnected` reports for a connection that ended without a closing handshake. */
export const ABNORMAL_CLOSE = 1006;

export class Connection {
  readonly url: string;
  private readonly socket: SocketLike;
  private readonly on: ConnectionHandlers;
  private readonly now: () => number;
  private phase: 'connecting' | 'open' | 'welcomed' | 'closed' = 'connecting';
  private heartbeatMs = DEFAULT_HEARTBEAT_MS;
  private lastSent = 0;
  private lastReceived = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: SocketLike, url: string, handlers: ConnectionHandlers, options: ConnectionOptions) {
    this.socket = socket;
    this.url = url;
    this.on = handlers;
    this.now = options.now ?? Date.now;
    // Handlers stay attached after the end (guarded by `phase`): `ws` throws an 'error' nobody listens to.
    socket.onopen = (() => this.opened()) as (event: never) => void;
    socket.onmessage = ((event: { data: unknown }) => this.received(event.data)) as (event: never) => void;
    socket.onclose = ((event: { code?: number; reason?: string }) =>
      this.end({ code: event.code ?? ABNORMAL_CLOSE, reason: event.reason ?? '' })) as (event: never) => void;
    socket.onerror = ((event: { error?: unknown; message?: string }) => {
      const error = event.error ?? new Error(event.message ?? 'WebSocket error');
      const status = handshakeStatus(error);
      const reason = error instanceof Error ? error.message : 'WebSocket error';
      this.end({ code: ABNORMAL_CLOSE, reason, error, ...(status === undefined ? {} : { status }) });
    }) as (event: never) => void;
    this.timer = setTimeout(
      () => this.end({ code: ABNORMAL_CLOSE, reason: `no welcome within ${options.connectTimeoutMs} ms` }),
      options.connectTimeoutMs,
    );
  }

  get welcomed(): boolean {
    return this.phase === 'welcomed';
  }

  /** Writes one frame; false when the socket cannot take it (the end is then on its way). */
  send(frame: object): boolean {
    if (this.phase !== 'open' && this.phase !== 'welcomed') return false;
    if (this.socket.readyState !== OPEN) return false;
    try {
      this.socket.send(JSON.stringify(frame));
    } catch {
      return false;
    }
    this.lastSent = this.now();
    return true;
  }

  /** Ends the connection now, reporting `closed` before returning. */
  close(code: number, reason: string): void {
    this.end({ code, reason });
  }

  private opened(): void {
    if (this.phase !== 'connecting') return;
    this.phase = 'open';
    this.lastReceived = this.now();
    this.on.open();
  }

  private received(data: unknown): void {
    if (this.phase === 'closed') return;
    this.lastReceived = this.now();
    const frame = parseFrame(data);
    if (typeof frame === 'string') this.on.garbage(frame);
    else if (frame.type === 'welcome' && this.phase !== 'welcomed') this.welcome(frame);
    else this.on.frame(frame);
  }

  private welcome(frame: WelcomeFrame): void {
    this.phase = 'welcomed';
    const hb = frame.heartbeatMs;
    this.heartbeatMs =
      typeof hb === 'number' && Number.isFinite(hb)
        ? Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, hb))
        : DEFAULT_HEARTBEAT_MS;
    this.lastSent = this.now();
    clearTimeout(this.timer);
    this.schedule();
    this.on.welcome(frame);
  }

  /** Wakes at the earlier of "a ping is due" and "the peer has been silent too long". */
  private schedule(): void {
    const pingAt = this.lastSent + this.heartbeatMs;
    const deadAt = this.lastReceived + DEAD_AFTER_HEARTBEATS * this.heartbeatMs;
    this.timer = setTimeout(() => this.tick(), Math.max(1, Math.min(pingAt, deadAt) - this.now()));
  }

  private tick(): void {
    if (this.phase !== 'welcomed') return;
    const now = this.now();
    if (now - this.lastReceived >= DEAD_AFTER_HEARTBEATS * this.heartbeatMs) {
      this.end({ code: ABNORMAL_CLOSE, reason: `no frame for ${DEAD_AFTER_HEARTBEATS} heartbeats` });
      return;
    }
    // Any frame sent counts as a heartbeat, so a busy connection never pings.
    if (now - this.lastSent >= this.heartbeatMs) this.send({ type: 'ping' });
    this.schedule();
  }

  private end(info: Omit<Closed, 'opened' | 'welcomed'>): void {
    if (this.phase === 'closed') return;
    const opened = this.phase !== 'connecting';
    const welcomed = this.phase === 'welcomed';
    this.phase = 'closed';
    clearTimeout(this.timer);
    this.timer = undefined;
    const state = this.socket.readyState;
    if (state === CONNECTING || state === OPEN) {
      try {
        // A socket still in its handshake, or gone silent, has nobody to say goodbye to.
        if (this.socket.terminate && (state === CONNECTING || info.code === ABNORMAL_CLOSE)) {
          this.socket.terminate();
        } else {
          this.socket.close(sendableCode(info.code), info.reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 120));
        }
      } catch {
        // Closing already: nothing left to release.
      }
    }
    this.on.closed({ ...info, opened, welcomed });
  }
}

/** A code a client may put in a close frame (1000 or 3000–4999); others become CLIENT_CLOSE. */
function sendableCode(code: number): number {
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : CLIENT_CLOSE;
}

/** The frame in a message's data, or what is wrong with it. */
function parseFrame(data: unknown): ServerFrame | string {
  if (typeof data !== 'string') return 'a binary frame';
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return 'a frame that is not JSON';
  }
  if (typeof frame !== 'object' || frame === null || typeof (frame as { type?: unknown }).type !== 'string') {
    return 'a frame without a type';
  }
  return frame as ServerFrame;
}
