/**
 * Credentials and TLS for the real backends, from the node's configuration: secrets come from the
 * environment (in Kubernetes, env entries that reference a Secret) or from files, never from URLs in
 * a ConfigMap, and never reach a log line (the config's secret keys are masked when it is printed).
 */
import { readFileSync } from 'node:fs';
import { type ConnectionOptions, credsAuthenticator } from '@nats-io/transport-node';
import type cassandra from 'cassandra-driver';
import { ConfigError } from '../../../common/config.ts';
import type { NodeConfig } from '../../../common/node-config.ts';
import type { RedisAuth } from '../../../common/redis.ts';

/** A PEM or creds file named by a config key; a file that cannot be read names the key. */
function readKeyFile(key: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

export function redisAuth(config: NodeConfig): RedisAuth | undefined {
  const auth: RedisAuth = {};
  if (config.redisUsername !== undefined) auth.username = config.redisUsername;
  if (config.redisPassword !== undefined) auth.password = config.redisPassword;
  if (config.redisTls) auth.tls = true;
  const ca = readKeyFile('CHAT_REDIS_TLS_CA_FILE', config.redisTlsCaFile);
  if (ca !== undefined) auth.ca = ca;
  return Object.keys(auth).length > 0 ? auth : undefined;
}

/** The NATS connect options for the configured credentials and TLS. */
export function natsAuth(config: NodeConfig): Partial<ConnectionOptions> {
  const o: Partial<ConnectionOptions> = {};
  if (config.natsUser !== undefined) o.user = config.natsUser;
  if (config.natsPassword !== undefined) o.pass = config.natsPassword;
  if (config.natsToken !== undefined) o.token = config.natsToken;
  const creds = readKeyFile('CHAT_NATS_CREDS_FILE', config.natsCredsFile);
  if (creds !== undefined) o.authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  const ca = readKeyFile('CHAT_NATS_TLS_CA_FILE', config.natsTlsCaFile);
  if (config.natsTls || ca !== undefined) o.tls = ca === undefined ? {} : { ca };
  return o;
}

/** The Cassandra driver options for the configured credentials and TLS. */
export function cassandraAuth(
  config: NodeConfig,
): Pick<cassandra.ClientOptions, 'credentials' | 'sslOptions'> {
  const o: Pick<cassandra.ClientOptions, 'credentials' | 'sslOptions'> = {};
  if (config.cassandraUsername !== undefined)
    o.credentials = { username: config.cassandraUsername, password: config.cassandraPassword ?? '' };
  const ca = readKeyFile('CHAT_CASSANDRA_TLS_CA_FILE', config.cassandraTlsCaFile);
  // The driver connects to each Cassandra node by the IP address the ring reports, not by a name a
  // certificate would carry: with a CA of its own, any certificate that CA signed is accepted (the
  // chain is checked, the name is not); with the system's CAs, the name must match the address.
  if (config.cassandraTls || ca !== undefined)
    o.sslOptions = {
      rejectUnauthorized: true,
      ...(ca !== undefined && { ca: [ca], checkServerIdentity: () => undefined }),
    };
  return o;
}
