/**
 * Removes the JetStream streams a test created. Each stream reserves its byte bound on the server, so
 * streams left behind by test runs would fill a shared nats-server until sends fail for everyone.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsAuthOptions } from './backend-auth.ts';

/**
 * Deletes every stream whose name starts with `prefix`; returns how many. `env` (the CHAT_* lines of
 * a services topology) adds its NATS credentials and CA.
 */
export async function deleteStreams(
  natsUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<number> {
  const nc = await connect({
    servers: natsUrl,
    timeout: 5000,
    ...natsAuthOptions(env),
  });
  try {
    const jsm = await jetstreamManager(nc);
    let deleted = 0;
    for await (const name of jsm.streams.names()) {
      if (!name.startsWith(prefix)) continue;
      await jsm.streams.delete(name);
      deleted++;
    }
    return deleted;
  } finally {
    await nc.close();
  }
}

/** The stream name JetStreamBus uses for a cluster id (chat-node/backends/real/jetstream-bus.ts). */
export const streamOf = (cluster: string): string => `CHAT_${cluster.replace(/[^A-Za-z0-9_-]/g, '_')}`;
