/**
 * Exits 0 once Cassandra at the given host:port answers a CQL query (used by the readiness waits of
 * up.sh, ha.sh and secure.sh), and, with a second argument N, once that node knows at least N peers.
 * CHAT_CQL_USERNAME and CHAT_CQL_PASSWORD log in (PasswordAuthenticator); CHAT_CQL_CA_FILE turns TLS
 * on, trusting that CA. With CHAT_CQL_ENSURE_ROLE=name:password it also creates that login role if
 * it is missing (secure.sh, logged in as the default superuser).
 */
import { readFileSync } from 'node:fs';
import cassandra from 'cassandra-driver';

const [host, port] = (process.argv[2] ?? '127.0.0.1:9042').split(':');
const peers = Number(process.argv[3] ?? 0);
const env = process.env;
const client = new cassandra.Client({
  contactPoints: [`${host}:${port}`],
  localDataCenter: 'datacenter1',
  socketOptions: { connectTimeout: 2000, readTimeout: 5000 },
  ...(env.CHAT_CQL_USERNAME && {
    credentials: { username: env.CHAT_CQL_USERNAME, password: env.CHAT_CQL_PASSWORD ?? '' },
  }),
  ...(env.CHAT_CQL_CA_FILE && { sslOptions: { ca: [readFileSync(env.CHAT_CQL_CA_FILE, 'utf8')] } }),
});
try {
  const rs = await client.execute('SELECT release_version, data_center FROM system.local');
  const row = rs.first();
  if (row?.get('data_center') !== 'datacenter1')
    throw new Error(`unexpected data center ${row?.get('data_center')}`);
  if (peers > 0) {
    const known = (await client.execute('SELECT peer FROM system.peers_v2')).rowLength;
    if (known < peers) throw new Error(`${known} of ${peers} peers`);
  }
  const ensure = env.CHAT_CQL_ENSURE_ROLE;
  if (ensure) {
    const at = ensure.indexOf(':');
    const [name, password] = [ensure.slice(0, at), ensure.slice(at + 1)];
    if (!/^[a-z][a-z0-9_]*$/.test(name) || !/^[A-Za-z0-9]+$/.test(password))
      throw new Error('CHAT_CQL_ENSURE_ROLE: name:password, a lowercase name and an alphanumeric password');
    await client.execute(
      `CREATE ROLE IF NOT EXISTS ${name} WITH PASSWORD = '${password}' AND LOGIN = true AND SUPERUSER = false`,
    );
  }
  process.exitCode = 0;
} catch (err) {
  if (env.CHAT_CQL_VERBOSE) console.error(String(err));
  process.exitCode = 1;
} finally {
  await client.shutdown().catch(() => {});
}
