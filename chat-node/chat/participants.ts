/** Who takes part in a conversation, refused for users outside it (the rule every v1.1 read follows). */
import { ChatError } from '../../common/errors.ts';
import { parseConversationId } from '../../common/ids.ts';
import type { GroupRecord, Store } from '../backends/types.ts';

export interface Participants {
  conversation: string;
  kind: 'dm' | 'group';
  /** Every participant, the caller included (a dm with oneself has one). */
  users: string[];
  group?: GroupRecord;
}

/** The conversation's participants if `userId` is one; `not_member` otherwise, `bad_request` for a bad id. */
export async function participantsOf(
  store: Store,
  userId: string,
  conversation: string,
): Promise<Participants> {
  const c = parseConversationId(conversation);
  if (!c) throw new ChatError('bad_request', 'conversation must be dm:<a>:<b> (sorted) or g:<groupId>');
  if (c.kind === 'dm') {
    if (c.a !== userId && c.b !== userId)
      throw new ChatError('not_member', 'you are not in that conversation');
    return { conversation, kind: 'dm', users: c.a === c.b ? [c.a] : [c.a, c.b] };
  }
  const group = await store.group(c.groupId);
  if (!group?.members.includes(userId))
    throw new ChatError('not_member', 'you are not a member of that group');
  return { conversation, kind: 'group', users: group.members, group };
}

/** Compares strings by code point (JavaScript's `<` compares UTF-16 code units). */
export function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
