/**
 * The WebSocket side of a node: authenticates upgrades, runs each connection's frames through the
 * rate limit and the protocol, expires silent devices, and moves sessions away on request.
 *
 *   upgrade ──401/429/503──▶ refused
 *      │ token ok (signed, account exists, not revoked), under the per-user and per-device caps
 *      ▼
 *   welcome ──frames──▶ (ping|send|sync|read|presence.subscribe|typing|edit|delete) ──▶ answer or error
 *      │ (v1.1: the user's contacts are watched from the welcome on)
 *      │                 (in order per connection; sync and presence.subscribe in fair turns)
 *      │ 3 × heartbeat silent, slow reader, 1008/1009, token revoked, shed/drain (reconnect, close)
 *      ▼
 *   closed ──▶ presence offline when it was the device's last connection
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { ChatError, errorMessage, isChatError, unavailableError } from '../../common/errors.ts';
import { parseMessageId } from '../../common/ids.ts';
import { type Logger, LogThrottle } from '../../common/logger.ts';
import {
  type ClientFrame,
  type ClientId,
  FrameError,
  MAX_FRAME_BYTES,
  PRESENCE_SUBSCRIBE_MAX,
  parseClientFrame,
  SYNC_DEFAULT_LIMIT,
  SYNC_MAX_LIMIT,
} from '../../common/protocol.ts';
import type { PresenceBackend } from '../backends/types.ts';
import type { Contacts } from '../chat/contacts.ts';
import type { MessageChanges } from '../chat/message-changes.ts';
import type { Messaging } from '../chat/messaging.ts';
import type { Receipts } from '../chat/receipts.ts';
import type { TokenValidity } from '../chat/token-validity.ts';
import { bearer, type TokenClaims, type Tokens } from '../chat/tokens.ts';
import type { Typing } from '../chat/typing.ts';
import { refuseHandshake } from '../http/handshake.ts';
import type { Metrics } from '../metrics.ts';
import { KeyedBuckets } from '../rate-limit.ts';
import { CLOSE, Connection, type ConnectionShared, connectionShared } from './connection.ts';
import type { FairTurns } from './fair-turns.ts';
import { LocalSessions } from './local-sessions.ts';

export interface GatewayOptions {
  nodeId: number;
  heartbeatMs: number;
  framesPerSecond: number;
  frameBurst: number;
  /** The budget all connections of one user share. */
  userFramesPerSecond: number;
  userFrameBurst: number;
  maxConnectionsPerUser: number;
  maxConnectionsPerDevice: number;
  maxBufferedBytes: number;
  tokens: Tokens;
  validity: TokenValidity;
  /** One-use tickets (`?ticket=`, PROTOCOL.md "Browsers"): the claims a ticket stands for, once. */
  tickets?: { redeem(ticket: string): Promise<TokenClaims | undefined> };
  turns: FairTurns;
  messaging: Messaging;
  /** v1.1: read positions and receipts, typing, edits and deletes, contacts watched from welcome. */
  receipts: Receipts;
  typing: Typing;
  changes: MessageChanges;
  contacts: Contacts;
  presence: PresenceBackend;
  metrics: Metrics;
  log: Logger;
  clock?: () => number;
}

export interface MoveRequest {
  count: number;
  reason: 'rebalance' | 'drain';
  /** Reconnects spread at this rate (sessions per second). */
  ratePerSec: number;
  /** Where each session goes (the `reconnect` frame's url); none or undefined: through discovery. */
  url?: string | (() => string | undefined);
}

/** Rate-limited frames in a row after which the connection is closed with 1008. */
const MAX_STRIKES = 50;
/** How long a moved client has to leave before the node closes its connection. */
const MOVE_GRACE_MS = 10_000;
/** Longest a new connection's welcome waits for the session registry to record the device. */
const REGISTER_WAIT_MS = 2000;
/** Frames whose answer can be a whole frame of data: queued behind a connection's earlier answers. */
const HEAVY_FRAMES: ReadonlySet<string> = new Set(['sync', 'presence.subscribe']);

/**
 * The node's WebSocket: it carries its Connection, so that one set of listeners, shared by every
 * socket of the gateway, serves them all (no closures per connection).
 */
class ChatSocket extends WebSocket {
  conn: Connection | undefined = undefined;
}

/** An upgrading socket's error listener, the same function for all of them (it keeps nothing alive). */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

export class Gateway {
  readonly sessions: LocalSessions;
  private readonly nodeId: number;
  private readonly heartbeatMs: number;
  /** What every connection shares: its frame budget's settings, the slow-reader bound and handler. */
  private readonly shared: ConnectionShared;
  /** The listeners of every socket (they find their Connection on the socket). */
  private readonly listeners: {
    message: (this: WebSocket, data: RawData, isBinary: boolean) => void;
    close: (this: WebSocket, code: number) => void;
    error: (this: WebSocket, err: Error) => void;
  };
  private readonly maxConnectionsPerUser: number;
  private readonly maxConnectionsPerDevice: number;
  /** Frame budgets per user, shared by the user's connections on this node. */
  private readonly userBudgets: KeyedBuckets;
  /** Heavy requests of the whole node (HTTP history too), in fair turns. */
  private readonly turns: FairTurns;
  private readonly tokens: Tokens;
  private readonly validity: TokenValidity;
  private readonly tickets: GatewayOptions['tickets'];
  private readonly messaging: Messaging;
  private readonly receipts: Receipts;
  private readonly typing: Typing;
  private readonly changes: MessageChanges;
  private readonly contacts: Contacts;
  private readonly presence: PresenceBackend;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly wss: WebSocketServer;
  private readonly sweeper: NodeJS.Timeout;
  private readonly moveTimers = new Set<NodeJS.Timeout>();
  /** Errors that repeat per frame while a backend fails are logged once per interval each. */
  private readonly logs = new LogThrottle();
  draining = false;

  constructor(options: GatewayOptions) {
    this.nodeId = options.nodeId;
    this.heartbeatMs = options.heartbeatMs;
    this.shared = connectionShared({
      framesPerSecond: options.framesPerSecond,
      frameBurst: options.frameBurst,
      maxBufferedBytes: options.maxBufferedBytes,
      metrics: options.metrics,
      onSlow: (conn) => this.drop(conn, 'slow_reader'),
    });
    const gateway = this;
    this.listeners = {
      message(data, isBinary) {
        const c = (this as ChatSocket).conn;
        if (c) gateway.onFrame(c, data, isBinary);
      },
      close(code) {
        const c = (this as ChatSocket).conn;
        if (c) gateway.onClose(c, code);
      },
      error(err) {
        // ws closes with 1009 itself for frames over maxPayload; other errors are the peer's fault.
        gateway.metrics.disconnects.inc({
          reason:
            (err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too_big' : 'protocol',
        });
      },
    };
    this.maxConnectionsPerUser = options.maxConnectionsPerUser;
    this.maxConnectionsPerDevice = options.maxConnectionsPerDevice;
    this.userBudgets = new KeyedBuckets(options.userFramesPerSecond, options.userFrameBurst);
    this.tokens = options.tokens;
    this.validity = options.validity;
    this.tickets = options.tickets;
    this.turns = options.turns;
    this.messaging = options.messaging;
    this.receipts = options.receipts;
    this.typing = options.typing;
    this.changes = options.changes;
    this.contacts = options.contacts;
    this.presence = options.presence;
    this.metrics = options.metrics;
    this.log = options.log;
    this.clock = options.clock ?? Date.now;
    this.sessions = new LocalSessions(options.metrics, this.clock);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
      WebSocket: ChatSocket,
    });
    this.presence.onChange((p) => this.sessions.presenceChanged(p));
    this.sweeper = setInterval(() => this.sweep(), Math.max(20, Math.floor(options.heartbeatMs / 4)));
    this.sweeper.unref();
  }

  /** Handles an HTTP upgrade for `/v1/ws`; answers 401 for a bad token and 503 while draining. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    // A shared function: a closure here would keep the request and its first bytes alive as long
    // as the connection.
    socket.on('error', destroyOnError);
    if (this.draining) {
      refuse(socket, 503, 'node is draining; reconnect through discovery');
      return;
    }
    const token = bearer(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined;
    this.authenticate(token, url.searchParams.get('ticket') ?? undefined).then(
      (claims) => {
        if (!claims) return refuse(socket, 401, 'missing or invalid token');
        if (this.draining) return refuse(socket, 503, 'node is draining; reconnect through discovery');
        const over = this.overCap(claims);
        if (over) return refuse(socket, 429, over);
        // Accepted in this same turn (ws completes an upgrade synchronously): the caps stay exact.
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws as ChatSocket, claims));
      },
      () => refuse(socket, 500, 'internal error'),
    );
  }

  /**
   * The claims of a token that is signed, of an existing account and not revoked; with a ticket, the
   * claims it was issued for (it is used up), checked the same way.
   */
  private async authenticate(
    token: string | undefined,
    ticket: string | undefined,
  ): Promise<TokenClaims | undefined> {
    const claims =
      ticket !== undefined && this.tickets
        ? await this.tickets.redeem(ticket)
        : await this.tokens.verify(token);
    if (!claims || !(await this.validity.valid(claims))) return undefined;
    return claims;
  }

  /** Why a new connection of this user or device would pass its cap, or undefined. */
  private overCap(claims: TokenClaims): string | undefined {
    const { user, device } = this.sessions.countOf(claims.userId, claims.deviceId);
    if (user >= this.maxConnectionsPerUser) {
      return `this user already has ${user} connections to this node (CHAT_MAX_CONNECTIONS_PER_USER)`;
    }
    if (device >= this.maxConnectionsPerDevice) {
      return `this device already has ${device} connections to this node (CHAT_MAX_CONNECTIONS_PER_DEVICE)`;
    }
    return undefined;
  }

  /** Closes the connections whose tokens a revocation (from any node) covers. */
  revoke(userId: string, revoked: { deviceId?: string; cutoff: number }): void {
    for (const c of this.sessions.ofUser(userId)) {
      if (revoked.deviceId !== undefined && c.deviceId !== revoked.deviceId) continue;
      if (c.tokenIssuedAt > revoked.cutoff) continue;
      this.drop(c, 'token_revoked', CLOSE.policy);
    }
  }

  private accept(ws: ChatSocket, claims: TokenClaims): void {
    const now = this.clock();
    const c = new Connection({
      ws,
      userId: claims.userId,
      deviceId: claims.deviceId,
      tokenIssuedAt: claims.issuedAt ?? 0,
      now,
      shared: this.shared,
    });
    ws.conn = c;
    this.sessions.add(c);
    ws.on('message', this.listeners.message);
    ws.on('close', this.listeners.close);
    ws.on('error', this.listeners.error);
    // The session registry names this node for the device before its welcome, so that every message
    // stored after the welcome is routed here (the bus locates recipients after a message's ack).
    // Frames wait meanwhile; a registry that does not answer in time delays the welcome no longer.
    ws.pause();
    let timer: NodeJS.Timeout | undefined;
    const registered = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, REGISTER_WAIT_MS);
      timer.unref();
      void this.presence
        .deviceOnline(c.userId, c.deviceId, this.nodeId, now)
        .catch((err) => this.backendError(err))
        .then(() => resolve());
    });
    void registered.then(() => {
      clearTimeout(timer);
      this.welcome(c);
    });
  }

  private welcome(c: Connection): void {
    if (c.closed) return;
    c.send({
      type: 'welcome',
      userId: c.userId,
      deviceId: c.deviceId,
      nodeId: this.nodeId,
      heartbeatMs: this.heartbeatMs,
    });
    c.welcomed = true;
    c.ws.resume();
    void this.contacts
      .of(c.userId)
      .then((ids) => (ids.length > 0 ? this.watchContacts(c, ids) : undefined))
      .catch((err) => this.backendError(err));
  }

  /**
   * v1.1: the connection watches these contacts as if it had subscribed (within the 1000 users a
   * connection watches; contacts past it are not watched) and gets each one's presence at once.
   */
  async watchContacts(c: Connection, ids: readonly string[]): Promise<void> {
    if (c.closed) return;
    const room = PRESENCE_SUBSCRIBE_MAX - c.watchingCount;
    const fresh = [...new Set(ids)].filter((u) => !c.watches(u)).slice(0, Math.max(0, room));
    if (fresh.length === 0) return;
    this.sessions.watch(c, fresh);
    for (const p of await this.presence.get(fresh)) c.send({ type: 'presence', ...p });
  }

  /** v1.1: contacts removed stop being watched, unless the connection subscribed to them itself. */
  unwatchContacts(c: Connection, ids: readonly string[]): void {
    this.sessions.unwatch(
      c,
      ids.filter((u) => !c.subscribed?.has(u)),
    );
  }

  private onClose(c: Connection, code: number): void {
    c.closedNow();
    this.sessions.remove(c);
    this.log.debug({ userId: c.userId, deviceId: c.deviceId, code }, 'connection closed');
    // Another connection of the same device (a quick reconnect) keeps the device online.
    if (this.sessions.hasDevice(c.userId, c.deviceId, c)) return;
    void this.presence
      .deviceOffline(c.userId, c.deviceId, c.lastFrameAt)
      .catch((err) => this.backendError(err));
  }

  private onFrame(c: Connection, data: RawData, isBinary: boolean): void {
    const now = this.clock();
    c.lastFrameAt = now;
    // Both budgets: the connection's, and the one its user shares with its other connections.
    if (!c.takeFrame(now) || !this.userBudgets.take(c.userId, now)) {
      if (++c.strikes > MAX_STRIKES) this.drop(c, 'rate_limited', CLOSE.policy);
      else this.error(c, new ChatError('rate_limited', 'too many frames; slow down'));
      return;
    }
    c.strikes = 0;
    if (isBinary) {
      this.error(c, new ChatError('bad_request', 'frames must be text (JSON), not binary'));
      return;
    }
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(data.toString());
    } catch (err) {
      this.error(c, err);
      return;
    }
    this.metrics.framesIn.inc({ type: frame.type });
    const run = () => this.dispatch(c, frame).catch((err) => this.error(c, err, frame.id));
    const heavy = HEAVY_FRAMES.has(frame.type);
    // Sends run at once (their answers are small and come when durable, in any order); other frames
    // are answered in order, heavy ones in fair turns once the earlier answers have mostly left.
    if (frame.type === 'send' || (!heavy && c.idle)) {
      void run();
      return;
    }
    const job = heavy ? () => this.turns.run(c.userId, run) : run;
    if (!c.enqueue(job, heavy)) this.drop(c, 'slow_reader');
  }

  private async dispatch(c: Connection, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'ping':
        return c.send({ type: 'pong' });
      case 'send': {
        const m = await this.messaging.send(c, frame);
        const sent = {
          type: 'sent' as const,
          messageId: m.messageId,
          conversation: m.conversation,
          ts: m.ts,
        };
        return c.send(frame.id === undefined ? sent : { ...sent, id: frame.id });
      }
      case 'sync': {
        const limit = Math.min(frame.limit ?? SYNC_DEFAULT_LIMIT, SYNC_MAX_LIMIT);
        const page = await this.messaging.sync(c.userId, parseMessageId(frame.since, 'since'), limit);
        return c.send({ type: 'sync', messages: page.messages, updates: page.updates, more: page.more });
      }
      case 'read':
        await this.receipts.read(c, frame.conversation, parseMessageId(frame.upTo, 'upTo'));
        return;
      case 'typing':
        return this.typing.typing(c, frame.conversation);
      case 'edit':
      case 'delete': {
        const target = parseMessageId(frame.messageId, 'messageId');
        const u =
          frame.type === 'edit'
            ? await this.changes.edit(c, target, frame.text)
            : await this.changes.delete(c, target);
        const updated = { type: 'updated' as const, messageId: u.messageId, updateId: u.updateId };
        return c.send(frame.id === undefined ? updated : { ...updated, id: frame.id });
      }
      case 'presence.subscribe': {
        // A user named twice, or already watched, is not a new one.
        const fresh = [...new Set(frame.users)].filter((u) => !c.watches(u));
        if (c.watchingCount + fresh.length > PRESENCE_SUBSCRIBE_MAX) {
          throw new ChatError('bad_request', `a connection watches at most ${PRESENCE_SUBSCRIBE_MAX} users`);
        }
        this.sessions.watch(c, fresh);
        c.subscribe(frame.users);
        for (const p of await this.presence.get([...new Set(frame.users)]))
          c.send({ type: 'presence', ...p });
        return;
      }
    }
  }

  private error(c: Connection, thrown: unknown, id?: ClientId): void {
    const frameId = thrown instanceof FrameError ? thrown.frameId : id;
    const err = unavailableError(thrown) ?? thrown;
    let code: ChatError['code'] = 'internal';
    let message = 'internal error';
    if (isChatError(err)) {
      code = err.code;
      message = err.message;
    } else {
      const e = err as Error;
      this.logs.write(`frame:${e?.name}:${String(e?.message).slice(0, 80)}`, (held) =>
        this.log.error({ err, userId: c.userId, held }, 'frame failed'),
      );
    }
    this.metrics.errors.inc({ code });
    c.send(
      frameId === undefined
        ? { type: 'error', code, message }
        : { type: 'error', id: frameId, code, message },
    );
  }

  private drop(c: Connection, reason: string, code: number = CLOSE.policy): void {
    if (c.closed) return;
    this.metrics.disconnects.inc({ reason });
    this.log.info({ userId: c.userId, deviceId: c.deviceId, reason }, 'connection dropped');
    if (reason === 'slow_reader') c.terminate();
    else c.close(code, reason);
    c.closed = true;
  }

  /** Expires devices silent for 3 heartbeats and reports activity to the presence backend. */
  private sweep(): void {
    const now = this.clock();
    const deadline = now - 3 * this.heartbeatMs;
    const reportAfter = Math.floor(this.heartbeatMs / 2);
    for (const c of this.sessions.all()) {
      if (c.lastFrameAt < deadline) {
        this.metrics.disconnects.inc({ reason: 'heartbeat_timeout' });
        c.terminate();
      } else if (c.lastFrameAt > c.reportedActiveAt && now - c.reportedActiveAt >= reportAfter) {
        c.reportedActiveAt = c.lastFrameAt;
        void this.presence
          .deviceActive(c.userId, c.deviceId, c.lastFrameAt)
          .catch((err) => this.backendError(err));
      }
    }
  }

  /**
   * Asks up to `count` connections to reconnect elsewhere, spread over time at `ratePerSec`
   * (`afterMs` grows with each one, with jitter), and closes those still here after a grace period.
   * Returns how many were asked.
   */
  move(req: MoveRequest): number {
    const now = this.clock();
    const spacing = 1000 / Math.max(0.001, req.ratePerSec);
    let asked = 0;
    for (const c of this.sessions.all()) {
      if (asked >= req.count) break;
      if (c.closed || c.movingAt > 0) continue;
      const afterMs = Math.round(asked * spacing + Math.random() * spacing);
      c.movingAt = now;
      const url = typeof req.url === 'function' ? req.url() : req.url;
      c.send(
        url
          ? { type: 'reconnect', url, reason: req.reason, afterMs }
          : { type: 'reconnect', reason: req.reason, afterMs },
      );
      const timer = setTimeout(() => {
        this.moveTimers.delete(timer);
        if (!c.closed) c.close(CLOSE.goingAway, req.reason);
      }, afterMs + MOVE_GRACE_MS);
      timer.unref();
      this.moveTimers.add(timer);
      asked++;
    }
    return asked;
  }

  /** Connections not yet asked to move. */
  get settled(): number {
    let n = 0;
    for (const c of this.sessions.all()) if (c.movingAt === 0) n++;
    return n;
  }

  private backendError(err: unknown): void {
    const message = errorMessage(err);
    this.logs.write(`presence:${String(message).slice(0, 80)}`, (held) =>
      this.log.warn({ err: message, held }, 'presence backend call failed'),
    );
  }

  /** Closes every connection (1001) and stops timers. */
  close(): void {
    clearInterval(this.sweeper);
    for (const t of this.moveTimers) clearTimeout(t);
    for (const c of [...this.sessions.all()]) c.close(CLOSE.goingAway, 'node shutting down');
    // Connections that do not finish the closing handshake promptly are cut.
    const cut = setTimeout(() => {
      for (const c of [...this.sessions.all()]) c.terminate();
    }, 1000);
    cut.unref();
  }
}

const CODE_OF_STATUS: Record<number, string> = {
  401: 'unauthorized',
  429: 'rate_limited',
  503: 'unavailable',
};

function refuse(socket: Duplex, status: number, message: string): void {
  refuseHandshake(socket, status, { code: CODE_OF_STATUS[status] ?? 'internal', message });
}
