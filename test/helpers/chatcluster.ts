/**
 * ChatCluster objects for tests: one builder instead of a literal per test file, so that a new
 * required field changes one place. `chatCluster` is an object as the API server returns it
 * (defaults filled in) for the pure functions; `chatClusterBody` is one as a user writes it, for
 * creating in a real API server (which fills in the defaults itself).
 */
import {
  API_VERSION,
  type ChatCluster,
  type ChatClusterMetadata,
  type ChatClusterSpec,
  type ChatClusterSpecInput,
  KIND,
} from '../../operator/chatcluster-schema.ts';

export interface ChatClusterParts {
  name?: string;
  namespace?: string;
  /** More metadata (uid, generation, creationTimestamp…). */
  metadata?: Partial<ChatClusterMetadata>;
  spec?: Partial<ChatClusterSpec>;
  status?: ChatCluster['status'];
}

/** A ChatCluster as the API server returns it: `chat` in `team-a`, two to ten nodes, every default set. */
export function chatCluster(parts: ChatClusterParts = {}): ChatCluster {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: parts.name ?? 'chat',
      namespace: parts.namespace ?? 'team-a',
      uid: 'uid-1',
      generation: 1,
      ...parts.metadata,
    },
    spec: {
      image: 'chat-platform/chat-node:0.1.0',
      replicas: 2,
      replicasManagedBy: 'Operator',
      deletionPolicy: 'Retain',
      minReplicas: 2,
      maxReplicas: 10,
      targetConnectionsPerNode: 10_000,
      scaleUp: { stabilizationWindowSeconds: 0, tolerance: 0.1 },
      scaleDown: { stabilizationWindowSeconds: 300, tolerance: 0.1 },
      rebalance: { maxSessionsMovedPerMinute: 600, imbalanceThreshold: 0.2 },
      nats: { url: 'nats://nats:4222' },
      redis: { url: 'redis://redis:6379' },
      cassandra: {
        contactPoints: ['cassandra:9042'],
        keyspace: 'chat',
        localDataCenter: 'dc1',
        replication: 3,
      },
      expose: { service: { type: 'ClusterIP' }, nodes: 'Cluster' },
      podTemplate: {},
      auth: { jwtSecretRef: { name: 'chat-auth', key: 'jwt' } },
      ...parts.spec,
    },
    ...(parts.status ? { status: parts.status } : {}),
  };
}

/** A ChatCluster as a user writes it (only what has no default), for `create` in a real API server. */
export function chatClusterBody(
  name: string,
  spec: Partial<ChatClusterSpecInput> = {},
): { apiVersion: string; kind: string; metadata: { name: string }; spec: ChatClusterSpecInput } {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name },
    spec: {
      image: 'chat-platform/chat-node:test',
      minReplicas: 1,
      nats: { url: 'nats://nats:4222' },
      redis: { url: 'redis://redis:6379' },
      cassandra: { contactPoints: ['cassandra:9042'] },
      auth: { jwtSecretRef: { name: 'chat-auth', key: 'jwt' } },
      ...spec,
    },
  };
}
