#!/usr/bin/env node
/**
 * npm run capacity [-- --dau 50000000 --per-node-connections 50000 ...]: the cluster that 50 million
 * daily users need, computed from the stated assumptions below (docs/capacity.md prints its output).
 * Change an assumption with its flag and see the cluster change. "measured" figures come from
 * BENCHMARKS.md and `npm run bench:presence` on our 2-core machine; the others are assumptions.
 */
import { parseArgs } from 'node:util';

const ASSUMPTIONS = {
  dau: { value: 50_000_000, doc: 'daily active users' },
  peakOnline: { value: 0.2, doc: 'share of DAU online at the busiest moment' },
  devicesPerUser: { value: 1.5, doc: 'connected devices per online user' },
  messagesPerDau: { value: 40, doc: 'messages sent per DAU per day' },
  peakOverAverage: { value: 3, doc: 'peak message rate over the day average' },
  groupShare: { value: 0.2, doc: 'share of messages sent to groups' },
  groupSize: { value: 20, doc: 'members of an average group' },
  rowBytes: { value: 250, doc: 'bytes of a stored 100-character message row with its keys' },
  perNodeConnections: { value: 50_000, doc: 'connections per chat node (CHAT_CAPACITY)' },
  heartbeatSec: { value: 10, doc: 'heartbeat interval: one presence report per device per heartbeat' },
  redisReportsPerCore: {
    value: 70_000,
    doc: 'presence reports per Redis core at 100% (measured: 14 µs each)',
  },
  redisUtilization: { value: 0.5, doc: 'target CPU share of a Redis master (headroom for failover)' },
  presenceShards: {
    value: 32,
    doc: 'presence shards (RedisPresence DEFAULT_SHARDS): at most this many masters share the load',
  },
  natsMsgsPerServer: {
    value: 30_000,
    doc: 'stream publishes/s one NATS server takes at 3 replicas (assumed; not measured at scale)',
  },
  cassandraWritesPerNode: {
    value: 25_000,
    doc: 'row writes/s one 8-core Cassandra node takes at LOCAL_QUORUM (assumed)',
  },
  cassandraReplication: { value: 3, doc: 'Cassandra replication factor' },
  dedupHorizonHours: {
    value: 24,
    doc: 'hours a dedup key stays in the Redis dedup index (RedisDedup HORIZON_MS)',
  },
  dedupKeyBytes: { value: 120, doc: 'Redis memory per dedup key with its value and overhead (assumed)' },
} as const;

type Key = keyof typeof ASSUMPTIONS;
const { values } = parseArgs({
  options: Object.fromEntries(
    Object.keys(ASSUMPTIONS).map((k) => [
      k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
      { type: 'string' },
    ]),
  ),
});
const a = Object.fromEntries(
  (Object.keys(ASSUMPTIONS) as Key[]).map((k) => {
    const flag = values[k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)];
    return [k, flag === undefined ? ASSUMPTIONS[k].value : Number(flag)];
  }),
) as Record<Key, number>;

const ceil = Math.ceil;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const connections = a.dau * a.peakOnline * a.devicesPerUser;
const nodes = ceil(connections / a.perNodeConnections);
const msgsPerSec = ((a.dau * a.messagesPerDau) / 86_400) * a.peakOverAverage;
const recipients = (1 - a.groupShare) * 2 + a.groupShare * a.groupSize;
// Nodes a message must reach when delivery is targeted: its recipients' devices sit on distinct
// nodes at most, and on at most every node.
const nodesPerMessage = Math.min(nodes, recipients * a.devicesPerUser);
const broadcastReads = nodes * msgsPerSec;
const targetedReads = msgsPerSec * nodesPerMessage;
// The publishing node looks up each recipient's devices (one HVALS each, pipelined per shard).
const registryLookups = msgsPerSec * recipients;
const dedupGb = (((a.dau * a.messagesPerDau) / 24) * a.dedupHorizonHours * a.dedupKeyBytes) / 1e9;
const reports = connections / a.heartbeatSec;
const masters = ceil(reports / (a.redisReportsPerCore * a.redisUtilization));
const natsServers = Math.max(3, ceil(msgsPerSec / a.natsMsgsPerServer));
const rowsPerMessage = 1 + recipients + 1; // the message, one inbox copy per recipient, the dedup row
const rowWrites = msgsPerSec * rowsPerMessage;
const cassandraNodes = Math.max(3, ceil((rowWrites * a.cassandraReplication) / a.cassandraWritesPerNode));
const tbPerDay = (a.dau * a.messagesPerDau * rowsPerMessage * a.rowBytes) / 1e12;

const lines = [
  '## Assumptions',
  '',
  '| assumption | value | flag |',
  '|---|---|---|',
  ...(Object.keys(ASSUMPTIONS) as Key[]).map(
    (k) =>
      `| ${ASSUMPTIONS[k].doc} | ${a[k].toLocaleString('en-US')} | \`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}\` |`,
  ),
  '',
  '## The cluster',
  '',
  '| | value | from |',
  '|---|---|---|',
  `| WebSocket connections at peak | ${fmt(connections)} | DAU × online × devices |`,
  `| chat nodes | **${fmt(nodes)}** | connections ÷ per-node connections |`,
  `| messages accepted at peak | ${fmt(msgsPerSec)}/s | DAU × messages ÷ 86,400 × peak factor |`,
  `| recipients per message (sender included) | ${recipients.toFixed(1)} | 1:1 and group mix |`,
  `| messages read from NATS, delivery targeted to the recipients' nodes (as built) | ${fmt(targetedReads)}/s | messages × min(nodes, recipients × devices) |`,
  `| … if every node read every message (before) | ${fmt(broadcastReads)}/s | nodes × messages |`,
  `| session registry lookups (HVALS, batched per shard) | ${fmt(registryLookups)}/s | messages × recipients |`,
  `| dedup index claims (one script each) | ${fmt(msgsPerSec)}/s | messages |`,
  `| dedup index memory | ${dedupGb.toFixed(0)} GB | messages a day ÷ 24 × horizon hours × key bytes |`,
  `| presence reports | ${fmt(reports)}/s | connections ÷ heartbeat |`,
  `| Redis Cluster masters | **${fmt(masters)}**${masters > a.presenceShards ? ` (more than the ${a.presenceShards} presence shards: raise the shards)` : ''} | reports ÷ (per-core rate × utilization) |`,
  `| NATS servers (stream at 3 replicas) | **${fmt(natsServers)}** | messages ÷ per-server rate, at least 3 |`,
  `| Cassandra row writes | ${fmt(rowWrites)}/s | messages × ${rowsPerMessage.toFixed(1)} rows |`,
  `| Cassandra nodes | **${fmt(cassandraNodes)}** | row writes × replication ÷ per-node rate, at least 3 |`,
  `| Cassandra storage | ${tbPerDay.toFixed(1)} TB/day, ${(tbPerDay * a.cassandraReplication).toFixed(1)} TB/day replicated | messages × rows × row bytes |`,
];
console.log(lines.join('\n'));
