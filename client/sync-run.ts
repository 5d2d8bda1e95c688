/**
 * One sync after a connection: `sync` pages from `since`, each next page from the highest id of the
 * last (message or update id: v1.1 orders them together), until the server says `more: false`.
 * Every message and change goes through the client's dedupe.
 */
import type { Message, SyncAnswerFrame, SyncFrame, Update } from '../common/protocol.ts';
import { parseId } from './message-ids.ts';

export interface SyncRunHooks {
  /** Writes a frame on the connection the run belongs to. */
  send(frame: SyncFrame): void;
  /** Takes one message; true when it was new to the client. */
  accept(message: Message): boolean;
  /** Takes one change (v1.1 `updates`); true when it was new to the client. */
  acceptUpdate(update: Update): boolean;
  /** The last page arrived; `fresh` counts the new messages of the whole run. */
  done(fresh: number): void;
  /** A page did not come within the time limit; the run is over. */
  timedOut(): void;
  /** The server broke the contract; the run ends as if done. */
  violation(message: string): void;
}

export class SyncRun {
  private since: bigint;
  private readonly limit: number;
  private readonly timeoutMs: number;
  private readonly hooks: SyncRunHooks;
  private fresh = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private over = false;
  private complete = false;
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** The id of the page request in flight; answers carry no id, errors do. */
  private pageId: string | undefined;
  private pages = 0;

  constructor(since: bigint, options: { limit: number; timeoutMs: number }, hooks: SyncRunHooks) {
    this.since = since;
    this.limit = options.limit;
    this.timeoutMs = options.timeoutMs;
    this.hooks = hooks;
  }

  /** Asks for the first page. */
  start(): void {
    this.request();
  }

  /** Takes the answer to the page asked for. */
  page(frame: SyncAnswerFrame): void {
    if (this.over) return;
    clearTimeout(this.timer);
    let highest = this.since;
    for (const m of Array.isArray(frame.messages) ? frame.messages : []) {
      const id = parseId(m?.messageId);
      if (id !== undefined && id > highest) highest = id;
      if (this.hooks.accept(m)) this.fresh++;
      // A listener of the message may have closed the client.
      if (this.over) return;
    }
    for (const u of Array.isArray(frame.updates) ? frame.updates : []) {
      const id = parseId(u?.updateId);
      if (id !== undefined && id > highest) highest = id;
      if (this.hooks.acceptUpdate(u)) this.fresh++;
      if (this.over) return;
    }
    if (frame.more === true) {
      if (highest > this.since) {
        this.since = highest;
        this.request();
        return;
      }
      // Asking again from the same id would loop forever.
      this.hooks.violation('the server answered a sync with more: true and no newer message');
    }
    this.stop();
    this.complete = true;
    this.hooks.done(this.fresh);
  }

  /** Where the run would ask from next: the start, or the highest id of the last page. */
  get position(): bigint {
    return this.since;
  }

  /** True once the last page came (`more` false); a run stopped before that is not complete. */
  get completed(): boolean {
    return this.complete;
  }

  /** Ends the run: no more pages asked for, answers ignored, no timer left. */
  stop(): void {
    this.over = true;
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    this.timer = undefined;
  }

  /** True if `frameId` is the id of this run's page request (an `error` answer to it). */
  owns(frameId: unknown): boolean {
    return !this.over && frameId === this.pageId;
  }

  /**
   * The node could not answer the page (e.g. `internal` while its store catches up): asks for the
   * same page again after `delayMs`, within the run's time limit, which keeps running.
   */
  retryLater(delayMs: number): void {
    if (this.over) return;
    this.pageId = undefined;
    this.retry = setTimeout(() => {
      if (!this.over) this.send();
    }, delayMs);
  }

  private request(): void {
    this.timer = setTimeout(() => {
      this.stop();
      this.hooks.timedOut();
    }, this.timeoutMs);
    this.send();
  }

  private send(): void {
    this.pageId = `sync.${++this.pages}`;
    this.hooks.send({ type: 'sync', id: this.pageId, since: this.since.toString(), limit: this.limit });
  }
}
