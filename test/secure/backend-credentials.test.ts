/**
 * Chat nodes on backends that ask for credentials and speak TLS, as a production install has them:
 * the topology of `npm run services:up -- --secure` (NATS with a user and TLS, Redis with an ACL
 * user over TLS only, Cassandra with PasswordAuthenticator and client TLS). The nodes get every
 * secret from CHAT_* keys (env entries that reference a Secret, in Kubernetes), never from a URL.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../client/index.ts';
import { servicesEnv, spawnNode, startCluster, type TestCluster } from '../helpers/cluster.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { createUsers, type TestUser } from '../helpers/users.ts';
import { dmOf } from '../helpers/ws.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SECRET_KEYS = ['CHAT_NATS_PASSWORD', 'CHAT_REDIS_PASSWORD', 'CHAT_CASSANDRA_PASSWORD'] as const;

/** Starts a node with `env` that must fail, and returns what it printed. */
async function failedStart(env: Record<string, string>): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-secure-'));
  try {
    await spawnNode(0, { ...process.env, ...env, CHAT_DATA_DIR: dataDir, CHAT_PORT: '0' });
  } catch (err) {
    return String((err as Error).message);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  throw new Error('the node started, it should not have');
}

describe('chat nodes on backends that require credentials and TLS', () => {
  let c: TestCluster;
  let alice: TestUser;
  let bob: TestUser;
  let b: Recorder;
  const secrets: string[] = [];

  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/services/up.sh'), '--secure'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 600_000,
    });
    const env = servicesEnv('env-secure');
    for (const k of SECRET_KEYS) secrets.push(env[k]!);
    c = await startCluster(2, { CHAT_HEARTBEAT_MS: '1000' }, { services: 'env-secure' });
    secrets.push(c.env.CHAT_JWT_SECRET!, c.adminToken);
    [alice, bob] = (await createUsers(c.nodes[0]!.url, 2)) as [TestUser, TestUser];
    b = recorder(c.nodes[1]!.url, bob.token, { discover: false });
    await b.client.connect();
  }, 600_000);
  afterAll(async () => {
    b?.client.close();
    await c?.close();
  });

  it('chats across two nodes: messages through NATS into Cassandra, presence in Redis, all over TLS', async () => {
    const api = new ChatApi(c.nodes[0]!.url, { token: alice.token });
    const sent: string[] = [];
    for (let i = 0; i < 10; i++)
      sent.push((await api.postMessage({ id: `m${i}`, to: bob.userId, text: `hello ${i}` })).messageId);
    await until('bob, on the other node, saw every message', () =>
      sent.every((id) => b.seen.some((m) => m.messageId === id)),
    );
    expect(idsFrom(b.seen, alice.userId)).toEqual(new Set(sent));
    const history = await new ChatApi(c.nodes[1]!.url, { token: bob.token }).history(
      dmOf(alice.userId, bob.userId),
      { limit: 50 },
    );
    expect(history.map((m) => m.messageId)).toEqual([...sent].reverse());
    const [p] = await new ChatApi(c.nodes[0]!.url, { token: alice.token }).presence([bob.userId]);
    expect(p?.status).toBe('online');
    // The node says which backends it chose.
    expect(c.nodes[1]!.logs.join('\n')).toMatch(
      /"store":"cassandra".*"presence":"redis"|"presence":"redis".*"store":"cassandra"/,
    );
  });

  it('never prints a secret', () => {
    const logs = c.nodes.flatMap((n) => n?.logs ?? []).join('\n');
    expect(logs).toContain('listening');
    for (const s of secrets) expect(logs).not.toContain(s);
  });

  it.each([
    ['NATS', 'CHAT_NATS_PASSWORD', /nats|authoriz/i],
    ['Redis', 'CHAT_REDIS_PASSWORD', /redis|WRONGPASS/i],
    ['Cassandra', 'CHAT_CASSANDRA_PASSWORD', /cassandra|authenticat/i],
  ])(
    'refuses to start with a wrong %s password, saying so without printing it',
    async (_name, key, says) => {
      const wrong = randomBytes(16).toString('hex');
      const out = await failedStart({ ...c.env, CHAT_CLUSTER: `${c.name}x`, [key]: wrong });
      expect(out).toMatch(says);
      expect(out).not.toContain(wrong);
      for (const s of secrets) expect(out).not.toContain(s);
    },
    60_000,
  );

  it('refuses to start without the CA of a TLS backend, and names the missing file', async () => {
    const out = await failedStart({
      ...c.env,
      CHAT_CLUSTER: `${c.name}y`,
      CHAT_REDIS_TLS_CA_FILE: join(tmpdir(), `no-such-ca-${randomBytes(4).toString('hex')}.pem`),
    });
    expect(out).toContain('CHAT_REDIS_TLS_CA_FILE');
  }, 60_000);
});
