/**
 * A ChatCluster's chat nodes as chatctl reaches them from anywhere with a kubeconfig: its pods (by
 * the ChatCluster's status.selector), the admin token from the Secret its spec.auth.adminTokenRef
 * names, and each pod's admin API through the API server's pod proxy
 * (`/api/v1/namespaces/<ns>/pods/<pod>:<admin port>/proxy/admin/v1/…`): no port-forward, no pod IP.
 *
 * What the user needs: get on the ChatCluster, list on pods, get on that Secret, and get and create
 * on pods/proxy (the chat-operator chart's chatcluster-editor role has them all).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { ADMIN_TOKEN_HEADER } from '../common/admin-api.ts';
import { type ChatCluster, GROUP } from '../operator/chatcluster-schema.ts';
import { AdminClient } from './admin-client.ts';
import { CliError } from './errors.ts';
import type { ClusterApi } from './kube.ts';

/**
 * The annotation that asks the operator to keep one pod drained (operator/requests.ts reads it): a
 * drain the operator holds, where a drain through the admin API alone is undone at its next reconcile.
 */
export const DRAIN_ANNOTATION = `${GROUP}/drain`;

/** The role that grants what chatctl needs here, for messages. */
export const EDITOR_ROLE = "the chat-operator chart's chatcluster-editor role grants it";

/** One chat-node pod, as listed. */
export interface NodePod {
  name: string;
  /** The StatefulSet ordinal (the pod-index label), which is the node id. */
  ordinal: number | undefined;
  ready: boolean;
  /** `Running, Ready`, `Running, not Ready`, `Pending (ContainerCreating)`, `Terminating`. */
  state: string;
  /** The container port named `admin`, where the admin API listens (CHAT_ADMIN_PORT). */
  adminPort: number | undefined;
  /** Whether it has an IP: the API server proxies only to a pod that has one. */
  hasIp: boolean;
  /** When it started, ms since the epoch. */
  startedAt: number | undefined;
}

/** The facts chatctl needs of a pod (pure). */
export function nodePod(p: V1Pod): NodePod {
  const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const waiting = p.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting?.reason;
  const phase = p.status?.phase ?? 'Unknown';
  const state = p.metadata?.deletionTimestamp
    ? 'Terminating'
    : phase === 'Running'
      ? `Running, ${ready ? 'Ready' : 'not Ready'}`
      : waiting
        ? `${phase} (${waiting})`
        : phase;
  const index = p.metadata?.labels?.['apps.kubernetes.io/pod-index'];
  const port = p.spec?.containers.flatMap((c) => c.ports ?? []).find((x) => x.name === 'admin');
  const started = p.status?.startTime;
  return {
    name: p.metadata?.name ?? '',
    ordinal: index !== undefined && /^\d+$/.test(index) ? Number(index) : undefined,
    ready,
    state,
    adminPort: port?.containerPort,
    hasIp: Boolean(p.status?.podIP),
    startedAt: started ? new Date(started).getTime() : undefined,
  };
}

export class ChatClusterNodes {
  readonly namespace: string;
  readonly name: string;
  /** How a command line names this ChatCluster: `chat -n chat`. */
  readonly args: string;
  private readonly api: ClusterApi;
  private readonly cluster: ChatCluster;
  private token: Promise<{ token: string; source: string }> | undefined;

  private constructor(api: ClusterApi, cluster: ChatCluster) {
    this.api = api;
    this.cluster = cluster;
    this.namespace = cluster.metadata.namespace ?? api.namespace;
    this.name = cluster.metadata.name;
    this.args = `${this.name} -n ${this.namespace}`;
  }

  /** Reads the ChatCluster `name` in the API's namespace (not found: an error that says how to list them). */
  static async open(api: ClusterApi, name: string): Promise<ChatClusterNodes> {
    return new ChatClusterNodes(api, await api.get(api.namespace, name));
  }

  /** The pod the drain annotation asks the operator to keep drained, if any. */
  get drainRequested(): string | undefined {
    return this.cluster.metadata.annotations?.[DRAIN_ANNOTATION]?.trim() || undefined;
  }

  /** Its chat-node pods by node id; an error that says why when there is none yet. */
  async pods(): Promise<NodePod[]> {
    const selector = this.cluster.status?.selector;
    const pods = selector ? (await this.api.pods(this.namespace, selector)).map(nodePod) : [];
    if (pods.length === 0) {
      const replicas = this.cluster.status?.replicas;
      throw new CliError(
        `ChatCluster ${this.namespace}/${this.name} has no chat-node pods yet` +
          (selector
            ? ` (status.replicas ${replicas ?? 0})`
            : ' (the operator has not reconciled it: no status.selector)') +
          `: is the operator running? chatctl status ${this.args} shows its conditions`,
      );
    }
    return pods.sort((a, b) => (a.ordinal ?? 1e9) - (b.ordinal ?? 1e9) || a.name.localeCompare(b.name));
  }

  /** The pod `ref` names: a pod name, or a node id (its ordinal). */
  async pod(ref: string): Promise<NodePod> {
    const pods = await this.pods();
    const found = /^\d+$/.test(ref)
      ? pods.find((p) => p.ordinal === Number(ref))
      : pods.find((p) => p.name === ref);
    if (found) return found;
    throw new CliError(
      `ChatCluster ${this.namespace}/${this.name} has no node "${ref}": its pods are ` +
        `${pods.map((p) => `${p.name} (node id ${p.ordinal ?? '?'})`).join(', ')}; chatctl nodes ${this.args} lists them`,
    );
  }

  /** The admin token from the Secret of spec.auth.adminTokenRef, read once; errors say what to fix. */
  adminToken(): Promise<{ token: string; source: string }> {
    this.token ??= this.readToken();
    return this.token;
  }

  /** The pod's admin API through the API server's pod proxy; the token from the Secret unless given. */
  async admin(pod: NodePod, token?: string): Promise<AdminClient> {
    // A token that cannot be had is the first thing to fix: it fails for every pod alike.
    const { token: secret, source } = token ? { token, source: '--admin-token' } : await this.adminToken();
    const where = `pod ${this.namespace}/${pod.name}`;
    if (!pod.hasIp || pod.state === 'Terminating') {
      throw new CliError(
        `${where} is not Ready (${pod.state}): its admin API cannot be reached until it runs. ` +
          `See why with: kubectl describe pod ${pod.name} -n ${this.namespace}`,
      );
    }
    if (pod.adminPort === undefined) {
      throw new CliError(
        `${where} has no container port named admin: is it a chat node the operator made for ChatCluster ${this.name}?`,
      );
    }
    return new AdminClient(
      this.api.podProxyUrl(this.namespace, pod.name, pod.adminPort),
      { token: secret, tokenHeader: ADMIN_TOKEN_HEADER, fetch: this.api.fetch },
      { namespace: this.namespace, pod: pod.name, state: pod.state, tokenSource: source },
    );
  }

  private async readToken(): Promise<{ token: string; source: string }> {
    const ref = this.cluster.spec.auth?.adminTokenRef;
    const of = `ChatCluster ${this.namespace}/${this.name}`;
    if (!ref) {
      throw new CliError(
        `${of} has no admin API: spec.auth.adminTokenRef is not set, so its nodes run without CHAT_ADMIN_TOKEN ` +
          '(and the operator cannot drain them either). Set it to a key of a Secret in its namespace ' +
          '(kubectl explain chatcluster.spec.auth.adminTokenRef)',
      );
    }
    const source = `Secret ${this.namespace}/${ref.name}, key ${ref.key}`;
    const secret = await this.api.secret(this.namespace, ref.name, `the admin token of ${of}`, EDITOR_ROLE);
    if (!secret) {
      throw new CliError(
        `the admin token's Secret ${this.namespace}/${ref.name} (spec.auth.adminTokenRef of ${of}) does not exist, ` +
          `and its nodes cannot start without it: kubectl create secret generic ${ref.name} -n ${this.namespace} ` +
          `--from-literal=${ref.key}=$(openssl rand -hex 24)`,
      );
    }
    const data = secret.data?.[ref.key];
    const token =
      data === undefined ? secret.stringData?.[ref.key] : Buffer.from(data, 'base64').toString('utf8');
    if (!token) {
      const keys = Object.keys(secret.data ?? {});
      throw new CliError(
        `Secret ${this.namespace}/${ref.name} has no key "${ref.key}" (spec.auth.adminTokenRef.key of ${of}); ` +
          `its keys: ${keys.join(', ') || 'none'}`,
      );
    }
    return { token, source };
  }
}
