/**
 * The chat node as a target: `node chat-node/main.ts` in its own process, on embedded backends (a
 * fresh data dir) or on the real services of `.services/env` (its own cluster name and keyspace,
 * dropped afterwards). Accounts are written through the node's own Store implementation (a sign-up
 * over HTTP costs one scrypt hash, tens of ms of CPU, which would dominate the bench's set-up), and
 * tokens are signed with the node's secret by the node's own Tokens class.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import { CassandraStore } from '../../chat-node/backends/real/cassandra-store.ts';
import { DUMMY_HASH } from '../../chat-node/chat/passwords.ts';
import { Tokens } from '../../chat-node/chat/tokens.ts';
import { defaultWorkers } from '../../common/cpus.ts';
import { randomId } from '../../common/ids.ts';
import { createLogger } from '../../common/logger.ts';
import { inspectArg } from '../lib/inspector.ts';
import { freePort, spawnTracked, stopChild, waitFor } from '../lib/proc.ts';
import type { Account } from '../loadgen/protocols.ts';
import type { Target } from './types.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'chat-node', 'main.ts');

/**
 * The CHAT_* lines of `.services/env` (written by `npm run services:up`), or of `.services/env-ha`
 * (`services:up -- --ha`), or undefined.
 */
export function servicesEnv(name: 'env' | 'env-ha' = 'env'): Record<string, string> | undefined {
  const file = join(ROOT, '.services', name);
  if (!existsSync(file)) return undefined;
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

export interface ChatNodeOptions {
  durable?: boolean;
  /** With durable: the clustered services of `services:up -- --ha` instead of the single ones. */
  ha?: boolean;
  /** Extra CHAT_* settings. */
  env?: Record<string, string>;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Under `--inspect` on a free port (the idle scenario forces GCs through it). */
  inspect?: boolean;
  /** Event loops of the node (CHAT_WORKERS); unset: the node's default, the CPUs available. */
  workers?: number;
  /** Share the secret and admin token of another node (a second node the clients may move to). */
  peerOf?: ChatNodeTarget;
}

export interface ChatNodeTarget extends Target {
  url: string;
  secret: string;
  adminToken: string;
  cluster: string;
  dataDir: string;
}

/** Settings of the bench's nodes: limits that would throttle the load generator are raised. */
export const BENCH_ENV = {
  CHAT_HOST: '127.0.0.1',
  CHAT_LOG_LEVEL: 'warn',
  CHAT_FRAMES_PER_SECOND: '100000',
  CHAT_FRAME_BURST: '100000',
  CHAT_SIGNUPS_PER_MINUTE: '1000000',
  CHAT_LOGINS_PER_MINUTE: '1000000',
  CHAT_CAPACITY: '100000',
};

function targetName(o: ChatNodeOptions, workers: number): string {
  if (o.ha) return 'chat node (3 NATS servers R3, 3-node Cassandra LOCAL_QUORUM, Redis Cluster)';
  if (o.durable) return 'chat node (JetStream + Cassandra + Redis)';
  return `chat node (embedded, ${workers} loop${workers === 1 ? '' : 's'})`;
}

export async function startChatNode(o: ChatNodeOptions = {}): Promise<ChatNodeTarget> {
  const services = o.durable ? servicesEnv(o.ha ? 'env-ha' : 'env') : undefined;
  if (o.durable && !services)
    throw new Error(
      `.services/env${o.ha ? '-ha' : ''} is missing: run \`npm run services:up${o.ha ? ' -- --ha' : ''}\``,
    );
  const replication = services?.CHAT_CASSANDRA_REPLICATION ?? '1';
  const secret = o.peerOf?.secret ?? randomBytes(32).toString('hex');
  const adminToken = o.peerOf?.adminToken ?? randomBytes(16).toString('hex');
  const cluster = o.peerOf?.cluster ?? `bench${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-bench-'));
  const port = await freePort();
  const inspectPort = o.inspect ? await freePort() : undefined;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(services ?? {}),
    ...BENCH_ENV,
    CHAT_PORT: String(port),
    CHAT_DATA_DIR: dataDir,
    CHAT_JWT_SECRET: secret,
    CHAT_ADMIN_TOKEN: adminToken,
    ...(o.durable
      ? {
          CHAT_CLUSTER: cluster,
          CHAT_CASSANDRA_KEYSPACE: `chat_${cluster}`,
          CHAT_CASSANDRA_REPLICATION: replication,
        }
      : {}),
    ...(o.workers !== undefined && { CHAT_WORKERS: String(o.workers) }),
    ...o.env,
  };
  const workers = o.workers ?? defaultWorkers();
  const proc = spawnTracked(
    process.execPath,
    [...(inspectPort ? [inspectArg(inspectPort)] : []), ...(o.nodeArgs ?? []), MAIN],
    { env, cwd: dataDir },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      'the chat node to be ready',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`chat node exited:\n${proc.logs.join('\n')}`);
        return fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      90_000,
    );
  } catch (err) {
    await stopChild(proc, 1000);
    throw err;
  }
  const tokens = new Tokens(secret, 24 * 3600);
  const keyspace = `chat_${cluster}`;
  const sign = (userId: string) => tokens.sign({ userId, deviceId: randomId('d') });

  const createAccounts = async (userIds: string[]): Promise<void> => {
    const now = Date.now();
    const record = (userId: string) => ({
      userId,
      username: userId,
      passwordHash: DUMMY_HASH,
      createdAt: now,
    });
    if (o.durable) {
      const store = await CassandraStore.open({
        contactPoints: services!.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
        localDataCenter: services!.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1',
        keyspace,
        replication: Number(replication),
        log: createLogger({ level: 'warn' }),
      });
      try {
        for (let i = 0; i < userIds.length; i += 64)
          await Promise.all(userIds.slice(i, i + 64).map((u) => store.createUser(record(u))));
      } finally {
        await store.close();
      }
      return;
    }
    // The node has the file open too (WAL): one transaction, so one fsync for them all.
    const store = new SqliteStore(dataDir);
    const db = (store as unknown as { db: { exec(sql: string): void } }).db;
    try {
      db.exec('BEGIN IMMEDIATE');
      for (const u of userIds) await store.createUser(record(u));
      db.exec('COMMIT');
    } finally {
      await store.close();
    }
  };

  return {
    id: o.durable ? (o.ha ? 'durable-ha' : 'durable') : 'embedded',
    name: targetName(o, workers),
    workers,
    endpoint: { kind: 'chat', wsUrl: `ws://127.0.0.1:${port}/v1/ws` },
    pid: proc.pid,
    inspectPort,
    url,
    secret,
    adminToken,
    cluster,
    dataDir,
    async accounts(n) {
      const ids = Array.from({ length: n }, () => randomId('u'));
      await createAccounts(ids);
      return Promise.all(ids.map(async (userId) => ({ userId, token: await sign(userId) })));
    },
    // The node refuses tokens of users it does not have: idle connections need accounts too.
    async identities(n) {
      const ids = Array.from({ length: n }, () => randomId('u'));
      await createAccounts(ids);
      return Promise.all(
        ids.map(async (userId) => ({ userId, token: await sign(userId) }) satisfies Account),
      );
    },
    async group(members) {
      const res = await fetch(`${url}/v1/groups`, {
        method: 'POST',
        headers: { authorization: `Bearer ${members[0]!.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bench', members: members.slice(1).map((m) => m.userId) }),
      });
      const body = (await res.json()) as { groupId?: string };
      if (res.status !== 201 || !body.groupId)
        throw new Error(`group: ${res.status} ${JSON.stringify(body)}`);
      return body.groupId;
    },
    async stop() {
      // SIGINT: the node drains for at most 2 s (the load generator has closed its sockets already).
      await stopChild(proc, 10_000, 'SIGINT');
      rmSync(dataDir, { recursive: true, force: true });
      if (o.durable && !o.peerOf) await dropDurableState(services!, cluster).catch(() => {});
    },
  };
}

/** Drops the bench cluster's keyspace and JetStream stream, so runs leave nothing behind. */
async function dropDurableState(services: Record<string, string>, cluster: string): Promise<void> {
  const { dropKeyspace } = await import('../../test/helpers/cluster.ts');
  await dropKeyspace(services, `chat_${cluster}`);
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: services.CHAT_NATS_URL!.split(',') });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`CHAT_${cluster}`).catch(() => false);
  } finally {
    await nc.close();
  }
}
