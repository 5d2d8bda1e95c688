/** Read cursors moved while disconnected, kept to be sent on the next connection. */

/**
 * The highest `upTo` per conversation, at most `capacity` conversations (the oldest forgotten first):
 * a cursor only moves forward, so the last one says everything the earlier ones did.
 */
export class ReadCursors {
  readonly capacity: number;
  private readonly cursors = new Map<string, bigint>();

  /** Default capacity 1000 conversations. */
  constructor(capacity = 1000) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.cursors.size;
  }

  remember(conversation: string, upTo: bigint): void {
    const known = this.cursors.get(conversation);
    if (known !== undefined && known >= upTo) return;
    this.cursors.delete(conversation);
    if (this.cursors.size >= this.capacity) {
      const oldest = this.cursors.keys().next();
      if (!oldest.done) this.cursors.delete(oldest.value);
    }
    this.cursors.set(conversation, upTo);
  }

  /** Every remembered cursor, oldest first, forgetting them. */
  drain(): [conversation: string, upTo: bigint][] {
    const all = [...this.cursors];
    this.cursors.clear();
    return all;
  }
}
