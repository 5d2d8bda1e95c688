/**
 * Leader election on a coordination.k8s.io/v1 Lease, so that of several operator replicas exactly
 * one acts:
 *
 *   follower ──lease absent or expired (renewTime + duration < now): take it──▶ leader
 *   leader ──renew every duration/3 (optimistic concurrency on resourceVersion)──▶ leader
 *   leader ──renewal refused, or none for 2/3 of the duration──▶ follower (stops acting at once)
 *
 * A leader steps down before its lease can expire for the others (client-go's renew deadline), and
 * every lease call has a time limit, so a hung request cannot keep a stale leader acting.
 *   leader ──stop(): hand the lease back (duration 1 s)──▶ a successor takes over at once
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ApiException, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

/** What leader election needs (least privilege: see rbac.ts). */
export const RBAC_RULES = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

/**
 * Lease times are MicroTime (six fractional digits); the client would send a Date as milliseconds,
 * which the API server refuses. A string in the right format goes through as it is.
 */
const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z') as unknown as Date;

export interface LeaderOptions {
  api: CoordinationV1Api;
  namespace: string;
  name?: string;
  leaseSeconds?: number;
  log: Logger;
  identity?: string;
  clock?: () => number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
}

/** A time read back from the server (a Date) in the format it accepts. */
const microTimeOf = (d: Date | undefined) => (d === undefined ? undefined : microTime(new Date(d).getTime()));

export class LeaderElector {
  readonly identity: string;
  private readonly api: CoordinationV1Api;
  private readonly namespace: string;
  private readonly name: string;
  private readonly leaseSeconds: number;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly onStartedLeading: (() => void) | undefined;
  private readonly onStoppedLeading: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenewal = 0;
  private busy = false;

  constructor(options: LeaderOptions) {
    this.api = options.api;
    this.namespace = options.namespace;
    this.name = options.name ?? 'chatplatform-operator';
    this.leaseSeconds = options.leaseSeconds ?? 15;
    this.log = options.log;
    this.clock = options.clock ?? Date.now;
    this.onStartedLeading = options.onStartedLeading;
    this.onStoppedLeading = options.onStoppedLeading;
    this.identity = options.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  /** Leading, and the last renewal is recent enough that nobody else can hold the lease yet. */
  get isLeader(): boolean {
    return this.leading && !this.pastRenewDeadline();
  }

  private pastRenewDeadline(): boolean {
    return this.clock() - this.lastRenewal > (this.leaseSeconds * 1000 * 2) / 3;
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(200, (this.leaseSeconds * 1000) / 3));
  }

  /** Stops campaigning; a leader hands the lease back so that a successor need not wait. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.identity) {
        lease.spec.leaseDurationSeconds = 1;
        lease.spec.renewTime = microTime(this.clock() - 2000);
        await this.api.replaceNamespacedLease({
          name: this.name,
          namespace: this.namespace,
          body: lease,
        });
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not hand the lease back; it will expire');
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.log.info({ identity: this.identity }, leading ? 'became the leader' : 'no longer the leader');
    if (leading) this.onStartedLeading?.();
    else this.onStoppedLeading?.();
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.setLeading(await withTimeout(this.tryAcquireOrRenew(), this.callTimeoutMs()));
    } catch (err) {
      // A leader that cannot renew in time must assume that someone else takes over.
      if (this.leading && this.pastRenewDeadline()) this.setLeading(false);
      this.log.debug({ err: errorMessage(err) }, 'lease update failed');
    } finally {
      this.busy = false;
    }
  }

  /** Half the lease, at least 1 s: a late answer is harmless (resourceVersion), a hung one is cut. */
  private callTimeoutMs(): number {
    return Math.max(1000, (this.leaseSeconds * 1000) / 2);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock();
    const lease = await this.read();
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseSeconds,
      renewTime: microTime(now),
    };
    if (!lease) {
      await this.api.createNamespacedLease({
        namespace: this.namespace,
        body: {
          metadata: { name: this.name },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        },
      });
      this.lastRenewal = now;
      return true;
    }
    const held = lease.spec?.holderIdentity;
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const expired = renewed + (lease.spec?.leaseDurationSeconds ?? 0) * 1000 < now;
    if (held && held !== this.identity && !expired) return false;
    const taking = held !== this.identity;
    lease.spec = {
      ...lease.spec,
      ...spec,
      acquireTime: taking ? microTime(now) : microTimeOf(lease.spec?.acquireTime),
      leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (taking ? 1 : 0),
    };
    // replace carries the resourceVersion read: a concurrent taker makes this fail with 409.
    await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: lease });
    this.lastRenewal = now;
    return true;
  }
}

/** `promise`, or a rejection after `ms` (the call itself goes on; its answer is ignored). */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
