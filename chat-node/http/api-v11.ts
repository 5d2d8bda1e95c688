/** The HTTP routes of PROTOCOL.md v1.1: people, contacts, conversations and receipts, group lists and renames, message changes. */
import { ChatError } from '../../common/errors.ts';
import { parseMessageId } from '../../common/ids.ts';
import { parseBody } from '../../common/protocol.ts';
import {
  CONVERSATIONS_DEFAULT_LIMIT,
  CONVERSATIONS_MAX_LIMIT,
  editMessageBody,
  patchProfileBody,
  renameGroupBody,
  USER_SEARCH_DEFAULT_LIMIT,
  USER_SEARCH_MAX_LIMIT,
} from '../../common/resources.ts';
import type { Contacts } from '../chat/contacts.ts';
import { type Conversations, parseBefore } from '../chat/conversations.ts';
import type { Groups } from '../chat/groups.ts';
import type { MessageChanges } from '../chat/message-changes.ts';
import type { Profiles } from '../chat/profiles.ts';
import type { TokenClaims } from '../chat/tokens.ts';
import type { Reply, Request, Router } from './router.ts';

export interface V11Deps {
  profiles: Profiles;
  contacts: Contacts;
  conversations: Conversations;
  changes: MessageChanges;
  groups: Groups;
}

const ok = (body?: unknown, status = 200): Reply => ({ status, body });

/** A positive integer limit, `fallback` when absent, clamped to `max` whatever its digits. */
export function parseLimitOf(value: string | null, fallback: number, max: number): number {
  if (value === null || value === '') return fallback;
  if (!/^\d+$/.test(value) || /^0+$/.test(value))
    throw new ChatError('bad_request', 'limit must be a positive integer');
  const digits = value.replace(/^0+/, '');
  return digits.length > 4 ? max : Math.min(Number(digits), max);
}

export function addV11Routes(
  router: Router,
  d: V11Deps,
  auth: (r: Request) => Promise<TokenClaims>,
  /** Throws rate_limited when the user's message budget (shared with POST /v1/messages) is spent. */
  changesAllowed: (userId: string) => void,
): Router {
  const messageIdOf = (r: Request) => parseMessageId(r.params.messageId, 'messageId');
  return router
    .on('GET', '/v1/users/me', async (r) => ok(await d.profiles.get((await auth(r)).userId)))
    .on('PATCH', '/v1/users/me', async (r) => {
      const me = await auth(r);
      const body = parseBody(patchProfileBody, await r.json());
      return ok(await d.profiles.setDisplayName(me.userId, body.displayName));
    })
    .on('GET', '/v1/users/:userId', async (r) => {
      await auth(r);
      return ok(await d.profiles.get(r.params.userId!));
    })
    .on('GET', '/v1/users', async (r) => {
      await auth(r);
      const q = r.url.searchParams;
      const username = q.get('username');
      if (username !== null) return ok({ users: await d.profiles.byUsername(username) });
      const prefix = q.get('prefix');
      if (prefix === null) throw new ChatError('bad_request', 'give username= or prefix=');
      const limit = parseLimitOf(q.get('limit'), USER_SEARCH_DEFAULT_LIMIT, USER_SEARCH_MAX_LIMIT);
      return ok({ users: await d.profiles.byPrefix(prefix, limit) });
    })
    .on('GET', '/v1/contacts', async (r) => ok({ contacts: await d.contacts.list((await auth(r)).userId) }))
    .on('PUT', '/v1/contacts/:userId', async (r) => {
      await d.contacts.add((await auth(r)).userId, r.params.userId!);
      return ok(undefined, 204);
    })
    .on('DELETE', '/v1/contacts/:userId', async (r) => {
      await d.contacts.remove((await auth(r)).userId, r.params.userId!);
      return ok(undefined, 204);
    })
    .on('GET', '/v1/conversations', async (r) => {
      const me = await auth(r);
      const q = r.url.searchParams;
      const limit = parseLimitOf(q.get('limit'), CONVERSATIONS_DEFAULT_LIMIT, CONVERSATIONS_MAX_LIMIT);
      return ok(await d.conversations.list(me.userId, parseBefore(q.get('before')), limit));
    })
    .on('GET', '/v1/conversations/:cid', async (r) => {
      const me = await auth(r);
      return ok(await d.conversations.get(me.userId, r.params.cid!));
    })
    .on('GET', '/v1/conversations/:cid/receipts', async (r) => {
      const me = await auth(r);
      return ok({ receipts: await d.conversations.receipts(me.userId, r.params.cid!) });
    })
    .on('GET', '/v1/groups', async (r) => ok({ groups: await d.groups.list((await auth(r)).userId) }))
    .on('PATCH', '/v1/groups/:id', async (r) => {
      const me = await auth(r);
      const body = parseBody(renameGroupBody, await r.json());
      const g = await d.groups.rename(me.userId, r.params.id!, body.name);
      return ok({
        groupId: g.groupId,
        name: g.name,
        members: g.members,
        createdBy: g.createdBy,
        createdAt: g.createdAt,
      });
    })
    .on('PATCH', '/v1/messages/:messageId', async (r) => {
      const me = await auth(r);
      const id = messageIdOf(r);
      changesAllowed(me.userId);
      const body = parseBody(editMessageBody, await r.json());
      const u = await d.changes.edit(me, id, body.text);
      return ok({ messageId: u.messageId, updateId: u.updateId });
    })
    .on('DELETE', '/v1/messages/:messageId', async (r) => {
      const me = await auth(r);
      const id = messageIdOf(r);
      changesAllowed(me.userId);
      const u = await d.changes.delete(me, id);
      return ok({ messageId: u.messageId, updateId: u.updateId });
    });
}
