/**
 * The client SDK against a real node: every message and every change (v1.1 edits and deletes)
 * reaches the app exactly once across forced disconnects, a node restart and a reconnect request,
 * and sends made while offline are delivered once after the reconnect.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChatApi, ChatClient, type Message, type Update } from '../../client/index.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { until } from '../helpers/until.ts';
import { createUsers, type TestUser } from '../helpers/users.ts';

/** A ChatClient that records every message the app sees. */
function recordingClient(t: TestNode, user: TestUser) {
  const client = new ChatClient({
    baseUrl: t.baseUrl,
    token: user.token,
    backoff: { initialMs: 50, maxMs: 500 },
  });
  const seen: Message[] = [];
  client.on('message', (m) => seen.push(m));
  return { client, seen };
}

/** Texts from one sender in id order (after a resync, live and synced messages may interleave). */
function texts(seen: Message[], from: string): string[] {
  return seen
    .filter((m) => m.from === from)
    .sort((x, y) => (BigInt(x.messageId) < BigInt(y.messageId) ? -1 : 1))
    .map((m) => m.text);
}

describe('the client SDK against a real node', () => {
  let t: TestNode;
  let alice: TestUser;
  let bob: TestUser;
  const clients: ChatClient[] = [];

  beforeEach(async () => {
    t = await startTestNode({ heartbeatMs: 1000 });
    [alice, bob] = (await createUsers(t.baseUrl, 2)) as [TestUser, TestUser];
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await t.close();
  });

  it('sees every message exactly once when its socket is cut again and again during a stream', async () => {
    const { client, seen } = recordingClient(t, alice);
    clients.push(client);
    await client.connect();
    const api = new ChatApi(t.baseUrl, { token: bob.token });
    const expected: string[] = [];
    for (let i = 0; i < 300; i++) {
      expected.push(`m${i}`);
      await api.postMessage({ to: alice.userId, text: `m${i}` });
      // Cut alice's connection on the node side every 50 messages.
      if (i % 50 === 25)
        for (const c of [...t.node.gateway.sessions.all()]) if (c.userId === alice.userId) c.terminate();
    }
    await until('alice saw all 300', () => seen.length >= 300);
    expect(seen).toHaveLength(300);
    expect(texts(seen, bob.userId)).toEqual(expected);
    expect(new Set(seen.map((m) => m.messageId)).size).toBe(seen.length);
  });

  it('recovers every message sent while its node was down after the node restarts', async () => {
    const { client, seen } = recordingClient(t, alice);
    clients.push(client);
    await client.connect();
    const api = new ChatApi(t.baseUrl, { token: bob.token });
    await api.postMessage({ to: alice.userId, text: 'before' });
    await until('alice saw "before"', () => seen.length === 1);
    const port = t.node.port;
    await t.stop();
    t = await t.restart({ port });
    // Alice's client is still trying to reconnect; bob sends through the restarted node.
    const later = new ChatApi(t.baseUrl, { token: bob.token });
    for (let i = 0; i < 20; i++) await later.postMessage({ to: alice.userId, text: `after${i}` });
    await until('alice saw all 21', () => seen.length >= 21);
    expect(texts(seen, bob.userId)).toEqual(['before', ...Array.from({ length: 20 }, (_, i) => `after${i}`)]);
  });

  it('follows a reconnect frame and loses nothing sent meanwhile', async () => {
    const { client, seen } = recordingClient(t, alice);
    clients.push(client);
    const reconnects: unknown[] = [];
    client.on('reconnect', (f) => reconnects.push(f));
    await client.connect();
    const api = new ChatApi(t.baseUrl, { token: bob.token });
    t.node.gateway.move({ count: 10, reason: 'rebalance', ratePerSec: 20 });
    for (let i = 0; i < 40; i++) await api.postMessage({ to: alice.userId, text: `r${i}` });
    await until('alice saw all 40', () => seen.length >= 40);
    expect(reconnects).toHaveLength(1);
    expect(texts(seen, bob.userId)).toEqual(Array.from({ length: 40 }, (_, i) => `r${i}`));
  });

  it('delivers sends made while disconnected once each, after the reconnect', async () => {
    const a = recordingClient(t, alice);
    const b = recordingClient(t, bob);
    clients.push(a.client, b.client);
    await Promise.all([a.client.connect(), b.client.connect()]);
    for (const c of [...t.node.gateway.sessions.all()]) if (c.userId === alice.userId) c.terminate();
    const sends = Array.from({ length: 30 }, (_, i) => a.client.send({ to: bob.userId, text: `o${i}` }));
    const sent = await Promise.all(sends);
    expect(new Set(sent.map((s) => s.messageId)).size).toBe(30);
    await until('bob saw all 30', () => b.seen.length >= 30);
    expect(texts(b.seen, alice.userId).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `o${i}`).sort());
    expect(b.seen).toHaveLength(30);
    const history = await new ChatApi(t.baseUrl, { token: bob.token }).history(sent[0]!.conversation, {
      limit: 200,
    });
    expect(history).toHaveLength(30);
  });

  it('sees every message and every edit and delete exactly once while its socket is cut again and again', async () => {
    const { client, seen } = recordingClient(t, alice);
    const updates: Update[] = [];
    client.on('update', (u) => updates.push(u));
    clients.push(client);
    await client.connect();
    const api = new ChatApi(t.baseUrl, { token: bob.token });
    const changes: string[] = [];
    for (let i = 0; i < 60; i++) {
      const m = await api.postMessage({ to: alice.userId, text: `m${i}` });
      if (i % 3 === 1) changes.push((await api.editMessage(m.messageId, `edited ${i}`)).updateId);
      if (i % 3 === 2) changes.push((await api.deleteMessage(m.messageId)).updateId);
      if (i % 10 === 5)
        for (const c of [...t.node.gateway.sessions.all()]) if (c.userId === alice.userId) c.terminate();
    }
    await until('alice saw all 60 messages and 40 changes', () => seen.length >= 60 && updates.length >= 40);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toHaveLength(60);
    expect(new Set(seen.map((m) => m.messageId)).size).toBe(60);
    expect(updates.map((u) => u.updateId).sort()).toEqual([...changes].sort());
    expect(updates.filter((u) => u.deleted)).toHaveLength(20);
    expect(updates.filter((u) => u.text?.startsWith('edited'))).toHaveLength(20);
    // The client's own edits and deletes resolve once durable, across a cut too.
    const mine = await client.send({ to: bob.userId, text: 'typo' });
    for (const c of [...t.node.gateway.sessions.all()]) if (c.userId === alice.userId) c.terminate();
    const edited = client.edit(mine.messageId, 'fixed');
    await expect(edited).resolves.toMatchObject({ messageId: mine.messageId });
    await expect(client.edit(seen[0]!.messageId, 'not mine')).rejects.toMatchObject({ code: 'forbidden' });
  });
});
