/**
 * Editing and deleting messages: only the sender, of a message it can still send to (the rules of
 * `send`), not once deleted. A change gets an id from the message ids' Snowflake sequence, is stored
 * (the message, every copy, and an update row per participant for `sync`), then goes to every
 * connected device of every participant as `update`.
 */
import { ChatError, errorMessage } from '../../common/errors.ts';
import type { Message, Update } from '../../common/protocol.ts';
import { type Snowflake, snowflakeTime } from '../../common/snowflake.ts';
import { validateText } from '../../common/text.ts';
import type { MessageBus, Store } from '../backends/types.ts';
import type { Sender } from './messaging.ts';
import { participantsOf } from './participants.ts';

/** How long a change waits for the store writer when the message is not found at first. */
const SETTLE_TIMEOUT_MS = 5000;

export class MessageChanges {
  private readonly store: Store;
  private readonly bus: MessageBus;
  private readonly ids: Snowflake;

  constructor(deps: { store: Store; bus: MessageBus; ids: Snowflake }) {
    this.store = deps.store;
    this.bus = deps.bus;
    this.ids = deps.ids;
  }

  /** Replaces the text (validated like a send's); resolves once the change is durable. */
  edit(who: Sender, messageId: bigint, text: unknown): Promise<Update> {
    const valid = validateText(text);
    return this.change(who, messageId, { text: valid });
  }

  delete(who: Sender, messageId: bigint): Promise<Update> {
    return this.change(who, messageId, { deleted: true });
  }

  private async change(
    who: Sender,
    messageId: bigint,
    what: { text?: string; deleted?: true },
  ): Promise<Update> {
    const message = await this.find(messageId);
    // Outsiders learn nothing of the conversation, not even that the message exists.
    let participants: string[];
    try {
      participants = message
        ? (await participantsOf(this.store, who.userId, message.conversation)).users
        : [];
    } catch (err) {
      if (err instanceof ChatError && err.code === 'not_member' && message?.from !== who.userId) {
        throw new ChatError('not_found', 'no such message');
      }
      throw err; // the sender left the group: not_member, as its send would be
    }
    if (!message) throw new ChatError('not_found', 'no such message');
    if (message.from !== who.userId) throw new ChatError('forbidden', 'only the sender can change a message');
    if (message.deleted) throw new ChatError('not_found', 'the message was deleted');
    const id = this.ids.next();
    const update: Update = {
      updateId: id.toString(),
      messageId: message.messageId,
      conversation: message.conversation,
      from: message.from,
      ...what,
      ts: snowflakeTime(id),
    };
    await this.store.saveUpdate(update, participants);
    await this.bus.publishEvent({ userIds: participants, frame: { type: 'update', ...update } });
    return update;
  }

  /** The message, waiting once for the store writer (an acknowledged message may not be written yet). */
  private async find(messageId: bigint): Promise<Message | undefined> {
    const found = await this.store.messageById(messageId);
    if (found) return found;
    try {
      await this.bus.settled(SETTLE_TIMEOUT_MS);
    } catch (err) {
      throw new ChatError('internal', `messages are not up to date yet, retry: ${errorMessage(err)}`);
    }
    return this.store.messageById(messageId);
  }
}
