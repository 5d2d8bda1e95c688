/**
 * The message path: validate, resolve the conversation and its participants, assign a Snowflake id,
 * publish durably, then notify offline recipients. Also `sync`, history and read cursors, each
 * refused for users outside the conversation.
 */
import { ChatError, errorMessage } from '../../common/errors.ts';
import { dmConversationId, groupConversationId, parseConversationId } from '../../common/ids.ts';
import type { ClientId, Message } from '../../common/protocol.ts';
import { type Snowflake, snowflakeTime } from '../../common/snowflake.ts';
import { preview, validateText } from '../../common/text.ts';
import { PAGE_MAX_BYTES } from '../backends/page.ts';
import type { Envelope, MessageBus, PresenceBackend, Store } from '../backends/types.ts';
import { type Metrics, timed } from '../metrics.ts';
import type { PushDispatcher } from './push-dispatcher.ts';
import { Lanes, type LaneTurn } from './send-lanes.ts';
import { mergeSync, type SyncPage } from './sync-merge.ts';

export interface Sender {
  userId: string;
  deviceId: string;
}

export interface SendRequest {
  id?: ClientId;
  to?: string;
  group?: string;
  text?: unknown;
}

/**
 * The largest id a message can have: Snowflake ids take 63 bits, and stores keep them as signed
 * 64-bit integers. Wire ids up to 2^64 - 1 are valid; larger `since`/`before`/`upTo` are clamped.
 */
const MAX_MESSAGE_ID = (1n << 63n) - 1n;
const clampId = (id: bigint): bigint => (id > MAX_MESSAGE_ID ? MAX_MESSAGE_ID : id);

/** Most user ids kept in the existence cache. */
const KNOWN_USERS_MAX = 100_000;

/** Where a message goes: its conversation and the users whose devices get it. */
type Route = { conversation: string; recipients: string[] };

/** How long a sync or history read waits for the store writer to catch up. */
const SETTLE_TIMEOUT_MS = 5000;

export class Messaging {
  private readonly store: Store;
  private readonly bus: MessageBus;
  private readonly presence: PresenceBackend;
  private readonly ids: Snowflake;
  private readonly push: PushDispatcher;
  private readonly metrics: Metrics;
  /** Sends in progress by dedup key, so that a retried id racing its original gets the same message. */
  private readonly inflight = new Map<string, Promise<Message>>();
  private readonly maxPendingSends: number;
  /** Sends between their arrival and their answer. */
  private pendingSends = 0;
  /** Users known to exist (bounded; starts over when full). */
  private readonly knownUsers = new Set<string>();
  /** Each device's sends reach the bus in the order they arrived. */
  private readonly lanes = new Lanes();

  constructor(deps: {
    store: Store;
    bus: MessageBus;
    presence: PresenceBackend;
    ids: Snowflake;
    push: PushDispatcher;
    metrics: Metrics;
    /** Sends held at once (accepted, not yet durable); past it sends are refused `rate_limited`. */
    maxPendingSends?: number;
  }) {
    this.maxPendingSends = deps.maxPendingSends ?? Number.POSITIVE_INFINITY;
    this.store = deps.store;
    this.bus = deps.bus;
    this.presence = deps.presence;
    this.ids = deps.ids;
    this.push = deps.push;
    this.metrics = deps.metrics;
  }

  /** Stores and delivers a message; resolves once it is durable. A repeated client id gets the first message. */
  async send(sender: Sender, req: SendRequest): Promise<Message> {
    const text = validateText(req.text);
    if (this.pendingSends >= this.maxPendingSends) {
      throw new ChatError(
        'rate_limited',
        'this node has too many sends in flight; send again after a backoff',
      );
    }
    this.pendingSends++;
    try {
      return await this.admitted(sender, req, text);
    } finally {
      this.pendingSends--;
    }
  }

  private async admitted(sender: Sender, req: SendRequest, text: string): Promise<Message> {
    const dedupKey =
      req.id === undefined ? undefined : `${sender.userId}/${sender.deviceId}/${String(req.id)}`;
    const pending = dedupKey === undefined ? undefined : this.inflight.get(dedupKey);
    if (pending) return pending;
    // The id and the place in the device's lane are taken now, in arrival order: the lookups below
    // finish in any order, and the publishes leave in this order (sendsInArrivalOrder).
    const id = this.ids.next();
    const lane = this.lanes.enter(`${sender.userId}/${sender.deviceId}`);
    const p = (async () => {
      try {
        // The route and the bus's dedup check (a fast index, not the store) are independent: one
        // round trip of latency, not two. A resend of a stored message gets it back even if its
        // route has changed since.
        const routed = this.route(sender.userId, req);
        routed.catch(() => {});
        const earlier =
          dedupKey === undefined || this.bus.dedupAtPublish
            ? undefined
            : await this.bus.earlier(dedupKey, id.toString());
        if (earlier) return earlier;
        const route = await routed.catch(async (err: unknown) => {
          const stored = dedupKey === undefined ? undefined : await this.store.messageByDedupKey(dedupKey);
          if (stored) return stored;
          throw err;
        });
        if (!('recipients' in route)) return route;
        return await this.accept(sender, req, text, id, dedupKey, route, lane);
      } finally {
        lane.leave();
      }
    })();
    if (dedupKey === undefined) return p;
    this.inflight.set(dedupKey, p);
    try {
      return await p;
    } finally {
      this.inflight.delete(dedupKey);
    }
  }

  private async accept(
    sender: Sender,
    req: SendRequest,
    text: string,
    id: bigint,
    dedupKey: string | undefined,
    { conversation, recipients }: Route,
    lane: LaneTurn,
  ): Promise<Message> {
    const message: Message = {
      messageId: id.toString(),
      conversation,
      from: sender.userId,
      text,
      ts: snowflakeTime(id),
    };
    if (req.to !== undefined) message.to = req.to;
    else message.group = req.group;
    const envelope: Envelope = { message, recipients, fromDevice: sender.deviceId };
    if (dedupKey !== undefined) envelope.dedupKey = dedupKey;
    // The device's earlier sends have been handed to the bus; the bus keeps the order it is given.
    await lane.turn;
    const stored = await timed(this.metrics, 'publish', () => {
      const published = this.bus.publish(envelope);
      lane.leave();
      return published;
    });
    if (stored.messageId !== message.messageId) return stored; // a resend the bus had already taken
    this.metrics.messagesIn.inc();
    void this.notifyOffline(envelope).catch(() => {});
    return message;
  }

  private async route(from: string, req: SendRequest): Promise<Route> {
    if (req.to !== undefined) {
      if (req.to !== from && !(await this.userExists(req.to))) {
        throw new ChatError('unknown_recipient', `no such user: ${req.to}`);
      }
      return {
        conversation: dmConversationId(from, req.to),
        recipients: req.to === from ? [from] : [from, req.to],
      };
    }
    const group = await timed(this.metrics, 'group', () => this.store.group(req.group!));
    if (!group?.members.includes(from))
      throw new ChatError('not_member', 'you are not a member of that group');
    return { conversation: groupConversationId(group.groupId), recipients: group.members };
  }

  /** Every 1:1 send checks its recipient; accounts are never deleted, so a user found stays known. */
  private async userExists(userId: string): Promise<boolean> {
    if (this.knownUsers.has(userId)) return true;
    if (!(await this.store.existingUsers([userId])).has(userId)) return false;
    if (this.knownUsers.size >= KNOWN_USERS_MAX) this.knownUsers.clear();
    this.knownUsers.add(userId);
    return true;
  }

  private async notifyOffline({ message, recipients }: Envelope): Promise<void> {
    const others = recipients.filter((u) => u !== message.from);
    if (others.length === 0) return;
    for (const p of await this.presence.get(others)) {
      if (p.status !== 'offline') continue;
      this.push.enqueue({
        userId: p.userId,
        messageId: message.messageId,
        conversation: message.conversation,
        from: message.from,
        preview: preview(message.text),
      });
    }
  }

  /**
   * The user's messages with id > since, oldest first, as many as fit in one frame: the store stops
   * reading at the page's byte budget, so a page of large messages costs one frame's worth of reads.
   */
  async sync(userId: string, since: bigint, limit: number): Promise<SyncPage> {
    await this.storeCaughtUp();
    return timed(this.metrics, 'sync', async () => {
      // v1.1: the changes since `since` come in the same page, in id order with the messages.
      const [messages, updates] = await Promise.all([
        this.store.sync(userId, clampId(since), limit, PAGE_MAX_BYTES),
        this.store.updatesSince(userId, clampId(since), limit, PAGE_MAX_BYTES),
      ]);
      return mergeSync(messages, updates, limit, PAGE_MAX_BYTES);
    });
  }

  /**
   * One conversation's messages older than `before`, newest first, as many as fit in one frame's
   * bytes (at least one); `not_member` for outsiders.
   */
  async history(
    userId: string,
    conversation: string,
    before: bigint | undefined,
    limit: number,
  ): Promise<Message[]> {
    await this.assertParticipant(userId, conversation);
    await this.storeCaughtUp();
    // Every message is older than a `before` past the largest id.
    const upper = before !== undefined && before > MAX_MESSAGE_ID ? undefined : before;
    return timed(this.metrics, 'history', () =>
      this.store.history(conversation, upper, limit, PAGE_MAX_BYTES),
    );
  }

  /**
   * Reads after a reconnect must see every acknowledged message, also those the store writer has
   * not written yet: wait for it (bounded), else refuse with `internal` so the client retries.
   */
  private async storeCaughtUp(): Promise<void> {
    try {
      await timed(this.metrics, 'settle', () => this.bus.settled(SETTLE_TIMEOUT_MS));
    } catch (err) {
      throw new ChatError('internal', `history is not up to date yet, retry: ${errorMessage(err)}`);
    }
  }

  /** Moves the device's read cursor; true if it moved (then the user's other devices are told). */
  async read(reader: Sender, conversation: string, upTo: bigint): Promise<boolean> {
    await this.assertParticipant(reader.userId, conversation);
    const moved = await this.store.setReadCursor(reader.userId, reader.deviceId, conversation, clampId(upTo));
    if (moved) {
      await this.bus.publishEvent({
        userIds: [reader.userId],
        frame: {
          type: 'read',
          conversation,
          upTo: upTo.toString(),
          userId: reader.userId,
          deviceId: reader.deviceId,
        },
        // The ids only: the event crosses the bus as JSON, and a sender may be a live connection.
        exceptDevice: { userId: reader.userId, deviceId: reader.deviceId },
      });
    }
    return moved;
  }

  private async assertParticipant(userId: string, conversation: string): Promise<void> {
    const c = parseConversationId(conversation);
    if (!c) throw new ChatError('bad_request', 'conversation must be dm:<a>:<b> (sorted) or g:<groupId>');
    if (c.kind === 'dm') {
      if (c.a !== userId && c.b !== userId)
        throw new ChatError('not_member', 'you are not in that conversation');
      return;
    }
    const group = await this.store.group(c.groupId);
    if (!group?.members.includes(userId))
      throw new ChatError('not_member', 'you are not a member of that group');
  }
}
