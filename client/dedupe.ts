/** The message ids a client has already shown, so at-least-once delivery reaches the app exactly once. */

/**
 * A bounded set of ids, least recently seen evicted first. Bounded because a long-lived client sees
 * an unbounded number of messages; repeats come close together (a live delivery and the sync after a
 * reconnect), so recent ids are the ones worth keeping.
 */
export class Dedupe {
  readonly capacity: number;
  // A Map iterates in insertion order: re-inserting on every hit keeps the oldest entry first.
  private readonly ids = new Map<string, true>();

  /** Default capacity 10000 ids. */
  constructor(capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('dedupe capacity must be a positive integer');
    this.capacity = capacity;
  }

  get size(): number {
    return this.ids.size;
  }

  /** Records `id`; true when it is new, false when it was already seen (which refreshes it). */
  add(id: string): boolean {
    const known = this.ids.delete(id);
    this.ids.set(id, true);
    if (!known && this.ids.size > this.capacity) {
      const oldest = this.ids.keys().next();
      if (!oldest.done) this.ids.delete(oldest.value);
    }
    return !known;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}
