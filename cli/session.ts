/** Logging in to a chat node with the SDK for `chat`, `send` and `history`, with errors that say what to do. */
import { ChatApi, ChatApiError, type Session } from '../client/index.ts';
import { errorMessage } from '../common/errors.ts';
import { CliError, UsageError } from './errors.ts';

export interface LoginFlags {
  url: string;
  user: string;
  password?: string;
  create?: boolean;
}

/** A failed HTTP API call as a CliError naming the fix. */
export function apiError(err: unknown, url: string, user?: string): CliError {
  if (!(err instanceof ChatApiError)) return new CliError(errorMessage(err), { cause: err });
  if (err.status === 0) {
    return new CliError(`cannot reach ${url}: ${err.message}. Is the node running? (npm start)`, {
      cause: err,
    });
  }
  switch (err.code) {
    case 'unauthorized':
      return new CliError(
        `${url} refused the login of "${user}": wrong user or password (add --create to create the account)`,
        { cause: err },
      );
    case 'rate_limited':
      return new CliError(`${url} is rate limiting this client: ${err.message}; try again in a minute`, {
        cause: err,
      });
    case 'forbidden':
      return new CliError(`not allowed: ${err.message} (only participants see a conversation)`, {
        cause: err,
      });
    default:
      return new CliError(`${url} answered ${err.status} ${err.code}: ${err.message}`, { cause: err });
  }
}

/** Logs in (creating the account first with --create; an existing one is fine); the api keeps the token. */
export async function login(
  api: ChatApi,
  flags: LoginFlags,
  env: Readonly<Record<string, string | undefined>>,
  note: (line: string) => void,
): Promise<Session> {
  const password = flags.password ?? env.CHATCTL_PASSWORD;
  if (!password) throw new UsageError('pass --password <pw> (or set CHATCTL_PASSWORD)');
  try {
    if (flags.create) {
      try {
        await api.createUser(flags.user, password);
        note(`created the account ${flags.user}`);
      } catch (err) {
        if (!(err instanceof ChatApiError && err.code === 'username_taken')) throw err;
        note(`the account ${flags.user} exists already; logging in`);
      }
    }
    return await api.login(flags.user, password);
  } catch (err) {
    throw apiError(err, flags.url, flags.user);
  }
}

/** The node URL: --url, else CHATCTL_URL, else http://localhost:8080 (what `npm start` listens on). */
export function nodeUrl(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return (flag ?? env.CHATCTL_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
}

export { ChatApi };
