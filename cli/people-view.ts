/** How `chatctl conversations` and `chatctl user` print what the node answers (pure). */
import type { Conversation, Profile } from '../client/index.ts';
import { UNREAD_CAP } from '../common/resources.ts';
import { formatTable } from './table.ts';

/** At most `n` characters of a message, on one line. */
function snippet(text: string, n = 40): string {
  const flat = text.replace(/\s+/g, ' ');
  const cps = [...flat];
  return cps.length > n ? `${cps.slice(0, n - 1).join('')}…` : flat;
}

/** One row per conversation: its id, who it is with, unread count (`1000+` at the cap), the last message. */
export function conversationTable(conversations: readonly Conversation[]): string[] {
  return formatTable(
    ['conversation', 'with', 'unread', 'last'],
    conversations.map((c) => [
      c.conversation,
      c.kind === 'group' ? `#${c.group?.name || c.group?.groupId}` : `@${c.peer}`,
      c.unread >= UNREAD_CAP ? `${UNREAD_CAP}+` : c.unread,
      c.lastMessage === null
        ? ''
        : c.lastMessage.deleted
          ? `${c.lastMessage.from}: (deleted)`
          : `${c.lastMessage.from}: ${snippet(c.lastMessage.text)}`,
    ]),
  );
}

export function profileTable(profiles: readonly Profile[]): string[] {
  return formatTable(
    ['user id', 'username', 'display name', 'created'],
    profiles.map((p) => [p.userId, p.username, p.displayName, new Date(p.createdAt).toISOString()]),
  );
}
