/**
 * Whether a well-signed token may still be used: its account exists and it was issued after the
 * last revocation of its device or of every device of its user (logout, password change). Checked at
 * each WebSocket handshake and HTTP request, never per frame, from a cache of `cacheMs`; a revocation
 * is written to the store (shared by every node of a cluster) and announced on the bus, so every node
 * forgets its cached answer and closes the connections of revoked tokens at once. A user deleted
 * from the store directly is refused within `cacheMs`.
 */
import type { MessageBus, Store } from '../backends/types.ts';
import type { TokenClaims } from './tokens.ts';

/** Users whose answers are cached; a full cache starts over (it is an optimization, not state). */
const CACHE_MAX_USERS = 100_000;

interface Entry {
  /** undefined: no such user. */
  cutoff: number | undefined;
  until: number;
}

export class TokenValidity {
  private readonly store: Store;
  private readonly bus: MessageBus;
  private readonly cacheMs: number;
  private readonly clock: () => number;
  /** userId → deviceId → cutoff lookups, done or in progress. */
  private readonly cache = new Map<string, Map<string, Promise<Entry>>>();

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
    const devices = this.cache.get(userId);
    const hit = devices?.get(deviceId);
    if (hit) {
      const live = hit.then((e) => (e.until > now ? e : undefined));
      return live.then((e) => e ?? this.fetch(userId, deviceId));
    }
    return this.fetch(userId, deviceId);
  }

  private fetch(userId: string, deviceId: string): Promise<Entry> {
    let devices = this.cache.get(userId);
    if (!devices) {
      if (this.cache.size >= CACHE_MAX_USERS) this.cache.clear();
      devices = new Map();
      this.cache.set(userId, devices);
    }
    const p = this.store
      .tokenCutoff(userId, deviceId)
      .then((cutoff) => ({ cutoff, until: this.clock() + this.cacheMs }));
    devices.set(deviceId, p);
    // A failed lookup is not remembered: the next request asks the store again.
    p.catch(() => {
      if (this.cache.get(userId)?.get(deviceId) === p) this.cache.get(userId)?.delete(deviceId);
    });
    return p;
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
