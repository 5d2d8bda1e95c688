/**
 * Credentials and TLS of a ChatCluster's backends, by reference to Secrets in its namespace: the
 * schema fields under spec.nats, spec.redis and spec.cassandra, and how they reach the nodes. Plain
 * names (a user name, "TLS on", a file path) go into the ConfigMap; a password or token becomes an
 * env entry that references its Secret key (valueFrom), and a CA or a NATS creds file a read-only
 * Secret volume whose path the ConfigMap names. No secret value is ever in the ChatCluster, the
 * ConfigMap or the pod spec, and the operator never reads one except the Redis password and CA it
 * needs to read the node registry.
 */
import { boolean, type Infer, object, string } from './openapi-schema.ts';

const keyRef = (description: string) =>
  object(
    description,
    {
      name: string("Name of the Secret, in the ChatCluster's namespace.", { minLength: 1, maxLength: 253 }),
      key: string('Key within the Secret.', { minLength: 1 }),
    },
    ['name', 'key'],
  );

const tls = (backend: string) =>
  object(`TLS to ${backend}. Also on with a tls:// or rediss:// URL.`, {
    enabled: boolean('Connect over TLS, trusting the system CAs unless caRef is set.'),
    caRef: keyRef(
      "A Secret key holding the PEM of the CAs that sign the servers' certificates (implies TLS).",
    ),
  });

/** Extra fields of spec.nats. */
export const natsCredentialFields = {
  user: string('User name (with passwordRef).', { minLength: 1 }),
  passwordRef: keyRef('The password of `user`.'),
  tokenRef: keyRef('An authentication token, instead of a user.'),
  credsRef: keyRef('A credentials file (user JWT and NKey seed, as `nsc` writes it), instead of a user.'),
  tls: tls('NATS'),
};

/** CEL rules of spec.nats: one way to authenticate, a user with its password. */
export const natsCredentialRules = [
  {
    rule: '(has(self.user) ? 1 : 0) + (has(self.tokenRef) ? 1 : 0) + (has(self.credsRef) ? 1 : 0) <= 1',
    message: 'set one of user, tokenRef and credsRef',
  },
  { rule: 'has(self.user) == has(self.passwordRef)', message: 'user and passwordRef go together' },
];

/** Extra fields of spec.redis. */
export const redisCredentialFields = {
  username: string('ACL user name (unset: the default user; a requirepass password needs none).', {
    minLength: 1,
  }),
  passwordRef: keyRef('The password (requirepass, or the ACL user’s).'),
  tls: tls('Redis'),
};

export const redisCredentialRules = [
  { rule: '!has(self.username) || has(self.passwordRef)', message: 'username needs passwordRef' },
];

/** Extra fields of spec.cassandra. */
export const cassandraCredentialFields = {
  username: string('User name (PasswordAuthenticator; with passwordRef).', { minLength: 1 }),
  passwordRef: keyRef('The password of `username`.'),
  tls: tls('Cassandra'),
};

export const cassandraCredentialRules = [
  { rule: 'has(self.username) == has(self.passwordRef)', message: 'username and passwordRef go together' },
];

type KeyRef = Infer<ReturnType<typeof keyRef>>;
type Tls = Infer<ReturnType<typeof tls>>;

/** The credential fields of the three backends, as the API server returns them. */
export interface BackendCredentials {
  nats: { user?: string; passwordRef?: KeyRef; tokenRef?: KeyRef; credsRef?: KeyRef; tls?: Tls };
  redis: { username?: string; passwordRef?: KeyRef; tls?: Tls };
  cassandra: { username?: string; passwordRef?: KeyRef; tls?: Tls };
}

/** Where the Secret volumes are mounted in a node's container. */
export const SECRETS_DIR = '/etc/chat/secrets';

/** What the credentials add to a node's pod. */
export interface CredentialRendering {
  /** ConfigMap entries (never a secret). */
  settings: Record<string, string>;
  /** Container env entries that reference Secret keys. */
  env: { name: string; valueFrom: { secretKeyRef: KeyRef } }[];
  volumes: { name: string; secret: { secretName: string; items: { key: string; path: string }[] } }[];
  volumeMounts: { name: string; mountPath: string; readOnly: true }[];
  /** Every Secret the pods reference, for RBAC and for the operator's checks. */
  secretNames: string[];
}

/** The ConfigMap entries, env entries and Secret volumes for a cluster's backend credentials. */
export function renderCredentials(b: BackendCredentials): CredentialRendering {
  const out: CredentialRendering = { settings: {}, env: [], volumes: [], volumeMounts: [], secretNames: [] };
  const env = (name: string, ref: KeyRef | undefined) => {
    if (!ref) return;
    out.env.push({ name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } });
    out.secretNames.push(ref.name);
  };
  const file = (setting: string, volume: string, ref: KeyRef | undefined) => {
    if (!ref) return;
    const mountPath = `${SECRETS_DIR}/${volume}`;
    out.volumes.push({
      name: volume,
      secret: { secretName: ref.name, items: [{ key: ref.key, path: 'file' }] },
    });
    out.volumeMounts.push({ name: volume, mountPath, readOnly: true });
    out.settings[setting] = `${mountPath}/file`;
    out.secretNames.push(ref.name);
  };
  const tlsOf = (prefix: string, volume: string, t: Tls | undefined) => {
    if (t?.enabled) out.settings[`${prefix}_TLS`] = 'true';
    file(`${prefix}_TLS_CA_FILE`, volume, t?.caRef);
  };

  const { nats, redis, cassandra } = b;
  if (nats.user) out.settings.CHAT_NATS_USER = nats.user;
  env('CHAT_NATS_PASSWORD', nats.passwordRef);
  env('CHAT_NATS_TOKEN', nats.tokenRef);
  file('CHAT_NATS_CREDS_FILE', 'nats-creds', nats.credsRef);
  tlsOf('CHAT_NATS', 'nats-ca', nats.tls);

  if (redis.username) out.settings.CHAT_REDIS_USERNAME = redis.username;
  env('CHAT_REDIS_PASSWORD', redis.passwordRef);
  tlsOf('CHAT_REDIS', 'redis-ca', redis.tls);

  if (cassandra.username) out.settings.CHAT_CASSANDRA_USERNAME = cassandra.username;
  env('CHAT_CASSANDRA_PASSWORD', cassandra.passwordRef);
  tlsOf('CHAT_CASSANDRA', 'cassandra-ca', cassandra.tls);

  out.secretNames = [...new Set(out.secretNames)].sort();
  return out;
}
