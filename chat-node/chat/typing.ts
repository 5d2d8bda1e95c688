/**
 * Typing: never stored, never pushed. A device's frames for one conversation closer than
 * TYPING_MIN_INTERVAL_MS are dropped without an error; the others go to the other participants'
 * devices with the time until which to show it.
 */
import { TYPING_MIN_INTERVAL_MS, TYPING_SHOWN_MS } from '../../common/protocol.ts';
import type { MessageBus, Store } from '../backends/types.ts';
import type { Sender } from './messaging.ts';
import { participantsOf } from './participants.ts';

/** Past this many remembered (device, conversation) pairs, the stale ones are forgotten. */
const SWEEP_AT = 10_000;

export class Typing {
  private readonly store: Store;
  private readonly bus: MessageBus;
  private readonly clock: () => number;
  /** When each `<user>/<device>/<conversation>` last typed (accepted frames only). */
  private readonly last = new Map<string, number>();

  constructor(deps: { store: Store; bus: MessageBus; clock?: () => number }) {
    this.store = deps.store;
    this.bus = deps.bus;
    this.clock = deps.clock ?? Date.now;
  }

  /** `not_member` for a conversation the user is not in; silently nothing when too frequent. */
  async typing(who: Sender, conversation: string): Promise<void> {
    const now = this.clock();
    const key = `${who.userId}/${who.deviceId}/${conversation}`;
    const previous = this.last.get(key);
    if (previous !== undefined && now - previous < TYPING_MIN_INTERVAL_MS) return;
    const { users } = await participantsOf(this.store, who.userId, conversation);
    this.remember(key, now);
    const others = users.filter((u) => u !== who.userId);
    if (others.length === 0) return;
    await this.bus.publishEvent({
      userIds: others,
      frame: { type: 'typing', conversation, userId: who.userId, untilMs: now + TYPING_SHOWN_MS },
    });
  }

  private remember(key: string, now: number): void {
    if (this.last.size >= SWEEP_AT) {
      for (const [k, at] of this.last) if (now - at >= TYPING_MIN_INTERVAL_MS) this.last.delete(k);
    }
    this.last.set(key, now);
  }
}
