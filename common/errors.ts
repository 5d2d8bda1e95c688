/**
 * Typed errors with a stable `code`. The codes of PROTOCOL.md reach clients as they are; the others
 * are additions documented in docs/protocol-notes.md.
 */
export const ERROR_CODES = [
  'bad_request',
  'too_long',
  'empty',
  'not_member',
  'unknown_recipient',
  'rate_limited',
  'unauthorized',
  'internal',
  // additions
  'username_taken',
  'group_full',
  'not_found',
  'forbidden',
  'unavailable',
  'contacts_full',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** HTTP status for each code, used by the HTTP API. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  too_long: 413,
  empty: 400,
  not_member: 403,
  unknown_recipient: 404,
  rate_limited: 429,
  unauthorized: 401,
  internal: 500,
  username_taken: 409,
  group_full: 409,
  not_found: 404,
  forbidden: 403,
  unavailable: 503,
  contacts_full: 409,
};

/** An error whose code and message may be shown to the client that caused it. */
export class ChatError extends Error {
  override name = 'ChatError';
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options?.status ?? HTTP_STATUS[code];
  }
}

export function isChatError(err: unknown): err is ChatError {
  return err instanceof ChatError;
}

/**
 * Errors of the backend drivers that mean "the backend cannot answer now" (an outage, a timeout, a
 * closed connection), by the names cassandra-driver, ioredis and nats.js give them: a request that
 * meets one answers `unavailable` (503), which clients retry, and not `internal`, which is for bugs.
 */
const UNAVAILABLE_ERRORS = new Set([
  // cassandra-driver
  'NoHostAvailableError',
  'OperationTimedOutError',
  'BusyConnectionError',
  // ioredis
  'MaxRetriesPerRequestError',
  'ClusterAllFailedError',
  // nats.js
  'ConnectionError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'TimeoutError',
  'NoResponders',
]);
/** Cassandra's own "cannot answer now" codes: unavailable, overloaded, bootstrapping, timeouts. */
const CASSANDRA_UNAVAILABLE_CODES = new Set([0x1000, 0x1001, 0x1002, 0x1100, 0x1200]);

/** The client-facing error for a backend outage, or undefined when `err` is not one. */
export function unavailableError(err: unknown): ChatError | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  const outage =
    UNAVAILABLE_ERRORS.has(err.name) ||
    (err.name === 'ResponseError' && typeof code === 'number' && CASSANDRA_UNAVAILABLE_CODES.has(code));
  return outage
    ? new ChatError('unavailable', 'a backend of the chat is unavailable; try again', { cause: err })
    : undefined;
}

/** The message of anything thrown, with its cause's when that adds something (fetch's "fetch failed"). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    return cause && !err.message.includes(cause) ? `${err.message} (${cause})` : err.message;
  }
  return String(err);
}
