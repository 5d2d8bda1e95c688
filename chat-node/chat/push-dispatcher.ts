/**
 * Sends push notifications off the delivery path: a bounded queue, a few concurrent sends, and
 * exponential backoff with jitter between attempts. When the queue is full the oldest waiting job is
 * dropped (and counted): a push is a hint, the message itself is already durable.
 *
 * Each notification goes to the node-wide provider (the webhook, or the log) and, when this node has
 * credentials for a device push service, to every device of the user that registered a token with
 * one (PROTOCOL.md "Devices and push"): one job looks the registrations up, then one job per device.
 * A token that its service reports as no longer valid is removed from the store.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.ts';
import type {
  DevicePushProvider,
  PushNotification,
  PushProvider,
  PushRegistration,
  PushService,
  PushTokenStore,
} from '../backends/types.ts';
import type { Metrics } from '../metrics.ts';

/** Registrations read per user: a user with more devices than this gets pushes on this many. */
export const MAX_PUSH_DEVICES = 100;

/** Where a job goes: the node-wide provider, the user's registrations (to look up), or one device. */
type Target = { kind: 'node' } | { kind: 'devices' } | { kind: 'device'; registration: PushRegistration };

interface Job {
  notification: PushNotification;
  target: Target;
  attempt: number;
}

export interface PushDispatcherOptions {
  provider: PushProvider;
  /** The device push services this node has credentials for; closed with the dispatcher. */
  devicePush?: Partial<Record<PushService, DevicePushProvider>>;
  /** Where the devices' registrations are (needed with `devicePush`). */
  tokens?: PushTokenStore;
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
  private readonly options: Required<Omit<PushDispatcherOptions, 'tokens'>> & { tokens?: PushTokenStore };
  private readonly queue: Job[] = [];
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: PushDispatcherOptions) {
    this.options = { concurrency: 8, baseDelayMs: 200, devicePush: {}, ...options };
  }

  get provider(): string {
    return this.options.provider.name;
  }

  /** The device push services this node can deliver through (those a device may register with). */
  services(): PushService[] {
    return Object.keys(this.options.devicePush) as PushService[];
  }

  enqueue(notification: PushNotification): void {
    this.push({ notification, target: { kind: 'node' }, attempt: 1 });
    if (this.options.tokens && this.services().length > 0) {
      this.push({ notification, target: { kind: 'devices' }, attempt: 1 });
    }
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
      await this.run(job);
    } catch (err) {
      if (job.attempt >= this.options.maxAttempts || this.closed) {
        this.options.metrics.push.inc({ outcome: 'dropped' });
        this.options.log.warn(
          { err: errorMessage(err), attempts: job.attempt, to: describe(job.target) },
          'push notification dropped',
        );
        return;
      }
      this.options.metrics.push.inc({ outcome: 'retried' });
      const delay =
        Math.min(30_000, this.options.baseDelayMs * 2 ** (job.attempt - 1)) * (0.5 + Math.random() / 2);
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.push({ ...job, attempt: job.attempt + 1 });
      }, delay);
      timer.unref();
      this.retryTimers.add(timer);
    }
  }

  private async run({ notification: n, target }: Job): Promise<void> {
    if (target.kind === 'node') {
      await this.options.provider.send(n);
      this.options.metrics.push.inc({ outcome: 'sent' });
      return;
    }
    const tokens = this.options.tokens!;
    if (target.kind === 'devices') {
      for (const registration of await tokens.pushTokens(n.userId, MAX_PUSH_DEVICES)) {
        if (this.options.devicePush[registration.provider]) {
          this.push({ notification: n, target: { kind: 'device', registration }, attempt: 1 });
        }
      }
      return;
    }
    const r = target.registration;
    const provider = this.options.devicePush[r.provider];
    if (!provider) return;
    if ((await provider.send(r.token, n)) === 'sent') {
      this.options.metrics.push.inc({ outcome: 'sent' });
      return;
    }
    await tokens.removePushToken(r.userId, r.deviceId, r.token);
    this.options.metrics.push.inc({ outcome: 'removed' });
    this.options.log.info(
      { userId: r.userId, deviceId: r.deviceId, provider: r.provider },
      'push token no longer valid; removed',
    );
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
    for (const p of Object.values(this.options.devicePush)) void p.close().catch(() => {});
    this.notifyIdle();
  }
}

/** For logs: where a job was going, without its token. */
function describe(t: Target): string {
  if (t.kind === 'device')
    return `${t.registration.provider} ${t.registration.userId}/${t.registration.deviceId}`;
  return t.kind;
}
