/**
 * `POST /v1/sessions/refresh` (docs/protocol-notes.md): the caller's valid token buys a new one for
 * the same user and device with a fresh lifetime, so that a client that stays open for longer than
 * CHAT_TOKEN_TTL_SEC need not ask for the password again. The old token stays valid until it
 * expires (revoking it would close the device's live connections); logout revokes both.
 */
import { decodeJwt } from 'jose';
import { ChatError } from '../../common/errors.ts';
import type { TokenClaims, Tokens } from '../chat/tokens.ts';
import { WindowLimiter } from '../rate-limit.ts';
import type { Request, Router } from './router.ts';

/** Refreshes one device may make per minute (a client needs one per token lifetime). */
export const REFRESHES_PER_MINUTE = 10;

/** When a token of ours expires (ms), from its `exp` claim. */
export function tokenExpiry(token: string): number {
  const { exp } = decodeJwt(token);
  if (typeof exp !== 'number') throw new Error('a token without exp');
  return exp * 1000;
}

export function addSessionRefreshRoute(
  router: Router,
  d: { tokens: Tokens; clock: () => number },
  auth: (r: Request) => Promise<TokenClaims>,
): Router {
  const refreshes = new WindowLimiter({ limit: REFRESHES_PER_MINUTE, windowMs: 60_000, now: d.clock() });
  return router.on('POST', '/v1/sessions/refresh', async (r) => {
    const me = await auth(r);
    const body = await r.json({ optional: true });
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
      throw new ChatError('bad_request', 'the body must be empty or a JSON object');
    }
    if (!refreshes.hit(`${me.userId}/${me.deviceId}`, d.clock())) {
      throw new ChatError('rate_limited', 'too many token refreshes for this device; try again in a minute');
    }
    const token = await d.tokens.sign({ userId: me.userId, deviceId: me.deviceId }, d.clock());
    return {
      status: 200,
      body: { token, userId: me.userId, deviceId: me.deviceId, expiresAt: tokenExpiry(token) },
    };
  });
}
