/**
 * The client contract of PROTOCOL.md (v1) as types and validators. Chat nodes, the client SDK, the CLI,
 * tests and benchmarks all import these; nobody redefines them.
 */
import { z } from 'zod';
import { ChatError, type ErrorCode } from './errors.ts';
import { MESSAGE_ID, OPAQUE_ID } from './ids.ts';
import { PRESENCE_SUBSCRIBE_MAX } from './protocol-limits.ts';
import { hasInvisible } from './usernames.ts';

export * from './protocol-limits.ts';

/** A stored message as it travels on the wire. */
export interface Message {
  messageId: string;
  conversation: string;
  from: string;
  to?: string;
  group?: string;
  text: string;
  ts: number;
  /** v1.1: set once the sender edited the message (the time of the last edit). */
  editedAt?: number;
  /** v1.1: true once the sender deleted the message (its text is then ""). */
  deleted?: true;
}

/** v1.1: a change to a stored message (an edit or a delete), ordered with messages by `updateId`. */
export interface Update {
  updateId: string;
  messageId: string;
  conversation: string;
  from: string;
  text?: string;
  deleted?: true;
  ts: number;
}

export type PresenceStatus = 'online' | 'offline';

export interface PresenceInfo {
  userId: string;
  status: PresenceStatus;
  lastActiveAt: number | null;
}

// ---- client → server ---------------------------------------------------------------------------

const opaqueId = z.string().regex(OPAQUE_ID, 'must be 1 to 64 characters of [A-Za-z0-9_.-]');
const messageId = z.string().regex(MESSAGE_ID, 'must be a message id (a decimal string)');
/** The client's own id of a send: a string or a number, echoed back as it came. */
const clientId = z.union([z.string().min(1).max(128), z.number().finite()]);

const sendFrame = z
  .object({
    type: z.literal('send'),
    id: clientId.optional(),
    to: opaqueId.optional(),
    group: opaqueId.optional(),
    // Text is checked by validateText so that length errors get their own codes.
    text: z.unknown().optional(),
  })
  .refine((f) => (f.to === undefined) !== (f.group === undefined), {
    message: 'exactly one of "to" or "group" is required',
  });

const syncFrame = z.object({
  type: z.literal('sync'),
  id: clientId.optional(),
  since: messageId,
  // Any positive integer: larger than SYNC_MAX_LIMIT is clamped, even beyond 2^53.
  limit: z.number().positive().refine(Number.isInteger, 'must be an integer').optional(),
});

const readFrame = z.object({
  type: z.literal('read'),
  id: clientId.optional(),
  conversation: z.string().min(1).max(200),
  upTo: messageId,
});

const presenceSubscribeFrame = z.object({
  type: z.literal('presence.subscribe'),
  id: clientId.optional(),
  users: z.array(opaqueId).max(PRESENCE_SUBSCRIBE_MAX, `at most ${PRESENCE_SUBSCRIBE_MAX} users`),
});

const pingFrame = z.object({ type: z.literal('ping'), id: clientId.optional() });

const typingFrame = z.object({
  type: z.literal('typing'),
  id: clientId.optional(),
  conversation: z.string().min(1).max(200),
});

const editFrame = z.object({
  type: z.literal('edit'),
  id: clientId.optional(),
  messageId,
  // Checked by validateText, like send's.
  text: z.unknown().optional(),
});

const deleteFrame = z.object({ type: z.literal('delete'), id: clientId.optional(), messageId });

const clientFrame = z.discriminatedUnion('type', [
  sendFrame,
  syncFrame,
  readFrame,
  presenceSubscribeFrame,
  pingFrame,
  typingFrame,
  editFrame,
  deleteFrame,
]);

export type SendFrame = z.infer<typeof sendFrame>;
export type SyncFrame = z.infer<typeof syncFrame>;
export type ReadFrame = z.infer<typeof readFrame>;
export type PresenceSubscribeFrame = z.infer<typeof presenceSubscribeFrame>;
export type TypingFrame = z.infer<typeof typingFrame>;
export type EditFrame = z.infer<typeof editFrame>;
export type DeleteFrame = z.infer<typeof deleteFrame>;
export type ClientFrame = z.infer<typeof clientFrame>;
export type ClientId = string | number;

export const CLIENT_FRAME_TYPES = [
  'send',
  'sync',
  'read',
  'presence.subscribe',
  'ping',
  'typing',
  'edit',
  'delete',
] as const;

/** The error for a frame that failed validation; `id` is echoed when the frame had a usable one. */
export class FrameError extends ChatError {
  override name = 'FrameError';
  readonly frameId: ClientId | undefined;
  constructor(code: ErrorCode, message: string, frameId?: ClientId) {
    super(code, message);
    this.frameId = frameId;
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** Parses one text frame from a client, or throws a FrameError with code `bad_request`. */
export function parseClientFrame(raw: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new FrameError('bad_request', 'frame is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FrameError('bad_request', 'frame must be a JSON object');
  }
  const obj = value as Record<string, unknown>;
  const id = clientId.safeParse(obj.id).success ? (obj.id as ClientId) : undefined;
  if (typeof obj.type !== 'string') throw new FrameError('bad_request', 'frame has no "type"', id);
  if (!(CLIENT_FRAME_TYPES as readonly string[]).includes(obj.type)) {
    throw new FrameError('bad_request', `unknown frame type "${obj.type.slice(0, 40)}"`, id);
  }
  const parsed = clientFrame.safeParse(value);
  if (!parsed.success) {
    throw new FrameError('bad_request', parsed.error.issues.map(describeIssue).join('; '), id);
  }
  return parsed.data;
}

// ---- server → client ---------------------------------------------------------------------------

export interface WelcomeFrame {
  type: 'welcome';
  userId: string;
  deviceId: string;
  nodeId: number;
  heartbeatMs: number;
}
export interface SentFrame {
  type: 'sent';
  id?: ClientId;
  messageId: string;
  conversation: string;
  ts: number;
}
export interface MessageFrame extends Message {
  type: 'message';
}
export interface SyncAnswerFrame {
  type: 'sync';
  messages: Message[];
  /** v1.1: changes with updateId > since, oldest first (within the same limit as the messages). */
  updates?: Update[];
  more: boolean;
}
export interface PresenceFrame extends PresenceInfo {
  type: 'presence';
}
export interface ReadEventFrame {
  type: 'read';
  conversation: string;
  upTo: string;
  userId: string;
  deviceId: string;
}
export interface ReconnectFrame {
  type: 'reconnect';
  url?: string;
  reason: 'rebalance' | 'drain';
  afterMs: number;
}
export interface PongFrame {
  type: 'pong';
}
/** v1.1: a participant's read position moved forward. */
export interface ReceiptFrame {
  type: 'receipt';
  conversation: string;
  userId: string;
  upTo: string;
}
/** v1.1: another participant is typing until `untilMs`. */
export interface TypingEventFrame {
  type: 'typing';
  conversation: string;
  userId: string;
  untilMs: number;
}
/** v1.1: an edit or delete is durable. */
export interface UpdatedFrame {
  type: 'updated';
  id?: ClientId;
  messageId: string;
  updateId: string;
}
/** v1.1: a change to a message, to every device of every participant. */
export interface UpdateFrame extends Update {
  type: 'update';
}
export type GroupEventKind = 'created' | 'member_added' | 'member_removed' | 'renamed';
/** v1.1: a change of a group, to every member's devices (the member concerned included). */
export interface GroupEventFrame {
  type: 'group';
  groupId: string;
  event: GroupEventKind;
  userId?: string;
  name?: string;
  by: string;
  ts: number;
}
export interface ErrorFrame {
  type: 'error';
  id?: ClientId;
  code: ErrorCode;
  message: string;
}

export type ServerFrame =
  | WelcomeFrame
  | SentFrame
  | MessageFrame
  | SyncAnswerFrame
  | PresenceFrame
  | ReadEventFrame
  | ReconnectFrame
  | PongFrame
  | ErrorFrame
  | ReceiptFrame
  | TypingEventFrame
  | UpdatedFrame
  | UpdateFrame
  | GroupEventFrame;

// ---- HTTP bodies -------------------------------------------------------------------------------

/**
 * Usernames: 1 to 64 characters, no whitespace, control or invisible characters (zero-width,
 * direction overrides: common/usernames.ts). Look-alikes are one name (compared by usernameKey).
 */
export const usernameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[^\s\p{Cc}]+$/u, 'must not contain whitespace or control characters')
  .refine((name) => !hasInvisible(name), 'must not contain invisible or direction-override characters');
export const passwordSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters');

/** v1.1: a display name, 1 to 64 characters (code points), without control characters. */
export const displayNameSchema = z
  .string()
  .refine((n) => [...n].length >= 1 && [...n].length <= 64, 'must be 1 to 64 characters')
  .refine((n) => !/\p{Cc}/u.test(n), 'must not contain control characters')
  .refine((n) => n.isWellFormed(), 'must be valid Unicode');
export const createUserBody = z.object({
  username: usernameSchema,
  password: passwordSchema,
  displayName: displayNameSchema.optional(),
});
export const createSessionBody = z.object({
  username: z.string().max(64),
  password: z.string().max(1024),
  deviceId: opaqueId.optional(),
});
export const changePasswordBody = z.object({
  currentPassword: z.string().max(1024),
  newPassword: passwordSchema,
});
export const createGroupBody = z.object({
  name: z.string().max(200).optional(),
  members: z.array(opaqueId).max(1000).optional(),
});
export const addMemberBody = z.object({ userId: opaqueId });
export const postMessageBody = z
  .object({
    id: clientId.optional(),
    to: opaqueId.optional(),
    group: opaqueId.optional(),
    text: z.unknown().optional(),
  })
  .refine((f) => (f.to === undefined) !== (f.group === undefined), {
    message: 'exactly one of "to" or "group" is required',
  });

/** Validates an HTTP JSON body, throwing `bad_request` with every problem named. */
export function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ChatError('bad_request', parsed.error.issues.map(describeIssue).join('; '));
  return parsed.data;
}
