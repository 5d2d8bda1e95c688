/**
 * Whether a well-signed token may still be used: its account exists and it was issued after the
 * last revocation of its device or of every device of its user (logout, password change). Checked at
 * each WebSocket handshake and HTTP request, never per frame, from a cache of `cacheMs`; a revocation
 * is written to the store (shared by every node of a cluster) and announced on the bus, so every node
 * forgets its cached answer and closes the connections of revoked tokens at once. A user deleted
 * from the store directly is refused within `cacheMs`.
 *
 * When the store cannot answer (a Cassandra outage), the last answer it gave is used for up to
 * `STALE_IF_ERROR_MS`, so signed-in users keep sending through JetStream while the store is away;
 * a revocation announced meanwhile still drops it (`forget`), and a token never seen is refused.
 */
import type { MessageBus, Store } from '../backends/types.ts';
import type { TokenClaims } from './tokens.ts';

/** Users whose answers are cached; a full cache starts over (it is an optimization, not state). */
const CACHE_MAX_USERS = 100_000;
/**
 * Devices cached per user: a client names its device at login, so one account could otherwise fill
 * the cache with devices; past this many, that user's devices start over (the others keep theirs).
 */
export const CACHE_MAX_DEVICES_PER_USER = 64;
/** How old the store's last answer may be to stand in for one it cannot give now. */
export const STALE_IF_ERROR_MS = 10 * 60_000;

interface Entry {
  /** undefined: no such user. */
  cutoff: number | undefined;
  /** Trusted until then; asked again after. */
  until: number;
  /** When the store gave this answer. */
  at: number;
}

/** One device's lookup: the one in progress or done, and the store's last answer. */
interface Slot {
  deviceId: string;
  pending?: Promise<Entry>;
  settled: boolean;
  last?: Entry;
}

export class TokenValidity {
  private readonly store: Store;
  private readonly bus: MessageBus;
  private readonly cacheMs: number;
  private readonly clock: () => number;
  /**
   * userId → cutoff lookups of its devices, done or in progress: the one device's slot (most users
   * connect one device to a node), or a Map by deviceId once a second one comes.
   */
  private readonly cache = new Map<string, Slot | Map<string, Slot>>();

  constructor(deps: { store: Store; bus: MessageBus; cacheMs: number; clock?: () => number }) {
    this.store = deps.store;
    this.bus = deps.bus;
    this.cacheMs = deps.cacheMs;
    this.clock = deps.clock ?? Date.now;
  }

  /** True if the token's account exists and the token was issued after its revocations. */
  async valid(claims: TokenClaims): Promise<boolean> {
    const { cutoff } = await this.lookup(claims.userId, claims.deviceId);
    return cutoff !== undefined && (claims.issuedAt ?? 0) > cutoff;
  }

  private lookup(userId: string, deviceId: string): Promise<Entry> {
    const now = this.clock();
    const hit = this.slot(userId, deviceId);
    if (hit) {
      const live = (hit.pending as Promise<Entry>).then((e) => (e.until > now ? e : undefined));
      return live.then((e) => e ?? this.fetch(userId, deviceId));
    }
    return this.fetch(userId, deviceId);
  }

  private slot(userId: string, deviceId: string): Slot | undefined {
    const entry = this.cache.get(userId);
    if (entry instanceof Map) return entry.get(deviceId);
    return entry?.deviceId === deviceId ? entry : undefined;
  }

  private setSlot(userId: string, slot: Slot): void {
    const entry = this.cache.get(userId);
    if (entry instanceof Map) {
      if (entry.size >= CACHE_MAX_DEVICES_PER_USER && !entry.has(slot.deviceId)) entry.clear();
      entry.set(slot.deviceId, slot);
    } else if (entry === undefined || entry.deviceId === slot.deviceId) {
      if (entry === undefined && this.cache.size >= CACHE_MAX_USERS) this.cache.clear();
      this.cache.set(userId, slot);
    } else
      this.cache.set(
        userId,
        new Map([
          [entry.deviceId, entry],
          [slot.deviceId, slot],
        ]),
      );
  }

  private deleteSlot(userId: string, slot: Slot): void {
    const entry = this.cache.get(userId);
    if (entry === slot) this.cache.delete(userId);
    else if (entry instanceof Map && entry.get(slot.deviceId) === slot) entry.delete(slot.deviceId);
  }

  private fetch(userId: string, deviceId: string): Promise<Entry> {
    const current = this.slot(userId, deviceId);
    // Only one lookup at a time per device: a request that finds one in progress waits for it.
    if (current?.pending && !current.settled) return current.pending;
    const last = current?.last;
    const slot: Slot = { deviceId, settled: false, last };
    const pending = this.store.tokenCutoff(userId, deviceId).then(
      (cutoff) => {
        const at = this.clock();
        const entry = { cutoff, until: at + this.cacheMs, at };
        slot.last = entry;
        slot.settled = true;
        return entry;
      },
      (err: unknown) => {
        slot.settled = true;
        const now = this.clock();
        // The store is away: its last answer stands in while it is young enough, and the store is
        // asked again after `cacheMs`. Without one, the failure is the answer (and not remembered).
        if (last && now - last.at <= STALE_IF_ERROR_MS) return { ...last, until: now + this.cacheMs };
        this.deleteSlot(userId, slot);
        throw err;
      },
    );
    slot.pending = pending;
    this.setSlot(userId, slot);
    return pending;
  }

  /**
   * Revokes the tokens of one device (or, without `deviceId`, of every device of the user) issued
   * up to now, on every node. Returns the cutoff: a token issued after it is valid.
   */
  async revoke(userId: string, deviceId: string | undefined): Promise<number> {
    const cutoff = this.clock();
    await this.store.revokeTokens(userId, deviceId, cutoff);
    this.forget(userId);
    await this.bus.publishEvent({
      userIds: [userId],
      revoked: deviceId === undefined ? { cutoff } : { deviceId, cutoff },
    });
    return cutoff;
  }

  /** Drops what is cached about a user (a revocation announced by any node). */
  forget(userId: string): void {
    this.cache.delete(userId);
  }
}
