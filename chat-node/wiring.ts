/**
 * The one place that chooses backends: embedded ones by default, real ones when their URLs are set.
 * Every other module sees only the interfaces of backends/types.ts.
 */
import { ConfigError } from '../common/config.ts';
import type { NodeConfig } from '../common/node-config.ts';
import type { Backends } from './backends/types.ts';
import { EmbeddedBus } from './embedded/memory-bus.ts';
import { MemoryPresence } from './embedded/memory-presence.ts';
import { MemoryRegistry } from './embedded/memory-registry.ts';
import { LogPush, WebhookPush } from './embedded/push-providers.ts';
import { SqliteStore } from './embedded/sqlite-store.ts';
import type { Logger } from './logger.ts';

export async function createBackends(config: NodeConfig, log: Logger): Promise<Backends> {
  const real = {
    CHAT_NATS_URL: config.natsUrl,
    CHAT_REDIS_URL: config.redisUrl,
    CHAT_CASSANDRA_CONTACT_POINTS: config.cassandraContactPoints?.join(','),
  };
  const asked = Object.entries(real).filter(([, v]) => v);
  if (asked.length > 0) {
    throw new ConfigError(
      `${asked.map(([k]) => k).join(', ')}: this build has only the embedded backends; unset these variables to run a single node`,
    );
  }
  const store = new SqliteStore(config.dataDir);
  const push = config.pushWebhookUrl ? new WebhookPush(config.pushWebhookUrl) : new LogPush(log);
  return {
    store,
    bus: new EmbeddedBus(store),
    presence: new MemoryPresence({ expireMs: 3 * config.heartbeatMs }),
    registry: new MemoryRegistry(),
    push,
    nodeId: config.nodeId ?? 0,
    kinds: { store: 'sqlite', bus: 'embedded', presence: 'memory', registry: 'memory', push: push.name },
  };
}
