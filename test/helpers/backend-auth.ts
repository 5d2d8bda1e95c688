/**
 * Client options for a services topology's credentials and TLS, from its CHAT_* lines (the keys a
 * node reads): for tests that talk to the backends themselves (cleanup, checks).
 */
import { readFileSync } from 'node:fs';

const pem = (file: string | undefined) => (file ? readFileSync(file, 'utf8') : undefined);

/** NATS connect options: user and password, and the CA. */
export function natsAuthOptions(env: Record<string, string>): Record<string, unknown> {
  const ca = pem(env.CHAT_NATS_TLS_CA_FILE);
  return {
    ...(env.CHAT_NATS_USER && { user: env.CHAT_NATS_USER, pass: env.CHAT_NATS_PASSWORD }),
    ...(ca && { tls: { ca } }),
  };
}

/** cassandra-driver options: credentials, and the CA. */
export function cassandraAuthOptions(env: Record<string, string>): Record<string, unknown> {
  const ca = pem(env.CHAT_CASSANDRA_TLS_CA_FILE);
  return {
    ...(env.CHAT_CASSANDRA_USERNAME && {
      credentials: { username: env.CHAT_CASSANDRA_USERNAME, password: env.CHAT_CASSANDRA_PASSWORD ?? '' },
    }),
    ...(ca && { sslOptions: { ca: [ca] } }),
  };
}
