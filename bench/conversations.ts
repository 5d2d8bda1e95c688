/**
 * `GET /v1/conversations` for a user with 1,000 conversations and 100,000 messages (100 per dm, half
 * of them the peer's, read positions spread so most conversations have unread messages), on the
 * embedded node and on Cassandra. The history is written straight through the Store (as the store
 * writer would write it: entries and unread rows included), then a node serves the user over HTTP
 * and the list is asked `--requests` times, one at a time, with the default limit (50) and with 200.
 * Printed: p50, p95, p99 and max of each, in ms.
 *
 *   node bench/conversations.ts [--target embedded|cassandra|both] [--conversations 1000] [--per 100]
 *                               [--requests 300]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import cassandra from 'cassandra-driver';
import { SqliteStore } from '../chat-node/backends/embedded/sqlite-store.ts';
import { CassandraStore } from '../chat-node/backends/real/cassandra-store.ts';
import type { Envelope, Store } from '../chat-node/backends/types.ts';
import { hashPassword } from '../chat-node/chat/passwords.ts';
import { startNode } from '../chat-node/node.ts';
import { dmConversationId } from '../common/ids.ts';
import { silentLogger } from '../common/logger.ts';
import { loadNodeConfig, type NodeConfig } from '../common/node-config.ts';
import { Snowflake, snowflakeTime } from '../common/snowflake.ts';
import { servicesEnv } from '../test/helpers/cluster.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'both' },
    conversations: { type: 'string', default: '1000' },
    per: { type: 'string', default: '100' },
    requests: { type: 'string', default: '300' },
  },
});
const CONVERSATIONS = Number(values.conversations);
const PER = Number(values.per);
const REQUESTS = Number(values.requests);
const PASSWORD = 'bench-password';

/** Writes the user, its peers and their dms; returns the user's name. */
async function fill(store: Store): Promise<string> {
  const ids = new Snowflake(1000);
  const tag = randomBytes(3).toString('hex');
  const me = {
    userId: `ubench${tag}`,
    username: `bench-${tag}`,
    passwordHash: await hashPassword(PASSWORD),
    createdAt: Date.now(),
  };
  await store.createUser(me);
  const started = Date.now();
  for (let c = 0; c < CONVERSATIONS; c++) {
    const peer = `upeer${tag}${c}`;
    const conversation = dmConversationId(me.userId, peer);
    const batch: Envelope[] = [];
    for (let i = 0; i < PER; i++) {
      const id = ids.next();
      const from = i % 2 === 0 ? peer : me.userId;
      const to = from === peer ? me.userId : peer;
      batch.push({
        message: {
          messageId: id.toString(),
          conversation,
          from,
          to,
          text: `message ${i} of ${c}`,
          ts: snowflakeTime(id),
        },
        recipients: [me.userId, peer],
      });
    }
    await store.saveMessages(batch);
    // Read up to a point that leaves (c % PER) messages unread.
    const readTo = batch[Math.max(0, PER - 1 - (c % PER))]!.message.messageId;
    if (c % 4 !== 0) await store.setReadPosition(me.userId, conversation, BigInt(readTo));
    if (c % 100 === 99)
      process.stderr.write(
        `  ${c + 1} conversations written (${Math.round((Date.now() - started) / 1000)} s)\n`,
      );
  }
  return me.username;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(base: string, username: string, label: string): Promise<void> {
  const session = (await (
    await fetch(`${base}/v1/sessions`, {
      method: 'POST',
      body: JSON.stringify({ username, password: PASSWORD }),
    })
  ).json()) as { token: string };
  const headers = { authorization: `Bearer ${session.token}` };
  for (const limit of [50, 200]) {
    const times: number[] = [];
    let count = 0;
    for (let i = 0; i < REQUESTS + 20; i++) {
      const t0 = performance.now();
      const res = await fetch(`${base}/v1/conversations?limit=${limit}`, { headers });
      const body = (await res.json()) as { conversations: unknown[] };
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`GET /v1/conversations answered ${res.status}`);
      count = body.conversations.length;
      if (i >= 20) times.push(ms); // the first ones warm up caches and prepared statements
    }
    times.sort((a, b) => a - b);
    const f = (n: number) => n.toFixed(1);
    console.log(
      `${label}  limit=${limit} (${count} conversations): p50 ${f(percentile(times, 50))} ms  p95 ${f(percentile(times, 95))} ms  p99 ${f(percentile(times, 99))} ms  max ${f(times.at(-1)!)} ms  (${REQUESTS} requests)`,
    );
  }
}

function config(overrides: Partial<NodeConfig>): NodeConfig {
  return { ...loadNodeConfig({ env: {} }), host: '127.0.0.1', port: 0, logLevel: 'silent', ...overrides };
}

async function embedded(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-conversations-'));
  try {
    const store = new SqliteStore(dataDir);
    const username = await fill(store);
    await store.close();
    const node = await startNode(config({ dataDir }), { log: silentLogger() });
    try {
      await measure(`http://127.0.0.1:${node.port}`, username, 'embedded (SQLite)');
    } finally {
      await node.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function onCassandra(): Promise<void> {
  const env = servicesEnv();
  const keyspace = `bench_${randomBytes(4).toString('hex')}`;
  const contactPoints = env.CHAT_CASSANDRA_CONTACT_POINTS!.split(',');
  const localDataCenter = env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1';
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-conversations-'));
  try {
    const store = await CassandraStore.open({
      contactPoints,
      localDataCenter,
      keyspace,
      replication: 1,
      log: silentLogger(),
    });
    const username = await fill(store);
    await store.close();
    const node = await startNode(
      config({
        dataDir,
        cluster: keyspace,
        natsUrl: env.CHAT_NATS_URL,
        redisUrl: env.CHAT_REDIS_URL,
        cassandraContactPoints: contactPoints,
        cassandraKeyspace: keyspace,
        cassandraReplication: 1,
        jwtSecret: randomBytes(32).toString('hex'),
        natsStreamMaxBytes: 64 * 1024 ** 2,
      } as Partial<NodeConfig>),
      { log: silentLogger() },
    );
    try {
      await measure(`http://127.0.0.1:${node.port}`, username, 'Cassandra + JetStream');
    } finally {
      await node.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    const admin = new cassandra.Client({ contactPoints, localDataCenter });
    await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).finally(() => admin.shutdown());
    // The stream the node made (JetStream reserves its max bytes on the server).
    const nc = await connect({ servers: env.CHAT_NATS_URL! });
    await (await jetstreamManager(nc)).streams.delete(`CHAT_${keyspace}`).catch(() => false);
    await nc.close();
  }
}

console.log(`${CONVERSATIONS} conversations, ${CONVERSATIONS * PER} messages`);
if (values.target !== 'cassandra') await embedded();
if (values.target !== 'embedded') await onCassandra();
