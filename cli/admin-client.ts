/**
 * chatctl's view of a node's admin API: the one client in common/admin-api.ts, with each failure
 * turned into a CliError that says what to do.
 */
import {
  AdminApiError,
  type AdminClientOptions,
  AdminClient as ApiClient,
  type LoadReport,
  type MoveAnswer,
} from '../common/admin-api.ts';
import { CliError, UsageError } from './errors.ts';

export type { LoadReport, MoveAnswer };

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
  private readonly api: ApiClient;

  constructor(url: string, options: AdminClientOptions) {
    this.api = new ApiClient(url, options);
    this.url = this.api.url;
  }

  load(): Promise<LoadReport> {
    return this.wrap(this.api.load());
  }

  /** Asks `count` sessions to move at `ratePerSec` (the node's default when undefined), to `to` if given. */
  shed(count: number, ratePerSec?: number, to?: string): Promise<MoveAnswer> {
    return this.wrap(this.api.shed(count, ratePerSec, to));
  }

  drain(ratePerSec?: number): Promise<MoveAnswer> {
    return this.wrap(this.api.drain(ratePerSec));
  }

  undrain(): Promise<LoadReport> {
    return this.wrap(this.api.undrain());
  }

  private async wrap<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (err) {
      throw err instanceof AdminApiError ? this.failure(err) : err;
    }
  }

  private failure(err: AdminApiError): CliError {
    switch (err.failure) {
      case 'unreachable':
        return new CliError(`${err.message}. Is the node running? (npm start)`, { cause: err });
      case 'unauthorized':
        return new CliError(
          `${this.url} refused the admin token: pass the node's CHAT_ADMIN_TOKEN with --admin-token or CHATCTL_ADMIN_TOKEN`,
        );
      case 'disabled':
        return new CliError(
          `${this.url} has no admin API (${err.detail ?? 'not found'}): is it a chat node, started with CHAT_ADMIN_TOKEN set?`,
        );
      default:
        return new CliError(err.message);
    }
  }
}
