/**
 * Sends waiting for their `sent`: kept across disconnects and written again with the same client id,
 * which the server uses to answer a repeat with the message it already stored.
 */
import type { ClientId, SendFrame, SentFrame } from '../common/protocol.ts';
import { ChatClientError } from './errors.ts';

export type IdentifiedSend = SendFrame & { id: ClientId };

interface Entry {
  frame: IdentifiedSend;
  /** Written on the current connection and not answered yet. */
  written: boolean;
  /** Times the server answered it with a transient error (`internal`, `unavailable`, `rate_limited`). */
  failures: number;
  /** Not written again before this time (ms since the epoch): its backoff after a failure. */
  notBefore: number;
  resolve(frame: SentFrame): void;
  reject(error: Error): void;
}

/**
 * A bounded queue: at most `capacity` sends wait, at most `window` of them are written and unanswered
 * at a time, so a burst (or a re-send after reconnecting) stays under the server's rate limit; and a
 * pause, for when the server said it was over that limit anyway.
 */
export class PendingSends {
  readonly capacity: number;
  readonly window: number;
  // Map order is insertion order: sends are written, and re-written, in the order they were made.
  private readonly entries = new Map<string, Entry>();
  private written = 0;
  private pauseTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(capacity: number, window: number) {
    this.capacity = capacity;
    this.window = window;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Sends written and not answered yet. */
  get inFlight(): number {
    return this.written;
  }

  /** Queues `frame`; the promise settles with its answer. Rejects `queue_full` or `duplicate_id` at once. */
  add(frame: IdentifiedSend): Promise<SentFrame> {
    const key = String(frame.id);
    if (this.entries.has(key)) {
      return Promise.reject(
        new ChatClientError('duplicate_id', `a send with id ${key} is already waiting`, {
          frameId: frame.id,
        }),
      );
    }
    if (this.entries.size >= this.capacity) {
      return Promise.reject(
        new ChatClientError('queue_full', `${this.capacity} sends are already waiting for their answer`, {
          frameId: frame.id,
        }),
      );
    }
    return new Promise<SentFrame>((resolve, reject) => {
      this.entries.set(key, { frame, written: false, failures: 0, notBefore: 0, resolve, reject });
    });
  }

  get paused(): boolean {
    return this.pauseTimer !== undefined;
  }

  /** Nothing is writable for `ms`; then `resumed` is called. */
  pause(ms: number, resumed: () => void): void {
    this.resume();
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = undefined;
      resumed();
    }, ms);
  }

  /** Ends a pause now, without calling its `resumed`. */
  resume(): void {
    clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
  }

  /**
   * The frames to write now, in order, counted as written; as many as the window has room for. A send
   * still in its backoff (see `retry`) waits, however often this is called.
   */
  takeWritable(now = Date.now()): IdentifiedSend[] {
    const out: IdentifiedSend[] = [];
    if (this.paused) return out;
    for (const entry of this.entries.values()) {
      if (this.written >= this.window) break;
      if (entry.written || entry.notBefore > now) continue;
      entry.written = true;
      this.written++;
      out.push(entry.frame);
    }
    return out;
  }

  /** When the next send in its backoff may go out (ms since the epoch), or undefined if none waits. */
  nextDue(): number | undefined {
    let due: number | undefined;
    for (const e of this.entries.values())
      if (!e.written && e.notBefore > 0 && (due === undefined || e.notBefore < due)) due = e.notBefore;
    return due;
  }

  /** Counts every written send as unwritten: the connection it went out on may have lost it. */
  rewind(): void {
    for (const entry of this.entries.values()) entry.written = false;
    this.written = 0;
  }

  /**
   * Resolves the send `frame.id` answers and returns it; undefined when no send waits for that id (a
   * repeat's answer).
   */
  resolve(frame: SentFrame): IdentifiedSend | undefined {
    const entry = this.remove(frame.id);
    entry?.resolve(frame);
    return entry?.frame;
  }

  /**
   * The server could not take the send for now: it becomes unwritten, to go out again at the first
   * flush after `backoffMs(failures)`. Returns its failure count, or undefined when none waits for
   * `id` or it has failed `maxFailures` times already (then the caller rejects it).
   */
  retry(
    id: ClientId,
    maxFailures: number,
    backoffMs: (failures: number) => number,
    now = Date.now(),
  ): number | undefined {
    const entry = this.entries.get(String(id));
    if (!entry || entry.failures >= maxFailures) return undefined;
    entry.failures++;
    entry.notBefore = now + backoffMs(entry.failures);
    if (entry.written) {
      entry.written = false;
      this.written--;
    }
    return entry.failures;
  }

  /** Rejects the send with `id`; false when none waits for it. */
  reject(id: ClientId, error: Error): boolean {
    const entry = this.remove(id);
    entry?.reject(error);
    return entry !== undefined;
  }

  /** Rejects every send and ends any pause. */
  rejectAll(error: Error): void {
    this.resume();
    const entries = [...this.entries.values()];
    this.entries.clear();
    this.written = 0;
    for (const entry of entries) entry.reject(error);
  }

  private remove(id: ClientId | undefined): Entry | undefined {
    if (id === undefined) return undefined;
    const key = String(id);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.written) this.written--;
    return entry;
  }
}
