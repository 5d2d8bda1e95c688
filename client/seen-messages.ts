/** What a client has seen: the highest message id, to resume from, and the recent ids, to drop repeats. */
import { Dedupe } from './dedupe.ts';
import { parseId } from './message-ids.ts';

export type Seen = 'new' | 'repeat' | 'invalid';

export class SeenMessages {
  private readonly recent: Dedupe;
  private highest: bigint;

  /** Remembers up to `capacity` recent ids; `max` is the highest id seen before (0n for none). */
  constructor(capacity: number, max: bigint) {
    this.recent = new Dedupe(capacity);
    this.highest = max;
  }

  /** The highest id seen, repeats included: a repeat may be the first sight since a restart. */
  get max(): bigint {
    return this.highest;
  }

  /** Records one message id: `new` the first time, `repeat` after, `invalid` for what is not an id. */
  record(messageId: unknown): Seen {
    const id = parseId(messageId);
    if (id === undefined) return 'invalid';
    if (id > this.highest) this.highest = id;
    // Canonical decimal, so that a padded or odd spelling of an id cannot slip past the dedupe.
    return this.recent.add(id.toString()) ? 'new' : 'repeat';
  }
}
