/**
 * Exits 0 once Cassandra at the given host:port answers a CQL query (used by the readiness waits of
 * up.sh and ha.sh), and, with a second argument N, once that node knows at least N peers.
 */
import cassandra from 'cassandra-driver';

const [host, port] = (process.argv[2] ?? '127.0.0.1:9042').split(':');
const peers = Number(process.argv[3] ?? 0);
const client = new cassandra.Client({
  contactPoints: [`${host}:${port}`],
  localDataCenter: 'datacenter1',
  socketOptions: { connectTimeout: 2000, readTimeout: 5000 },
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
  process.exitCode = 0;
} catch {
  process.exitCode = 1;
} finally {
  await client.shutdown().catch(() => {});
}
