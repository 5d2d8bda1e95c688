/** The options of ChatClient, their defaults, and the one place they are checked. */
import { SYNC_MAX_LIMIT } from '../common/protocol-limits.ts';
import type { BackoffOptions } from './backoff.ts';
import { parseId } from './message-ids.ts';
import { inBrowser, type WebSocketConstructor } from './socket.ts';

export interface ChatClientOptions {
  /** HTTP base URL of any node, e.g. `https://chat.example.com` (no trailing slash needed). Required. */
  baseUrl: string;
  /** Bearer token from `ChatApi.login`. Required. */
  token: string;
  /** Ask `GET /v1/discovery` which node to connect to; false connects to `baseUrl` itself. Default true. */
  discover?: boolean;
  /** Reconnect delays. Default `{ initialMs: 250, maxMs: 10000, factor: 2 }`, full jitter. */
  backoff?: BackoffOptions;
  /**
   * The highest message id seen by an earlier session. When given, the first connection syncs from it
   * too (not only reconnections). Default `'0'`, and no sync on the first connection.
   */
  maxMessageId?: string;
  /** How many recent message ids are remembered to drop repeats. Default 10000. */
  dedupeCapacity?: number;
  /**
   * How far back before `maxMessageId`'s time a sync starts, in ms, to catch messages of other nodes
   * that got smaller ids but arrived later. Default 2000; 0 syncs from `maxMessageId` itself. A sync
   * that a move, a lost connection or a timeout cut short is taken up where it stopped, whatever
   * live messages came since.
   */
  syncOverlapMs?: number;
  /** `limit` of each sync page, 1 to 1000. Default 1000. */
  syncPageLimit?: number;
  /** Reconnect after a connection fails or ends. Default true. `reconnect` frames are obeyed either way. */
  autoReconnect?: boolean;
  /** WebSocket constructor. Default: the browser's own in a browser, else `ws` (loaded on first connect). */
  WebSocket?: WebSocketConstructor;
  /**
   * Get a one-use ticket (`POST /v1/ws-tickets`) before each connection and send it as `?ticket=`,
   * so that the token never goes into a URL. Default: true in a browser, false elsewhere (the token
   * goes in the Authorization header there).
   */
  tickets?: boolean;
  /** Send the token itself as `?token=` instead of the Authorization header. Default false; `tickets` wins. */
  tokenInQuery?: boolean;
  /**
   * Refresh the token (`POST /v1/sessions/refresh`) when 80 % of its lifetime has passed; each new
   * token is emitted as `token` (keep it instead of the old one). Default true.
   */
  refreshToken?: boolean;
  /** Time limit of discovery, and of each socket from its creation to `welcome`, in ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Time to wait for each sync page before the connection is given up, in ms. Default 15000. */
  requestTimeoutMs?: number;
  /** Sends that may wait for their answer at once; more are refused with `queue_full`. Default 1000. */
  maxPendingSends?: number;
  /** Sends written and unanswered at once; the rest wait their turn. Default 100. */
  maxInFlightSends?: number;
  /** Pause of sends after a `rate_limited` error frame, in ms; then unanswered sends are written again. Default 1000. */
  rateLimitPauseMs?: number;
  /** fetch for discovery. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Random numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

export type ResolvedOptions = Required<Omit<ChatClientOptions, 'WebSocket' | 'fetch' | 'maxMessageId'>> & {
  WebSocket: WebSocketConstructor | undefined;
  fetch: typeof fetch | undefined;
  /** As given; undefined when the caller gave none. */
  maxMessageId: string | undefined;
};

/** Fills in defaults and checks every option, naming the one that is wrong. */
export function resolveOptions(o: ChatClientOptions): ResolvedOptions {
  if (typeof o.baseUrl !== 'string' || !/^https?:\/\//.test(o.baseUrl)) {
    throw new TypeError('ChatClient option "baseUrl" must be an http or https URL');
  }
  if (typeof o.token !== 'string' || o.token === '') {
    throw new TypeError('ChatClient option "token" must be a non-empty string');
  }
  if (o.maxMessageId !== undefined && parseId(o.maxMessageId) === undefined) {
    throw new TypeError('ChatClient option "maxMessageId" must be a message id (a decimal string)');
  }
  return {
    baseUrl: o.baseUrl.replace(/\/+$/, ''),
    token: o.token,
    discover: o.discover ?? true,
    backoff: o.backoff ?? {},
    maxMessageId: o.maxMessageId,
    dedupeCapacity: integer(o, 'dedupeCapacity', 10_000, 1, 10_000_000),
    syncOverlapMs: integer(o, 'syncOverlapMs', 2000, 0, 86_400_000),
    syncPageLimit: integer(o, 'syncPageLimit', SYNC_MAX_LIMIT, 1, SYNC_MAX_LIMIT),
    autoReconnect: o.autoReconnect ?? true,
    WebSocket: o.WebSocket,
    tickets: o.tickets ?? inBrowser(),
    tokenInQuery: o.tokenInQuery ?? false,
    refreshToken: o.refreshToken ?? true,
    connectTimeoutMs: integer(o, 'connectTimeoutMs', 10_000, 1, 600_000),
    requestTimeoutMs: integer(o, 'requestTimeoutMs', 15_000, 1, 600_000),
    maxPendingSends: integer(o, 'maxPendingSends', 1000, 1, 1_000_000),
    maxInFlightSends: integer(o, 'maxInFlightSends', 100, 1, 100_000),
    rateLimitPauseMs: integer(o, 'rateLimitPauseMs', 1000, 0, 600_000),
    fetch: o.fetch,
    random: o.random ?? Math.random,
  };
}

type IntegerKey = {
  [K in keyof ChatClientOptions]-?: ChatClientOptions[K] extends number | undefined ? K : never;
}[keyof ChatClientOptions];

function integer(o: ChatClientOptions, key: IntegerKey, fallback: number, min: number, max: number): number {
  const value = o[key];
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`ChatClient option "${key}" must be an integer from ${min} to ${max}`);
  }
  return value;
}
