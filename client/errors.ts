/**
 * The SDK's two failures: an HTTP call answered with an error, and a chat connection refusing or
 * failing a request. Both carry a stable `code`: the protocol's codes as the server sent them, plus a
 * few of the SDK's own for failures that never reached a server.
 */
import type { ErrorCode } from '../common/errors.ts';
import type { ClientId } from '../common/protocol.ts';

/**
 * Codes of the SDK's own, for failures no server answered:
 * - `network`: the request or the connection failed before an answer (DNS, refused, reset, timeout);
 * - `closed`: the client was closed while the request was waiting;
 * - `queue_full`: too many sends already wait for their answer;
 * - `duplicate_id`: a send reused the client id of a send still waiting;
 * - `protocol`: the server answered something the contract does not allow.
 */
export type ClientErrorCode = 'network' | 'closed' | 'queue_full' | 'duplicate_id' | 'protocol';

/** An HTTP call answered with a non-2xx status (or not answered at all: `status` 0, code `network`). */
export class ChatApiError extends Error {
  override name = 'ChatApiError';
  /** The HTTP status; 0 when no answer arrived. */
  readonly status: number;
  /** `error.code` of the JSON body, else `http_<status>` for a body without one. */
  readonly code: ErrorCode | ClientErrorCode | (string & {});

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
  }
}

/** A request over the chat connection that failed: an `error` frame, or one of the SDK's own codes. */
export class ChatClientError extends Error {
  override name = 'ChatClientError';
  readonly code: ErrorCode | ClientErrorCode | (string & {});
  /** The client frame's id the server echoed, when there was one. */
  readonly frameId: ClientId | undefined;

  constructor(code: string, message: string, options?: { frameId?: ClientId; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.frameId = options?.frameId;
  }
}
