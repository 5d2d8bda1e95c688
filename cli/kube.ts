/**
 * ChatClusters through the Kubernetes API: which kubeconfig to use, the few calls chatctl makes (on
 * ChatClusters, their pods and the admin token's Secret, and the pod proxy's URL and fetch), and API
 * failures turned into messages that say what to do.
 */
import { delimiter } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { errorMessage } from '../common/errors.ts';
import { type ChatCluster, CRD_NAME, GROUP, PLURAL, VERSION } from '../operator/chatcluster-schema.ts';
import { CliError, UsageError } from './errors.ts';
import { kubeFetch } from './kube-fetch.ts';
import { kubeconfigFiles, loadKubeConfig } from './kubeconfig.ts';

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** The ChatCluster calls of chatctl, on one API server. */
export class ClusterApi {
  /** The namespace `-n` names, else the context's, else `default`. */
  readonly namespace: string;
  /** The API server's URL, for messages. */
  readonly server: string;
  /** The API server's fetch (the kubeconfig's credentials and TLS), for the pod proxy. */
  readonly fetch: typeof fetch;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig, namespace?: string) {
    const context = kc.getContextObject(kc.getCurrentContext());
    this.namespace = namespace ?? context?.namespace ?? 'default';
    this.server = (kc.getCurrentCluster()?.server ?? '(no server in the kubeconfig)').replace(/\/+$/, '');
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.fetch = kubeFetch(kc);
  }

  /** Reads the kubeconfig the options and environment name, merged as kubectl does (kubeconfig.ts). */
  static open(options: KubeOptions, env: Readonly<Record<string, string | undefined>>): ClusterApi {
    const files = kubeconfigFiles(options.kubeconfig, env);
    const path = files.join(delimiter);
    const kc = loadKubeConfig(files, env.KUBECONFIG ?? path);
    if (options.context) {
      if (!kc.getContextObject(options.context)) {
        const known = kc.getContexts().map((c) => c.name);
        throw new UsageError(
          `no context "${options.context}" in ${path} (it has: ${known.join(', ') || 'none'})`,
        );
      }
      kc.setCurrentContext(options.context);
    }
    if (!kc.getCurrentCluster()) {
      throw new UsageError(`${path} names no current cluster: pass --context or fix current-context`);
    }
    return new ClusterApi(kc, options.namespace);
  }

  /** The ChatClusters of `namespace`, or of every namespace when it is `undefined`. */
  async list(namespace: string | undefined): Promise<ChatCluster[]> {
    const what = namespace ? `ChatClusters in namespace ${namespace}` : 'ChatClusters';
    const list = (await this.call(what, () =>
      namespace
        ? this.custom.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural: PLURAL,
          })
        : this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }),
    )) as { items: ChatCluster[] };
    return list.items;
  }

  async get(namespace: string, name: string): Promise<ChatCluster> {
    return (await this.call(`ChatCluster ${namespace}/${name}`, () =>
      this.custom.getNamespacedCustomObject(this.ref(namespace, name)),
    )) as ChatCluster;
  }

  /**
   * Takes the replicas over from the operator's autoscaler: spec.replicas and replicasManagedBy
   * External in one merge patch (the scale subresource alone would be overwritten by the autoscaler).
   */
  async scale(namespace: string, name: string, replicas: number): Promise<{ spec?: { replicas?: number } }> {
    return (await this.call(`ChatCluster ${namespace}/${name}`, () =>
      this.custom.patchNamespacedCustomObject(
        {
          ...this.ref(namespace, name),
          body: { spec: { replicas, replicasManagedBy: 'External' } },
          fieldManager: 'chatctl',
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    )) as { spec?: { replicas?: number } };
  }

  /** The pods of `namespace` that match the label selector. */
  async pods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    const list = await this.call(
      `pods in namespace ${namespace}`,
      () => this.core.listNamespacedPod({ namespace, labelSelector }),
      `list on pods in namespace ${namespace}`,
    );
    return (list as { items: V1Pod[] }).items;
  }

  /**
   * One Secret, undefined when there is none; `why` says what chatctl needs it for, and `grantedBy`
   * which role grants it, in errors.
   */
  async secret(
    namespace: string,
    name: string,
    why: string,
    grantedBy: string,
  ): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw kubeError(
        err,
        `Secret ${namespace}/${name} (${why})`,
        this.server,
        `get on secrets "${name}" in namespace ${namespace} (${grantedBy})`,
      );
    }
  }

  /** The base URL of a pod's port through the API server's proxy subresource (pods/proxy). */
  podProxyUrl(namespace: string, pod: string, port: number): string {
    return `${this.server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${port}/proxy`;
  }

  private ref(namespace: string, name: string) {
    return { group: GROUP, version: VERSION, namespace, plural: PLURAL, name };
  }

  private async call(what: string, fn: () => Promise<unknown>, access?: string): Promise<unknown> {
    try {
      return await fn();
    } catch (err) {
      throw kubeError(err, what, this.server, access);
    }
  }
}

/** The message of an API server's error body (a Status), if it has one. */
function statusMessage(err: ApiException<unknown>): string {
  const body = typeof err.body === 'string' ? safeParse(err.body) : err.body;
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : `HTTP ${err.code}`;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}

/**
 * A failed API call as a CliError that says what to do; `access` is the RBAC grant to ask for when
 * it is refused (default: the ChatCluster verbs).
 */
export function kubeError(err: unknown, what: string, server: string, access?: string): CliError {
  if (!(err instanceof ApiException)) {
    return new CliError(
      `cannot reach the Kubernetes API server at ${server}: ${errorMessage(err)}. Is the cluster up, and is this ` +
        'the right kubeconfig and context (--kubeconfig, KUBECONFIG, --context)? `kubectl cluster-info` checks the same',
      { cause: err },
    );
  }
  const message = statusMessage(err);
  switch (err.code) {
    case 401:
      return new CliError(`the API server at ${server} did not accept your credentials: ${message}`, {
        cause: err,
      });
    case 403:
      return new CliError(
        `not allowed to read or change ${what}: ${message}. Ask for ${access ?? `access to ${CRD_NAME} (get, list; patch on chatclusters/scale to scale)`}`,
        { cause: err },
      );
    case 404:
      if (access) return new CliError(`${what} not found (${message})`, { cause: err });
      return new CliError(
        /could not find the requested resource/.test(message)
          ? `the API server at ${server} does not serve ${CRD_NAME}: install the chat-operator Helm chart, which brings the CRD`
          : `${what} not found (${message}); list them with: chatctl clusters -A`,
        { cause: err },
      );
    default:
      return new CliError(`${what}: the API server answered ${err.code}: ${message}`, { cause: err });
  }
}
