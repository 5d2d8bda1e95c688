/**
 * PROTOCOL.md "Browsers": `POST /v1/ws-tickets` trades the caller's token for a ticket good for one
 * WebSocket handshake within 60 s (`/v1/ws?ticket=`), so that a browser never puts its long-lived
 * token into a URL. Tickets live in the backends' TicketStore (Redis on a cluster), so any node takes
 * a ticket any node issued; a used, expired or unknown one is refused at the handshake (401).
 */
import { randomBytes } from 'node:crypto';
import { ChatError } from '../../common/errors.ts';
import type { TicketStore } from '../backends/types.ts';
import type { TokenClaims } from '../chat/tokens.ts';
import type { Request, Router } from './router.ts';

/** How long a ticket is good for. */
export const TICKET_TTL_MS = 60_000;
/** Tickets one user may take per ticket lifetime (a reconnecting browser needs one per attempt). */
export const MAX_TICKETS_PER_USER = 60;
/** 32 random bytes, base64url. */
const TICKET = /^[A-Za-z0-9_-]{43}$/;

export class WsTickets {
  private readonly store: TicketStore;
  private readonly clock: () => number;
  private readonly maxPerUser: number;

  constructor(o: { store: TicketStore; clock?: () => number; maxPerUser?: number }) {
    this.store = o.store;
    this.clock = o.clock ?? Date.now;
    this.maxPerUser = o.maxPerUser ?? MAX_TICKETS_PER_USER;
  }

  /** A new ticket for the token's user and device; `rate_limited` past the per-user bound. */
  async issue(claims: TokenClaims): Promise<{ ticket: string; expiresAt: number }> {
    const now = this.clock();
    const ticket = randomBytes(32).toString('base64url');
    const expiresAt = now + TICKET_TTL_MS;
    const kept = await this.store.put(
      ticket,
      { userId: claims.userId, deviceId: claims.deviceId, issuedAt: claims.issuedAt ?? 0 },
      expiresAt,
      this.maxPerUser,
      now,
    );
    if (!kept) {
      throw new ChatError('rate_limited', 'too many WebSocket tickets for this user; try again in a minute');
    }
    return { ticket, expiresAt };
  }

  /** The claims a ticket was issued for, once; undefined for a used, expired or unknown ticket. */
  async redeem(ticket: string): Promise<TokenClaims | undefined> {
    if (!TICKET.test(ticket)) return undefined;
    return this.store.take(ticket, this.clock());
  }
}

/** `POST /v1/ws-tickets`: an empty body or a JSON object (`{}`). */
export function addTicketRoutes(
  router: Router,
  tickets: WsTickets,
  auth: (r: Request) => Promise<TokenClaims>,
): Router {
  return router.on('POST', '/v1/ws-tickets', async (r) => {
    const me = await auth(r);
    const body = await r.json({ optional: true });
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
      throw new ChatError('bad_request', 'the body must be empty or a JSON object');
    }
    return { status: 200, body: await tickets.issue(me) };
  });
}
