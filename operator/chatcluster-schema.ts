/**
 * The ChatCluster custom resource (`chatplatform.io/v1alpha1`), defined once. The OpenAPI v3 schema
 * below is what the API server validates and defaults with; the TypeScript types are derived from it;
 * `npm run crds` writes it into `crds/`. The operator, chatctl and the CRD YAML cannot drift apart.
 * The schema is written with the typed builders of openapi-schema.ts.
 */

import {
  cassandraCredentialFields,
  cassandraCredentialRules,
  natsCredentialFields,
  natsCredentialRules,
  redisCredentialFields,
  redisCredentialRules,
} from './backend-credentials.ts';
import {
  array,
  boolean,
  type Infer,
  type InferInput,
  integer,
  intOrString,
  map,
  number,
  object,
  opaque,
  type Schema,
  string,
} from './openapi-schema.ts';

// --- shared shapes ------------------------------------------------------------------------------

/** A key of a Secret in the ChatCluster's namespace. */
const secretKeyRef = (description: string) =>
  object(
    description,
    {
      name: string("Name of the Secret, in the ChatCluster's namespace.", { minLength: 1, maxLength: 253 }),
      key: string('Key within the Secret.', { minLength: 1 }),
    },
    ['name', 'key'],
  );

const scalingBehavior = (direction: 'up' | 'down', windowSeconds: number) =>
  object(
    `How the autoscaler scales ${direction}.`,
    {
      stabilizationWindowSeconds: integer(
        direction === 'up'
          ? 'Scale up only to the lowest recommendation of this window (0 = at once).'
          : 'Scale down only to the highest recommendation of this window, so a dip in load does not remove nodes.',
        { default: windowSeconds, minimum: 0, maximum: 3600 },
      ),
      tolerance: number(
        direction === 'up'
          ? 'No scale-up while connections ÷ (nodes × target) ≤ 1 + tolerance (0.1 = 10 %).'
          : 'No scale-down while connections ÷ (nodes × target) ≥ 1 − tolerance (0.1 = 10 %).',
        { default: 0.1, minimum: 0, maximum: 1 },
      ),
    },
    [],
    { default: {} },
  );

/** corev1.ResourceRequirements (claims left out: chat nodes use no dynamic resources). */
const resourceRequirements = object(
  'CPU and memory of each chat node (corev1 ResourceRequirements), copied into the StatefulSet.',
  {
    limits: map('Most a node may use, e.g. {cpu: "2", memory: 2Gi}.', intOrString('A quantity.')),
    requests: map(
      'What the scheduler reserves for a node, e.g. {cpu: 500m, memory: 1Gi}.',
      intOrString('A quantity.'),
    ),
  },
);

/** metav1.Condition, as controller-gen writes it. */
const condition = object(
  'One aspect of the cluster: Ready, Scaling, Rebalancing, Degraded, or Deleting while it goes.',
  {
    type: string('Ready, Scaling, Rebalancing, Degraded or Deleting.', {
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: string('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    reason: string('Why, in one CamelCase word (stable: tools match on it).', {
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: string('Why, for people.', { maxLength: 32768 }),
    lastTransitionTime: string('When status last changed.', { format: 'date-time' }),
    observedGeneration: integer('The .metadata.generation this condition was computed from.', {
      format: 'int64',
      minimum: 0,
    }),
  },
  ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
);

// --- spec ---------------------------------------------------------------------------------------

const specSchema = object(
  'Desired state: what to run and how to scale and rebalance it.',
  {
    image: string('Container image of the chat node, e.g. chat-platform/chat-node:0.1.0.', { minLength: 1 }),
    replicas: integer(
      "Desired node count, the spec.replicas of the scale subresource (always set, so reading the scale works). Who writes it is replicasManagedBy: the operator's autoscaler, or an outside scaler (kubectl scale, chatctl scale, an HPA, KEDA). Kept within minReplicas..maxReplicas.",
      { default: 1, minimum: 0 },
    ),
    deletionPolicy: string(
      "What happens to the cluster's data (its JetStream stream, its Cassandra keyspace, its Redis keys) when the ChatCluster is deleted. Retain: nothing, the data stays for a new ChatCluster of the same name and namespace. Delete: the operator holds the deletion with a finalizer until the nodes are gone, then removes the data and lets the ChatCluster go. May be changed at any time, also while a deletion waits: Retain lets it finish at once and keeps what is left.",
      { default: 'Retain', enum: ['Retain', 'Delete'] },
    ),
    replicasManagedBy: string(
      "Who decides spec.replicas. Operator: the operator's autoscaler, which writes its decision into spec.replicas (an outside write is overwritten at the next reconcile). External: whatever writes the scale subresource (kubectl scale, an HPA, KEDA); the operator follows spec.replicas and its autoscaler steps aside. Set Operator again to hand control back.",
      { default: 'Operator', enum: ['Operator', 'External'] },
    ),
    minReplicas: integer('Never fewer nodes than this, whatever the load.', { default: 1, minimum: 0 }),
    maxReplicas: integer('Never more nodes than this, whatever the load.', { default: 10, minimum: 1 }),
    targetConnectionsPerNode: integer(
      'WebSocket connections one node should carry; desired nodes = ceil(connections ÷ this).',
      { default: 10_000, minimum: 1 },
    ),
    scaleUp: scalingBehavior('up', 0),
    scaleDown: scalingBehavior('down', 300),
    rebalance: object(
      'How sessions move off overloaded nodes (after a scale-up new nodes start empty).',
      {
        maxSessionsMovedPerMinute: integer(
          'Sessions asked to reconnect elsewhere per minute, across the cluster: by rebalancing, and by every drain (scale-down, rollout, the drain annotation), which share it. 0 = never rebalance (drains then move 1 a second in all). The default, 12,000 (200 a second), is what a measured cluster took without errors and kept pace with, at less than half the rate where it fell behind (docs/capacity.md).',
          { default: 12_000, minimum: 0 },
        ),
        imbalanceThreshold: number('Rebalance when a node carries more than (1 + this) × the average.', {
          default: 0.2,
          minimum: 0,
          maximum: 1,
        }),
      },
      [],
      { default: {} },
    ),
    resources: resourceRequirements,
    podTemplate: object(
      'What the operator copies into every node pod, for the cluster the nodes run on.',
      {
        labels: map("Extra pod labels (the operator's own labels win).", string('A value.')),
        annotations: map('Pod annotations, e.g. for a service mesh or a log agent.', string('A value.')),
        imagePullSecrets: array(
          'Secrets to pull the image with.',
          object(
            'A Secret of type kubernetes.io/dockerconfigjson.',
            { name: string('Its name.', { minLength: 1 }) },
            ['name'],
          ),
        ),
        imagePullPolicy: string('Always, IfNotPresent or Never. Unset: the Kubernetes default.', {
          enum: ['Always', 'IfNotPresent', 'Never'],
        }),
        nodeSelector: map('Node labels the pods must run on.', string('A value.')),
        tolerations: array('corev1 Tolerations of the pods.', opaque('A toleration.')),
        affinity: opaque('corev1 Affinity of the pods.'),
        topologySpreadConstraints: array(
          'corev1 TopologySpreadConstraints (their labelSelector defaults to the nodes). Unset: spread over zones and over hosts, at most one node apart, preferred (ScheduleAnyway). [] turns it off.',
          opaque('A constraint.'),
        ),
        priorityClassName: string('The PriorityClass of the pods.', { minLength: 1 }),
        env: array(
          "Extra environment variables of the node container (corev1 EnvVar, value or valueFrom). The operator's CHAT_* settings win over one of the same name.",
          opaque('An env var.'),
        ),
      },
      [],
      { default: {} },
    ),
    nats: object(
      'NATS JetStream that carries messages between nodes (CHAT_NATS_URL), with its credentials and TLS by Secret reference.',
      {
        url: string('e.g. nats://nats.chat.svc:4222 (no credentials in it: see user, tokenRef, credsRef).', {
          minLength: 1,
          pattern: '^(nats|tls)://[^@]*$',
        }),
        ...natsCredentialFields,
      },
      ['url'],
      { 'x-kubernetes-validations': natsCredentialRules },
    ),
    redis: object(
      'Redis for presence, sessions and the node registry (CHAT_REDIS_URL), with its credentials and TLS by Secret reference.',
      {
        url: string('e.g. redis://redis.chat.svc:6379 (no password in it: see passwordRef).', {
          minLength: 1,
          pattern: '^rediss?(\\+cluster)?://[^@]*$',
        }),
        ...redisCredentialFields,
      },
      ['url'],
      { 'x-kubernetes-validations': redisCredentialRules },
    ),
    cassandra: object(
      'Cassandra that keeps the history (CHAT_CASSANDRA_*).',
      {
        contactPoints: array(
          'host[:port] of some Cassandra nodes.',
          string('host[:port]', { minLength: 1 }),
          {
            minItems: 1,
          },
        ),
        keyspace: string('Keyspace, created when missing.', {
          default: 'chat',
          pattern: '^[a-z][a-z0-9_]{0,47}$',
        }),
        localDataCenter: string('The data center the nodes talk to.', {
          default: 'datacenter1',
          minLength: 1,
        }),
        replication: integer('Replication factor used when the keyspace is created.', {
          default: 3,
          minimum: 1,
          maximum: 15,
        }),
        ...cassandraCredentialFields,
      },
      ['contactPoints'],
      { 'x-kubernetes-validations': cassandraCredentialRules },
    ),
    expose: object(
      'How clients reach the chat: the client Service (the entry for login, discovery and the HTTP API), and the URL of each node that discovery hands out (docs/operator.md, "Reaching the chat from outside").',
      {
        service: object(
          'The client Service <name>, in front of every node (port 80). It never carries the admin port.',
          {
            type: string('ClusterIP, NodePort or LoadBalancer.', {
              default: 'ClusterIP',
              enum: ['ClusterIP', 'NodePort', 'LoadBalancer'],
            }),
            nodePort: integer(
              'NodePort or LoadBalancer: the node port of the entry. Unset: Kubernetes picks one.',
              {
                minimum: 1,
                maximum: 65535,
              },
            ),
            annotations: map(
              'Annotations of the client Service, e.g. for a cloud load balancer.',
              string('A value.'),
            ),
          },
          [],
          { default: {} },
        ),
        nodes: string(
          'Where a client reaches one node, the URL discovery hands out. Cluster: <pod>.<name>-nodes.<namespace>.svc:8080, for clients inside the cluster. NodePort: <host>:<nodePortBase + ordinal>, through a NodePort Service per node. Ingress: <pod>.<ingress.host>, through a rule per node in the Ingress.',
          { default: 'Cluster', enum: ['Cluster', 'NodePort', 'Ingress'] },
        ),
        host: string(
          'nodes NodePort: a DNS name or address that reaches the Kubernetes nodes from where the clients are.',
          { minLength: 1, maxLength: 253 },
        ),
        nodePortBase: integer(
          'nodes NodePort: the node port of node 0; node N is at nodePortBase + N (maxReplicas ports from here must be free in the cluster).',
          { minimum: 1, maximum: 65535 },
        ),
        ingress: object(
          'An Ingress for the entry and, with nodes Ingress, one host per node. Its controller must carry WebSockets (the common ones do; raise their read timeout above the heartbeat, e.g. with an annotation).',
          {
            className: string('The IngressClass. Unset: the cluster default.', { minLength: 1 }),
            host: string(
              'The entry host, e.g. chat.example.com; node N is at <name>-N.<host> (a wildcard DNS record).',
              {
                minLength: 1,
                maxLength: 253,
                pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
              },
            ),
            tlsSecretName: string(
              'A TLS Secret (certificate and key) for <host> and *.<host>: TLS ends at the Ingress and clients use https and wss. Unset: http.',
              { minLength: 1, maxLength: 253 },
            ),
            annotations: map(
              'Annotations of the Ingress (timeouts, certificate issuers…).',
              string('A value.'),
            ),
          },
          ['host'],
        ),
      },
      [],
      {
        default: {},
        'x-kubernetes-validations': [
          {
            rule: "!has(self.nodes) || self.nodes != 'NodePort' || (has(self.host) && has(self.nodePortBase))",
            message: 'nodes NodePort needs host and nodePortBase',
            fieldPath: '.nodes',
            reason: 'FieldValueRequired',
          },
          {
            rule: "!has(self.nodes) || self.nodes != 'Ingress' || has(self.ingress)",
            message: 'nodes Ingress needs ingress',
            fieldPath: '.nodes',
            reason: 'FieldValueRequired',
          },
        ],
      },
    ),
    push: object('Push notifications for offline users.', {
      webhookUrl: string(
        'POST a JSON notification here for each offline recipient (CHAT_PUSH_WEBHOOK_URL). Unset: log only.',
        { pattern: '^https?://' },
      ),
    }),
    auth: object(
      'Secrets by reference; the operator passes them to the nodes, never into the ChatCluster.',
      {
        jwtSecretRef: secretKeyRef('The token signing secret, at least 32 characters (CHAT_JWT_SECRET).'),
        adminTokenRef: secretKeyRef(
          "Bearer token of the nodes' /admin API (CHAT_ADMIN_TOKEN); the operator drains and rebalances through it. Unset: the admin API is off.",
        ),
      },
      ['jwtSecretRef'],
    ),
  },
  ['image', 'nats', 'redis', 'cassandra', 'auth'],
  {
    'x-kubernetes-validations': [
      {
        rule: 'self.minReplicas <= self.maxReplicas',
        message: 'minReplicas must not exceed maxReplicas',
        fieldPath: '.minReplicas',
        reason: 'FieldValueInvalid',
      },
      {
        rule: '!has(self.expose) || !has(self.expose.nodePortBase) || self.expose.nodePortBase + self.maxReplicas <= 65536',
        message: 'expose.nodePortBase + maxReplicas must not pass 65536',
        fieldPath: '.expose.nodePortBase',
        reason: 'FieldValueInvalid',
      },
    ],
  },
);

// --- status -------------------------------------------------------------------------------------

const nodeStatus = object(
  'One chat node, as the operator last saw it.',
  {
    name: string('Pod name.'),
    ordinal: integer('StatefulSet ordinal.', { minimum: 0 }),
    nodeId: integer('Snowflake node id.', { minimum: 0, maximum: 1023 }),
    url: string('The URL the node advertises in discovery.'),
    connections: integer('Open WebSocket connections.', { minimum: 0 }),
    draining: boolean('The node takes no new sessions (it is about to go, or was drained by hand).'),
  },
  ['name', 'ordinal'],
);

const statusSchema = object('Observed state, written by the operator.', {
  replicas: integer('Nodes that exist (the scale subresource reads this).', { minimum: 0 }),
  readyReplicas: integer('Nodes that are ready.', { minimum: 0 }),
  updatedReplicas: integer(
    "Nodes on the current pod template: counted only once the StatefulSet carries this generation's template and its controller has seen it (0 until then), so a rollout is done when updatedReplicas, readyReplicas and replicas all equal the node count.",
    { minimum: 0 },
  ),
  connections: integer('Open WebSocket connections across all nodes.', { minimum: 0 }),
  nodes: array('Each node with its load.', nodeStatus, {
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  }),
  selector: string('Label selector of the nodes, for the scale subresource (and so for autoscalers).'),
  observedGeneration: integer('The .metadata.generation this status was computed from.', {
    format: 'int64',
    minimum: 0,
  }),
  sessionMoves: array(
    'Sessions the operator asked to move in the last minute, against rebalance.maxSessionsMovedPerMinute: a new leader starts from them.',
    object(
      'Sessions asked to move at one time.',
      {
        at: string('When.', { format: 'date-time' }),
        count: integer('How many.', { minimum: 0 }),
        ordinal: integer('From which node.', { minimum: 0 }),
      },
      ['at', 'count'],
    ),
    { 'x-kubernetes-list-type': 'atomic', maxItems: 1000 },
  ),
  drainRequest: object(
    'The drain asked for by the chatplatform.io/drain annotation, while it names a pod.',
    {
      pod: string('The pod the annotation names.'),
      ordinal: integer('Its StatefulSet ordinal.', { minimum: 0 }),
      state: string(
        'Pending (the node does not report yet), Draining, Drained (no session left; it stays drained while the annotation names it) or Failed.',
        { enum: ['Pending', 'Draining', 'Drained', 'Failed'] },
      ),
      sessionsLeft: integer('Sessions still on the node.', { minimum: 0 }),
      startedAt: string('When the operator first saw the request.', { format: 'date-time' }),
      finishedAt: string('When the node was first seen drained, or the request failed.', {
        format: 'date-time',
      }),
      message: string('What is happening, for people.'),
    },
    ['pod', 'state', 'startedAt', 'message'],
  ),
  rebalanceRequest: object(
    'The rebalance asked for by the chatplatform.io/rebalance annotation (its value is the request).',
    {
      request: string('The annotation value this is the progress of.'),
      state: string('Pending (waiting for scaling or a rollout), Running, Done or Failed.', {
        enum: ['Pending', 'Running', 'Done', 'Failed'],
      }),
      sessionsMoved: integer('Sessions asked to move for this request.', { minimum: 0 }),
      rounds: integer('Rounds of moves so far.', { minimum: 0 }),
      startedAt: string('When the operator first saw the request.', { format: 'date-time' }),
      finishedAt: string('When it was done or failed.', { format: 'date-time' }),
      message: string('What is happening, for people.'),
    },
    ['request', 'state', 'startedAt', 'message'],
  ),
  deletion: object(
    'Progress of a deletion with deletionPolicy Delete.',
    {
      phase: string(
        'WaitingForPods, KeyspaceInUse (refused: another ChatCluster names the keyspace), RemovingData, or Retrying after a failure.',
        { enum: ['WaitingForPods', 'KeyspaceInUse', 'RemovingData', 'Retrying'] },
      ),
      attempts: integer('Data removals started.', { minimum: 0 }),
      lastAttemptAt: string('When the last removal started.', { format: 'date-time' }),
      nextAttemptAt: string('After a failure: when the next removal starts.', { format: 'date-time' }),
      lastError: string('Why the last removal failed.'),
      message: string('What is happening, for people.'),
    },
    ['phase', 'message'],
  ),
  conditions: array('Ready, Scaling, Rebalancing and Degraded; Deleting while it goes.', condition, {
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  }),
});

// --- the resource -------------------------------------------------------------------------------

export const GROUP = 'chatplatform.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ChatCluster';
export const PLURAL = 'chatclusters';
export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const CONDITION_TYPES = ['Ready', 'Scaling', 'Rebalancing', 'Degraded', 'Deleting'] as const;

export type ChatClusterSpec = Infer<typeof specSchema>;
export type ChatClusterSpecInput = InferInput<typeof specSchema>;
export type ChatClusterStatus = Infer<typeof statusSchema>;
export type ChatClusterNodeStatus = Infer<typeof nodeStatus>;
export type ChatClusterCondition = Infer<typeof condition>;
export type ChatClusterConditionType = (typeof CONDITION_TYPES)[number];

/** Just the metadata fields this project reads; the API server returns more. */
export interface ChatClusterMetadata {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  /** Set once the ChatCluster is being deleted (it stays while a finalizer is left). */
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A ChatCluster as the API server returns it. */
export interface ChatCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ChatClusterMetadata;
  spec: ChatClusterSpec;
  status?: ChatClusterStatus;
}

/** The namespace of a ChatCluster (`default` when the object does not say). */
export function namespaceOf(cluster: { metadata: { namespace?: string } }): string {
  return cluster.metadata.namespace ?? 'default';
}

/** The whole object's schema: the `openAPIV3Schema` of the CRD. */
export const chatClusterSchema = object(
  'A chat cluster: chat nodes (a StatefulSet) that the operator scales by live connections and rebalances.',
  {
    apiVersion: string('APIVersion defines the versioned schema of this representation of an object.'),
    kind: string('Kind is a string value representing the REST resource this object represents.'),
    metadata: { type: 'object' } as Schema<ChatClusterMetadata>,
    spec: specSchema,
    status: statusSchema,
  },
  ['spec'],
);

/** The CustomResourceDefinition, as `npm run crds` writes it to crds/. */
export const chatClusterCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: CRD_NAME },
  spec: {
    group: GROUP,
    names: {
      kind: KIND,
      listKind: `${KIND}List`,
      plural: PLURAL,
      singular: 'chatcluster',
      shortNames: ['chat'],
      categories: ['chatplatform'],
    },
    scope: 'Namespaced',
    versions: [
      {
        name: VERSION,
        served: true,
        storage: true,
        schema: { openAPIV3Schema: chatClusterSchema },
        subresources: {
          status: {},
          scale: {
            specReplicasPath: '.spec.replicas',
            statusReplicasPath: '.status.replicas',
            labelSelectorPath: '.status.selector',
          },
        },
        additionalPrinterColumns: [
          {
            name: 'Replicas',
            type: 'integer',
            jsonPath: '.status.replicas',
            description: 'Nodes that exist.',
          },
          {
            name: 'Ready',
            type: 'integer',
            jsonPath: '.status.readyReplicas',
            description: 'Nodes that are ready.',
          },
          {
            name: 'Connections',
            type: 'integer',
            jsonPath: '.status.connections',
            description: 'Open WebSocket connections across all nodes.',
          },
          {
            name: 'Target',
            type: 'integer',
            jsonPath: '.spec.targetConnectionsPerNode',
            description: 'Connections one node should carry.',
          },
          {
            name: 'Status',
            type: 'string',
            jsonPath: '.status.conditions[?(@.type=="Ready")].status',
            description: 'Status of the Ready condition.',
          },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
      },
    ],
  },
} as const;
