/**
 * WebSocket tickets in Redis, so that a ticket issued by one node is taken at the handshake on any
 * other. Keys, spread over the presence shards' hash tags (one slot per key, any Redis Cluster):
 *
 *   chat:{<cluster>:p<shard of the ticket>}:ticket:<ticket>   the claims (JSON), PX the ticket lifetime;
 *                                                             GETDEL takes it, so once over the cluster
 *   chat:{<cluster>:p<shard of the user>}:tickets:<userId>    tickets issued in the current window
 *                                                             (INCR), PX one lifetime from the first
 *
 * So a user holds at most 2 × maxPerUser live tickets (a full window's and the one before), and
 * every key expires by itself.
 */
import type { Logger } from '../../../common/logger.ts';
import {
  closeRedis,
  defineScript,
  openRedis,
  type RedisAuth,
  type RedisClient,
  type Script,
  shardPrefix,
  userShard,
} from '../../../common/redis.ts';
import type { TicketClaims, TicketStore } from '../types.ts';

const SHARDS = 32;

/** Counts an issue in the user's window; returns the count, the window starting with the first. */
const COUNT_LUA = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

export interface RedisTicketsOptions {
  url: string;
  /** Credentials and TLS beyond the URL. */
  auth?: RedisAuth;
  cluster: string;
  log: Logger;
}

export class RedisTickets implements TicketStore {
  private readonly redis: RedisClient;
  private readonly cluster: string;
  private readonly count: Script;

  private constructor(redis: RedisClient, cluster: string) {
    this.redis = redis;
    this.cluster = cluster;
    this.count = defineScript(redis, 'chatTicketCount', 1, COUNT_LUA);
  }

  static async open(options: RedisTicketsOptions): Promise<RedisTickets> {
    const redis = await openRedis({
      url: options.url,
      auth: options.auth,
      log: options.log,
      role: 'tickets',
    });
    return new RedisTickets(redis, options.cluster);
  }

  /** The key of a ticket (tests look at it). */
  static ticketKey(cluster: string, ticket: string): string {
    return `${shardPrefix(cluster, userShard(ticket, SHARDS))}ticket:${ticket}`;
  }

  async put(
    ticket: string,
    claims: TicketClaims,
    expiresAt: number,
    maxPerUser: number,
    now: number,
  ): Promise<boolean> {
    const ttlMs = Math.max(1, Math.ceil(expiresAt - now));
    const counter = `${shardPrefix(this.cluster, userShard(claims.userId, SHARDS))}tickets:${claims.userId}`;
    const issued = Number(await this.count(counter, ttlMs));
    if (issued > maxPerUser) return false;
    const value = JSON.stringify({ ...claims, expiresAt });
    const set = await this.redis.set(RedisTickets.ticketKey(this.cluster, ticket), value, 'PX', ttlMs, 'NX');
    return set === 'OK';
  }

  async take(ticket: string, now: number): Promise<TicketClaims | undefined> {
    const value = await this.redis.getdel(RedisTickets.ticketKey(this.cluster, ticket));
    if (value === null) return undefined;
    const parsed = parseTicket(value);
    return parsed && parsed.expiresAt > now
      ? { userId: parsed.userId, deviceId: parsed.deviceId, issuedAt: parsed.issuedAt }
      : undefined;
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }
}

function parseTicket(value: string): (TicketClaims & { expiresAt: number }) | undefined {
  try {
    const t = JSON.parse(value) as Record<string, unknown>;
    if (
      typeof t.userId === 'string' &&
      typeof t.deviceId === 'string' &&
      typeof t.issuedAt === 'number' &&
      typeof t.expiresAt === 'number'
    ) {
      return { userId: t.userId, deviceId: t.deviceId, issuedAt: t.issuedAt, expiresAt: t.expiresAt };
    }
  } catch {
    // Not ours: refused like an unknown ticket.
  }
  return undefined;
}
