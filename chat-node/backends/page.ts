/**
 * Pages of messages bounded by bytes as well as by count, for both stores: a store stops reading
 * rows once the page is full, so one request never reads (or holds) more than about one frame.
 */
import { MAX_FRAME_BYTES, type Message } from '../../common/protocol.ts';

/** Bytes of messages in one page: a frame, less room for the answer's own fields. */
export const PAGE_MAX_BYTES = MAX_FRAME_BYTES - 4096;

/** Characters JSON escapes: each takes at most 6 bytes (`\u001f`) for its 1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what JSON escapes.
const ESCAPED = /["\\\u0000-\u001f]/g;

/**
 * Bytes a message takes in a JSON answer (its JSON and a comma), or slightly more: the text is
 * measured without serializing it (a 400 KB text costs a scan, not a copy), counting every escaped
 * character at its largest form.
 */
export function wireBytes(m: Message): number {
  const escaped = m.text.match(ESCAPED)?.length ?? 0;
  return Buffer.byteLength(m.text) + 5 * escaped + Buffer.byteLength(JSON.stringify({ ...m, text: '' })) + 1;
}

/**
 * Collects messages into a page in the order given. `add` answers false once the page is full: it
 * holds `limit` messages, or the next one would pass `maxBytes` (the first one always fits, so a
 * page is never empty while messages remain). Reading one message past the page tells `more`.
 */
export class PageBuilder {
  readonly messages: Message[] = [];
  more = false;
  bytes = 0;
  private readonly limit: number;
  private readonly maxBytes: number;

  constructor(limit: number, maxBytes: number = PAGE_MAX_BYTES) {
    this.limit = limit;
    this.maxBytes = maxBytes;
  }

  /** Adds `m` if it fits; false (and `more`) once the page is full. */
  add(m: Message): boolean {
    if (this.messages.length >= this.limit) {
      this.more = true;
      return false;
    }
    const size = wireBytes(m);
    if (this.messages.length > 0 && this.bytes + size > this.maxBytes) {
      this.more = true;
      return false;
    }
    this.messages.push(m);
    this.bytes += size;
    return true;
  }

  /** Bytes still free. */
  get room(): number {
    return Math.max(0, this.maxBytes - this.bytes);
  }

  get full(): boolean {
    return this.more;
  }
}
