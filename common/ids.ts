/** Ids of PROTOCOL.md: opaque user/group/device ids, conversation ids and Snowflake message ids. */
import { ChatError } from './errors.ts';

/** User ids, group ids and device ids: at most 64 chars of [A-Za-z0-9_.-]. */
export const OPAQUE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Message ids on the wire: decimal strings of unsigned 64-bit integers. */
export const MESSAGE_ID = /^(0|[1-9][0-9]{0,19})$/;

export function isOpaqueId(value: unknown): value is string {
  return typeof value === 'string' && OPAQUE_ID.test(value);
}

/**
 * A random opaque id (`prefix` + 16 url-safe characters, 96 bits). Web Crypto rather than
 * node:crypto, so that the client SDK can import this module in a browser.
 */
export function randomId(prefix = ''): string {
  return prefix + Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('base64url');
}

/** Parses a wire message id into a bigint, or throws `bad_request` naming the field. */
export function parseMessageId(value: unknown, field: string): bigint {
  if (typeof value !== 'string' || !MESSAGE_ID.test(value)) {
    throw new ChatError('bad_request', `${field} must be a message id (a decimal string)`);
  }
  const id = BigInt(value);
  if (id > 0xffff_ffff_ffff_ffffn) throw new ChatError('bad_request', `${field} is out of range`);
  return id;
}

export type Conversation = { kind: 'dm'; a: string; b: string } | { kind: 'group'; groupId: string };

export function dmConversationId(userA: string, userB: string): string {
  return userA < userB ? `dm:${userA}:${userB}` : `dm:${userB}:${userA}`;
}

export function groupConversationId(groupId: string): string {
  return `g:${groupId}`;
}

/** Parses `dm:<a>:<b>` (a ≤ b) or `g:<groupId>`; returns undefined for anything else. */
export function parseConversationId(cid: string): Conversation | undefined {
  if (cid.startsWith('g:')) {
    const groupId = cid.slice(2);
    return isOpaqueId(groupId) ? { kind: 'group', groupId } : undefined;
  }
  if (cid.startsWith('dm:')) {
    const parts = cid.slice(3).split(':');
    if (parts.length !== 2) return undefined;
    const [a, b] = parts as [string, string];
    if (!isOpaqueId(a) || !isOpaqueId(b) || a > b) return undefined;
    return { kind: 'dm', a, b };
  }
  return undefined;
}
