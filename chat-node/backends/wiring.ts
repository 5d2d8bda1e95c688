/**
 * The one place that chooses backends: embedded ones by default, real ones when their URLs are set
 * (NATS and Cassandra together, Redis on its own). Every other module sees only the interfaces of
 * backends/types.ts.
 */

import type { Logger } from '../../common/logger.ts';
import type { NodeConfig } from '../../common/node-config.ts';
import { EmbeddedBus } from './embedded/embedded-bus.ts';
import { LogPush } from './embedded/log-push.ts';
import { MemoryPresence } from './embedded/memory-presence.ts';
import { MemoryRegistry } from './embedded/memory-registry.ts';
import { MemoryTickets } from './embedded/memory-tickets.ts';
import { SqliteStore } from './embedded/sqlite-store.ts';
import { cassandraAuth, natsAuth, redisAuth } from './real/backend-auth.ts';
import { CassandraStore } from './real/cassandra-store.ts';
import { devicePushProviders } from './real/device-push.ts';
import { JetStreamBus } from './real/jetstream-bus.ts';
import { leaseNodeId } from './real/node-id-lease.ts';
import { RedisDedup } from './real/redis-dedup.ts';
import { RedisPresence } from './real/redis-presence.ts';
import { RedisRegistry } from './real/redis-registry.ts';
import { RedisTickets } from './real/redis-tickets.ts';
import { WebhookPush } from './real/webhook-push.ts';
import type { Backends, MessageBus, NodeRegistry, PresenceBackend, Store, TicketStore } from './types.ts';

/** How long a node's registry entry and node-id lease outlive its last refresh. */
const REGISTRY_TTL_MS = 10_000;
const LEASE_TTL_MS = 15_000;

export interface WiringHooks {
  /** The node lost its Snowflake node id to another process: it must stop issuing ids. */
  onFatal(err: Error): void;
}

/** Closes what createBackends opened: the store last (the bus may still write to it), then the id lease. */
export async function closeBackends(b: Backends): Promise<void> {
  await Promise.allSettled([b.bus.close(), b.presence.close(), b.registry.close(), b.tickets.close()]);
  await b.store.close().catch(() => {});
  await b.release().catch(() => {});
}

export async function createBackends(config: NodeConfig, log: Logger, hooks: WiringHooks): Promise<Backends> {
  const opened: { close(): Promise<void> }[] = [];
  const keep = <T extends { close(): Promise<void> }>(b: T): T => {
    opened.push(b);
    return b;
  };
  try {
    // Credentials and TLS, read (and their files checked) before anything connects.
    const redis = config.redisUrl ? { url: config.redisUrl, auth: redisAuth(config) } : undefined;
    const lease = config.redisUrl
      ? keep(
          await leaseNodeId({
            ...redis!,
            cluster: config.cluster,
            requested: config.nodeId,
            ttlMs: LEASE_TTL_MS,
            log,
            onLost: (id) => hooks.onFatal(new Error(`lost the lease on Snowflake node id ${id}`)),
          }).then((l) => ({ ...l, close: () => l.release() })),
        )
      : undefined;
    const nodeId = lease?.nodeId ?? config.nodeId ?? 0;

    // What each branch below actually chose, for logs and /readyz.
    const kinds: Record<string, string> = {};
    let store: Store;
    let bus: MessageBus;
    // The bus routes each message to the nodes the session registry names (presence, made below).
    let presence: PresenceBackend | undefined;
    if (config.natsUrl && config.cassandraContactPoints) {
      kinds.store = 'cassandra';
      kinds.bus = 'jetstream';
      store = keep(
        await CassandraStore.open({
          contactPoints: config.cassandraContactPoints,
          auth: cassandraAuth(config),
          localDataCenter: config.cassandraLocalDc,
          keyspace: config.cassandraKeyspace,
          replication: config.cassandraReplication,
          consistency: config.cassandraConsistency,
          log,
        }),
      );
      bus = keep(
        await JetStreamBus.open({
          url: config.natsUrl,
          auth: natsAuth(config),
          cluster: config.cluster,
          store,
          log,
          maxBytes: config.natsStreamMaxBytes,
          replicas: config.natsStreamReplicas,
          nodeId,
          ...(config.redisUrl && {
            locate: async (userIds) => {
              if (!presence?.nodesOf) return new Map(userIds.map((u) => [u, undefined]));
              return presence.nodesOf(userIds);
            },
            dedup: keep(await RedisDedup.open({ ...redis!, cluster: config.cluster, log })),
          }),
        }),
      );
    } else {
      kinds.store = 'sqlite';
      kinds.bus = 'embedded';
      store = keep(new SqliteStore(config.dataDir));
      bus = new EmbeddedBus(store);
    }

    let registry: NodeRegistry;
    let tickets: TicketStore;
    if (config.redisUrl) {
      kinds.presence = kinds.registry = kinds.tickets = 'redis';
      const common = { ...redis!, cluster: config.cluster, log };
      presence = keep(await RedisPresence.open({ ...common, expireMs: 3 * config.heartbeatMs }));
      registry = keep(await RedisRegistry.open({ ...common, ttlMs: REGISTRY_TTL_MS }));
      tickets = keep(await RedisTickets.open(common));
    } else {
      kinds.presence = kinds.registry = kinds.tickets = 'memory';
      presence = new MemoryPresence({ expireMs: 3 * config.heartbeatMs });
      registry = new MemoryRegistry();
      tickets = new MemoryTickets();
    }

    const push = config.pushWebhookUrl ? new WebhookPush(config.pushWebhookUrl) : new LogPush(log);
    kinds.push = push.name;
    // Device push: each service this node has credentials for (none by default).
    const devicePush = devicePushProviders(config);
    for (const p of Object.values(devicePush)) keep(p);
    if (Object.keys(devicePush).length > 0) kinds.devicePush = Object.keys(devicePush).join(',');
    return {
      store,
      bus,
      presence,
      registry,
      push,
      devicePush,
      tickets,
      nodeId,
      mayMint: () => lease?.mayMint() ?? true,
      release: async () => {
        await lease?.close();
      },
      kinds,
    };
  } catch (err) {
    // Whatever opened before the failure is closed, so a failed start leaves nothing running.
    await Promise.allSettled(opened.reverse().map((b) => b.close()));
    throw err;
  }
}
