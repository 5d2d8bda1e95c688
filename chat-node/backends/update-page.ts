/** Pages of message changes (sync's `updates`), bounded by count and bytes like message pages. */
import type { Update } from '../../common/protocol.ts';

/** Bytes an update takes in a sync answer (its JSON and a comma). */
export function updateBytes(u: Update): number {
  return Buffer.byteLength(JSON.stringify(u)) + 1;
}

/** Collects updates in the order given: at most `limit` and `maxBytes` (the first always fits). */
export class UpdatePage {
  readonly updates: Update[] = [];
  more = false;
  private bytes = 0;
  private readonly limit: number;
  private readonly maxBytes: number;

  constructor(limit: number, maxBytes: number) {
    this.limit = limit;
    this.maxBytes = maxBytes;
  }

  /** Adds `u` if it fits; false (and `more`) once the page is full. */
  add(u: Update): boolean {
    const size = updateBytes(u);
    if (this.updates.length >= this.limit || (this.updates.length > 0 && this.bytes + size > this.maxBytes)) {
      this.more = true;
      return false;
    }
    this.updates.push(u);
    this.bytes += size;
    return true;
  }
}
