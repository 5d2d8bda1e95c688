/**
 * Two chat-node processes on private nats-server and redis-server processes (so that restarting
 * them disturbs no other test) and the shared Cassandra: each backend restarted under traffic, and
 * the cluster recovers without restarting a node, losing no acknowledged message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../client/index.ts';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { type NatsServer, startNatsServer } from '../helpers/nats-server.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.ts';
import { createUsers, type TestUser } from '../helpers/users.ts';

describe('a cluster whose NATS or Redis restarts under traffic', () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let c: TestCluster;
  let alice: TestUser;
  let bob: TestUser;
  let a: Recorder;
  let b: Recorder;

  beforeAll(async () => {
    nats = await startNatsServer();
    redis = await startRedisServer();
    c = await startCluster(2, {
      CHAT_NATS_URL: nats.url,
      CHAT_REDIS_URL: redis.url,
      CHAT_HEARTBEAT_MS: '1000',
    });
    [alice, bob] = (await createUsers(c.nodes[0]!.url, 2)) as [TestUser, TestUser];
    a = recorder(c.nodes[0]!.url, alice.token, { discover: false });
    b = recorder(c.nodes[1]!.url, bob.token, { discover: false });
    await Promise.all([a.client.connect(), b.client.connect()]);
  }, 180_000);
  afterAll(async () => {
    if (process.env.DEBUG_CLUSTER) for (const n of c.nodes) console.log(n?.logs.join('\n'));
    a?.client.close();
    b?.client.close();
    await c?.close();
    await nats?.close();
    await redis?.close();
  });

  /** Sends `count` messages 20 ms apart while `disturb` runs; resolves with the acknowledged ids. */
  async function trafficDuring(
    tag: string,
    count: number,
    disturb: () => Promise<void>,
  ): Promise<Set<string>> {
    const acked: Promise<string>[] = [];
    const sending = (async () => {
      for (let i = 0; i < count; i++) {
        acked.push(
          a.client.send({ to: bob.userId, id: `${tag}-${i}`, text: `${tag} ${i}` }).then((s) => s.messageId),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await disturb();
    await sending;
    return new Set(await Promise.all(acked));
  }

  async function ready(i: number): Promise<boolean> {
    return new ChatApi(c.nodes[i]!.url).ready();
  }

  it('recovers from a NATS restart: not ready while it is down, then every acknowledged message arrives', async () => {
    let sawNotReady = false;
    const ids = await trafficDuring('nats', 100, async () => {
      await until('20 messages sent', () => a.seen.length + b.seen.length >= 20);
      await nats.stop();
      await until('node 0 says it is not ready', async () => !(await ready(0)), 15_000);
      sawNotReady = true;
      await new Promise((r) => setTimeout(r, 1000));
      await nats.start();
      await until('both nodes ready again', async () => (await ready(0)) && (await ready(1)), 30_000);
    });
    expect(sawNotReady).toBe(true);
    expect(ids.size).toBe(100);
    await until('bob saw every acknowledged message', () =>
      [...ids].every((id) => b.seen.some((m) => m.messageId === id)),
    );
    const fromAlice = idsFrom(b.seen, alice.userId);
    for (const id of ids) expect(fromAlice.has(id)).toBe(true);
  }, 120_000);

  it('recovers from a Redis restart: presence, discovery and node ids come back without a node restart', async () => {
    const pids = c.nodes.map((n) => n!.child.pid);
    const ids = await trafficDuring('redis', 60, async () => {
      await redis.stop();
      await until('node 0 says it is not ready', async () => !(await ready(0)), 15_000);
      await new Promise((r) => setTimeout(r, 1000));
      await redis.start();
      await until('both nodes ready again', async () => (await ready(0)) && (await ready(1)), 30_000);
    });
    expect(ids.size).toBe(60);
    await until('bob saw every acknowledged message', () =>
      [...ids].every((id) => b.seen.some((m) => m.messageId === id)),
    );
    // The restarted Redis starts empty: nodes re-announce themselves and their connected devices.
    const api = new ChatApi(c.nodes[1]!.url, { token: bob.token });
    await until(
      'alice shows online again',
      async () => (await api.presence([alice.userId]))[0]!.status === 'online',
    );
    await until('discovery knows both nodes again', async () => {
      const seen = new Set<number>();
      for (let i = 0; i < 6; i++) seen.add((await api.discovery()).nodeId);
      return seen.size === 2;
    });
    expect(c.nodes.map((n) => n!.child.pid)).toEqual(pids);
    expect(c.nodes.every((n) => n!.child.exitCode === null)).toBe(true);
  }, 120_000);
});
