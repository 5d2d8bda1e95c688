/**
 * The data removal of a ChatCluster deleted with deletionPolicy Delete, against the real NATS, Redis
 * and Cassandra on loopback (`npm run services:up`, .services/env), and against a private
 * three-master Redis Cluster started here. Each test makes its own stream, keyspace and keys (never
 * the shared `chat` keyspace), and checks on the backends themselves that they are gone, and that
 * a neighbour's data whose names start the same is still there.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import cassandra from 'cassandra-driver';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetStreamNames } from '../../common/jetstream-names.ts';
import { silentLogger } from '../../common/logger.ts';
import { clusterPrefix, shardPrefix } from '../../common/redis.ts';
import {
  clusterKeys,
  DataRemover,
  deleteRedisKeys,
  describeRemoval,
  type RemovalTarget,
  removeClusterData,
} from '../../operator/data-removal.ts';
import { cassandraAuthOptions, natsAuthOptions } from '../helpers/backend-auth.ts';
import { chatCluster } from '../helpers/chatcluster.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { freePort } from '../helpers/nats-server.ts';
import { until } from '../helpers/until.ts';

const env = servicesEnv();
const hex = () => randomBytes(4).toString('hex');

function target(cluster: string, keyspace: string): RemovalTarget {
  return {
    cluster,
    nats: { url: env.CHAT_NATS_URL!, options: natsAuthOptions(env) },
    redis: { url: env.CHAT_REDIS_URL! },
    cassandra: {
      contactPoints: env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
      localDataCenter: env.CHAT_CASSANDRA_LOCAL_DC!,
      keyspace,
      options: cassandraAuthOptions(env),
    },
  };
}

/** What a cluster's nodes would have left: a stream with a message, a keyspace with a row, keys. */
async function seed(t: RemovalTarget, cql: cassandra.Client, redis: Redis): Promise<string[]> {
  const names = jetStreamNames(t.cluster);
  const nc = await connect({ servers: t.nats.url, ...natsAuthOptions(env) });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: names.stream, subjects: [names.subject], max_bytes: 1024 * 1024 });
    await jetstream(nc).publish(names.subject, 'hello');
  } finally {
    await nc.close();
  }
  const ks = t.cassandra.keyspace;
  await cql.execute(
    `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
  );
  await cql.execute(`CREATE TABLE IF NOT EXISTS ${ks}.messages (id int PRIMARY KEY, body text)`);
  await cql.execute(`INSERT INTO ${ks}.messages (id, body) VALUES (1, 'hello')`);
  const keys = [
    `${clusterPrefix(t.cluster)}nodes`,
    `${clusterPrefix(t.cluster)}node-id:3`,
    `${shardPrefix(t.cluster, 0)}presence:since`,
    `${shardPrefix(t.cluster, 17)}dedup:k1`,
  ];
  // Enough keys that the scan takes several calls of SCAN_COUNT.
  for (let i = 0; i < 1200; i++) keys.push(`${shardPrefix(t.cluster, i % 32)}presence:last:u${i}`);
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.set(key, '1');
  await pipeline.exec();
  return keys;
}

const streamExists = async (name: string) => {
  const nc = await connect({ servers: env.CHAT_NATS_URL!, ...natsAuthOptions(env) });
  try {
    const jsm = await jetstreamManager(nc);
    return await jsm.streams.info(name).then(
      () => true,
      () => false,
    );
  } finally {
    await nc.close();
  }
};

const keyspaceExists = async (cql: cassandra.Client, ks: string) =>
  (await cql.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [ks]))
    .rowLength === 1;

describe('removeClusterData against the real backends', () => {
  let cql: cassandra.Client;
  let redis: Redis;
  const made: { stream: string; keyspace: string }[] = [];

  beforeAll(async () => {
    cql = new cassandra.Client({
      contactPoints: env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
      localDataCenter: env.CHAT_CASSANDRA_LOCAL_DC!,
      ...cassandraAuthOptions(env),
    });
    await cql.connect();
    redis = new Redis(env.CHAT_REDIS_URL!);
  }, 60_000);

  afterAll(async () => {
    const nc = await connect({ servers: env.CHAT_NATS_URL!, ...natsAuthOptions(env) });
    const jsm = await jetstreamManager(nc);
    for (const m of made) {
      await jsm.streams.delete(m.stream).catch(() => false);
      await cql.execute(`DROP KEYSPACE IF EXISTS ${m.keyspace}`).catch(() => {});
    }
    await nc.close();
    await cql?.shutdown();
    redis?.disconnect();
  }, 120_000);

  it('removes the stream, the keyspace and every key of the cluster, and nothing of a neighbour', async () => {
    const id = `optest-${hex()}.chat`;
    const neighbour = `${id}x`;
    const t = target(id, `optest_del_${hex()}`);
    const n = target(neighbour, `optest_keep_${hex()}`);
    made.push(
      { stream: jetStreamNames(id).stream, keyspace: t.cassandra.keyspace },
      { stream: jetStreamNames(neighbour).stream, keyspace: n.cassandra.keyspace },
    );
    const keys = await seed(t, cql, redis);
    const kept = await seed(n, cql, redis);
    // Not the cluster's either: a hash tag that only starts with its name.
    const lookalike = `chat:{${id}:px}:y`;
    await redis.set(lookalike, '1');

    const report = await removeClusterData(t, silentLogger());

    expect(report).toEqual({
      stream: { name: jetStreamNames(id).stream, deleted: true },
      keyspace: { name: t.cassandra.keyspace, dropped: true },
      redisKeys: keys.length,
    });
    expect(await streamExists(jetStreamNames(id).stream)).toBe(false);
    expect(await keyspaceExists(cql, t.cassandra.keyspace)).toBe(false);
    expect(await redis.exists(...keys)).toBe(0);
    // The neighbour's data is all there.
    expect(await streamExists(jetStreamNames(neighbour).stream)).toBe(true);
    expect(await keyspaceExists(cql, n.cassandra.keyspace)).toBe(true);
    expect(await redis.exists(...kept, lookalike)).toBe(kept.length + 1);
    await redis.del(...kept, lookalike);

    // Again: nothing left, nothing fails.
    expect(await removeClusterData(t, silentLogger())).toEqual({
      stream: { name: jetStreamNames(id).stream, deleted: false },
      keyspace: { name: t.cassandra.keyspace, dropped: false },
      redisKeys: 0,
    });
  }, 180_000);

  it('stops a scan at its bound and says so, and the next call goes on', async () => {
    const id = `optest-${hex()}.bound`;
    const keys = Array.from({ length: 300 }, (_, i) => `${shardPrefix(id, i % 4)}k${i}`);
    await redis.mset(...keys.flatMap((k) => [k, '1']));
    const cursors = new Map<string, string>();
    const first = await deleteRedisKeys(redis, id, { count: 10, maxCalls: 1 }, cursors);
    expect(first.complete).toBe(false);
    expect(cursors.size).toBe(1);
    let deleted = first.deleted;
    for (let i = 0; i < 100_000; i++) {
      const r = await deleteRedisKeys(redis, id, { count: 100, maxCalls: 1 }, cursors);
      deleted += r.deleted;
      if (r.complete) break;
    }
    expect(await redis.exists(...keys)).toBe(0);
    expect(deleted).toBe(keys.length);
    expect(cursors.size).toBe(0);
  });

  it('refuses a keyspace name that is not a chat keyspace', async () => {
    const t = target(`optest-${hex()}.sys`, 'system_auth');
    await expect(removeClusterData(t, silentLogger())).rejects.toThrow(/refusing to drop Cassandra keyspace/);
  }, 60_000);

  it('reports a backend that cannot be reached as a failed attempt, in the background', async () => {
    const remover = new DataRemover(
      async () =>
        describeRemoval(
          await removeClusterData(
            { ...target(`optest-${hex()}.down`, 'optest_never'), nats: { url: 'nats://127.0.0.1:1' } },
            silentLogger(),
          ),
        ),
      silentLogger(),
    );
    const cluster = chatCluster();
    remover.start(cluster, 1);
    expect(remover.state(cluster).running).toEqual({ attempt: 1 });
    await remover.idle();
    expect(remover.state(cluster).done).toMatchObject({ attempt: 1, ok: false });
    expect(remover.state(cluster).done?.message).toMatch(
      /deleting JetStream stream CHAT_optest-\w+_down at nats:\/\/127\.0\.0\.1:1 failed/,
    );
  }, 60_000);
});

describe('DataRemover', () => {
  it('runs one removal at a time per cluster and keeps how it ended', async () => {
    let finish: (message: string) => void = () => {};
    let calls = 0;
    const remover = new DataRemover(
      () => {
        calls++;
        return new Promise<string>((resolve) => {
          finish = resolve;
        });
      },
      silentLogger(),
      () => 42,
    );
    const cluster = chatCluster();
    remover.start(cluster, 1);
    remover.start(cluster, 2);
    expect(calls).toBe(1);
    finish('data removed');
    await remover.idle();
    expect(remover.state(cluster)).toEqual({
      done: { attempt: 1, ok: true, at: 42, message: 'data removed' },
    });
  });

  it('keeps nothing of a cluster forgotten while its removal ran', async () => {
    let finish: (message: string) => void = () => {};
    const remover = new DataRemover(
      () =>
        new Promise<string>((resolve) => {
          finish = resolve;
        }),
      silentLogger(),
    );
    const cluster = chatCluster();
    remover.start(cluster, 1);
    remover.forget('team-a', 'chat');
    expect(remover.state(cluster).running).toEqual({ attempt: 1 });
    finish('data removed');
    await remover.idle();
    expect(remover.state(cluster)).toEqual({});
  });
});

describe('clusterKeys', () => {
  it.each([
    ['chat:{team-a.chat}:nodes', true],
    ['chat:{team-a.chat:p12}:presence:dev:u', true],
    ['chat:{team-a.chatx}:nodes', false],
    ['chat:{team-a.chat:px}:y', false],
    ['chat:{team-a.cha}:nodes', false],
    ['other:{team-a.chat}:nodes', false],
  ])('%s is the cluster’s: %s', (key, owned) => {
    expect(clusterKeys('team-a.chat').owns(key)).toBe(owned);
  });
});

describe('deleteRedisKeys on a Redis Cluster', () => {
  const servers: ChildProcess[] = [];
  let dir: string;
  let cluster: Cluster;

  beforeAll(async () => {
    if (spawnSync('redis-cli', ['--version']).error) {
      throw new Error('redis-cli not found on PATH: run `npm run services:up` (it installs Redis)');
    }
    dir = mkdtempSync(join(tmpdir(), 'optest-redis-cluster-'));
    const ports = [await freePort(), await freePort(), await freePort()];
    for (const port of ports) {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
      args.push(
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--dir',
        dir,
      );
      servers.push(spawn('redis-server', args, { stdio: 'ignore' }));
    }
    await until('the three redis-servers answer', async () =>
      ports.every(
        (p) =>
          spawnSync('redis-cli', ['-p', String(p), 'ping'])
            .stdout?.toString()
            .trim() === 'PONG',
      ),
    );
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await until('the Redis Cluster is ok', async () =>
      ports.every((p) =>
        spawnSync('redis-cli', ['-p', String(p), 'cluster', 'info'])
          .stdout?.toString()
          .includes('cluster_state:ok'),
      ),
    );
    cluster = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
    await until('the client sees three masters', async () => {
      await cluster.ping().catch(() => {});
      return cluster.nodes('master').length === 3;
    });
  }, 60_000);

  afterAll(async () => {
    cluster?.disconnect();
    for (const s of servers) s.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds the keys on every master and removes them slot by slot', async () => {
    const id = 'team-a.chat';
    const keys = [`${clusterPrefix(id)}nodes`];
    for (let shard = 0; shard < 64; shard++) keys.push(`${shardPrefix(id, shard)}presence:since`);
    const other = `${clusterPrefix('team-a.other')}nodes`;
    for (const key of [...keys, other]) await cluster.set(key, '1');
    // The shards' hash tags spread the keys over all three masters.
    const counts = await Promise.all(cluster.nodes('master').map((m) => m.dbsize()));
    expect(counts.every((c) => c > 0)).toBe(true);

    expect(await deleteRedisKeys(cluster, id)).toEqual({ deleted: keys.length, complete: true });
    for (const key of keys) expect(await cluster.exists(key)).toBe(0);
    expect(await cluster.exists(other)).toBe(1);
  });
});
