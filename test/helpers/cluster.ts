/**
 * Chat nodes as real processes (`node chat-node/main.ts`) joined to the real services of
 * `.services/env`, for cluster tests that restart or SIGKILL nodes. Each test cluster gets its own
 * CHAT_CLUSTER and Cassandra keyspace, so tests never see each other's data.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import cassandra from 'cassandra-driver';
import { cassandraAuthOptions, natsAuthOptions } from './backend-auth.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'chat-node', 'main.ts');

/** Which topology of `npm run services:up`: the default, `--ha` or `--secure`. */
export type ServicesName = 'env' | 'env-ha' | 'env-secure';

/**
 * The CHAT_* lines written by `npm run services:up` (`env`), by `services:up -- --ha` for the
 * clustered backends (`env-ha`), or by `services:up -- --secure` for backends that ask for
 * credentials and TLS (`env-secure`).
 */
export function servicesEnv(name: ServicesName = 'env'): Record<string, string> {
  const file = join(ROOT, '.services', name);
  if (!existsSync(file))
    throw new Error(
      `${file} is missing: run \`npm run services:up${name === 'env' ? '' : ` -- --${name.slice(4)}`}\` first`,
    );
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

export interface NodeProcess {
  index: number;
  child: ChildProcess;
  url: string;
  port: number;
  nodeId: number;
  /** Log lines (JSON) printed so far. */
  logs: string[];
}

export interface TestCluster {
  name: string;
  env: Record<string, string>;
  adminToken: string;
  nodes: (NodeProcess | undefined)[];
  /** Starts node `index` (again), on its previous port if it had one. */
  start(index: number, extraEnv?: Record<string, string>): Promise<NodeProcess>;
  /** Stops node `index` with the signal and waits for it to exit. */
  stop(index: number, signal?: NodeJS.Signals): Promise<void>;
  close(): Promise<void>;
}

/** Starts `node chat-node/main.ts` with `env` and resolves once it logs the URL it listens on. */
export async function spawnNode(index: number, env: NodeJS.ProcessEnv): Promise<NodeProcess> {
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  child.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  return new Promise<NodeProcess>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`node ${index} did not start in 60 s:\n${logs.join('\n')}`)),
      60_000,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { url?: string; nodeId?: number; msg: string };
        if (entry.url && entry.msg.includes('listening')) {
          clearTimeout(timer);
          const port = Number(new URL(entry.url).port);
          resolve({ index, child, url: entry.url, port, nodeId: entry.nodeId ?? -1, logs });
        }
      } catch {
        // not a JSON line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${index} exited with ${code}:\n${logs.join('\n')}`));
    });
  });
}

export async function startCluster(
  size: number,
  extraEnv: Record<string, string> = {},
  options: { services?: ServicesName } = {},
): Promise<TestCluster> {
  const name = `t${randomBytes(4).toString('hex')}`;
  const adminToken = randomBytes(24).toString('hex');
  const services = servicesEnv(options.services);
  const env = {
    ...services,
    CHAT_CLUSTER: name,
    CHAT_CASSANDRA_KEYSPACE: `chat_${name}`,
    CHAT_CASSANDRA_REPLICATION: services.CHAT_CASSANDRA_REPLICATION ?? '1',
    CHAT_JWT_SECRET: randomBytes(32).toString('hex'),
    CHAT_ADMIN_TOKEN: adminToken,
    CHAT_HOST: '127.0.0.1',
    CHAT_SIGNUPS_PER_MINUTE: '100000',
    CHAT_LOGINS_PER_MINUTE: '100000',
    CHAT_LOG_LEVEL: 'info',
    // JetStream reserves a stream's max bytes on the server: keep test streams small.
    CHAT_NATS_STREAM_MAX_BYTES: String(64 * 1024 ** 2),
    ...extraEnv,
  };
  const dirs: string[] = [];
  const ports: number[] = [];
  const cluster: TestCluster = {
    name,
    env,
    adminToken,
    nodes: [],
    async start(index, more = {}) {
      const dataDir = mkdtempSync(join(tmpdir(), `chat-${name}-${index}-`));
      dirs.push(dataDir);
      const node = await spawnNode(index, {
        ...process.env,
        ...env,
        CHAT_PORT: String(ports[index] ?? 0),
        CHAT_DATA_DIR: dataDir,
        ...more,
      });
      ports[index] = node.port;
      cluster.nodes[index] = node;
      return node;
    },
    async stop(index, signal = 'SIGTERM') {
      const node = cluster.nodes[index];
      if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return;
      const exited = new Promise((r) => node.child.once('exit', r));
      node.child.kill(signal);
      await exited;
      cluster.nodes[index] = undefined;
    },
    async close() {
      await Promise.all(cluster.nodes.map((_, i) => cluster.stop(i, 'SIGKILL')));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      await dropClusterData(env);
    },
  };
  for (let i = 0; i < size; i++) await cluster.start(i);
  return cluster;
}

/**
 * Deletes what a test cluster left in the shared services: its JetStream stream and its keyspace.
 * Best effort: a service that is down (a chaos test) leaves them for `services:down` and a new start.
 */
async function dropClusterData(env: Record<string, string>): Promise<void> {
  await dropStreamAndKeyspace(env).catch((err: Error) =>
    console.warn(`test cluster ${env.CHAT_CLUSTER}: could not drop its stream or keyspace: ${err.message}`),
  );
}

async function dropStreamAndKeyspace(env: Record<string, string>): Promise<void> {
  const nc = await connect({
    servers: env.CHAT_NATS_URL!.split(','),
    maxReconnectAttempts: 5,
    ...natsAuthOptions(env),
  });
  try {
    const jsm = await jetstreamManager(nc);
    // The stream name as the JetStream bus derives it from the cluster name.
    const stream = `CHAT_${env.CHAT_CLUSTER!.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    await jsm.streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
  await dropKeyspace(env, env.CHAT_CASSANDRA_KEYSPACE!);
}

/** Drops `keyspace` in the Cassandra of the services `env` names (with their credentials, if any). */
export async function dropKeyspace(env: Record<string, string>, keyspace: string): Promise<void> {
  const client = new cassandra.Client({
    contactPoints: env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
    localDataCenter: env.CHAT_CASSANDRA_LOCAL_DC ?? 'datacenter1',
    ...cassandraAuthOptions(env),
  });
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown();
  }
}
