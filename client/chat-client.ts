/**
 * ChatClient: one device's live connection to the chat platform. It finds a node, keeps the socket
 * alive, comes back after any loss, and syncs what it missed, so the app sees every message once.
 *
 *               connect()
 *                  │
 *                  ▼
 *   ┌────────▶ connecting ── discovery, socket, welcome ──▶ open ── sync pages ──▶ 'synced'
 *   │              │ failed, refused,                      │  │ `reconnect` frame
 *   │              │ no welcome in time                    │  ▼
 *   │              ▼                                       │ moving: stays open for afterMs
 *   ├── delay ─ waiting ◀── closed, 3 heartbeats silent, ──┘  │ (a socket lost meanwhile
 *   │          (backoff,    sync unanswered                   │  just waits too)
 *   │         full jitter)                                    │
 *   └───────────── afterMs over: close, then to `url`, else via discovery
 *
 *   401 from the handshake, discovery, a ticket or a token refresh, or close(), from any state
 *   ──▶ closed (final, no timer left)
 *   autoReconnect false: a failure goes to idle instead of waiting; connect() starts again.
 */

import type {
  ErrorFrame,
  Message,
  ReconnectFrame,
  SentFrame,
  ServerFrame,
  Update,
  UpdatedFrame,
  WelcomeFrame,
} from '../common/protocol.ts';
import { PRESENCE_SUBSCRIBE_MAX, TYPING_MIN_INTERVAL_MS } from '../common/protocol-limits.ts';
import { Backoff } from './backoff.ts';
import type { ChatClientEvents, ClientState } from './client-events.ts';
import { type ChatClientOptions, type ResolvedOptions, resolveOptions } from './client-options.ts';
import { CLIENT_CLOSE, type Closed, Connection } from './connection.ts';
import { dial } from './dial.ts';
import { Emitter } from './emitter.ts';
import { ChatApiError, ChatClientError } from './errors.ts';
import { ChatApi } from './http-api.ts';
import { parseId, syncSince } from './message-ids.ts';
import { type OutgoingMessage, sendFrame } from './outgoing-message.ts';
import { PendingChanges } from './pending-changes.ts';
import { type IdentifiedSend, PendingSends } from './pending-sends.ts';
import { ReadCursors } from './read-cursors.ts';
import { ReconnectTimer } from './reconnect-timer.ts';
import { SeenMessages } from './seen-messages.ts';
import { SyncRun } from './sync-run.ts';
import { TokenRefresher } from './token-refresh.ts';

/**
 * Answers to a send (an error frame with its id) that mean "not now": the same id goes out again after
 * a backoff. `rate_limited` with an id is a node shedding load; without an id it is the per-connection
 * frame limit (handled by pausing every send).
 */
const TRANSIENT = new Set<string>(['internal', 'unavailable', 'rate_limited']);
/** Transient failures of one send before it is rejected (backoff 0.25 s doubling to 5 s: ~45 s). */
const MAX_SEND_FAILURES = 12;
/** The wait before a send that failed `n` times goes out again: 250 ms, doubling, at most 5 s. */
const sendBackoffMs = (n: number): number => Math.min(5000, 250 * 2 ** (n - 1));

/** How long to wait before asking again for a sync page the node could not answer. */
const SYNC_RETRY_MS = 500;

export class ChatClient {
  private readonly options: ResolvedOptions;
  private readonly api: ChatApi;
  private readonly events = new Emitter<ChatClientEvents>();
  private readonly timer: ReconnectTimer;
  private readonly seen: SeenMessages;
  private readonly pending: PendingSends;
  /** v1.1: edits and deletes waiting for `updated`. */
  private readonly changes = new PendingChanges();
  /** v1.1: when `typing` last went out per conversation (the node drops closer ones anyway). */
  private readonly typedAt = new Map<string, number>();
  private readonly presenceUsers = new Set<string>();
  private readonly unsentReads = new ReadCursors();
  private status: ClientState = 'idle';
  private conn: Connection | undefined;
  private lastWelcome: WelcomeFrame | undefined;
  private everWelcomed = false;
  /** Bumped by every attempt, so an attempt that was overtaken while awaiting gives up. */
  private attempt = 0;
  private waiters: { resolve(frame: WelcomeFrame): void; reject(error: Error): void }[] = [];
  private sync: SyncRun | undefined;
  /**
   * Where an unfinished sync stopped (a move, a lost connection, a timeout): the next sync starts
   * there at the latest. Live messages seen meanwhile raise `seen.max` past what that sync had not
   * fetched yet, so starting from `seen.max` alone would skip it.
   */
  private resumeFrom: bigint | undefined;
  /** The next write of sends that the node answered with a transient error. */
  private sendRetry: ReturnType<typeof setTimeout> | undefined;
  /** Refreshes the token before it expires (from the first connect() on), if asked to. */
  private readonly refresher: TokenRefresher | undefined;

  /** Checks the options (see ChatClientOptions for each default); connects on `connect()`. */
  constructor(options: ChatClientOptions) {
    this.options = resolveOptions(options);
    this.api = new ChatApi(this.options.baseUrl, {
      token: this.options.token,
      timeoutMs: this.options.connectTimeoutMs,
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
    });
    this.timer = new ReconnectTimer(new Backoff(this.options.backoff, this.options.random));
    this.seen = new SeenMessages(
      this.options.dedupeCapacity,
      parseId(this.options.maxMessageId ?? '0') ?? 0n,
    );
    this.pending = new PendingSends(this.options.maxPendingSends, this.options.maxInFlightSends);
    this.refresher = this.options.refreshToken
      ? new TokenRefresher(this.api, {
          refreshed: (token, expiresAt) => this.events.emit('token', { token, expiresAt }),
          failed: (err, final) => {
            const error = new ChatClientError(err.code, `token refresh failed: ${err.message}`, {
              cause: err,
            });
            if (final && this.status !== 'closed') this.shutdown(error, true);
            else this.events.emit('error', error);
          },
        })
      : undefined;
  }

  /** The token in use now (a refresh replaces the one given to the constructor). */
  get token(): string {
    return this.api.token ?? this.options.token;
  }

  get state(): ClientState {
    return this.status;
  }

  /** The highest message id seen, live or synced (`'0'` before any); persist it to resume later. */
  get maxMessageId(): string {
    return this.seen.max.toString();
  }

  /** The `welcome` of the current connection, if one is open. */
  get welcome(): WelcomeFrame | undefined {
    return this.conn?.welcomed ? this.lastWelcome : undefined;
  }

  /** Calls `fn` for every `event`; returns the function that stops it. */
  on<K extends keyof ChatClientEvents>(event: K, fn: (payload: ChatClientEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  /**
   * Connects (if not connecting already) and resolves with the next `welcome`. With autoReconnect it
   * keeps trying; it rejects on close(), on a refused token, or, without autoReconnect, on a failure.
   */
  connect(): Promise<WelcomeFrame> {
    if (this.status === 'closed') return Promise.reject(closedError());
    if (this.status === 'open' && this.lastWelcome) return Promise.resolve(this.lastWelcome);
    const welcomed = new Promise<WelcomeFrame>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.refresher?.start();
    if (this.status === 'idle') this.start();
    return welcomed;
  }

  /**
   * Sends a message; resolves with its `sent` once durable. A send without `id` gets a random one.
   * It waits across disconnects and is written again, same id, after each reconnect, until `sent`, or
   * an `error` frame for its id (rejected with that code), or close() (code `closed`). Rejects at once
   * with `queue_full` when maxPendingSends are waiting, `duplicate_id` for an id still waiting.
   */
  send(message: OutgoingMessage): Promise<SentFrame> {
    if (this.status === 'closed') return Promise.reject(closedError());
    let frame: ReturnType<typeof sendFrame>;
    try {
      frame = sendFrame(message, message.id ?? globalThis.crypto.randomUUID());
    } catch (err) {
      return Promise.reject(err);
    }
    const answered = this.pending.add(frame);
    this.flushSends();
    return answered;
  }

  /** Moves this device's read cursor; while disconnected, the last one per conversation is sent on reconnect. */
  read(conversation: string, upTo: string): void {
    this.assertOpenable();
    const id = parseId(upTo);
    if (id === undefined)
      throw new ChatClientError('bad_request', 'upTo must be a message id (a decimal string)');
    if (!this.write({ type: 'read', conversation, upTo: id.toString() })) {
      this.unsentReads.remember(conversation, id);
    }
  }

  /**
   * v1.1: replaces a message's text (the sender's own); resolves with `updated` once durable. Waits
   * across disconnects like a send; rejects with the node's code (`forbidden`, `not_found`, `empty`…).
   */
  edit(messageId: string, text: string): Promise<UpdatedFrame> {
    return this.change({ type: 'edit', messageId, text });
  }

  /** v1.1: deletes a message (the sender's own); resolves with `updated` once durable. */
  delete(messageId: string): Promise<UpdatedFrame> {
    return this.change({ type: 'delete', messageId });
  }

  private change(
    frame: { type: 'edit'; messageId: string; text: string } | { type: 'delete'; messageId: string },
  ) {
    if (this.status === 'closed') return Promise.reject(closedError());
    if (parseId(frame.messageId) === undefined) {
      return Promise.reject(
        new ChatClientError('bad_request', 'messageId must be a message id (a decimal string)'),
      );
    }
    const { frame: full, answered } = this.changes.add(frame);
    if (this.write(full)) this.changes.written(full.id);
    return answered;
  }

  /**
   * v1.1: tells the other participants that the user is typing. Call it on every keystroke: it goes
   * out at most every 2 s per conversation, and not at all while disconnected.
   */
  typing(conversation: string): void {
    this.assertOpenable();
    const now = Date.now();
    const last = this.typedAt.get(conversation);
    if (last !== undefined && now - last < TYPING_MIN_INTERVAL_MS) return;
    if (this.write({ type: 'typing', conversation })) this.typedAt.set(conversation, now);
  }

  /** Watches `users`' presence, on this connection and every later one (at most 1000 users in all). */
  subscribePresence(users: readonly string[]): void {
    this.assertOpenable();
    const asked = [...new Set(users)];
    const fresh = asked.filter((u) => !this.presenceUsers.has(u));
    if (this.presenceUsers.size + fresh.length > PRESENCE_SUBSCRIBE_MAX) {
      throw new ChatClientError('bad_request', `a client watches at most ${PRESENCE_SUBSCRIBE_MAX} users`);
    }
    for (const u of fresh) this.presenceUsers.add(u);
    if (asked.length > 0) this.write({ type: 'presence.subscribe', users: asked });
  }

  /** Closes the connection for good: no reconnect, no timer left; waiting sends reject with `closed`. */
  close(): void {
    if (this.status !== 'closed') this.shutdown(closedError());
  }

  // ---- connecting ------------------------------------------------------------------------------

  private start(url?: string): void {
    this.status = 'connecting';
    const attempt = ++this.attempt;
    this.open(attempt, url).catch((err: unknown) => this.attemptFailed(attempt, err));
  }

  private async open(attempt: number, url: string | undefined): Promise<void> {
    const dialed = await dial(this.api, {
      ...this.options,
      token: this.token,
      url,
      abandoned: () => attempt !== this.attempt || this.status !== 'connecting',
    });
    if (!dialed) return;
    const { socket, url: shown } = dialed;
    const conn: Connection = new Connection(
      socket,
      shown,
      {
        // A connection replaced by a newer one (a move, close()) is heard only about its end.
        open: () => {
          if (this.current(conn)) this.events.emit('connected', { url: shown });
        },
        welcome: (frame) => {
          if (this.current(conn)) this.welcomed(conn, frame);
        },
        frame: (frame) => {
          if (this.current(conn)) this.received(frame);
        },
        garbage: (what) => {
          if (this.current(conn)) this.protocolError(`the server sent ${what}`);
        },
        closed: (info) => this.closed(conn, info),
      },
      { connectTimeoutMs: this.options.connectTimeoutMs },
    );
    this.conn = conn;
  }

  private current(conn: Connection): boolean {
    return conn === this.conn;
  }

  private attemptFailed(attempt: number, err: unknown): void {
    if (attempt !== this.attempt || this.status !== 'connecting') return;
    if (err instanceof ChatApiError) {
      const error = new ChatClientError(err.code, `connecting failed: ${err.message}`, { cause: err });
      if (err.status === 401) this.shutdown(error, true);
      else this.lost(error);
      return;
    }
    const reason = err instanceof Error ? err.message : String(err);
    this.lost(new ChatClientError('network', `connecting failed: ${reason}`, { cause: err }));
  }

  /** An attempt or a connection failed: report it, then wait and retry, or give up until connect(). */
  private lost(error: ChatClientError): void {
    this.events.emit('error', error);
    if (this.status === 'closed') return;
    if (this.options.autoReconnect) {
      this.status = 'waiting';
      this.timer.retry(() => this.start());
      return;
    }
    this.status = 'idle';
    this.settleWaiters(error);
  }

  private welcomed(conn: Connection, frame: WelcomeFrame): void {
    this.status = 'open';
    this.timer.succeeded();
    this.lastWelcome = frame;
    this.pending.resume();
    const resync = this.everWelcomed || this.options.maxMessageId !== undefined;
    this.everWelcomed = true;
    this.events.emit('welcome', frame);
    this.settleWaiters(frame);
    if (!this.current(conn)) return;
    // What the last connection may have lost goes out again first, then the sync catches up.
    this.pending.rewind();
    this.flushSends();
    if (this.presenceUsers.size > 0)
      this.write({ type: 'presence.subscribe', users: [...this.presenceUsers] });
    for (const [conversation, upTo] of this.unsentReads.drain()) {
      this.write({ type: 'read', conversation, upTo: upTo.toString() });
    }
    for (const frame of this.changes.unanswered()) this.write(frame);
    if (resync) this.startSync(conn);
  }

  private closed(conn: Connection, info: Closed): void {
    const current = this.current(conn);
    if (current) {
      this.conn = undefined;
      this.stopSync();
    }
    const refused = info.status === 401;
    const moving = this.timer.moving;
    const willReconnect =
      this.status !== 'closed' && (!current || (!refused && (moving || this.options.autoReconnect)));
    if (info.opened) {
      this.events.emit('disconnected', { code: info.code, reason: info.reason, willReconnect });
    }
    if (!current || this.status === 'closed') return;
    if (refused) {
      this.shutdown(new ChatClientError('unauthorized', 'the node refused the token (HTTP 401)'), true);
    } else if (moving) {
      // The reconnect frame's timer takes it from here.
      this.status = 'waiting';
    } else {
      const what = info.welcomed ? 'connection lost' : `connecting to ${conn.url} failed`;
      this.lost(new ChatClientError('network', `${what}: ${info.reason}`, { cause: info.error }));
    }
  }

  // ---- frames ----------------------------------------------------------------------------------

  private received(frame: ServerFrame): void {
    switch (frame.type) {
      case 'message':
        this.accept(frame);
        break;
      case 'sync':
        // An answer nobody waits for (a run that timed out) is dropped: its messages come again.
        this.sync?.page(frame);
        break;
      case 'sent': {
        const send = this.pending.resolve(frame);
        if (!send) break;
        this.flushSends();
        this.ownMessage(send, frame);
        break;
      }
      case 'error':
        this.errorFrame(frame);
        break;
      case 'read':
        this.events.emit('read', frame);
        break;
      case 'update':
        this.acceptUpdate(frame);
        break;
      case 'updated':
        this.changes.resolve(frame);
        break;
      case 'receipt':
      case 'typing':
      case 'group': {
        const { type: _t, ...rest } = frame;
        this.events.emit(frame.type, { type: frame.type, ...rest } as never);
        break;
      }
      case 'presence':
        this.events.emit('presence', {
          userId: frame.userId,
          status: frame.status,
          lastActiveAt: frame.lastActiveAt,
        });
        break;
      case 'reconnect':
        this.reconnectFrame(frame);
        break;
      default:
      // pong, a repeated welcome, and frame types added to the protocol later need nothing.
    }
  }

  /**
   * The device's own message, from its send and the `sent` answer: nodes do not send the sending
   * device a copy (PROTOCOL.md: it may get one), so the app hears of it here, as a `message` like the
   * others, once (a copy that does come is de-duplicated).
   */
  private ownMessage(send: IdentifiedSend, sent: SentFrame): void {
    const from = this.lastWelcome?.userId;
    if (from === undefined || typeof send.text !== 'string') return;
    const target = send.to !== undefined ? { to: send.to } : { group: send.group as string };
    this.accept({
      messageId: sent.messageId,
      conversation: sent.conversation,
      from,
      ...target,
      text: send.text,
      ts: sent.ts,
    });
  }

  /** Records a message's id and emits it unless it was seen; true when it was new. */
  private accept(m: Message & { type?: string }): boolean {
    const seen = this.seen.record(m.messageId);
    if (seen === 'invalid') this.protocolError('the server sent a message without a valid messageId');
    if (seen !== 'new') return false;
    const { type: _frameType, ...message } = m;
    this.events.emit('message', message);
    return true;
  }

  /** Records a change's id (the same sequence as message ids) and emits it unless it was seen. */
  private acceptUpdate(u: Update & { type?: string }): boolean {
    const seen = this.seen.record(u.updateId);
    if (seen === 'invalid') this.protocolError('the server sent an update without a valid updateId');
    if (seen !== 'new') return false;
    const { type: _frameType, ...update } = u;
    this.events.emit('update', update);
    return true;
  }

  private errorFrame(frame: ErrorFrame): void {
    const error = new ChatClientError(frame.code, frame.message, { frameId: frame.id });
    if (this.changes.reject(frame.id, error)) return;
    if (this.sync?.owns(frame.id)) {
      // The node could not answer the sync yet: ask again soon, on the same connection.
      this.sync.retryLater(SYNC_RETRY_MS);
      this.events.emit('error', error);
      return;
    }
    if (frame.id !== undefined && TRANSIENT.has(frame.code)) {
      // The node could not make the message durable now (its bus is down, say): the same id goes
      // out again after a backoff, and the node answers a repeat with the message if it got stored.
      const failures = this.pending.retry(frame.id, MAX_SEND_FAILURES, sendBackoffMs);
      if (failures !== undefined) {
        this.flushSends();
        return;
      }
    }
    if (frame.id !== undefined && this.pending.reject(frame.id, error)) {
      this.flushSends();
      return;
    }
    // The server drops a rate-limited frame and names no id: some written send may be lost, so
    // sends pause, then whatever is unanswered goes out again (a repeated id gets the stored message).
    if (frame.code === 'rate_limited' && !this.pending.paused) {
      this.pending.pause(this.options.rateLimitPauseMs, () => {
        this.pending.rewind();
        this.flushSends();
      });
    }
    this.events.emit('error', error);
  }

  private reconnectFrame(frame: ReconnectFrame): void {
    this.events.emit('reconnect', frame);
    if (this.status === 'closed') return;
    const url = typeof frame.url === 'string' && frame.url !== '' ? frame.url : undefined;
    // Stay connected while waiting: the node keeps delivering until the client leaves.
    this.timer.move(frame.afterMs, () => {
      const old = this.conn;
      this.conn = undefined;
      this.stopSync();
      old?.close(1000, 'reconnect requested by the server');
      this.start(url);
    });
  }

  // ---- sync ------------------------------------------------------------------------------------

  private startSync(conn: Connection): void {
    this.stopSync();
    const since = syncSince(this.seen.max, this.options.syncOverlapMs);
    const run: SyncRun = new SyncRun(
      this.resumeFrom !== undefined && this.resumeFrom < since ? this.resumeFrom : since,
      { limit: this.options.syncPageLimit, timeoutMs: this.options.requestTimeoutMs },
      {
        send: (frame) => conn.send(frame),
        accept: (message) => this.accept(message),
        acceptUpdate: (update) => this.acceptUpdate(update),
        done: (fresh) => {
          if (this.sync === run) this.sync = undefined;
          this.resumeFrom = undefined;
          this.events.emit('synced', { maxMessageId: this.maxMessageId, messages: fresh });
        },
        timedOut: () => {
          this.keepResumePoint(run);
          if (this.sync === run) this.sync = undefined;
          this.events.emit(
            'error',
            new ChatClientError('network', `no sync answer within ${this.options.requestTimeoutMs} ms`),
          );
          // The next connection syncs again from where this run stopped.
          if (this.current(conn)) conn.close(CLIENT_CLOSE, 'sync timed out');
        },
        violation: (message) => this.protocolError(message),
      },
    );
    this.sync = run;
    run.start();
  }

  /** Remembers where an unfinished run stopped, for the next sync (resumeFrom). */
  private keepResumePoint(run: SyncRun): void {
    if (run.completed) return;
    if (this.resumeFrom === undefined || run.position < this.resumeFrom) this.resumeFrom = run.position;
  }

  private stopSync(): void {
    if (this.sync) this.keepResumePoint(this.sync);
    this.sync?.stop();
    this.sync = undefined;
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /** Writes the sends the in-flight window has room for, unless sends are paused by a rate limit. */
  private flushSends(): void {
    const conn = this.conn;
    if (!conn?.welcomed) return;
    for (const frame of this.pending.takeWritable()) {
      // A failed write means the socket is going; the next welcome rewinds and writes it again.
      if (!conn.send(frame)) return;
    }
    // Sends in their backoff go out when it ends.
    const due = this.pending.nextDue();
    clearTimeout(this.sendRetry);
    if (due !== undefined)
      this.sendRetry = setTimeout(() => this.flushSends(), Math.max(0, due - Date.now()));
  }

  /** Writes a frame on a welcomed connection; false when there is none. */
  private write(frame: object): boolean {
    return this.conn?.welcomed === true && this.conn.send(frame);
  }

  private protocolError(message: string): void {
    this.events.emit('error', new ChatClientError('protocol', message));
  }

  private settleWaiters(outcome: WelcomeFrame | Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (outcome instanceof Error) w.reject(outcome);
      else w.resolve(outcome);
    }
  }

  private assertOpenable(): void {
    if (this.status === 'closed') throw closedError();
  }

  /** The final state: everything stops, and whatever still waits is told why. */
  private shutdown(error: ChatClientError, report = false): void {
    this.status = 'closed';
    this.timer.cancel();
    this.refresher?.stop();
    clearTimeout(this.sendRetry);
    this.stopSync();
    const conn = this.conn;
    this.conn = undefined;
    conn?.close(1000, 'client closed');
    this.settleWaiters(error);
    this.pending.rejectAll(error);
    this.changes.rejectAll(error);
    if (report) this.events.emit('error', error);
  }
}

function closedError(): ChatClientError {
  return new ChatClientError('closed', 'the client was closed');
}
