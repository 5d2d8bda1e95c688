/**
 * WebSocket tickets in process, for a node without Redis (one node: every handshake comes to it).
 * Tickets are kept in issue order, which is also their expiry order (one lifetime for all), so the
 * expired ones are dropped from the front on every call; the count per user and in all is bounded.
 */
import type { TicketClaims, TicketStore } from '../types.ts';

/** Tickets held at once by default, over all users. */
export const MAX_TICKETS = 100_000;

export class MemoryTickets implements TicketStore {
  private readonly tickets = new Map<string, { claims: TicketClaims; expiresAt: number }>();
  /** Live tickets per user. */
  private readonly perUser = new Map<string, number>();
  private readonly max: number;

  constructor(options: { maxTickets?: number } = {}) {
    this.max = options.maxTickets ?? MAX_TICKETS;
  }

  async put(
    ticket: string,
    claims: TicketClaims,
    expiresAt: number,
    maxPerUser: number,
    now: number,
  ): Promise<boolean> {
    this.sweep(now);
    const held = this.perUser.get(claims.userId) ?? 0;
    if (held >= maxPerUser || this.tickets.size >= this.max || this.tickets.has(ticket)) return false;
    this.tickets.set(ticket, { claims: { ...claims }, expiresAt });
    this.perUser.set(claims.userId, held + 1);
    return true;
  }

  async take(ticket: string, now: number): Promise<TicketClaims | undefined> {
    this.sweep(now);
    const entry = this.tickets.get(ticket);
    if (!entry) return undefined;
    this.remove(ticket, entry.claims.userId);
    return entry.expiresAt > now ? entry.claims : undefined;
  }

  /** Tickets held now (tests). */
  get size(): number {
    return this.tickets.size;
  }

  async close(): Promise<void> {
    this.tickets.clear();
    this.perUser.clear();
  }

  /** Drops expired tickets from the front, stopping at the first live one. */
  private sweep(now: number): void {
    for (const [ticket, entry] of this.tickets) {
      if (entry.expiresAt > now) return;
      this.remove(ticket, entry.claims.userId);
    }
  }

  private remove(ticket: string, userId: string): void {
    this.tickets.delete(ticket);
    const n = (this.perUser.get(userId) ?? 1) - 1;
    if (n <= 0) this.perUser.delete(userId);
    else this.perUser.set(userId, n);
  }
}
