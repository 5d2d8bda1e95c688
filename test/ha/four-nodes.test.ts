/**
 * Four chat-node processes on the clustered services of `services:up -- --ha` (three NATS servers
 * with the stream at 3 replicas, a three-master Redis Cluster, a three-node Cassandra ring at
 * LOCAL_QUORUM): send order and read events, presence across nodes, and a burst of sends while one
 * NATS server, one Redis master or one Cassandra node is killed with SIGKILL. After each kill every
 * acknowledged message reaches every device of the recipient and is in Cassandra once; the killed
 * server is started again before the next test. Each node reads from NATS only the messages for
 * its own devices (chat_bus_received_messages_total).
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

/** What node `i` has taken from the bus (its chat_bus_received_messages_total). */
async function busReceived(i: number): Promise<number> {
  const res = await fetch(`${base(i)}/metrics`, { headers: { authorization: `Bearer ${c.adminToken}` } });
  const m = /^chat_bus_received_messages_total (\d+)/m.exec(await res.text());
  if (!m) throw new Error(`node ${i} has no chat_bus_received_messages_total`);
  return Number(m[1]);
}
const allReceived = () => Promise.all([0, 1, 2, 3].map(busReceived));

describe('four nodes on the clustered services: targeted delivery', () => {
  /**
   * A message from node 0 to a user on each node given, awaited there: NATS keeps one publisher's
   * order, so a node got whatever was published to it before its fence by the time the fence arrives.
   */
  async function fence(from: Recorder, to: { r: Recorder; user: TestUser }[]) {
    for (const { r, user } of to) {
      const { messageId } = await from.client.send({ to: user.userId, text: 'fence' });
      await until('the fence arrived', () => r.seen.some((m) => m.messageId === messageId));
    }
  }

  it('sends messages between users on nodes 0 and 1 to nodes 2 and 3 not at all', async () => {
    const [alice, bob, frank, gina] = (await createUsers(base(0), 4)) as TestUser[] as [
      TestUser,
      TestUser,
      TestUser,
      TestUser,
    ];
    const a = on(0, alice);
    const b = on(1, bob);
    const f = on(2, frank);
    const g = on(3, gina);
    await Promise.all([a, b, f, g].map((r) => r.client.connect()));
    const before = await allReceived();
    const N = 20;
    const sent = await Promise.all([
      ...Array.from({ length: N }, (_, i) =>
        a.client.send({ to: bob.userId, id: `ab-${i}`, text: `a→b ${i}` }),
      ),
      ...Array.from({ length: N }, (_, i) =>
        b.client.send({ to: alice.userId, id: `ba-${i}`, text: `b→a ${i}` }),
      ),
    ]);
    const ids = new Set(sent.map((s) => s.messageId));
    for (const r of [a, b]) {
      await until('both saw all 40', () => [...ids].every((id) => r.seen.some((m) => m.messageId === id)));
    }
    await fence(a, [
      { r: f, user: frank },
      { r: g, user: gina },
    ]);
    const after = await allReceived();
    const delta = after.map((n, i) => n - before[i]!);
    // Nodes 0 and 1 took each of the 40 once (and node 0 its two fences); nodes 2 and 3 their fence only.
    expect(delta).toEqual([2 * N + 2, 2 * N, 1, 1]);
  }, 120_000);

  it('sends a group message once to each node that has members, and not to the others', async () => {
    const [alice, bob, carol, dave, gina] = (await createUsers(base(0), 5)) as [
      TestUser,
      TestUser,
      TestUser,
      TestUser,
      TestUser,
    ];
    const api = new ChatApi(base(0), { token: alice.token });
    const { groupId } = await api.createGroup('targeted', [bob.userId, carol.userId, dave.userId]);
    // Alice on node 0, Bob and Carol both on node 1, Dave on node 2; node 3 has no member (only Gina).
    const members = [on(0, alice), on(1, bob), on(1, carol), on(2, dave)];
    const g = on(3, gina);
    await Promise.all([...members, g].map((r) => r.client.connect()));
    const before = await allReceived();
    const K = 5;
    const sent: { messageId: string }[] = [];
    for (let i = 0; i < K; i++)
      sent.push(await members[0]!.client.send({ group: groupId, text: `to all ${i}` }));
    for (const r of members) {
      await until('every member saw the group messages', () =>
        sent.every((s) => r.seen.some((m) => m.messageId === s.messageId)),
      );
    }
    await fence(members[0]!, [{ r: g, user: gina }]);
    const after = await allReceived();
    expect(after.map((n, i) => n - before[i]!)).toEqual([K + 1, K, K, 1]);
  }, 120_000);
});

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
