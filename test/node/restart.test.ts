/**
 * A node restarted on the same data dir (the embedded store and the JWT secret kept there): nothing
 * a client had is lost, old tokens still work, and message ids keep increasing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatNode, startNode } from '../../chat-node/node.ts';
import { silentLogger } from '../../common/logger.ts';
import { startTestNode, type TestNode, testConfig } from '../helpers/node.ts';
import { TestSocket } from '../helpers/socket.ts';
import { createUsers, http, login, type TestUser } from '../helpers/users.ts';

interface Sent {
  messageId: string;
  conversation: string;
  from: string;
  text: string;
  /** Users in the conversation. */
  participants: string[];
}

const dm = (a: string, b: string) => (a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`);
const ascending = (x: string, y: string) => (BigInt(x) < BigInt(y) ? -1 : BigInt(x) > BigInt(y) ? 1 : 0);
const maxId = (ids: string[]) => ids.reduce((m, id) => (BigInt(id) > m ? BigInt(id) : m), 0n);

async function sendOver(
  baseUrl: string,
  from: TestUser,
  target: { to: string } | { group: string },
  text: string,
  participants: string[],
  id?: string,
): Promise<Sent> {
  const res = await http(baseUrl, 'POST', '/v1/messages', {
    token: from.token,
    body: { ...target, text, ...(id === undefined ? {} : { id }) },
  });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    messageId: res.body.messageId,
    conversation: res.body.conversation,
    from: from.userId,
    text,
    participants,
  };
}

/** Every message of a conversation through the history API, newest first. */
async function wholeHistory(baseUrl: string, token: string, cid: string): Promise<any[]> {
  const all: any[] = [];
  let before = '';
  for (;;) {
    const res = await http(baseUrl, 'GET', `/v1/conversations/${cid}/messages?limit=200${before}`, { token });
    expect(res.status).toBe(200);
    if (res.body.messages.length === 0) return all;
    all.push(...res.body.messages);
    before = `&before=${res.body.messages.at(-1).messageId}`;
  }
}

describe('a chat node restarted on the same data dir', () => {
  let t: TestNode;
  let a: TestUser;
  let b: TestUser;
  let c: TestUser;
  let groupId: string;
  let groupBefore: any;
  const sent: Sent[] = [];
  /** History of each conversation as the first node answered it. */
  const historyBefore = new Map<string, any[]>();

  beforeAll(async () => {
    t = await startTestNode();
    [a, b, c] = (await createUsers(t.baseUrl, 3, 'restart')) as [TestUser, TestUser, TestUser];
    const g = await http(t.baseUrl, 'POST', '/v1/groups', {
      token: a!.token,
      body: { name: 'survivors', members: [b!.userId, c!.userId] },
    });
    groupId = g.body.groupId;
    const everyone = [a!.userId, b!.userId, c!.userId];
    for (let i = 0; i < 30; i++) {
      sent.push(await sendOver(t.baseUrl, a!, { to: b!.userId }, `a→b ${i}`, [a!.userId, b!.userId]));
      sent.push(await sendOver(t.baseUrl, b!, { to: a!.userId }, `b→a ${i} 😀`, [a!.userId, b!.userId]));
      sent.push(await sendOver(t.baseUrl, c!, { group: groupId }, `group ${i}`, everyone));
    }
    sent.push(
      await sendOver(t.baseUrl, a!, { to: c!.userId }, 'with an id', [a!.userId, c!.userId], 'dedup-1'),
    );
    groupBefore = (await http(t.baseUrl, 'GET', `/v1/groups/${groupId}`, { token: b!.token })).body;
    for (const cid of new Set(sent.map((m) => m.conversation)))
      historyBefore.set(cid, await wholeHistory(t.baseUrl, a!.token, cid));

    t = await t.restart();
  });
  afterAll(() => t.close());

  it('serves on a new process that logs in the same users to the same user ids', async () => {
    for (const u of [a, b, c]) {
      const session = await login(t.baseUrl, u.username, u.password);
      expect(session.userId).toBe(u.userId);
    }
    const wrong = await http(t.baseUrl, 'POST', '/v1/sessions', {
      body: { username: a.username, password: `${a.password}-wrong` },
    });
    expect(wrong.status).toBe(401);
  });

  it('keeps usernames taken', async () => {
    const res = await http(t.baseUrl, 'POST', '/v1/users', {
      body: { username: b.username, password: 'other' },
    });
    expect(res.status).toBe(409);
  });

  it('accepts tokens issued before the restart, over HTTP and WebSocket', async () => {
    const res = await http(t.baseUrl, 'GET', '/v1/discovery', { token: a.token });
    expect(res.status).toBe(200);
    expect(res.body.url).toBe(t.baseUrl);
    const s = await TestSocket.open(t.wsUrl, c.token);
    try {
      s.send({ type: 'ping' });
      expect((await s.next('pong')).type).toBe('pong');
    } finally {
      s.close();
    }
  });

  it('keeps groups with their name and members', async () => {
    const res = await http(t.baseUrl, 'GET', `/v1/groups/${groupId}`, { token: c.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(groupBefore);
    expect([...res.body.members].sort()).toEqual([a.userId, b.userId, c.userId].sort());
  });

  it('keeps every message of every conversation, in the same order', async () => {
    expect(historyBefore.size).toBe(3);
    for (const [cid, before] of historyBefore) {
      const after = await wholeHistory(t.baseUrl, a.token, cid);
      expect(after).toEqual(before);
      const expected = sent
        .filter((m) => m.conversation === cid)
        .map((m) => m.messageId)
        .sort(ascending)
        .reverse();
      expect(after.map((m) => m.messageId)).toEqual(expected);
    }
    expect(historyBefore.get(dm(a.userId, b.userId))).toHaveLength(60);
  });

  it('answers a client id sent before the restart with the message stored before it', async () => {
    const again = await http(t.baseUrl, 'POST', '/v1/messages', {
      token: a.token,
      body: { id: 'dedup-1', to: c.userId, text: 'with an id' },
    });
    expect(again.status).toBe(201);
    expect(again.body.messageId).toBe(sent.find((m) => m.text === 'with an id')!.messageId);
    expect(await wholeHistory(t.baseUrl, c.token, dm(a.userId, c.userId))).toHaveLength(1);
  });

  it('issues message ids greater than every id issued before the restart', async () => {
    const highest = maxId(sent.map((m) => m.messageId));
    const fresh: Sent[] = [];
    for (let i = 0; i < 5; i++)
      fresh.push(await sendOver(t.baseUrl, b, { to: a.userId }, `after restart ${i}`, [a.userId, b.userId]));
    for (const m of fresh) expect(BigInt(m.messageId) > highest).toBe(true);
    const ids = fresh.map((m) => m.messageId);
    expect([...ids].sort(ascending)).toEqual(ids);
    sent.push(...fresh);
    const newest = await http(
      t.baseUrl,
      'GET',
      `/v1/conversations/${dm(a.userId, b.userId)}/messages?limit=5`,
      {
        token: a.token,
      },
    );
    expect(newest.body.messages.map((m: any) => m.messageId)).toEqual([...ids].reverse());
  });

  it('answers sync since "0" with every message of the user, oldest first, before and after the restart', async () => {
    const s = await TestSocket.open(t.wsUrl, b.token);
    try {
      s.send({ type: 'sync', since: '0', limit: 1000 });
      const answer = await s.next('sync');
      const expected = sent
        .filter((m) => m.participants.includes(b.userId))
        .sort((x, y) => ascending(x.messageId, y.messageId));
      expect(expected.length).toBeGreaterThan(90);
      expect(answer.more).toBe(false);
      expect(answer.messages.map((m: any) => m.messageId)).toEqual(expected.map((m) => m.messageId));
      expect(answer.messages.map((m: any) => [m.conversation, m.from, m.text])).toEqual(
        expected.map((m) => [m.conversation, m.from, m.text]),
      );
    } finally {
      s.close();
    }
  });

  it('survives a second restart too', async () => {
    const highest = maxId(sent.map((m) => m.messageId));
    t = await t.restart();
    const m = await sendOver(t.baseUrl, c, { group: groupId }, 'third life', [a.userId, b.userId, c.userId]);
    expect(BigInt(m.messageId) > highest).toBe(true);
    sent.push(m);
    const history = await wholeHistory(t.baseUrl, b.token, `g:${groupId}`);
    expect(history.map((x) => x.messageId)).toEqual(
      sent
        .filter((x) => x.conversation === `g:${groupId}`)
        .map((x) => x.messageId)
        .sort(ascending)
        .reverse(),
    );
  });
});

describe('a chat node restarted with a clock that runs behind', () => {
  let t: TestNode;
  let behind: ChatNode | undefined;
  afterAll(async () => {
    await behind?.close();
    await t.close();
  });

  it('still issues message ids greater than every id issued before the restart', async () => {
    t = await startTestNode();
    const [a, b] = await createUsers(t.baseUrl, 2, 'clock');
    const before: string[] = [];
    for (let i = 0; i < 10; i++)
      before.push((await sendOver(t.baseUrl, a!, { to: b!.userId }, `before ${i}`, [])).messageId);
    await t.stop();

    // The same data dir, served by a node whose clock is an hour behind the first one.
    behind = await startNode(testConfig({}, t.dataDir), {
      log: silentLogger(),
      clock: () => Date.now() - 3_600_000,
    });
    const url = `http://127.0.0.1:${behind.port}`;
    const after: string[] = [];
    for (let i = 0; i < 3; i++)
      after.push((await sendOver(url, a!, { to: b!.userId }, `after ${i}`, [])).messageId);
    const highest = maxId(before);
    for (const id of after) expect(BigInt(id) > highest).toBe(true);
    expect([...after].sort(ascending)).toEqual(after);
    const history = await wholeHistory(url, b!.token, dm(a!.userId, b!.userId));
    expect(history.map((m) => m.text)).toEqual([
      'after 2',
      'after 1',
      'after 0',
      ...Array.from({ length: 10 }, (_, i) => `before ${9 - i}`),
    ]);
    await behind.close();
    behind = undefined;
  });
});
