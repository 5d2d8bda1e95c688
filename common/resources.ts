/**
 * The resources of PROTOCOL.md v1.1 as the HTTP API returns them (profiles, contacts, conversations,
 * group summaries) and the bodies it takes. Nodes, the SDK and chatctl share these types.
 */
import { z } from 'zod';
import { OPAQUE_ID } from './ids.ts';
import { displayNameSchema, type Message, type PresenceStatus } from './protocol.ts';

export const CONTACTS_MAX = 1000;
export const USER_SEARCH_DEFAULT_LIMIT = 20;
export const USER_SEARCH_MAX_LIMIT = 50;
export const CONVERSATIONS_DEFAULT_LIMIT = 50;
export const CONVERSATIONS_MAX_LIMIT = 200;
/** `unread` counts exactly up to this; this value means "this many or more". */
export const UNREAD_CAP = 1000;

export interface Profile {
  userId: string;
  username: string;
  /** Defaults to the username. */
  displayName: string;
  createdAt: number;
}

export interface Contact extends Profile {
  status: PresenceStatus;
  lastActiveAt: number | null;
}

export interface Conversation {
  conversation: string;
  kind: 'dm' | 'group';
  /** The other user, for a dm (the user itself in a dm with oneself). */
  peer?: string;
  group?: { groupId: string; name: string };
  lastMessage: Message | null;
  readUpTo: string;
  unread: number;
  activityId: string;
}

export interface Receipt {
  userId: string;
  upTo: string;
}

export interface GroupSummary {
  groupId: string;
  name: string;
  /** How many members it has. */
  members: number;
}

export const patchProfileBody = z.object({ displayName: displayNameSchema });
export const renameGroupBody = z.object({ name: z.string().max(200) });
export const editMessageBody = z.object({ text: z.unknown().optional() });

export const isUserId = (value: string): boolean => OPAQUE_ID.test(value);
