/**
 * The Kubernetes objects a ChatCluster owns, as a pure function of its spec and the replica count:
 * a StatefulSet of chat nodes (ordinal = Snowflake node id), a headless Service (stable pod names)
 * and a client Service, a Service per node and an Ingress when clients come from outside
 * (spec.expose), a ConfigMap with the nodes' CHAT_* settings, a PodDisruptionBudget and a
 * ServiceAccount. Every object carries a controller owner reference, so deleting the ChatCluster
 * garbage-collects them.
 */
import { createHash } from 'node:crypto';
import { renderCredentials } from './backend-credentials.ts';
import { type ChatCluster, namespaceOf } from './chatcluster-schema.ts';
import type { KubeObject } from './types.ts';

/** The port a chat node serves HTTP and WebSockets on inside its pod. */
export const NODE_PORT = 8080;
/** The port of a node's admin API and /metrics (CHAT_ADMIN_PORT): on no client Service or Ingress. */
export const ADMIN_PORT = 9090;
/** The label of the pod a StatefulSet gives each pod: the selector of the Service of one node. */
const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
/** The operator's server-side apply field manager. */
export const FIELD_MANAGER = 'chatplatform-operator';
/** Pod-template annotation with a hash of the ConfigMap's data: a changed setting rolls the nodes. */
export const CONFIG_HASH_ANNOTATION = 'chatplatform.io/settings-hash';
/**
 * StatefulSet annotation with a hash of the pod template the operator rendered: the status counts
 * nodes as updated only once the StatefulSet it observes carries the template of this generation.
 */
export const TEMPLATE_HASH_ANNOTATION = 'chatplatform.io/template-hash';
/** The uid and gid the nodes run as (any non-root id works: the image needs no user of its own). */
const NODE_UID = 10001;

/** CHAT_CLUSTER of the nodes: their namespace in the Redis registry and the JetStream stream name. */
export function clusterId(cluster: ChatCluster): string {
  return `${namespaceOf(cluster)}.${cluster.metadata.name}`;
}

/** The labels of every owned object, and the nodes' selector. */
export function nodeLabels(cluster: ChatCluster): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'chat-node',
    'app.kubernetes.io/instance': cluster.metadata.name,
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
  };
}

/** The label selector of the nodes, as a string (status.selector, for the scale subresource). */
export function selectorString(cluster: ChatCluster): string {
  return Object.entries(nodeLabels(cluster))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The name of the pod at a StatefulSet ordinal (= its Snowflake node id). */
export function podName(cluster: ChatCluster, ordinal: number): string {
  return `${cluster.metadata.name}-${ordinal}`;
}

const headlessName = (c: ChatCluster) => `${c.metadata.name}-nodes`;
/** The Service of one node (spec.expose.nodes NodePort or Ingress). */
export const nodeServiceName = (c: ChatCluster, ordinal: number) => `${c.metadata.name}-node-${ordinal}`;
const configName = (c: ChatCluster) => `${c.metadata.name}-config`;
const accountName = (c: ChatCluster) => `${c.metadata.name}-node`;

function meta(cluster: ChatCluster, name: string): KubeObject['metadata'] {
  return {
    name,
    namespace: cluster.metadata.namespace,
    labels: nodeLabels(cluster),
    ownerReferences: [
      {
        apiVersion: cluster.apiVersion,
        kind: cluster.kind,
        name: cluster.metadata.name,
        uid: cluster.metadata.uid ?? '',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}

/** The nodes' non-secret settings (the configuration contract of the chat node). */
export function nodeSettings(cluster: ChatCluster): Record<string, string> {
  const { spec } = cluster;
  const env: Record<string, string> = {
    CHAT_CLUSTER: clusterId(cluster),
    CHAT_PORT: String(NODE_PORT),
    CHAT_ADMIN_PORT: String(ADMIN_PORT),
    CHAT_DATA_DIR: '/data',
    CHAT_NATS_URL: spec.nats.url,
    CHAT_REDIS_URL: spec.redis.url,
    CHAT_CASSANDRA_CONTACT_POINTS: spec.cassandra.contactPoints.join(','),
    CHAT_CASSANDRA_KEYSPACE: spec.cassandra.keyspace,
    CHAT_CASSANDRA_LOCAL_DC: spec.cassandra.localDataCenter,
    CHAT_CASSANDRA_REPLICATION: String(spec.cassandra.replication),
    // Discovery balances by connections ÷ capacity, so only the ratio between nodes matters there;
    // the number is what a node reports as its ceiling. The autoscaler aims at the target, and a
    // load spike runs ahead of it (new pods take a while to be ready): twice the target is the
    // headroom a node is expected to carry meanwhile.
    CHAT_CAPACITY: String(spec.targetConnectionsPerNode * 2),
  };
  Object.assign(env, credentials(cluster).settings);
  if (spec.push?.webhookUrl) env.CHAT_PUSH_WEBHOOK_URL = spec.push.webhookUrl;
  if (spec.expose.nodes === 'NodePort' && spec.expose.nodePortBase !== undefined) {
    env.CHAT_PUBLIC_PORT_BASE = String(spec.expose.nodePortBase);
  }
  return env;
}

/**
 * The URL each node advertises in discovery (CHAT_PUBLIC_URL; `$(POD_NAME)` is expanded by the
 * kubelet): its cluster address, the public host (its port is CHAT_PUBLIC_PORT_BASE + node id), or
 * its own host under the Ingress host.
 */
export function publicUrl(cluster: ChatCluster): string {
  const { expose } = cluster.spec;
  if (expose.nodes === 'NodePort') return `http://${expose.host}`;
  if (expose.nodes === 'Ingress' && expose.ingress) {
    return `${expose.ingress.tlsSecretName ? 'https' : 'http'}://$(POD_NAME).${expose.ingress.host}`;
  }
  return `http://$(POD_NAME).${headlessName(cluster)}.${namespaceOf(cluster)}.svc:${NODE_PORT}`;
}

/** The backends' credentials and TLS: ConfigMap entries, Secret env entries and Secret volumes. */
export function credentials(cluster: ChatCluster) {
  const { nats, redis, cassandra } = cluster.spec;
  return renderCredentials({ nats, redis, cassandra });
}

function secretEnv(cluster: ChatCluster): object[] {
  const { auth } = cluster.spec;
  const env: object[] = [
    {
      name: 'CHAT_JWT_SECRET',
      valueFrom: { secretKeyRef: { name: auth.jwtSecretRef.name, key: auth.jwtSecretRef.key } },
    },
  ];
  if (auth.adminTokenRef) {
    env.push({
      name: 'CHAT_ADMIN_TOKEN',
      valueFrom: { secretKeyRef: { name: auth.adminTokenRef.name, key: auth.adminTokenRef.key } },
    });
  }
  env.push(...credentials(cluster).env);
  return env;
}

/**
 * spec.podTemplate's topology spread, or the default: the nodes spread over zones and over hosts, at
 * most one apart, as a preference (a cluster with one zone or one host still schedules them).
 */
export function topologySpread(cluster: ChatCluster): Record<string, unknown>[] {
  const labelSelector = { matchLabels: nodeLabels(cluster) };
  const given = cluster.spec.podTemplate.topologySpreadConstraints;
  if (given) return given.map((c) => ({ labelSelector, ...c }));
  return ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector,
  }));
}

/** The pod-level fields of spec.podTemplate that are set, for the StatefulSet's pod spec. */
function podFields(cluster: ChatCluster): Record<string, unknown> {
  const t = cluster.spec.podTemplate;
  const out: Record<string, unknown> = { topologySpreadConstraints: topologySpread(cluster) };
  if (t.imagePullSecrets?.length) out.imagePullSecrets = t.imagePullSecrets;
  if (t.nodeSelector) out.nodeSelector = t.nodeSelector;
  if (t.tolerations?.length) out.tolerations = t.tolerations;
  if (t.affinity) out.affinity = t.affinity;
  if (t.priorityClassName) out.priorityClassName = t.priorityClassName;
  return out;
}

/**
 * The container's env: spec.podTemplate.env first, without the names the operator sets itself
 * (here or in the ConfigMap: env wins over envFrom, so a user's CHAT_PORT would), then the operator's.
 */
function containerEnv(cluster: ChatCluster): object[] {
  const own: ({ name: string } & Record<string, unknown>)[] = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    {
      name: 'CHAT_NODE_ID',
      valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } },
    },
    { name: 'CHAT_PUBLIC_URL', value: publicUrl(cluster) },
    // The operator and chatctl call the admin API here (the registry names it).
    { name: 'CHAT_ADMIN_URL', value: `http://$(POD_IP):${ADMIN_PORT}` },
    ...(secretEnv(cluster) as ({ name: string } & Record<string, unknown>)[]),
  ];
  const taken = new Set([...own.map((e) => e.name), ...Object.keys(nodeSettings(cluster))]);
  const extra = (cluster.spec.podTemplate.env ?? []).filter((e) => !taken.has(String(e.name)));
  return [...extra, ...own];
}

/** The hash of the pod template that buildObjects stamped on its StatefulSet (TEMPLATE_HASH_ANNOTATION). */
export function renderedTemplateHash(objects: readonly KubeObject[]): string | undefined {
  return objects.find((o) => o.kind === 'StatefulSet')?.metadata.annotations?.[TEMPLATE_HASH_ANNOTATION];
}

/** The StatefulSet, annotated with the hash of its pod template (TEMPLATE_HASH_ANNOTATION). */
function statefulSet(cluster: ChatCluster, replicas: number, hash: string): KubeObject {
  const labels = nodeLabels(cluster);
  const template = cluster.spec.podTemplate;
  const probe = (path: string, periodSeconds: number) => ({
    httpGet: { path, port: 'http' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  const sts: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(cluster, cluster.metadata.name),
    spec: {
      replicas,
      serviceName: headlessName(cluster),
      selector: { matchLabels: labels },
      // Nodes are independent: start and stop them together. Rollouts are the operator's (drain
      // first, then delete the pod), so the StatefulSet never replaces a pod on its own.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      template: {
        metadata: {
          labels: { ...template.labels, ...labels },
          annotations: { ...template.annotations, [CONFIG_HASH_ANNOTATION]: hash },
        },
        spec: {
          ...podFields(cluster),
          serviceAccountName: accountName(cluster),
          automountServiceAccountToken: false,
          // Service links would inject <SERVICE>_PORT variables: a ChatCluster named `chat` has a
          // Service `chat`, whose CHAT_PORT=tcp://… collides with the configuration contract.
          enableServiceLinks: false,
          // SIGTERM makes a node drain: its clients reconnect elsewhere, paced, before it exits.
          terminationGracePeriodSeconds: 60,
          // The `restricted` Pod Security Standard.
          securityContext: {
            runAsNonRoot: true,
            runAsUser: NODE_UID,
            runAsGroup: NODE_UID,
            fsGroup: NODE_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'chat-node',
              image: cluster.spec.image,
              ...(template.imagePullPolicy ? { imagePullPolicy: template.imagePullPolicy } : {}),
              ports: [
                { name: 'http', containerPort: NODE_PORT },
                { name: 'admin', containerPort: ADMIN_PORT },
              ],
              envFrom: [{ configMapRef: { name: configName(cluster) } }],
              env: containerEnv(cluster),
              // A node listens only once its backends are connected and the schema is migrated:
              // the startup probe gives it two minutes before the liveness probe may restart it.
              startupProbe: { ...probe('/healthz', 2), failureThreshold: 60 },
              readinessProbe: probe('/readyz', 5),
              livenessProbe: probe('/healthz', 10),
              resources: cluster.spec.resources ?? {},
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'data', mountPath: '/data' }, ...credentials(cluster).volumeMounts],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }, ...credentials(cluster).volumes],
        },
      },
    },
  };
  const templateHash = createHash('sha256')
    .update(JSON.stringify((sts.spec as { template: unknown }).template))
    .digest('hex')
    .slice(0, 16);
  sts.metadata.annotations = { [TEMPLATE_HASH_ANNOTATION]: templateHash };
  return sts;
}

/** A short, stable hash of the ConfigMap's data (keys sorted, so their order does not matter). */
export function settingsHash(settings: Record<string, string>): string {
  const sorted = Object.keys(settings)
    .sort()
    .map((k) => [k, settings[k]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

/**
 * Every object a ChatCluster owns, complete, for server-side apply. Pure: the same cluster and
 * replica count always give the same objects (applying them twice changes nothing).
 */
export function buildObjects(cluster: ChatCluster, replicas: number): KubeObject[] {
  const labels = nodeLabels(cluster);
  const settings = nodeSettings(cluster);
  const hash = settingsHash(settings);
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(cluster, accountName(cluster)),
      automountServiceAccountToken: false,
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(cluster, configName(cluster)), data: settings },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(cluster, headlessName(cluster)),
      spec: {
        clusterIP: 'None',
        publishNotReadyAddresses: true,
        selector: labels,
        ports: [
          { name: 'http', port: NODE_PORT, targetPort: 'http' },
          { name: 'admin', port: ADMIN_PORT, targetPort: 'admin' },
        ],
      },
    },
    clientService(cluster),
    ...nodeServices(cluster),
    ...ingress(cluster),
    statefulSet(cluster, replicas, hash),
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta(cluster, cluster.metadata.name),
      spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
    },
  ];
}

/** The client Service: the entry for login, discovery and the HTTP API (port 80, never the admin port). */
function clientService(cluster: ChatCluster): KubeObject {
  const { service } = cluster.spec.expose;
  const port: Record<string, unknown> = { name: 'http', port: 80, targetPort: 'http' };
  if (service.type !== 'ClusterIP' && service.nodePort !== undefined) port.nodePort = service.nodePort;
  const metadata = meta(cluster, cluster.metadata.name);
  if (service.annotations) metadata.annotations = { ...service.annotations };
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: { type: service.type, selector: nodeLabels(cluster), ports: [port] },
  };
}

/**
 * One Service per node when clients reach nodes from outside: a NodePort at nodePortBase + ordinal,
 * or the backend of the node's Ingress host. One for every ordinal up to maxReplicas, so that a node
 * is reachable the moment it starts (a Service without its pod has no endpoints).
 */
function nodeServices(cluster: ChatCluster): KubeObject[] {
  const { expose, maxReplicas } = cluster.spec;
  if (expose.nodes === 'Cluster') return [];
  const nodePort = expose.nodes === 'NodePort';
  return Array.from({ length: maxReplicas }, (_, ordinal) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cluster, nodeServiceName(cluster, ordinal)),
    spec: {
      type: nodePort ? 'NodePort' : 'ClusterIP',
      selector: { ...nodeLabels(cluster), [POD_NAME_LABEL]: podName(cluster, ordinal) },
      ports: [
        {
          name: 'http',
          port: NODE_PORT,
          targetPort: 'http',
          ...(nodePort ? { nodePort: (expose.nodePortBase ?? 0) + ordinal } : {}),
        },
      ],
    },
  }));
}

/** The Ingress: the entry host to the client Service and, with nodes Ingress, one host per node. */
function ingress(cluster: ChatCluster): KubeObject[] {
  const { expose, maxReplicas } = cluster.spec;
  const spec = expose.ingress;
  if (!spec) return [];
  const rule = (host: string, service: string, port: number) => ({
    host,
    http: {
      paths: [
        { path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: port } } } },
      ],
    },
  });
  const rules = [rule(spec.host, cluster.metadata.name, 80)];
  if (expose.nodes === 'Ingress') {
    for (let ordinal = 0; ordinal < maxReplicas; ordinal++) {
      rules.push(
        rule(`${podName(cluster, ordinal)}.${spec.host}`, nodeServiceName(cluster, ordinal), NODE_PORT),
      );
    }
  }
  const metadata = meta(cluster, cluster.metadata.name);
  if (spec.annotations) metadata.annotations = { ...spec.annotations };
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata,
      spec: {
        ...(spec.className ? { ingressClassName: spec.className } : {}),
        ...(spec.tlsSecretName
          ? { tls: [{ hosts: [spec.host, `*.${spec.host}`], secretName: spec.tlsSecretName }] }
          : {}),
        rules,
      },
    },
  ];
}
