/**
 * Three chat-node processes on the real NATS JetStream, Cassandra and Redis of `npm run
 * services:up`: messages and presence across nodes, discovery, a restart of every node, and a node
 * killed with SIGKILL in the middle of a burst of sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../client/index.ts';
import { errorMessage } from '../../common/errors.ts';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { createUsers, login, type TestUser } from '../helpers/users.ts';
import { dmOf } from '../helpers/ws.ts';

describe('a cluster of three nodes on JetStream, Cassandra and Redis', () => {
  let c: TestCluster;
  const open: Recorder[] = [];
  const base = (i: number) => c.nodes[i]!.url;
  /** A client held on node `i` (no discovery), closed after the suite. */
  const on = (i: number, user: { token: string }, discover = false) => {
    const r = recorder(base(i), user.token, { discover });
    open.push(r);
    return r;
  };

  beforeAll(async () => {
    c = await startCluster(3);
  }, 180_000);
  afterAll(async () => {
    for (const r of open) r.client.close();
    await c?.close();
  });

  it('gives each node its own Snowflake node id, leased in Redis', () => {
    const ids = c.nodes.map((n) => n!.nodeId);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toBeGreaterThanOrEqual(0);
  });

  it('delivers a 1:1 message to every device of both users, each on another node', async () => {
    const [alice, bob] = (await createUsers(base(0), 2)) as [TestUser, TestUser];
    const bobPhone = await login(base(2), bob.username, bob.password);
    const a = on(0, alice);
    const b1 = on(1, bob);
    const b2 = on(2, bobPhone);
    await Promise.all([a, b1, b2].map((r) => r.client.connect()));
    const sent = await a.client.send({ to: bob.userId, text: 'hello from node 0' });
    const got = (r: Recorder) => r.seen.some((m) => m.messageId === sent.messageId);
    await until("both of bob's devices have the message", () => got(b1) && got(b2));
    expect(b2.seen.find((m) => m.messageId === sent.messageId)).toMatchObject({
      from: alice.userId,
      to: bob.userId,
      conversation: dmOf(alice.userId, bob.userId),
      text: 'hello from node 0',
    });
  });

  it('delivers a group message to members on all three nodes', async () => {
    const users = (await createUsers(base(1), 3)) as [TestUser, TestUser, TestUser];
    const { groupId } = await new ChatApi(base(1), { token: users[0].token }).createGroup(
      'across',
      users.slice(1).map((u) => u.userId),
    );
    const rs = users.map((u, i) => on(i, u));
    await Promise.all(rs.map((r) => r.client.connect()));
    const sent = await rs[2]!.client.send({ group: groupId, text: 'to the group' });
    // The sender's device has it from `sent`; the members on the other two nodes get it.
    for (const r of rs.slice(0, 2)) {
      await until('every member has the group message', () =>
        r.seen.some((m) => m.messageId === sent.messageId && m.group === groupId),
      );
    }
  });

  it('shows a user online to a subscriber on another node, and offline after it leaves', async () => {
    const [alice, bob] = (await createUsers(base(0), 2)) as [TestUser, TestUser];
    const a = on(0, alice);
    await a.client.connect();
    a.client.subscribePresence([bob.userId]);
    await until('the first presence answer', () => a.presence.length > 0);
    expect(a.presence[0]).toMatchObject({ userId: bob.userId, status: 'offline', lastActiveAt: null });
    const b = on(2, bob);
    await b.client.connect();
    await until('bob online', () => a.presence.at(-1)?.status === 'online');
    b.client.close();
    await until('bob offline', () => a.presence.at(-1)?.status === 'offline');
    expect(a.presence.at(-1)!.lastActiveAt).toBeGreaterThan(0);
    const viaHttp = await new ChatApi(base(1), { token: alice.token }).presence([bob.userId]);
    expect(viaHttp[0]!.status).toBe('offline');
  });

  it('spreads new clients over the three nodes through discovery', async () => {
    const users = await createUsers(base(0), 12);
    const rs = users.map((u) => on(0, u, true));
    await Promise.all(rs.map((r) => r.client.connect()));
    const perNode = new Map<string, number>();
    for (const r of rs) {
      const host = new URL(r.connectedTo[0]!).port;
      perNode.set(host, (perNode.get(host) ?? 0) + 1);
    }
    expect(perNode.size).toBe(3);
    for (const n of perNode.values()) expect(n).toBeGreaterThanOrEqual(2);
    for (const r of rs) r.client.close();
  });

  it('keeps every message when all nodes restart, and syncs it from Cassandra', async () => {
    const [alice, bob] = (await createUsers(base(0), 2)) as [TestUser, TestUser];
    const api = new ChatApi(base(0), { token: alice.token });
    const sentIds: string[] = [];
    for (let i = 0; i < 40; i++) {
      sentIds.push((await api.postMessage({ to: bob.userId, text: `before restart ${i}` })).messageId);
    }
    for (let i = 0; i < 3; i++) await c.stop(i, 'SIGTERM');
    for (let i = 0; i < 3; i++) await c.start(i);
    // A new device that asks for everything since the beginning.
    const b = recorder(base(1), bob.token, { discover: false, maxMessageId: '0' });
    open.push(b);
    await b.client.connect();
    await until('bob synced all 40 messages', () => b.seen.length >= 40);
    expect([...idsFrom(b.seen, alice.userId)].sort()).toEqual([...sentIds].sort());
    const history = await new ChatApi(base(2), { token: bob.token }).history(dmOf(alice.userId, bob.userId), {
      limit: 100,
    });
    expect(history.map((m) => m.messageId)).toEqual([...sentIds].reverse());
  }, 120_000);

  it('loses no acknowledged message when the sender’s node is killed during a burst', async () => {
    const [alice, bob] = (await createUsers(base(0), 2)) as [TestUser, TestUser];
    const bobPhone = await login(base(2), bob.username, bob.password);
    // Alice must be on the node that dies, and discover through one that lives (in production the
    // SDK's base URL is the client Service, which never points at a dead node): with nodes 1 and 2
    // draining, discovery through node 1 sends her to node 0.
    const victim = 0;
    const survivors = [1, 2];
    const admin = (i: number, path: string) =>
      fetch(`${base(i)}/admin/v1/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.adminToken}` },
      }).then((r) => expect(r.status).toBeLessThan(300));
    await Promise.all(survivors.map((i) => admin(i, 'drain')));
    const a = recorder(base(1), alice.token);
    open.push(a);
    await a.client.connect();
    await Promise.all(survivors.map((i) => admin(i, 'undrain')));
    expect(new URL(a.connectedTo[0]!).port).toBe(String(c.nodes[victim]!.port));
    const b1 = on(survivors[0]!, bob);
    const b2 = on(survivors[1]!, bobPhone);
    await Promise.all([b1, b2].map((r) => r.client.connect()));

    const N = 200;
    const acked = new Map<string, string>();
    const sends = Array.from({ length: N }, (_, i) =>
      a.client.send({ to: bob.userId, id: `burst-${i}`, text: `burst ${i}` }).then((s) => {
        acked.set(s.id as string, s.messageId);
      }),
    );
    await until('a quarter of the burst is acknowledged', () => acked.size >= N / 4);
    await c.stop(victim, 'SIGKILL');
    // The SDK reconnects through discovery to a survivor and resends what was not acknowledged,
    // under the same client ids: the node de-duplicates, so each text is stored once.
    await Promise.all(sends);
    expect(acked.size).toBe(N);
    const ackedIds = new Set(acked.values());
    for (const r of [b1, b2]) {
      await until('each of bob’s devices saw every acknowledged message', () =>
        [...ackedIds].every((id) => r.seen.some((m) => m.messageId === id)),
      );
      const fromAlice = idsFrom(r.seen, alice.userId);
      expect(fromAlice).toEqual(ackedIds);
      expect(new Set(r.seen.map((m) => m.text)).size).toBe(N);
    }
    // Every acknowledged message is in Cassandra, once. A node whose store writer is still behind
    // answers "not up to date yet, retry" (the SDK's callers retry it): so does the test.
    const api = new ChatApi(base(survivors[0]!), { token: bob.token });
    let history: Awaited<ReturnType<ChatApi['history']>> = [];
    await until(
      'the history answers',
      async () => {
        try {
          history = await api.history(dmOf(alice.userId, bob.userId), { limit: 200 });
          return true;
        } catch (err) {
          if (/not up to date yet/.test(errorMessage(err))) return false;
          throw err;
        }
      },
      60_000,
    );
    expect(new Set(history.map((m) => m.messageId))).toEqual(ackedIds);
    await c.start(victim);
  }, 120_000);
});
