/**
 * The chat node's configuration contract. Each key is read from `--kebab-flag`,
 * `CHAT_CONSTANT_CASE` or the JSON file named by `--config`/`CHAT_CONFIG`. The operator, the Helm
 * chart and the README table are generated from or checked against this one table.
 */
import { hostname } from 'node:os';
import {
  bool,
  ConfigError,
  type ConfigOf,
  constantCase,
  int,
  list,
  loadConfig,
  str,
  url,
  urls,
} from './config.ts';
import { MAX_NODE_ID } from './snowflake.ts';

export const nodeConfigSpec = {
  host: str('Listen address for HTTP and WebSocket.', '0.0.0.0'),
  port: int('Listen port for HTTP and WebSocket (0 picks a free port).', 8080, 0, 65535),
  publicUrl: url(
    'Base URL this node advertises in discovery. Default http://<host>:<port>, with the machine hostname when host is 0.0.0.0.',
  ),
  publicPortBase: int(
    'When set, the port of the advertised URL is this plus the node id: one NodePort per node (30100: node 3 at <public host>:30103).',
    undefined,
    1,
    65535,
  ),
  adminPort: int(
    'Port of the admin API and /metrics (also /healthz and /readyz), apart from the client port, which then serves neither. Unset: both on the client port.',
    undefined,
    0,
    65535,
  ),
  adminUrl: url(
    'Base URL of the admin API that this node puts in the node registry (chatctl uses it). Default http://<host>:<admin port> when the admin port is set.',
  ),
  dataDir: str(
    'Where the embedded store keeps its files (and the generated JWT secret); made 0700, its files 0600.',
    './data',
  ),
  nodeId: int(
    'Snowflake node id. Default: leased from the registry, or 0 when embedded.',
    undefined,
    0,
    MAX_NODE_ID,
  ),
  cluster: str('The ChatCluster this node belongs to (namespace of the node registry).', 'default'),
  zone: str('Zone advertised in the node registry; discovery prefers nodes of the client zone.'),
  natsUrl: urls(
    'NATS server URL, or the URLs of a NATS cluster comma-separated. Set (with the Cassandra contact points): messages go through JetStream into Cassandra. Unset: embedded bus.',
  ),
  natsStreamReplicas: int(
    'Replicas of the JetStream stream (and its store-writer consumer). Default: 3 when the NATS cluster has at least 3 servers, else 1.',
    undefined,
    1,
    5,
  ),
  redisUrl: urls(
    'Redis URL. A Redis Cluster: redis+cluster://host:port[,host:port...] (seeds; the rest is discovered), or several comma-separated redis:// URLs. Set: presence, sessions, node registry and node-id leases in Redis (keys sharded by user over the cluster). Unset: in process.',
  ),
  cassandraContactPoints: list(
    'Cassandra contact points (host[:port], comma-separated). Set (with the NATS URL): history in Cassandra. Unset: SQLite in the data dir.',
  ),
  natsStreamMaxBytes: int(
    'Size bound of the JetStream stream, a buffer of messages not yet written to Cassandra (reserved on the NATS server). When full, sends are refused, never dropped.',
    1024 ** 3,
    1024 ** 2,
    2 ** 50,
  ),
  cassandraKeyspace: str('Cassandra keyspace.', 'chat'),
  cassandraLocalDc: str('Cassandra local data center.', 'datacenter1'),
  cassandraReplication: int('Replication factor used when the keyspace is created.', 3, 1, 15),
  cassandraConsistency: str(
    "Consistency of the store's reads and writes. Default: LOCAL_QUORUM when the keyspace's replication is 3 or more, else LOCAL_ONE.",
    undefined,
    { choices: ['ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'EACH_QUORUM', 'ALL'] },
  ),
  // Credentials and TLS of the backends. Secrets come from the environment (in Kubernetes, env
  // entries that reference a Secret) or from files, never from a URL in a ConfigMap.
  natsUser: str('NATS user name (with CHAT_NATS_PASSWORD).'),
  natsPassword: { ...str('NATS password.'), secret: true },
  natsToken: { ...str('NATS authentication token.'), secret: true },
  natsCredsFile: str('NATS credentials file (a user JWT and its NKey seed, as `nsc` writes it).'),
  natsTls: bool('Connect to NATS over TLS (also implied by a tls:// URL or a CA file).', false),
  natsTlsCaFile: str("PEM file of the CAs that sign the NATS servers' certificates (implies TLS)."),
  redisUsername: str('Redis ACL user name (with CHAT_REDIS_PASSWORD; unset: the default user).'),
  redisPassword: { ...str("Redis password (requirepass, or the ACL user's)."), secret: true },
  redisTls: bool('Connect to Redis over TLS (also implied by a rediss:// URL or a CA file).', false),
  redisTlsCaFile: str("PEM file of the CAs that sign the Redis servers' certificates (implies TLS)."),
  cassandraUsername: str('Cassandra user name (PasswordAuthenticator; with CHAT_CASSANDRA_PASSWORD).'),
  cassandraPassword: { ...str('Cassandra password.'), secret: true },
  cassandraTls: bool('Connect to Cassandra over TLS (client_encryption_options).', false),
  cassandraTlsCaFile: str(
    "PEM file of the CAs that sign the Cassandra nodes' certificates (implies TLS). The driver reaches nodes by IP address, so any certificate this CA signed is accepted: use a CA of the Cassandra nodes only.",
  ),
  jwtSecret: {
    ...str(
      'Token signing secret (at least 32 characters). Default: generated once and kept in the data dir when embedded; required otherwise.',
    ),
    secret: true,
  },
  tokenTtlSec: int(
    'Lifetime of the tokens issued by POST /v1/sessions, in seconds.',
    7 * 24 * 3600,
    60,
    365 * 24 * 3600,
  ),
  adminToken: {
    ...str(
      "Token of the /admin API, as `Authorization: Bearer <token>` or `X-Chat-Admin-Token: <token>` (the Kubernetes API server's pod proxy drops Authorization). Unset: the admin API is disabled.",
    ),
    secret: true,
  },
  heartbeatMs: int(
    'Heartbeat interval announced in welcome; a device is offline after 3 missed intervals.',
    10_000,
    50,
    600_000,
  ),
  pushWebhookUrl: url(
    'Push provider: POST a JSON notification here for each offline recipient. Unset: log only.',
  ),
  pushMaxAttempts: int(
    'Attempts per push notification before it is dropped (exponential backoff between).',
    5,
    1,
    20,
  ),
  pushQueueSize: int(
    'Push notifications waiting to be sent; beyond it the oldest are dropped and counted.',
    10_000,
    1,
    10_000_000,
  ),
  // Push to devices (PROTOCOL.md "Devices and push"): a service whose credentials are set takes
  // registrations; secrets come from files (a mounted Secret), never from the config itself.
  pushFcmCredentialsFile: str(
    "FCM: the Firebase project's service-account key (the JSON file from the Firebase console). Set: devices may register FCM tokens.",
  ),
  pushFcmUrl: url('FCM: base URL of the HTTP v1 API.', 'https://fcm.googleapis.com'),
  pushApnsKeyFile: str(
    'APNs: the token-signing key (.p8) from the Apple developer account. Set (with the key id, team id and topic): devices may register APNs tokens.',
  ),
  pushApnsKeyId: str('APNs: the key id of the signing key (10 characters).'),
  pushApnsTeamId: str('APNs: the Apple developer team id (10 characters).'),
  pushApnsTopic: str("APNs: the topic, the app's bundle id."),
  pushApnsUrl: url(
    'APNs: base URL of the provider API (https://api.sandbox.push.apple.com for development builds).',
    'https://api.push.apple.com',
  ),
  pushVapidPublicKey: str(
    'Web Push: the VAPID public key (base64url, as `web-push generate-vapid-keys` prints it); browsers subscribe with it. Set (with the private key file and subject): devices may register Web Push subscriptions.',
  ),
  pushVapidPrivateKeyFile: str('Web Push: a file holding the VAPID private key (base64url).'),
  pushVapidSubject: str(
    'Web Push: the VAPID subject, a mailto: or https: URL where the push services can reach you.',
  ),
  pushCaFile: str(
    'Extra CA certificates (PEM) that the push providers trust, e.g. for a relay with a private CA. Unset: the system CAs.',
  ),
  maxPendingSends: int(
    'Sends this node holds at once between accepting and making them durable; past it a send is answered rate_limited (with its id: the SDK sends it again after a backoff), so an overloaded node sheds load instead of queueing without bound.',
    5000,
    1,
    1_000_000,
  ),
  workers: int(
    "Event loops serving this node's connections, each on a thread of its own, while the main thread keeps the backends (one connection each, one SQLite writer). Default: one less than the CPUs available to the process (its cgroup CPU limit included), at least 1, so that the loops and the main thread fill the CPUs; 1 serves everything on the main thread.",
    undefined,
    1,
    256,
  ),
  capacity: int(
    'Connections this node is sized for; discovery balances by connections ÷ capacity.',
    50_000,
    1,
    10_000_000,
  ),
  framesPerSecond: int(
    'Per-connection rate limit: frames per second (also per user for POST /v1/messages).',
    200,
    1,
    1_000_000,
  ),
  frameBurst: int('Per-connection rate limit: burst size.', 400, 1, 1_000_000),
  userFramesPerSecond: int(
    "Per-user rate limit shared by all of a user's connections on a node: frames per second. Default: four times the per-connection rate.",
    undefined,
    1,
    1_000_000,
  ),
  userFrameBurst: int(
    'Per-user rate limit: burst size. Default: four times the per-connection burst.',
    undefined,
    1,
    1_000_000,
  ),
  maxConnectionsPerUser: int(
    'WebSocket connections one user may hold on a node; more are refused at the handshake (429 rate_limited).',
    32,
    1,
    100_000,
  ),
  maxConnectionsPerDevice: int(
    'WebSocket connections one device (user and device id) may hold on a node; more are refused at the handshake (429 rate_limited).',
    4,
    1,
    100_000,
  ),
  loginFailuresPerAccount: int(
    'Failed logins one account may have per minute, from any address; then its logins answer 429 until the minute ends.',
    20,
    1,
    1_000_000,
  ),
  authCacheMs: int(
    "How long a node trusts its last look at a token's account (exists, not revoked). Revocations through the API reach every node at once; an account removed from the store directly is refused after this.",
    5000,
    0,
    600_000,
  ),
  httpUnreadBytes: int(
    'HTTP answers (message pages) a node holds at once for clients that have not read them yet, in bytes; past it such requests answer 503 unavailable.',
    64 * 1024 * 1024,
    4 * 1024 * 1024,
    1 << 40,
  ),
  signupsPerMinute: int('Accounts one address may create per minute.', 300, 1, 1_000_000),
  loginsPerMinute: int('Logins one address may attempt per minute.', 600, 1, 1_000_000),
  maxBufferedBytes: int(
    'A connection whose unsent data from earlier turns exceeds this, or this and 2 MiB in all, is closed (slow reader); its large answers wait while more than half of it is unsent.',
    8 * 1024 * 1024,
    65_536,
    1 << 30,
  ),
  corsOrigins: list(
    'Origins (scheme://host[:port], comma-separated, * for any) whose pages may call the HTTP API from a browser (CORS). Unset: none; the web app served at / needs none.',
  ),
  webApp: bool('Serve the web chat app (web/) at /.', true),
  logLevel: str('Log level.', 'info', {
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  }),
  logPretty: bool('Human-readable logs instead of JSON lines.', false),
} as const;

export type NodeConfig = ConfigOf<typeof nodeConfigSpec>;

export interface NodeConfigSources {
  env?: Record<string, string | undefined>;
  flags?: Record<string, unknown>;
  file?: string;
}

/** Loads and validates the chat node config; throws ConfigError naming the key. */
export function loadNodeConfig(sources: NodeConfigSources = {}): NodeConfig {
  const file = sources.file ?? sources.env?.CHAT_CONFIG;
  const cfg = loadConfig(nodeConfigSpec, { env: sources.env, flags: sources.flags, file });
  if (cfg.jwtSecret !== undefined && cfg.jwtSecret.length < 32) {
    throw new ConfigError('CHAT_JWT_SECRET: must be at least 32 characters');
  }
  const real = cfg.natsUrl || cfg.redisUrl || (cfg.cassandraContactPoints?.length ?? 0) > 0;
  if (real && cfg.jwtSecret === undefined) {
    throw new ConfigError(
      'CHAT_JWT_SECRET: required when NATS, Redis or Cassandra is configured (nodes must share it)',
    );
  }
  const cassandra = (cfg.cassandraContactPoints?.length ?? 0) > 0;
  if (Boolean(cfg.natsUrl) !== cassandra) {
    // JetStream's store writer is shared by the cluster, so the store must be too; and a shared
    // store without the bus would not deliver across nodes.
    throw new ConfigError(
      cfg.natsUrl
        ? 'CHAT_CASSANDRA_CONTACT_POINTS: required when CHAT_NATS_URL is set (messages go through JetStream into Cassandra)'
        : 'CHAT_NATS_URL: required when CHAT_CASSANDRA_CONTACT_POINTS is set (messages go through JetStream into Cassandra)',
    );
  }
  if (cassandra && !/^[a-z][a-z0-9_]{0,47}$/.test(cfg.cassandraKeyspace)) {
    throw new ConfigError('CHAT_CASSANDRA_KEYSPACE: must be a lowercase identifier of at most 48 characters');
  }
  for (const origin of cfg.corsOrigins ?? []) {
    if (origin !== '*' && !isOrigin(origin)) {
      throw new ConfigError(
        `CHAT_CORS_ORIGINS: ${JSON.stringify(origin)} is not an origin (http(s)://host[:port], no path) or *`,
      );
    }
  }
  checkPushKeys(cfg);
  checkCredentialKeys(cfg);
  return { ...cfg, publicUrl: cfg.publicUrl?.replace(/\/+$/, '') };
}

/** The URL a node advertises when CHAT_PUBLIC_URL is unset, once its real port is known. */
export function defaultPublicUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** `http(s)://host[:port]` with nothing after it, as a browser sends it in `Origin`. */
function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const u = new URL(value);
  return (
    (u.protocol === 'http:' || u.protocol === 'https:') &&
    u.pathname === '/' &&
    !value.includes('?') &&
    !value.includes('#') &&
    u.username === '' &&
    u.password === ''
  );
}

/** The keys of a push service are all set or all unset. */
function checkPushKeys(cfg: ConfigOf<typeof nodeConfigSpec>): void {
  const groups: [string, (keyof typeof nodeConfigSpec)[]][] = [
    ['APNs', ['pushApnsKeyFile', 'pushApnsKeyId', 'pushApnsTeamId', 'pushApnsTopic']],
    ['Web Push', ['pushVapidPublicKey', 'pushVapidPrivateKeyFile', 'pushVapidSubject']],
  ];
  for (const [service, keys] of groups) {
    const missing = keys.filter((k) => cfg[k] === undefined);
    if (missing.length > 0 && missing.length < keys.length) {
      const name = (k: string) => `CHAT_${constantCase(k)}`;
      throw new ConfigError(
        `${missing.map(name).join(', ')}: required for ${service} (with ${keys
          .filter((k) => !missing.includes(k))
          .map(name)
          .join(', ')})`,
      );
    }
  }
  if (cfg.pushVapidSubject !== undefined && !/^(mailto:|https:\/\/)/.test(cfg.pushVapidSubject)) {
    throw new ConfigError('CHAT_PUSH_VAPID_SUBJECT: must be a mailto: or https: URL');
  }
}

/** Backend credentials come in their pairs, and NATS takes one way to authenticate. */
function checkCredentialKeys(cfg: ConfigOf<typeof nodeConfigSpec>): void {
  if (cfg.natsPassword !== undefined && cfg.natsUser === undefined)
    throw new ConfigError('CHAT_NATS_USER: required with CHAT_NATS_PASSWORD');
  if (cfg.natsUser !== undefined && cfg.natsPassword === undefined)
    throw new ConfigError('CHAT_NATS_PASSWORD: required with CHAT_NATS_USER');
  const natsWays = [cfg.natsUser, cfg.natsToken, cfg.natsCredsFile].filter((v) => v !== undefined);
  if (natsWays.length > 1)
    throw new ConfigError(
      'CHAT_NATS_USER, CHAT_NATS_TOKEN, CHAT_NATS_CREDS_FILE: set one way to authenticate to NATS, not several',
    );
  if (cfg.redisUsername !== undefined && cfg.redisPassword === undefined)
    throw new ConfigError('CHAT_REDIS_PASSWORD: required with CHAT_REDIS_USERNAME');
  if ((cfg.cassandraUsername === undefined) !== (cfg.cassandraPassword === undefined))
    throw new ConfigError(
      cfg.cassandraUsername === undefined
        ? 'CHAT_CASSANDRA_USERNAME: required with CHAT_CASSANDRA_PASSWORD'
        : 'CHAT_CASSANDRA_PASSWORD: required with CHAT_CASSANDRA_USERNAME',
    );
}
