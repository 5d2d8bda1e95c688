/**
 * `read` with v1.1's receipts: the device's cursor moves (its user's other devices get `read`), the
 * user's read position moves (its unread counts fall at once, in the store every node reads), and
 * the other participants' devices get `receipt`.
 */
import type { MessageBus, Store } from '../backends/types.ts';
import type { Messaging, Sender } from './messaging.ts';
import { participantsOf } from './participants.ts';

/** Stores keep ids as signed 64-bit integers; a larger upTo means "everything". */
const MAX_ID = (1n << 63n) - 1n;

export class Receipts {
  private readonly store: Store;
  private readonly bus: MessageBus;
  private readonly messaging: Messaging;

  constructor(deps: { store: Store; bus: MessageBus; messaging: Messaging }) {
    this.store = deps.store;
    this.bus = deps.bus;
    this.messaging = deps.messaging;
  }

  /** Refused (`not_member`) for outsiders, like the v1 `read`. */
  async read(reader: Sender, conversation: string, upTo: bigint): Promise<void> {
    // A plain sender: the gateway passes its Connection, which must not travel in the bus event.
    await this.messaging.read({ userId: reader.userId, deviceId: reader.deviceId }, conversation, upTo);
    const position = upTo > MAX_ID ? MAX_ID : upTo;
    const { users } = await participantsOf(this.store, reader.userId, conversation);
    if (!(await this.store.setReadPosition(reader.userId, conversation, position))) return;
    const others = users.filter((u) => u !== reader.userId);
    if (others.length === 0) return;
    await this.bus.publishEvent({
      userIds: others,
      frame: { type: 'receipt', conversation, userId: reader.userId, upTo: position.toString() },
    });
  }
}
