/**
 * The pure part of `chatctl chat`, `send` and `history`: what a typed line means, how a message
 * prints, and which conversation an argument names.
 */

import type { Message, MessageTarget } from '../client/index.ts';
import { dmConversationId, groupConversationId, parseConversationId } from '../common/ids.ts';
import { UsageError } from './errors.ts';

/** What a line typed into `chatctl chat` asks for. */
export type ChatLine =
  | { kind: 'send'; text: string }
  | { kind: 'to'; userId: string }
  | { kind: 'group'; groupId: string }
  | { kind: 'history' }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'empty' }
  | { kind: 'unknown'; command: string };

export const CHAT_HELP = [
  'Type a line and Enter to send it. Commands:',
  '  /to <userId>       talk to a user from now on',
  '  /group <groupId>   talk to a group from now on',
  '  /history           the last 20 messages of the current conversation',
  '  /quit              leave (or Ctrl-D); /help shows this',
  '  //text             sends "/text"',
];

/** A line as typed: a message, or a `/command`. Whitespace around a message is kept inside it. */
export function parseChatLine(line: string): ChatLine {
  const trimmed = line.trim();
  if (trimmed === '') return { kind: 'empty' };
  if (trimmed.startsWith('//')) return { kind: 'send', text: line.replace(/^\s*\//, '') };
  if (!trimmed.startsWith('/')) return { kind: 'send', text: line.replace(/\r$/, '') };
  const [command = '', arg = '', ...rest] = trimmed.slice(1).split(/\s+/);
  const one = arg !== '' && rest.length === 0;
  switch (command) {
    case 'to':
      return one ? { kind: 'to', userId: arg } : { kind: 'unknown', command: 'to needs one user id' };
    case 'group':
      return one ? { kind: 'group', groupId: arg } : { kind: 'unknown', command: 'group needs one group id' };
    case 'history':
      return { kind: 'history' };
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'quit':
    case 'exit':
      return { kind: 'quit' };
    default:
      return { kind: 'unknown', command };
  }
}

/** The send target of `--to` / `--group`: exactly one, or none when `optional`. */
export function targetOf(
  options: { to?: string; group?: string },
  optional = false,
): MessageTarget | undefined {
  if (options.to !== undefined && options.group !== undefined) {
    throw new UsageError('pass either --to <userId> or --group <groupId>, not both');
  }
  if (options.to !== undefined) return { to: options.to };
  if (options.group !== undefined) return { group: options.group };
  if (optional) return undefined;
  throw new UsageError('say who gets the message: --to <userId> or --group <groupId>');
}

/** The conversation id of a target, seen from `selfId`. */
export function conversationOf(target: MessageTarget, selfId: string): string {
  return target.to !== undefined ? dmConversationId(selfId, target.to) : groupConversationId(target.group);
}

/** `user u1` / `group g1`, for prompts. */
export function describeTarget(target: MessageTarget | undefined): string {
  if (!target) return 'nobody yet (/to <userId> or /group <groupId>)';
  return target.to !== undefined ? `user ${target.to}` : `group ${target.group}`;
}

/**
 * The conversation a `history` argument names: a conversation id as `send` prints it (`dm:<a>:<b>`,
 * `g:<groupId>`), or `@<userId>` (the direct chat with that user) or `#<groupId>`.
 */
export function conversationArg(value: string, selfId: string): string {
  if (value.startsWith('@') && value.length > 1) return dmConversationId(selfId, value.slice(1));
  if (value.startsWith('#') && value.length > 1) return groupConversationId(value.slice(1));
  if (parseConversationId(value)) return value;
  throw new UsageError(
    `"${value}" is not a conversation: give dm:<userA>:<userB>, g:<groupId>, @<userId> or #<groupId> (chatctl send prints the id)`,
  );
}

/** `2025-01-02 10:11:12`, in UTC, so that output is the same wherever it runs. */
export function formatTime(ts: number): string {
  return new Date(ts)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
}

/** One message: `2025-01-02 10:11:12  [#g1] alice-id: hello`; `me` for the user's own. */
export function formatMessage(m: Message, selfId: string): string {
  const from = m.from === selfId ? 'me' : m.from;
  const where =
    m.group !== undefined ? `[#${m.group}] ` : m.to !== undefined && m.from === selfId ? `→ ${m.to} ` : '';
  const text = m.text.replace(/\r?\n/g, '\n    ');
  return `${formatTime(m.ts)}  ${where}${from}: ${text}`;
}
