/**
 * The devices connected to this node, by user, and who watches whose presence. Delivery serializes a
 * frame once and writes the same bytes to every device.
 */
import type { PresenceInfo } from '../../common/protocol.ts';
import type { Envelope, UserEvent } from '../backends/types.ts';
import type { Metrics } from '../metrics.ts';
import type { Connection } from './connection.ts';

export class LocalSessions {
  private readonly byUser = new Map<string, Set<Connection>>();
  private readonly watchers = new Map<string, Set<Connection>>();
  private readonly metrics: Metrics;
  private readonly clock: () => number;
  private count = 0;
  /**
   * Told when a user gains its first watcher on this node (true) or loses its last (false): the
   * presence backend then asks for that user's changes, or stops (services.ts wires it).
   */
  onWatched?: (userIds: string[], watched: boolean) => void;

  constructor(metrics: Metrics, clock: () => number = Date.now) {
    this.metrics = metrics;
    this.clock = clock;
  }

  get size(): number {
    return this.count;
  }

  /** Adds a connection; returns true if it is the user's first on this node. */
  add(c: Connection): boolean {
    let set = this.byUser.get(c.userId);
    const first = !set;
    if (!set) {
      set = new Set();
      this.byUser.set(c.userId, set);
    }
    set.add(c);
    this.count++;
    this.metrics.connections.set(this.count);
    return first;
  }

  /** Removes a connection and its presence subscriptions. */
  remove(c: Connection): void {
    const set = this.byUser.get(c.userId);
    if (set?.delete(c)) {
      this.count--;
      this.metrics.connections.set(this.count);
      if (set.size === 0) this.byUser.delete(c.userId);
    }
    const gone: string[] = [];
    for (const userId of c.watching) {
      const w = this.watchers.get(userId);
      w?.delete(c);
      if (w?.size === 0) {
        this.watchers.delete(userId);
        gone.push(userId);
      }
    }
    if (gone.length > 0) this.onWatched?.(gone, false);
  }

  /** Open connections of a user, and of one of its devices, on this node. */
  countOf(userId: string, deviceId: string): { user: number; device: number } {
    const set = this.byUser.get(userId);
    let device = 0;
    for (const c of set ?? []) if (c.deviceId === deviceId && !c.closed) device++;
    return { user: set?.size ?? 0, device };
  }

  /** The user's connections on this node (a copy: callers may close them). */
  ofUser(userId: string): Connection[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  /** True if the device has another open connection on this node. */
  hasDevice(userId: string, deviceId: string, except: Connection): boolean {
    for (const c of this.byUser.get(userId) ?? [])
      if (c !== except && c.deviceId === deviceId && !c.closed) return true;
    return false;
  }

  all(): IterableIterator<Connection> {
    const sets = this.byUser.values();
    return (function* () {
      for (const set of sets) yield* set;
    })();
  }

  watch(c: Connection, userIds: readonly string[]): void {
    const fresh: string[] = [];
    for (const userId of userIds) {
      if (c.watching.has(userId)) continue;
      c.watching.add(userId);
      let w = this.watchers.get(userId);
      if (!w) {
        w = new Set();
        this.watchers.set(userId, w);
        fresh.push(userId);
      }
      w.add(c);
    }
    if (fresh.length > 0) this.onWatched?.(fresh, true);
  }

  /** Stops watching (v1.1: a contact removed). */
  unwatch(c: Connection, userIds: readonly string[]): void {
    const gone: string[] = [];
    for (const userId of userIds) {
      if (!c.watching.delete(userId)) continue;
      const w = this.watchers.get(userId);
      w?.delete(c);
      if (w?.size === 0) {
        this.watchers.delete(userId);
        gone.push(userId);
      }
    }
    if (gone.length > 0) this.onWatched?.(gone, false);
  }

  deliver(envelope: Envelope): void {
    let data: Buffer | undefined;
    const now = this.clock();
    for (const userId of envelope.recipients) {
      const set = this.byUser.get(userId);
      if (!set) continue;
      data ??= Buffer.from(JSON.stringify({ type: 'message', ...envelope.message }));
      const skip = userId === envelope.message.from ? envelope.fromDevice : undefined;
      for (const c of set) {
        // A device gets the messages stored after its welcome; older ones come through sync. The
        // sending device has its own from `sent`.
        if (!c.welcomed || c.deviceId === skip) continue;
        c.sendRaw(data, 'message');
        this.metrics.messagesOut.inc();
        this.metrics.deliveryLatency.observe(Math.max(0, now - envelope.message.ts) / 1000);
      }
    }
  }

  deliverEvent(event: UserEvent): void {
    const frame = event.frame;
    if (!frame) return;
    let data: string | undefined;
    for (const userId of event.userIds) {
      for (const c of this.byUser.get(userId) ?? []) {
        if (
          !c.welcomed ||
          (event.exceptDevice &&
            c.userId === event.exceptDevice.userId &&
            c.deviceId === event.exceptDevice.deviceId)
        ) {
          continue;
        }
        data ??= JSON.stringify(frame);
        c.sendRaw(data, frame.type);
      }
    }
  }

  presenceChanged(p: PresenceInfo): void {
    const w = this.watchers.get(p.userId);
    if (!w) return;
    const data = JSON.stringify({ type: 'presence', ...p });
    for (const c of w) c.sendRaw(data, 'presence');
  }
}
