/**
 * The embedded message bus: a message is durable once the store has committed it. Sends that arrive
 * while the store's writer commits are committed together in its next transaction (group commit),
 * so one fsync serves them all; then every local handler gets each message, in the order published.
 */
import type { Message } from '../../../common/protocol.ts';
import type { Envelope, MessageBus, Store, UserEvent } from '../types.ts';

interface Pending {
  envelope: Envelope;
  resolve: (m: Message) => void;
  reject: (err: unknown) => void;
}

/** Most envelopes committed in one transaction. */
const MAX_BATCH = 512;

export class EmbeddedBus implements MessageBus {
  readonly dedupAtPublish = true;
  private readonly store: Store;
  private readonly messageHandlers: ((e: Envelope) => void)[] = [];
  private readonly eventHandlers: ((e: UserEvent) => void)[] = [];
  private queue: Pending[] = [];
  private scheduled = false;
  /** The answers of the batches handed to the store, in order. */
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(store: Store) {
    this.store = store;
  }

  publish(envelope: Envelope): Promise<Message> {
    if (this.closed) return Promise.reject(new Error('message bus is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ envelope, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  /** Nothing to look up first: a resend is answered by the transaction that meets its key (flush). */
  async earlier(_dedupKey: string, _messageId: string): Promise<Message | undefined> {
    return undefined;
  }

  /** Sends are stored before they are acknowledged: nothing acknowledged is ever unwritten. */
  async settled(_timeoutMs: number): Promise<void> {}

  /**
   * Hands this turn's sends to the store at once, without waiting for the batches before them: the
   * store's writer commits what waits for it in one transaction, and in the order it was given.
   * Their answers and deliveries follow in the same order (`tail`).
   */
  private readonly flush = (): void => {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const saved = this.store.saveMessages(batch.map((p) => p.envelope));
      saved.catch(() => {});
      this.tail = this.tail.then(() => this.answer(batch, saved));
    }
  };

  private async answer(batch: Pending[], saved: Promise<readonly boolean[] | undefined>): Promise<void> {
    let inserted: readonly boolean[] | undefined;
    try {
      inserted = await saved;
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    for (const [i, p] of batch.entries()) {
      // A dedup key already stored (an earlier send, or one earlier in this batch) keeps its first
      // message: the store ignored this one, so it is answered with that and not delivered. A store
      // that says which it inserted is asked only about the others.
      const key = p.envelope.dedupKey;
      const stored =
        key && inserted?.[i] !== true
          ? await this.store.messageByDedupKey(key).catch(() => undefined)
          : undefined;
      if (stored && stored.messageId !== p.envelope.message.messageId) {
        p.resolve(stored);
        continue;
      }
      p.resolve(p.envelope.message);
      for (const h of this.messageHandlers) h(p.envelope);
    }
  }

  onMessage(handler: (envelope: Envelope) => void): void {
    this.messageHandlers.push(handler);
  }

  async publishEvent(event: UserEvent): Promise<void> {
    for (const h of this.eventHandlers) h(event);
  }

  onEvent(handler: (event: UserEvent) => void): void {
    this.eventHandlers.push(handler);
  }

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
