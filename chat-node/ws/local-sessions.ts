/**
 * The devices connected to this node, by user, and who watches whose presence. Delivery serializes a
 * frame once and writes the same bytes to every device. A user with one connection here (the usual
 * case) is one map entry pointing at it; a Set is made only for a user's second connection.
 */
import type { PresenceInfo } from '../../common/protocol.ts';
import type { Envelope, UserEvent } from '../backends/types.ts';
import type { Metrics } from '../metrics.ts';
import type { Connection } from './connection.ts';

/** A user's connections on this node: the one, or a Set of several. */
type UserConnections = Connection | Set<Connection>;

const NONE: readonly Connection[] = [];

/** The connections of one entry, iterable either way (no copy). */
function each(entry: UserConnections | undefined): Iterable<Connection> {
  if (entry === undefined) return NONE;
  return entry instanceof Set ? entry : [entry];
}

export class LocalSessions {
  private readonly byUser = new Map<string, UserConnections>();
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
    const entry = this.byUser.get(c.userId);
    if (entry === undefined) this.byUser.set(c.userId, c);
    else if (entry instanceof Set) {
      if (entry.has(c)) return false;
      entry.add(c);
    } else if (entry === c) return false;
    else this.byUser.set(c.userId, new Set([entry, c]));
    this.count++;
    this.metrics.connections.set(this.count);
    return entry === undefined;
  }

  /** Removes a connection and its presence subscriptions. */
  remove(c: Connection): void {
    const entry = this.byUser.get(c.userId);
    let removed = false;
    if (entry === c) {
      this.byUser.delete(c.userId);
      removed = true;
    } else if (entry instanceof Set && entry.delete(c)) {
      removed = true;
      // Back to one connection: the entry points at it again.
      if (entry.size === 1) this.byUser.set(c.userId, entry.values().next().value!);
    }
    if (removed) {
      this.count--;
      this.metrics.connections.set(this.count);
    }
    if (c.watching === undefined) return;
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
    const entry = this.byUser.get(userId);
    let device = 0;
    for (const c of each(entry)) if (c.deviceId === deviceId && !c.closed) device++;
    return { user: entry === undefined ? 0 : entry instanceof Set ? entry.size : 1, device };
  }

  /** The user's connections on this node (a copy: callers may close them). */
  ofUser(userId: string): Connection[] {
    return [...each(this.byUser.get(userId))];
  }

  /** True if the device has another open connection on this node. */
  hasDevice(userId: string, deviceId: string, except: Connection): boolean {
    for (const c of each(this.byUser.get(userId)))
      if (c !== except && c.deviceId === deviceId && !c.closed) return true;
    return false;
  }

  all(): IterableIterator<Connection> {
    const entries = this.byUser.values();
    return (function* () {
      for (const entry of entries) {
        if (entry instanceof Set) yield* entry;
        else yield entry;
      }
    })();
  }

  watch(c: Connection, userIds: readonly string[]): void {
    const fresh: string[] = [];
    for (const userId of userIds) {
      if (c.watches(userId)) continue;
      c.watching ??= new Set();
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
      if (!c.watching?.delete(userId)) continue;
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
      const entry = this.byUser.get(userId);
      if (entry === undefined) continue;
      data ??= Buffer.from(JSON.stringify({ type: 'message', ...envelope.message }));
      const skip = userId === envelope.message.from ? envelope.fromDevice : undefined;
      if (entry instanceof Set) for (const c of entry) this.deliverTo(c, data, skip, now, envelope);
      else this.deliverTo(entry, data, skip, now, envelope);
    }
  }

  private deliverTo(c: Connection, data: Buffer, skip: string | undefined, now: number, e: Envelope): void {
    // A device gets the messages stored after its welcome; older ones come through sync. The
    // sending device has its own from `sent`.
    if (!c.welcomed || c.deviceId === skip) return;
    c.sendRaw(data, 'message');
    this.metrics.messagesOut.inc();
    this.metrics.deliveryLatency.observe(Math.max(0, now - e.message.ts) / 1000);
  }

  deliverEvent(event: UserEvent): void {
    const frame = event.frame;
    if (!frame) return;
    let data: string | undefined;
    for (const userId of event.userIds) {
      for (const c of each(this.byUser.get(userId))) {
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
