/**
 * chatctl's view of a node's admin API: the one client in common/admin-api.ts, with each failure
 * turned into a CliError that says what to do. A node is reached at its admin URL, or as a pod
 * through the Kubernetes API server's pod proxy (then the API server's own refusals, such as a
 * missing `pods/proxy` grant, are told apart from the node's).
 */
import {
  AdminApiError,
  type AdminClientOptions,
  AdminClient as ApiClient,
  type LoadReport,
  type MoveAnswer,
} from '../common/admin-api.ts';
import { errorMessage } from '../common/errors.ts';
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

/** A node reached as a pod through the API server's proxy: which pod, and what to say about it. */
export interface PodRoute {
  namespace: string;
  pod: string;
  /** The pod's state when it was listed (`Running, Ready`, `Pending (ContainerCreating)`). */
  state: string;
  /** Where the admin token came from, for a refused token (`Secret chat/chat-auth, key admin`). */
  tokenSource: string;
}

type Method = 'GET' | 'POST';

export class AdminClient {
  readonly url: string;
  /** How messages name the node: its URL, or `pod <namespace>/<name>`. */
  readonly label: string;
  private readonly api: ApiClient;
  private readonly route: PodRoute | undefined;

  constructor(url: string, options: AdminClientOptions, route?: PodRoute) {
    this.api = new ApiClient(url, options);
    this.url = this.api.url;
    this.route = route;
    this.label = route ? `pod ${route.namespace}/${route.pod}` : this.url;
  }

  load(): Promise<LoadReport> {
    return this.wrap('GET', this.api.load());
  }

  /** Asks `count` sessions to move at `ratePerSec` (the node's default when undefined), to `to` if given. */
  shed(count: number, ratePerSec?: number, to?: string): Promise<MoveAnswer> {
    return this.wrap('POST', this.api.shed(count, ratePerSec, to));
  }

  drain(ratePerSec?: number): Promise<MoveAnswer> {
    return this.wrap('POST', this.api.drain(ratePerSec));
  }

  undrain(): Promise<LoadReport> {
    return this.wrap('POST', this.api.undrain());
  }

  private async wrap<T>(method: Method, call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (err) {
      if (!(err instanceof AdminApiError)) throw err;
      throw this.route ? proxyFailure(err, method, this.route) : this.failure(err);
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

/** A Kubernetes `Status` (what the API server answers for itself), if `answer` is one. */
function apiStatus(answer: unknown): { message: string } | undefined {
  const a = answer as { kind?: unknown; message?: unknown } | undefined;
  if (a?.kind !== 'Status') return undefined;
  return { message: typeof a.message === 'string' ? a.message : 'no message' };
}

/** A failed call through the pod proxy: the API server's refusal, or the node's. */
export function proxyFailure(err: AdminApiError, method: Method, r: PodRoute): CliError {
  const pod = `pod ${r.namespace}/${r.pod}`;
  const describe = `kubectl describe pod ${r.pod} -n ${r.namespace}`;
  if (err.failure === 'unreachable') {
    return new CliError(
      `cannot reach the Kubernetes API server for ${pod}: ${errorMessage(err.cause)}. Is the cluster up, ` +
        'and is this the right kubeconfig and context (--kubeconfig, KUBECONFIG, --context)?',
      { cause: err },
    );
  }
  const status = apiStatus(err.answer);
  if (status) {
    switch (err.status) {
      case 401:
        return new CliError(`the API server did not accept your credentials: ${status.message}`, {
          cause: err,
        });
      case 403: {
        const verb = method === 'GET' ? 'get' : 'create';
        return new CliError(
          `not allowed to reach the admin API of ${pod} through the API server: ${status.message}. ` +
            `Ask for \`${verb}\` on pods/proxy in namespace ${r.namespace} (chatctl needs get and create; ` +
            "the chat-operator chart's chatcluster-editor role grants both)",
          { cause: err },
        );
      }
      case 404:
        return new CliError(`${pod} is gone (${status.message}): list the current pods again`, {
          cause: err,
        });
      default:
        return new CliError(
          `the API server could not reach the admin port of ${pod} (${err.status}: ${status.message}); ` +
            `the pod was ${r.state}. See why with: ${describe}`,
          { cause: err },
        );
    }
  }
  switch (err.failure) {
    case 'unauthorized':
      return new CliError(
        `${pod} refused the admin token of ${r.tokenSource}: does it hold the token the pod started with? ` +
          '(a node reads CHAT_ADMIN_TOKEN when it starts; restart the pods after changing the Secret)',
      );
    case 'disabled':
      return new CliError(
        `${pod} has no admin API (${err.detail ?? 'not found'}): is spec.auth.adminTokenRef of its ChatCluster set?`,
      );
    default:
      return new CliError(`${pod}: ${err.message.replace(/ on .*\/proxy/, '')}`);
  }
}
