/**
 * Keeps the client's token fresh: reads when it expires (its `exp` claim: the node's tokens are
 * JWTs) and asks `POST /v1/sessions/refresh` for a new one when 80 % of its life has passed (a
 * minute before the end when its issue time is unknown). A failed refresh is tried again every
 * minute while the token lasts; a refused one (401) is final.
 */
import { ChatApiError } from './errors.ts';
import type { ChatApi } from './http-api.ts';

/** Share of a token's life after which it is refreshed. */
const REFRESH_AT = 0.8;
/** A token whose issue time is unknown is refreshed this long before it expires. */
const MARGIN_MS = 60_000;
/** Wait before trying a failed refresh again. */
const RETRY_MS = 60_000;
/** setTimeout's largest delay (about 24.8 days); longer waits are taken in several steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `iat` and `exp` of a JWT, in ms; undefined for a token that is not a JWT with an `exp`. */
export function tokenTimes(token: string): { issuedAt: number | undefined; expiresAt: number } | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 8192) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))) as {
      iat?: unknown;
      exp?: unknown;
    };
    if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) return undefined;
    const issuedAt =
      typeof claims.iat === 'number' && Number.isFinite(claims.iat) ? claims.iat * 1000 : undefined;
    return { issuedAt, expiresAt: claims.exp * 1000 };
  } catch {
    return undefined;
  }
}

/** When a token issued at `issuedAt` and expiring at `expiresAt` is to be refreshed (ms, a time). */
export function refreshTime(issuedAt: number | undefined, expiresAt: number): number {
  if (issuedAt === undefined || issuedAt >= expiresAt) return expiresAt - MARGIN_MS;
  return issuedAt + (expiresAt - issuedAt) * REFRESH_AT;
}

export interface TokenRefresherHooks {
  /** A new token is in use (the ChatApi already holds it). */
  refreshed(token: string, expiresAt: number): void;
  /** A refresh failed; `final` when the node refused the token (401). */
  failed(error: ChatApiError, final: boolean): void;
  now?: () => number;
}

export class TokenRefresher {
  private readonly api: ChatApi;
  private readonly hooks: TokenRefresherHooks;
  private readonly now: () => number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(api: ChatApi, hooks: TokenRefresherHooks) {
    this.api = api;
    this.hooks = hooks;
    this.now = hooks.now ?? Date.now;
  }

  /** Schedules the refresh of the API's current token (nothing for a token without an expiry). */
  start(): void {
    if (this.stopped || this.timer !== undefined) return;
    const times = this.api.token === undefined ? undefined : tokenTimes(this.api.token);
    if (times) this.at(refreshTime(times.issuedAt, times.expiresAt), times.expiresAt);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Refreshes at `when`, waiting in steps no longer than a timer takes. */
  private at(when: number, expiresAt: number): void {
    const wait = Math.max(0, when - this.now());
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.stopped) return;
        if (wait > MAX_TIMER_MS) this.at(when, expiresAt);
        else void this.refresh(expiresAt);
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    // In Node, a refresh due in days does not keep the process alive by itself.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async refresh(expiresAt: number): Promise<void> {
    try {
      const session = await this.api.refreshSession();
      if (this.stopped) return;
      this.hooks.refreshed(session.token, session.expiresAt);
      this.start();
    } catch (err) {
      if (this.stopped) return;
      const error =
        err instanceof ChatApiError ? err : new ChatApiError(0, 'network', `refresh failed: ${String(err)}`);
      const final = error.status === 401;
      this.hooks.failed(error, final);
      if (final) return;
      // Tried again while the token still works; after it expires, only a new login helps.
      const next = this.now() + RETRY_MS;
      if (next < expiresAt) this.at(next, expiresAt);
    }
  }
}
