/**
 * Four chat-node processes on the clustered services of `services:up -- --ha` (three NATS servers
 * with the stream at 3 replicas, a three-master Redis Cluster, a three-node Cassandra ring at
 * LOCAL_QUORUM): send order and read events, presence across nodes, and a burst of sends while one
 * NATS server, one Redis master or one Cassandra node is killed with SIGKILL. After each kill every
 * acknowledged message reaches every device of the recipient and is in Cassandra once; the killed
 * server is started again before the next test.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPresence } from '../../chat-node/backends/real/redis-presence.ts';
import { ChatApi } from '../../client/index.ts';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { describeOrderAndRead } from '../helpers/order-read-suite.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { streamOf } from '../helpers/streams.ts';
import { createUsers, login, type TestUser } from '../helpers/users.ts';
import { dmOf } from '../helpers/ws.ts';
import { ensureHaServices, type HaServer, killHaServer, redisMasterOf } from './ha-services.ts';

let c: TestCluster;
const open: Recorder[] = [];
const base = (i: number) => c.nodes[i]!.url;
const on = (i: number, user: { token: string }) => {
  const r = recorder(base(i), user.token, { discover: false });
  open.push(r);
  return r;
};

beforeAll(async () => {
  ensureHaServices();
  c = await startCluster(4, {}, { services: 'env-ha' });
}, 600_000);
afterAll(async () => {
  for (const r of open) r.client.close();
  await c?.close();
  ensureHaServices();
}, 600_000);

describeOrderAndRead('four nodes on the clustered services', () => c.nodes.map((n) => n!.url));

describe('four nodes on the clustered services', () => {
  it('shows a user online to a subscriber on another node, and offline after it leaves', async () => {
    const [alice, bob] = (await createUsers(base(0), 2)) as [TestUser, TestUser];
    const a = on(3, alice);
    await a.client.connect();
    a.client.subscribePresence([bob.userId]);
    await until('the first presence answer', () => a.presence.length > 0);
    expect(a.presence[0]).toMatchObject({ userId: bob.userId, status: 'offline' });
    const b = on(1, bob);
    await b.client.connect();
    await until('bob online', () => a.presence.at(-1)?.status === 'online');
    b.client.close();
    await until('bob offline', () => a.presence.at(-1)?.status === 'offline');
  });

  /**
   * Alice on node 0 sends a burst to Bob (devices on nodes 1 and 2); `kill` runs once a quarter is
   * acknowledged. Every send is acknowledged in the end (the SDK retries under the same client
   * ids), Bob's devices see each acknowledged message, and node 3's history has each once.
   */
  async function burstThrough(kill: (alice: TestUser) => Promise<void>, N = 120): Promise<void> {
    const [alice, bob] = (await createUsers(base(0), 2)) as [TestUser, TestUser];
    const phone = await login(base(2), bob.username, bob.password, 'phone');
    const a = on(0, alice);
    const b1 = on(1, bob);
    const b2 = on(2, phone);
    await Promise.all([a, b1, b2].map((r) => r.client.connect()));
    const acked = new Map<string, string>();
    const sends = Array.from({ length: N }, (_, i) =>
      a.client.send({ to: bob.userId, id: `burst-${i}`, text: `burst ${i}` }).then((s) => {
        acked.set(s.id as string, s.messageId);
      }),
    );
    await until('a quarter of the burst is acknowledged', () => acked.size >= N / 4, 30_000);
    await kill(alice);
    await Promise.all(sends);
    expect(acked.size).toBe(N);
    const ackedIds = new Set(acked.values());
    for (const r of [b1, b2]) {
      const missing = () => [...ackedIds].filter((id) => !r.seen.some((m) => m.messageId === id));
      await until(
        'each of bob’s devices saw every acknowledged message',
        () => missing().length === 0,
        60_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${missing().length} of ${ackedIds.size} missing`);
      });
      expect(idsFrom(r.seen, alice.userId)).toEqual(ackedIds);
    }
    const api = new ChatApi(base(3), { token: bob.token });
    await until(
      'node 3 reads the whole burst from Cassandra',
      async () => {
        const page = await api.history(dmOf(alice.userId, bob.userId), { limit: 200 }).catch(() => []);
        return page.length >= N;
      },
      60_000,
    );
    const history = await api.history(dmOf(alice.userId, bob.userId), { limit: 200 });
    expect(history.map((m) => m.messageId).sort()).toEqual([...ackedIds].sort());
  }

  it('loses no acknowledged message when the NATS server leading the stream is killed', async () => {
    const nc = await connect({ servers: c.env.CHAT_NATS_URL!.split(',') });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(streamOf(c.name));
    await nc.close();
    expect(info.config.num_replicas).toBe(3);
    const leader = Number(info.cluster!.leader!.replace(/^n/, '')) as HaServer['index'];
    await burstThrough(() => killHaServer({ kind: 'nats', index: leader }));
    ensureHaServices();
  }, 300_000);

  it('loses no acknowledged message when the Redis master of the sender’s presence is killed', async () => {
    await burstThrough(async (alice) => {
      const master = redisMasterOf(RedisPresence.keyOf(c.name, alice.userId, 'dev'));
      await killHaServer({ kind: 'redis', index: master });
    });
    ensureHaServices();
  }, 300_000);

  it('loses no acknowledged message, and serves history, when a Cassandra node is killed', async () => {
    await burstThrough(() => killHaServer({ kind: 'cassandra', index: 2 }));
    ensureHaServices();
  }, 600_000);
});
