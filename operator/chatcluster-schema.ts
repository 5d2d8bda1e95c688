/**
 * The ChatCluster custom resource (`chatplatform.io/v1alpha1`), defined once. The OpenAPI v3 schema
 * below is what the API server validates and defaults with; the TypeScript types are derived from it;
 * `npm run crds` writes it into `crds/`. The operator, chatctl and the CRD YAML cannot drift apart.
 *
 * The schema is written with a few builders (`string`, `integer`, `object`, …) that return the plain
 * OpenAPI object and carry, for the compiler only, the type of the values it accepts: `Infer<S>` is a
 * value as the API server returns it (defaults filled in), `InferInput<S>` one as a user may write it.
 */

/** An OpenAPI v3 schema node: the structural subset that CustomResourceDefinitions accept. */
export interface OpenApiSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  default?: unknown;
  format?: string;
  enum?: readonly string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  items?: OpenApiSchema;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema;
  required?: readonly string[];
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: readonly string[];
  'x-kubernetes-validations'?: readonly CelRule[];
}

/** A CEL validation rule; `fieldPath` makes the error name that field instead of the object. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

declare const carries: unique symbol;
/**
 * A schema node that carries (for the compiler only) `Out`, the type of a value the API server returns,
 * `In`, the type of a value a user writes, and whether the node has a default.
 */
export type Schema<Out, In = Out, Defaulted extends boolean = boolean> = OpenApiSchema & {
  readonly [carries]?: { out: Out; in: In; defaulted: Defaulted };
};

/** The type of a value as the API server returns it: defaults filled in. */
export type Infer<S> = S extends { readonly [carries]?: { out: infer T } } ? T : never;
/** The type of a value as a user writes it: fields with defaults may be left out. */
export type InferInput<S> = S extends { readonly [carries]?: { in: infer T } } ? T : never;

type Options = Omit<OpenApiSchema, 'type' | 'description' | 'properties' | 'items' | 'required'>;
type NoOptions = Record<never, never>;
type HasDefault<O> = O extends { default: unknown } ? true : false;
type IsDefaulted<S> = S extends { readonly [carries]?: { defaulted: true } } ? true : false;
type Shape = Record<string, Schema<unknown, unknown>>;
type Flat<T> = { [K in keyof T]: T[K] } & {};
/** Returned objects: required and defaulted fields are always there. */
type ObjectOut<P extends Shape, R extends keyof P> = Flat<
  { [K in keyof P as K extends R ? K : IsDefaulted<P[K]> extends true ? K : never]: Infer<P[K]> } & {
    [K in keyof P as K extends R ? never : IsDefaulted<P[K]> extends true ? never : K]?: Infer<P[K]>;
  }
>;
/** Written objects: only required fields must be there. */
type ObjectIn<P extends Shape, R extends keyof P> = Flat<
  { [K in keyof P as K extends R ? K : never]: InferInput<P[K]> } & {
    [K in keyof P as K extends R ? never : K]?: InferInput<P[K]>;
  }
>;

/** T, or the union of the allowed values when the options list them (`enum`). */
type Narrowed<T, O> = O extends { enum: readonly (infer E extends T)[] } ? E : T;

const leaf =
  <T>(type: 'string' | 'integer' | 'number' | 'boolean') =>
  <const O extends Options = NoOptions>(description: string, options?: O) =>
    ({ type, description, ...options }) as Schema<Narrowed<T, O>, Narrowed<T, O>, HasDefault<O>>;

const string = leaf<string>('string');
const integer = leaf<number>('integer');
const number = leaf<number>('number');
const boolean = leaf<boolean>('boolean');

/** A Kubernetes quantity or port: `500m`, `1Gi` or a plain number. */
const intOrString = (description: string) =>
  ({ description, 'x-kubernetes-int-or-string': true }) as Schema<number | string>;

function object<P extends Shape, R extends keyof P & string = never, O extends Options = NoOptions>(
  description: string,
  properties: P,
  required: readonly R[] = [],
  options?: O,
) {
  const node: OpenApiSchema = { type: 'object', description, properties };
  if (required.length > 0) node.required = required;
  return { ...node, ...options } as Schema<ObjectOut<P, R>, ObjectIn<P, R>, HasDefault<O>>;
}

function array<S extends Schema<unknown, unknown>, O extends Options = NoOptions>(
  description: string,
  items: S,
  options?: O,
) {
  return { type: 'array', description, items, ...options } as Schema<
    Infer<S>[],
    InferInput<S>[],
    HasDefault<O>
  >;
}

function map<S extends Schema<unknown, unknown>>(description: string, values: S) {
  return { type: 'object', description, additionalProperties: values } as Schema<
    Record<string, Infer<S>>,
    Record<string, InferInput<S>>,
    false
  >;
}

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
  'One aspect of the cluster: Ready, Scaling, Rebalancing or Degraded.',
  {
    type: string('Ready, Scaling, Rebalancing or Degraded.', {
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
      'Desired node count: the scale subresource (kubectl scale) sets it; the autoscaler keeps it within minReplicas..maxReplicas. Unset: the autoscaler decides.',
      { minimum: 0 },
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
          'Sessions asked to reconnect elsewhere per minute, across the cluster (0 = never rebalance).',
          { default: 600, minimum: 0 },
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
    nats: object(
      'NATS JetStream that carries messages between nodes (CHAT_NATS_URL).',
      { url: string('e.g. nats://nats.chat.svc:4222.', { minLength: 1, pattern: '^(nats|tls)://' }) },
      ['url'],
    ),
    redis: object(
      'Redis for presence, sessions and the node registry (CHAT_REDIS_URL).',
      { url: string('e.g. redis://redis.chat.svc:6379.', { minLength: 1, pattern: '^rediss?://' }) },
      ['url'],
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
      },
      ['contactPoints'],
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
  conditions: array('Ready, Scaling, Rebalancing and Degraded.', condition, {
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
export const CONDITION_TYPES = ['Ready', 'Scaling', 'Rebalancing', 'Degraded'] as const;

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
