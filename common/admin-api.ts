/**
 * A chat node's admin API, the contract between the node (chat-node/http/admin.ts serves it), the
 * operator and chatctl: the request and answer types with their defaults, and the one client of it.
 * Every call needs the node's CHAT_ADMIN_TOKEN, as `Authorization: Bearer <token>` or as
 * `X-Chat-Admin-Token: <token>` (ADMIN_TOKEN_HEADER): through the Kubernetes API server's pod proxy
 * only the latter arrives, because the API server takes Authorization for itself and removes it.
 *
 *   GET  /admin/v1/load      → LoadReport
 *   POST /admin/v1/shed      ShedRequest  → 202 MoveAnswer
 *   POST /admin/v1/drain     DrainRequest → 202 MoveAnswer
 *   POST /admin/v1/undrain                → LoadReport
 */
import { z } from 'zod';
import { errorMessage } from './errors.ts';

export interface LoadReport {
  nodeId: number;
  url: string;
  connections: number;
  capacity: number;
  draining: boolean;
  /** Connections asked to reconnect elsewhere that are still here. */
  moving: number;
  /** On a node of several event loops (CHAT_WORKERS), the connections of each. */
  loops?: number[];
}

/** What shed and drain answer: how many sessions were asked to move, and the load after. */
export type MoveAnswer = LoadReport & { asked: number };

/** The header that carries the admin token where Authorization cannot (the API server's pod proxy). */
export const ADMIN_TOKEN_HEADER = 'x-chat-admin-token';

/** Default pace of moves: clients reconnect at most this many per second. */
export const DEFAULT_MOVE_RATE = 200;

export const shedRequest = z.object({
  count: z.number().int().positive().max(10_000_000),
  ratePerSec: z.number().positive().max(100_000).optional(),
  url: z.url().optional(),
});
export type ShedRequest = z.infer<typeof shedRequest>;

export const drainRequest = z.object({ ratePerSec: z.number().positive().max(100_000).optional() });
export type DrainRequest = z.infer<typeof drainRequest>;

/** Why a call failed: the node was not reached, refused the token, has no admin API, or answered an error. */
export type AdminFailure = 'unreachable' | 'unauthorized' | 'disabled' | 'failed';

export class AdminApiError extends Error {
  override name = 'AdminApiError';
  readonly failure: AdminFailure;
  /** The HTTP status, when the node (or a proxy on the way) answered. */
  readonly status: number | undefined;
  /** The node's own error message, when it gave one. */
  readonly detail: string | undefined;
  /**
   * The answer's body, parsed, when it was JSON: the node's `{ error }`, or what a proxy on the way
   * answered instead (the Kubernetes API server's pod proxy answers a `Status`).
   */
  readonly answer: unknown;

  constructor(
    failure: AdminFailure,
    message: string,
    options: { status?: number; detail?: string; answer?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.failure = failure;
    this.status = options.status;
    this.detail = options.detail;
    this.answer = options.answer;
  }
}

export interface AdminClientOptions {
  /** The admin token (CHAT_ADMIN_TOKEN of the node); no header when undefined. */
  token: string | undefined;
  /**
   * The header that carries the token: `authorization` (as `Bearer <token>`), or ADMIN_TOKEN_HEADER
   * when the calls go through the Kubernetes API server's pod proxy. Default `authorization`.
   */
  tokenHeader?: 'authorization' | typeof ADMIN_TOKEN_HEADER;
  /** Time limit of one call, in ms. Default 10000. */
  timeoutMs?: number;
  /** Makes the calls; default the global fetch. A pod proxy's adds the API server's auth and TLS. */
  fetch?: typeof fetch;
}

/**
 * The admin API of one node at a base URL: the node's admin port (`http://<pod IP>:9090`), or the
 * API server's pod proxy (`<server>/api/v1/namespaces/<ns>/pods/<pod>:9090/proxy`, with a fetch
 * that authenticates to the API server). Every failure is an AdminApiError.
 */
export class AdminClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly tokenHeader: 'authorization' | typeof ADMIN_TOKEN_HEADER;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(url: string, options: AdminClientOptions) {
    this.url = url.replace(/\/+$/, '');
    this.token = options.token;
    this.tokenHeader = options.tokenHeader ?? 'authorization';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  load(): Promise<LoadReport> {
    return this.call<LoadReport>('GET', '/admin/v1/load');
  }

  /** Asks `count` sessions to move at `ratePerSec` (the node's default when undefined), to `to` if given. */
  shed(count: number, ratePerSec?: number, to?: string): Promise<MoveAnswer> {
    const body: ShedRequest = { count, ratePerSec, url: to };
    return this.call<MoveAnswer>('POST', '/admin/v1/shed', body);
  }

  drain(ratePerSec?: number): Promise<MoveAnswer> {
    const body: DrainRequest = { ratePerSec };
    return this.call<MoveAnswer>('POST', '/admin/v1/drain', body);
  }

  undrain(): Promise<LoadReport> {
    return this.call<LoadReport>('POST', '/admin/v1/undrain');
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) {
      headers[this.tokenHeader] = this.tokenHeader === 'authorization' ? `Bearer ${this.token}` : this.token;
    }
    if (body) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(this.url + path, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw new AdminApiError('unreachable', `cannot reach ${this.url}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const parsed = parseJson(text);
    if (res.ok && parsed !== undefined) return parsed as T;
    const detail = (parsed as { error?: { message?: string } } | undefined)?.error?.message;
    const failure: AdminFailure =
      res.status === 401 ? 'unauthorized' : res.status === 404 ? 'disabled' : 'failed';
    throw new AdminApiError(
      failure,
      `${method} ${path} on ${this.url} answered ${res.status}: ${detail ?? 'no error message'}`,
      { status: res.status, detail, answer: parsed },
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
