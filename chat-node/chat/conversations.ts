/**
 * The conversation list, one conversation and its receipts: built from the store's conversation
 * entries (kept up to date as messages, reads and changes are written), never from history.
 */
import { ChatError, errorMessage } from '../../common/errors.ts';
import { parseConversationId, parseMessageId } from '../../common/ids.ts';
import type { Message } from '../../common/protocol.ts';
import { type Conversation, type Receipt, UNREAD_CAP } from '../../common/resources.ts';
import type { ConversationEntry, MessageBus, Store } from '../backends/types.ts';
import { participantsOf } from './participants.ts';

/** How long a read waits for the store writer to catch up (as sync and history do). */
const SETTLE_TIMEOUT_MS = 5000;

export class Conversations {
  private readonly store: Store;
  private readonly bus: MessageBus;

  constructor(deps: { store: Store; bus: MessageBus }) {
    this.store = deps.store;
    this.bus = deps.bus;
  }

  /**
   * Entries are written with the messages: a list asked right after a `sent` must show that message,
   * so it waits (bounded) for the store writer, like sync and history; else `internal`, to retry.
   */
  private async caughtUp(): Promise<void> {
    try {
      await this.bus.settled(SETTLE_TIMEOUT_MS);
    } catch (err) {
      throw new ChatError('internal', `conversations are not up to date yet, retry: ${errorMessage(err)}`);
    }
  }

  async list(
    userId: string,
    before: bigint | undefined,
    limit: number,
  ): Promise<{ conversations: Conversation[]; more: boolean }> {
    await this.caughtUp();
    const { entries, more } = await this.store.conversations(userId, before, limit);
    return { conversations: await this.shape(userId, entries), more };
  }

  /** One conversation of the caller; `not_member` for one it is not in. */
  async get(userId: string, conversation: string): Promise<Conversation> {
    await participantsOf(this.store, userId, conversation);
    await this.caughtUp();
    const entry = (await this.store.conversationEntry(userId, conversation)) ?? {
      conversation,
      activityId: 0n,
      lastMessageId: 0n,
      readUpTo: 0n,
      unread: 0,
    };
    const [shaped] = await this.shape(userId, [entry]);
    return shaped!;
  }

  /** Every participant's read position; `not_member` for outsiders. */
  async receipts(userId: string, conversation: string): Promise<Receipt[]> {
    const p = await participantsOf(this.store, userId, conversation);
    const positions = await this.store.readPositions(conversation, p.users);
    return p.users.map((u) => ({ userId: u, upTo: (positions.get(u) ?? 0n).toString() }));
  }

  private async shape(userId: string, entries: ConversationEntry[]): Promise<Conversation[]> {
    const refs = entries
      .filter((e) => e.lastMessageId > 0n && e.lastMessage === undefined)
      .map((e) => ({ conversation: e.conversation, messageId: e.lastMessageId }));
    const groupIds = new Set<string>();
    for (const e of entries) {
      const c = parseConversationId(e.conversation);
      if (c?.kind === 'group') groupIds.add(c.groupId);
    }
    const [messages, groups] = await Promise.all([
      refs.length > 0 ? this.store.messagesByIds(refs) : new Map<string, Message>(),
      Promise.all([...groupIds].map((g) => this.store.group(g))),
    ]);
    const names = new Map(groups.filter((g) => g !== undefined).map((g) => [g.groupId, g.name]));
    return entries.map((e) => {
      const c = parseConversationId(e.conversation);
      const out: Conversation = {
        conversation: e.conversation,
        kind: c?.kind === 'group' ? 'group' : 'dm',
        lastMessage:
          e.lastMessageId > 0n ? (e.lastMessage ?? messages.get(e.lastMessageId.toString()) ?? null) : null,
        readUpTo: e.readUpTo.toString(),
        unread: Math.min(e.unread, UNREAD_CAP),
        activityId: e.activityId.toString(),
      };
      if (c?.kind === 'dm') out.peer = c.a === userId ? c.b : c.a;
      if (c?.kind === 'group') out.group = { groupId: c.groupId, name: names.get(c.groupId) ?? '' };
      return out;
    });
  }
}

/** `before` of the list: an activityId. */
export function parseBefore(value: string | null): bigint | undefined {
  if (value === null || value === '') return undefined;
  const id = parseMessageId(value, 'before');
  if (id === 0n) throw new ChatError('bad_request', 'before must be a positive id');
  return id;
}
