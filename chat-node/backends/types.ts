/**
 * The seams between the protocol code and the systems behind it. Each interface has an embedded
 * implementation (one process, the default) and a real one (JetStream, Cassandra, Redis, a push
 * provider); `wiring.ts` chooses, nothing else does.
 */
import type { NodeInfo } from '../../common/node-registry.ts';
import type { Message, PresenceInfo, ServerFrame, Update } from '../../common/protocol.ts';

export interface UserRecord {
  userId: string;
  username: string;
  passwordHash: string;
  createdAt: number;
  /** v1.1; absent means "the username". */
  displayName?: string;
}

export interface GroupRecord {
  groupId: string;
  name: string;
  createdBy: string;
  createdAt: number;
  members: string[];
  /** v1.1: a Snowflake id taken at creation, the activity of the group before its first message. */
  activityId?: string;
}

/**
 * A user's entry for one conversation, kept up to date as messages, reads and changes are written
 * (never computed from history): what the conversation list shows.
 */
export interface ConversationEntry {
  conversation: string;
  /** The newest message's id, or the group's activity id; 0n when neither. */
  activityId: bigint;
  /** 0n when the conversation has no message (for this user). */
  lastMessageId: bigint;
  /** The user's read position: the highest upTo of any of its devices, 0n if none. */
  readUpTo: bigint;
  /** Others' messages newer than readUpTo, counted up to UNREAD_CAP (common/resources.ts). */
  unread: number;
  /** The last message as it is now, when the store read it with the entry (else read by id). */
  lastMessage?: Message;
}

export type AddContactResult = 'added' | 'already' | 'full';

/** A message with what the platform needs to route it; only `message` goes on the wire. */
export interface Envelope {
  message: Message;
  /** Users whose devices get the message: the sender and every participant. */
  recipients: string[];
  /** `<userId>/<deviceId>/<clientId>` when the sender gave an id: the same key is stored once. */
  dedupKey?: string;
  /**
   * The device that sent it, which has the message from its `sent` (or the HTTP answer) and gets no
   * `message` copy; the sender's other devices do. Absent in envelopes from older nodes: all get it.
   */
  fromDevice?: string;
}

export type AddMemberResult = 'added' | 'already_member' | 'full' | 'no_group';

/** Users, groups, messages and read cursors: the durable state (v1; v1.1 extends it below). */
export interface StoreV1 {
  /**
   * Throws ChatError `username_taken` if the username exists. Usernames are compared by their
   * canonical key (common/usernames.ts): look-alikes collide.
   */
  createUser(user: UserRecord): Promise<void>;
  /** The account whose username has the same canonical key as `username`. */
  userByUsername(username: string): Promise<UserRecord | undefined>;
  userById(userId: string): Promise<UserRecord | undefined>;
  /** Replaces an account's password hash (every place a login reads it). */
  setPasswordHash(userId: string, passwordHash: string): Promise<void>;
  /**
   * Tokens of the user issued at or before `cutoff` (ms) are no longer valid: those of one device,
   * or with `deviceId` undefined those of every device. A later cutoff replaces an earlier one.
   */
  revokeTokens(userId: string, deviceId: string | undefined, cutoff: number): Promise<void>;
  /**
   * The revocation time that applies to a device's tokens (the later of the user's and the
   * device's, 0 when none), or undefined when the user does not exist.
   */
  tokenCutoff(userId: string, deviceId: string): Promise<number | undefined>;
  /** The subset of `userIds` that exist. */
  existingUsers(userIds: readonly string[]): Promise<Set<string>>;

  createGroup(group: GroupRecord): Promise<void>;
  group(groupId: string): Promise<GroupRecord | undefined>;
  addMember(groupId: string, userId: string, maxMembers: number, now: number): Promise<AddMemberResult>;
  removeMember(groupId: string, userId: string): Promise<void>;

  /**
   * Stores a message and indexes it for every recipient. Idempotent: the same id gives the same row.
   * A store that can tell resolves with whether each envelope was inserted (false: its id or its
   * dedup key was stored already), so that only those need `messageByDedupKey`.
   */
  saveMessages(envelopes: readonly Envelope[]): Promise<readonly boolean[] | undefined>;
  /** The message stored under a sender's dedup key, if any. */
  messageByDedupKey(dedupKey: string): Promise<Message | undefined>;
  /**
   * Messages of any of the user's conversations with id > since, oldest first: at most `limit`, and
   * at most `maxBytes` of JSON (PAGE_MAX_BYTES by default; at least one message). Rows past the page
   * are not read, whatever their size.
   */
  sync(
    userId: string,
    since: bigint,
    limit: number,
    maxBytes?: number,
  ): Promise<{ messages: Message[]; more: boolean }>;
  /** Messages of one conversation older than `before` (if given), newest first; bounded like sync. */
  history(
    conversation: string,
    before: bigint | undefined,
    limit: number,
    maxBytes?: number,
  ): Promise<Message[]>;
  /** Moves a device's read cursor forward (never back). Returns false if it did not move. */
  setReadCursor(userId: string, deviceId: string, conversation: string, upTo: bigint): Promise<boolean>;
  /** The highest message id issued by a node, so a restarted node keeps its ids increasing. */
  maxMessageId(nodeId: number): Promise<bigint>;

  /** False while the store cannot serve (readiness). */
  isReady(): boolean;
  close(): Promise<void>;
}

/** v1.1: profiles, contacts, conversation entries, receipts, group lists and message changes. */
export interface Store extends StoreV1, PeopleStore, ConversationStore, PushTokenStore {}

/** The push services a device may register with (PROTOCOL.md "Devices and push"). */
export const PUSH_SERVICES = ['fcm', 'apns', 'webpush'] as const;
export type PushService = (typeof PUSH_SERVICES)[number];

/** A device's push registration: at most one per device, the latest replacing the earlier. */
export interface PushRegistration {
  userId: string;
  deviceId: string;
  provider: PushService;
  /** The FCM registration token, the APNs device token (lowercase hex), or the Web Push subscription as JSON. */
  token: string;
  updatedAt: number;
}

export interface PushTokenStore {
  setPushToken(registration: PushRegistration): Promise<void>;
  /** Removes the device's registration; with `token`, only while it is still that one (a newer one stays). */
  removePushToken(userId: string, deviceId: string, token?: string): Promise<void>;
  /** The user's registrations, at most `limit`. */
  pushTokens(userId: string, limit: number): Promise<PushRegistration[]>;
}

export interface PeopleStore {
  setDisplayName(userId: string, displayName: string): Promise<void>;
  /** Users whose username starts with `prefix` (as typed, code point order), at most `limit`. */
  usersByPrefix(prefix: string, limit: number): Promise<UserRecord[]>;
  /** Adds a contact unless the user already has `max`. */
  addContact(userId: string, contactId: string, max: number): Promise<AddContactResult>;
  removeContact(userId: string, contactId: string): Promise<void>;
  contacts(userId: string): Promise<string[]>;
  /** Ids of the groups the user is in. */
  groupsOf(userId: string): Promise<string[]>;
  renameGroup(groupId: string, name: string): Promise<void>;
}

export interface ConversationStore {
  /**
   * The user's conversation entries by activityId, highest first, below `before` if given: at most
   * `limit`, and `more` when others remain. Reads the entries and their counters, never history.
   */
  conversations(
    userId: string,
    before: bigint | undefined,
    limit: number,
  ): Promise<{ entries: ConversationEntry[]; more: boolean }>;
  conversationEntry(userId: string, conversation: string): Promise<ConversationEntry | undefined>;
  /** Messages by id (each with its conversation, to find it), as they are now. */
  messagesByIds(refs: readonly { conversation: string; messageId: bigint }[]): Promise<Map<string, Message>>;
  /**
   * Moves the user's read position forward (the highest upTo of any of its devices); true if it
   * moved. Its unread count falls at once.
   */
  setReadPosition(userId: string, conversation: string, upTo: bigint): Promise<boolean>;
  /** Read positions of `userIds` in the conversation (0n for one who never read). */
  readPositions(conversation: string, userIds: readonly string[]): Promise<Map<string, bigint>>;
  /** A message by id, as it is now (edited or deleted); undefined if unknown. */
  messageById(messageId: bigint): Promise<Message | undefined>;
  /**
   * Applies an edit (text) or delete to the stored message, its copies and the conversation entries
   * (a deleted message is unread no more), and records the update for `participants`' sync.
   */
  saveUpdate(update: Update, participants: readonly string[]): Promise<void>;
  /** Updates of the user's conversations with updateId > since, oldest first; bounded like sync. */
  updatesSince(
    userId: string,
    since: bigint,
    limit: number,
    maxBytes?: number,
  ): Promise<{ updates: Update[]; more: boolean }>;
}

/** An event for some users' devices, wherever they are connected. Not durable. */
export interface UserEvent {
  userIds: string[];
  /** The frame for their devices; absent for an event only the nodes act on (`revoked`). */
  frame?: ServerFrame;
  /**
   * Tokens of these users issued at or before `cutoff` were revoked (of one device, or of all):
   * every node forgets what it cached about them and closes their connections.
   */
  revoked?: { deviceId?: string; cutoff: number };
  /** A device that must not get the event (the one that caused it). */
  exceptDevice?: { userId: string; deviceId: string };
  /** v1.1: these users' contacts changed: their connected devices start or stop watching them. */
  contacts?: { added?: string[]; removed?: string[] };
}

/**
 * The session registry as the bus asks it: for each user, the nodes where it has devices ([] when
 * none), or undefined when the registry cannot tell for now (the message then goes to every node).
 */
export type LocateUsers = (userIds: readonly string[]) => Promise<Map<string, readonly number[] | undefined>>;

/**
 * A fast index of the dedup keys sent recently, in front of the store's. `claim` records the key
 * with the message id of this send and says whether it is 'new' (never sent, within the index's
 * horizon: no store read needed), 'seen' (sent before), or 'unknown' (the index cannot tell).
 */
export interface DedupIndex {
  claim(dedupKey: string, messageId: string): Promise<'new' | 'seen' | 'unknown'>;
  /** Called once the bus knows whether the cluster has ever stored a message (`fresh` if not). */
  prepare(fresh: boolean): Promise<void>;
  close(): Promise<void>;
}

/** Durable acceptance of messages and their delivery to the nodes of their recipients. */
export interface MessageBus {
  /**
   * True when `publish` itself answers a resend with the first message (the embedded bus: one
   * transaction meets the key), so `earlier` has nothing to add and a send need not ask it.
   */
  readonly dedupAtPublish?: boolean;
  /**
   * Resolves once the message is durable: it survives any single crash from then on. Returns the
   * message as stored: the earlier one when the envelope's dedup key was already published.
   */
  publish(envelope: Envelope): Promise<Message>;
  /**
   * The message already stored under a dedup key, if the bus can tell before `publish` (asked with
   * the id the new send would get, which a dedup index records). `publish` answers a resend with its
   * first message in any case; this only spares the publish. Publishes keep the order they are
   * called in, so this lookup is a separate step.
   */
  earlier(dedupKey: string, messageId: string): Promise<Message | undefined>;
  /**
   * Resolves once every message accepted before the call is readable from the store, so that a
   * `sync` or history read right after a reconnect misses nothing the store writer has not caught
   * up with. Rejects if that takes longer than `timeoutMs`.
   */
  settled(timeoutMs: number): Promise<void>;
  /**
   * Called for each accepted message, at least once, on every node that has devices of its recipients
   * (a bus may call it on other nodes too: when it cannot tell where they are, or replaying).
   */
  onMessage(handler: (envelope: Envelope) => void): void;
  publishEvent(event: UserEvent): Promise<void>;
  onEvent(handler: (event: UserEvent) => void): void;
  isReady(): boolean;
  close(): Promise<void>;
}

/** Device presence. A user is online while any of its devices is. */
export interface PresenceBackend {
  deviceOnline(userId: string, deviceId: string, nodeId: number, now: number): Promise<void>;
  /** Activity from a device; `now` becomes its user's lastActiveAt. */
  deviceActive(userId: string, deviceId: string, now: number): Promise<void>;
  deviceOffline(userId: string, deviceId: string, now: number): Promise<void>;
  get(userIds: readonly string[]): Promise<PresenceInfo[]>;
  /**
   * A user's status changed (on any node). A backend shared by nodes reports only the users this
   * node `watch`es; an in-process one reports every user.
   */
  onChange(handler: (presence: PresenceInfo) => void): void;
  /**
   * The session registry: per user, the nodes where it has live devices ([] when none), or
   * undefined when the backend cannot tell for now (a shard down, or just refilled after it lost its
   * data). Absent: an in-process backend that knows only this node.
   */
  nodesOf?(userIds: readonly string[]): Promise<Map<string, readonly number[] | undefined>>;
  /** This node's devices watch these users: their changes are wanted here (resolves once asked). */
  watch?(userIds: readonly string[]): Promise<void>;
  /** No device of this node watches these users any more. */
  unwatch?(userIds: readonly string[]): void;
  isReady(): boolean;
  close(): Promise<void>;
}

/** The live nodes of a cluster. */
export interface NodeRegistry {
  /** Publishes (or refreshes) this node's entry. */
  announce(info: NodeInfo): Promise<void>;
  list(): Promise<NodeInfo[]>;
  withdraw(nodeId: number): Promise<void>;
  isReady(): boolean;
  close(): Promise<void>;
}

/** What a push provider is asked to deliver (the webhook body, docs/protocol-notes.md). */
export interface PushNotification {
  userId: string;
  messageId: string;
  conversation: string;
  from: string;
  preview: string;
}

export interface PushProvider {
  readonly name: string;
  /** Throws if the provider did not accept the notification (it will be retried). */
  send(notification: PushNotification): Promise<void>;
}

/** A push service that delivers to one device's token (FCM, APNs, Web Push). */
export interface DevicePushProvider {
  readonly service: PushService;
  /**
   * Resolves `sent`, or `invalid` when the service answered that the token is no longer valid (the
   * registration is then removed); throws for anything worth another attempt.
   */
  send(token: string, notification: PushNotification): Promise<'sent' | 'invalid'>;
  close(): Promise<void>;
}

/** What a WebSocket ticket stands for: the claims of the token it was issued with. */
export interface TicketClaims {
  userId: string;
  deviceId: string;
  /** When that token was issued (ms): a revocation covering the token covers its tickets. */
  issuedAt: number;
}

/**
 * One-use WebSocket tickets (PROTOCOL.md "Browsers"), seen by every node of a cluster: a ticket
 * issued by one node is taken at the handshake on any other, once.
 */
export interface TicketStore {
  /**
   * Keeps `ticket` until `expiresAt` (ms). False, keeping nothing, when its user already has
   * `maxPerUser` tickets within one ticket lifetime, or the store holds all it may.
   */
  put(
    ticket: string,
    claims: TicketClaims,
    expiresAt: number,
    maxPerUser: number,
    now: number,
  ): Promise<boolean>;
  /** The ticket's claims, removing it: once over the cluster. Undefined when unknown, used or expired. */
  take(ticket: string, now: number): Promise<TicketClaims | undefined>;
  close(): Promise<void>;
}

/** Everything wiring.ts builds for one node. */
export interface Backends {
  store: Store;
  bus: MessageBus;
  presence: PresenceBackend;
  registry: NodeRegistry;
  push: PushProvider;
  /** The push services this node has credentials for, each delivering to the devices registered with it. */
  devicePush: Partial<Record<PushService, DevicePushProvider>>;
  /** One-use WebSocket tickets for browsers. */
  tickets: TicketStore;
  /** The Snowflake node id this node may use. */
  nodeId: number;
  /** False while the node may not mint ids under it (its lease is unconfirmed or lost). */
  mayMint(): boolean;
  /** Gives the node id back (the lease in the registry), once the node has stopped issuing ids. */
  release(): Promise<void>;
  /** Names for logs and /readyz, e.g. { bus: 'embedded' }. */
  kinds: Record<string, string>;
}
