/**
 * Sends push notifications off the delivery path: a bounded queue, a few concurrent sends, and
 * exponential backoff with jitter between attempts. When the queue is full the oldest waiting
 * notification is dropped (and counted): a push is a hint, the message itself is already durable.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.ts';
import type { PushNotification, PushProvider } from '../backends/types.ts';
import type { Metrics } from '../metrics.ts';

interface Job {
  notification: PushNotification;
  attempt: number;
}

export interface PushDispatcherOptions {
  provider: PushProvider;
  log: Logger;
  metrics: Metrics;
  maxAttempts: number;
  queueSize: number;
  /** Sends in flight at once. Default 8. */
  concurrency?: number;
  /** First retry delay; doubles each attempt up to 30 s. Default 200 ms. */
  baseDelayMs?: number;
}

export class PushDispatcher {
  private readonly options: Required<PushDispatcherOptions>;
  private readonly queue: Job[] = [];
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: PushDispatcherOptions) {
    this.options = { concurrency: 8, baseDelayMs: 200, ...options };
  }

  get provider(): string {
    return this.options.provider.name;
  }

  enqueue(notification: PushNotification): void {
    this.push({ notification, attempt: 1 });
  }

  private push(job: Job): void {
    if (this.closed) return;
    if (this.queue.length >= this.options.queueSize) {
      this.queue.shift();
      this.options.metrics.push.inc({ outcome: 'dropped' });
    }
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.inFlight++;
      void this.attempt(job).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.inFlight === 0 && this.queue.length === 0 && this.retryTimers.size === 0) this.notifyIdle();
      });
    }
  }

  private async attempt(job: Job): Promise<void> {
    try {
      await this.options.provider.send(job.notification);
      this.options.metrics.push.inc({ outcome: 'sent' });
    } catch (err) {
      if (job.attempt >= this.options.maxAttempts || this.closed) {
        this.options.metrics.push.inc({ outcome: 'dropped' });
        this.options.log.warn({ err: errorMessage(err), attempts: job.attempt }, 'push notification dropped');
        return;
      }
      this.options.metrics.push.inc({ outcome: 'retried' });
      const delay =
        Math.min(30_000, this.options.baseDelayMs * 2 ** (job.attempt - 1)) * (0.5 + Math.random() / 2);
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.push({ notification: job.notification, attempt: job.attempt + 1 });
      }, delay);
      timer.unref();
      this.retryTimers.add(timer);
    }
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when nothing is queued, in flight or waiting for a retry (tests, graceful shutdown). */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0 && this.retryTimers.size === 0)
      return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.queue.length = 0;
    this.notifyIdle();
  }
}
