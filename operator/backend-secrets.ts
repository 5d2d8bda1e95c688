/**
 * The secret values behind a ChatCluster's backend credentials (backend-credentials.ts), read from
 * their Secrets in its namespace, as client options of the three backends. The operator reads the
 * Redis ones to read the node registry, and all of them only to remove a cluster's data when it is
 * deleted with deletionPolicy Delete. A missing Secret or key is an error that names it.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { type ConnectionOptions, credsAuthenticator } from '@nats-io/transport-node';
import type cassandra from 'cassandra-driver';
import type { RedisAuth } from '../common/redis.ts';
import { type ChatCluster, namespaceOf } from './chatcluster-schema.ts';

/** One Secret key's value, as UTF-8. */
export async function secretValue(
  core: CoreV1Api,
  namespace: string,
  ref: { name: string; key: string },
): Promise<string> {
  const secret = await core.readNamespacedSecret({ name: ref.name, namespace });
  const data = secret.data?.[ref.key];
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
  const plain = secret.stringData?.[ref.key];
  if (plain !== undefined) return plain;
  throw new Error(`Secret ${namespace}/${ref.name} has no key ${ref.key}`);
}

export interface BackendAuth {
  nats: Partial<ConnectionOptions>;
  redis: RedisAuth | undefined;
  cassandra: Pick<cassandra.ClientOptions, 'credentials' | 'sslOptions'>;
}

/** The client options of spec.nats, spec.redis and spec.cassandra, secrets read from their Secrets. */
export async function backendAuth(core: CoreV1Api, cluster: ChatCluster): Promise<BackendAuth> {
  const namespace = namespaceOf(cluster);
  const value = (ref: { name: string; key: string }) => secretValue(core, namespace, ref);
  const { nats, redis, cassandra } = cluster.spec;

  const n: Partial<ConnectionOptions> = {};
  if (nats.user) n.user = nats.user;
  if (nats.passwordRef) n.pass = await value(nats.passwordRef);
  if (nats.tokenRef) n.token = await value(nats.tokenRef);
  if (nats.credsRef)
    n.authenticator = credsAuthenticator(new TextEncoder().encode(await value(nats.credsRef)));
  const natsCa = nats.tls?.caRef ? await value(nats.tls.caRef) : undefined;
  if (nats.tls?.enabled || natsCa !== undefined) n.tls = natsCa === undefined ? {} : { ca: natsCa };

  const r: RedisAuth = {};
  if (redis.username) r.username = redis.username;
  if (redis.passwordRef) r.password = await value(redis.passwordRef);
  if (redis.tls?.enabled) r.tls = true;
  if (redis.tls?.caRef) r.ca = await value(redis.tls.caRef);

  const c: BackendAuth['cassandra'] = {};
  if (cassandra.username && cassandra.passwordRef) {
    c.credentials = { username: cassandra.username, password: await value(cassandra.passwordRef) };
  }
  const cassandraCa = cassandra.tls?.caRef ? await value(cassandra.tls.caRef) : undefined;
  // As the nodes do: with a CA of its own, any certificate it signed (the driver dials addresses).
  if (cassandra.tls?.enabled || cassandraCa !== undefined) {
    c.sslOptions = {
      rejectUnauthorized: true,
      ...(cassandraCa !== undefined && { ca: [cassandraCa], checkServerIdentity: () => undefined }),
    };
  }
  return { nats: n, redis: Object.keys(r).length > 0 ? r : undefined, cassandra: c };
}
