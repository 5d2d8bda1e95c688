/**
 * A client of one chat node's admin API (chat-node/http/admin.ts): load, shed, drain, undrain. Every
 * failure becomes a CliError that says what to do.
 */
import type { LoadReport } from '../chat-node/http/admin.ts';
import { CliError, reason, UsageError } from './errors.ts';

export type { LoadReport };

/** What shed and drain answer: how many sessions were asked to move, and the load after. */
export type MoveAnswer = LoadReport & { asked: number };

export interface AdminClientOptions {
  /** The admin token (CHAT_ADMIN_TOKEN of the node). */
  token: string | undefined;
  /** Time limit of one call, in ms. Default 10000. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** The token from `--admin-token`, else CHATCTL_ADMIN_TOKEN; a usage error when there is none. */
export function adminToken(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const token = flag ?? env.CHATCTL_ADMIN_TOKEN;
  if (!token) {
    throw new UsageError(
      "the admin API needs the node's admin token (its CHAT_ADMIN_TOKEN): pass --admin-token <token> or set CHATCTL_ADMIN_TOKEN",
    );
  }
  return token;
}

export class AdminClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(url: string, options: AdminClientOptions) {
    this.url = url.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  load(): Promise<LoadReport> {
    return this.call<LoadReport>('GET', '/admin/v1/load');
  }

  /** Asks `count` sessions to move at `ratePerSec` (the node's default when undefined), to `to` if given. */
  shed(count: number, ratePerSec?: number, to?: string): Promise<MoveAnswer> {
    return this.call<MoveAnswer>('POST', '/admin/v1/shed', { count, ratePerSec, url: to });
  }

  drain(ratePerSec?: number): Promise<MoveAnswer> {
    return this.call<MoveAnswer>('POST', '/admin/v1/drain', { ratePerSec });
  }

  undrain(): Promise<LoadReport> {
    return this.call<LoadReport>('POST', '/admin/v1/undrain');
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
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
      throw new CliError(`cannot reach ${this.url}: ${reason(err)}. Is the node running? (npm start)`, {
        cause: err,
      });
    }
    const parsed = parseJson(text);
    if (res.ok && parsed !== undefined) return parsed as T;
    throw this.failure(res.status, parsed, `${method} ${path}`);
  }

  private failure(status: number, body: unknown, call: string): CliError {
    const message = (body as { error?: { message?: string } } | undefined)?.error?.message;
    if (status === 401) {
      return new CliError(
        `${this.url} refused the admin token: pass the node's CHAT_ADMIN_TOKEN with --admin-token or CHATCTL_ADMIN_TOKEN`,
      );
    }
    if (status === 404) {
      return new CliError(
        `${this.url} has no admin API (${message ?? 'not found'}): is it a chat node, started with CHAT_ADMIN_TOKEN set?`,
      );
    }
    return new CliError(`${call} on ${this.url} answered ${status}: ${message ?? 'no error message'}`);
  }
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
