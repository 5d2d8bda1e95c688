/**
 * Push notifications for offline recipients (docs/protocol-notes.md "Push": CHAT_PUSH_WEBHOOK_URL), against a real
 * webhook receiver on a local port: who gets one, what it holds, retries, and that a stuck provider
 * never holds up delivery to online devices.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { TestSocket } from '../helpers/socket.ts';
import { createUsers, http, type TestUser } from '../helpers/users.ts';
import { WebhookReceiver } from '../helpers/webhook.ts';

const dm = (a: string, b: string) => (a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`);

describe('push notifications through the webhook provider', () => {
  let receiver: WebhookReceiver;
  let t: TestNode;
  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    t = await startTestNode({ pushWebhookUrl: receiver.url });
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });
  beforeEach(() => {
    receiver.answer = () => 200;
  });

  /** Sends over HTTP (the sender has no WebSocket: it is offline itself). */
  const send = async (from: TestUser, target: { to: string } | { group: string }, text: string) => {
    const res = await http(t.baseUrl, 'POST', '/v1/messages', {
      token: from.token,
      body: { ...target, text },
    });
    expect(res.status).toBe(201);
    return res.body as { messageId: string; conversation: string; ts: number };
  };
  const pushesOf = (messageId: string) => receiver.matching((b) => b.messageId === messageId);
  /**
   * Waits until every push the node may still make for messages sent so far is done: sends a marker
   * message to a fresh offline user, waits for its push, then for the dispatcher to be idle.
   */
  const settle = async () => {
    const [x, y] = await createUsers(t.baseUrl, 2, 'marker');
    const marker = await send(x!, { to: y!.userId }, 'marker');
    await receiver.waitFor((b) => b.messageId === marker.messageId);
    await t.node.push.idle();
  };

  it('POSTs exactly one notification {userId,messageId,conversation,from,preview} for a message to an offline user', async () => {
    const [a, b] = await createUsers(t.baseUrl, 2, 'push');
    const m = await send(a!, { to: b!.userId }, 'are you there?');
    await receiver.waitFor((body) => body.messageId === m.messageId);
    await t.node.push.idle();
    const got = pushesOf(m.messageId);
    expect(got).toHaveLength(1);
    expect(got[0]!.method).toBe('POST');
    expect(got[0]!.contentType).toMatch(/^application\/json/);
    expect(got[0]!.body).toEqual({
      userId: b!.userId,
      messageId: m.messageId,
      conversation: dm(a!.userId, b!.userId),
      from: a!.userId,
      preview: 'are you there?',
    });
  });

  it('cuts the preview to the first 100 characters (code points) of the text', async () => {
    const [a, b] = await createUsers(t.baseUrl, 2, 'push');
    const text = `${'😀'.repeat(60)}${'é'.repeat(30)}${'x'.repeat(60)}`;
    const m = await send(a!, { to: b!.userId }, text);
    const [got] = await receiver.waitFor((body) => body.messageId === m.messageId);
    const preview: string = got!.body.preview;
    expect([...preview]).toHaveLength(100);
    expect(preview).toBe([...text].slice(0, 100).join(''));
    expect(preview.isWellFormed()).toBe(true);
  });

  it('sends no push to a recipient that is online', async () => {
    const [a, b] = await createUsers(t.baseUrl, 2, 'push');
    const sb = await TestSocket.open(t.wsUrl, b!.token);
    try {
      const m = await send(a!, { to: b!.userId }, 'you are online');
      await sb.next('message', (f) => f.messageId === m.messageId);
      await settle();
      expect(pushesOf(m.messageId)).toEqual([]);
    } finally {
      sb.close();
    }
  });

  it('pushes to a recipient whose last device went offline', async () => {
    const [a, b, watcher] = await createUsers(t.baseUrl, 3, 'push');
    const sb = await TestSocket.open(t.wsUrl, b!.token);
    const sw = await TestSocket.open(t.wsUrl, watcher!.token);
    try {
      sw.send({ type: 'presence.subscribe', users: [b!.userId] });
      await sw.next('presence', (f) => f.userId === b!.userId && f.status === 'online');
      sb.close();
      await sw.next('presence', (f) => f.userId === b!.userId && f.status === 'offline');
      const m = await send(a!, { to: b!.userId }, 'you left');
      const got = await receiver.waitFor((body) => body.messageId === m.messageId);
      expect(got.map((r) => r.body.userId)).toEqual([b!.userId]);
    } finally {
      sb.close();
      sw.close();
    }
  });

  it('never pushes to the sender of a message', async () => {
    const [a, b] = await createUsers(t.baseUrl, 2, 'push');
    const toOther = await send(a!, { to: b!.userId }, 'to b');
    const toSelf = await send(a!, { to: a!.userId }, 'note to self');
    await receiver.waitFor((body) => body.messageId === toOther.messageId);
    await settle();
    expect(pushesOf(toOther.messageId).map((r) => r.body.userId)).toEqual([b!.userId]);
    expect(pushesOf(toSelf.messageId)).toEqual([]);
    expect(receiver.matching((body) => body.userId === a!.userId)).toEqual([]);
  });

  it('pushes a group message once to each offline member, and not to online ones or the sender', async () => {
    const [a, online, off1, off2] = await createUsers(t.baseUrl, 4, 'grp');
    const g = await http(t.baseUrl, 'POST', '/v1/groups', {
      token: a!.token,
      body: { name: 'push', members: [online!.userId, off1!.userId, off2!.userId, off2!.userId] },
    });
    expect(g.status).toBe(201);
    const so = await TestSocket.open(t.wsUrl, online!.token);
    try {
      const m = await send(a!, { group: g.body.groupId }, 'hello group');
      await so.next('message', (f) => f.messageId === m.messageId);
      await receiver.waitFor((body) => body.messageId === m.messageId, 2);
      await settle();
      const got = pushesOf(m.messageId).map((r) => r.body);
      expect(got.map((b) => b.userId).sort()).toEqual([off1!.userId, off2!.userId].sort());
      for (const body of got) {
        expect(body).toEqual({
          userId: body.userId,
          messageId: m.messageId,
          conversation: `g:${g.body.groupId}`,
          from: a!.userId,
          preview: 'hello group',
        });
      }
    } finally {
      so.close();
    }
  });

  it('retries a refused notification: after 500 twice, the 3rd attempt is delivered', async () => {
    const [a, b] = await createUsers(t.baseUrl, 2, 'retry');
    let refusals = 0;
    receiver.answer = (body) => (body.userId === b!.userId && refusals++ < 2 ? 500 : 200);
    const m = await send(a!, { to: b!.userId }, 'try again');
    await receiver.waitFor((body) => body.messageId === m.messageId, 3);
    await t.node.push.idle();
    const attempts = pushesOf(m.messageId);
    expect(attempts.map((r) => r.answered)).toEqual([500, 500, 200]);
    for (const r of attempts) {
      expect(r.body).toEqual({
        userId: b!.userId,
        messageId: m.messageId,
        conversation: dm(a!.userId, b!.userId),
        from: a!.userId,
        preview: 'try again',
      });
    }
  });
});

describe('push through a webhook that never answers', () => {
  let receiver: WebhookReceiver;
  let t: TestNode;
  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    receiver.answer = () => 'hang';
    t = await startTestNode({ pushWebhookUrl: receiver.url });
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  it('still delivers to online members at once, while the offline member’s pushes hang', async () => {
    const [a, online, offline] = await createUsers(t.baseUrl, 3, 'hang');
    const g = await http(t.baseUrl, 'POST', '/v1/groups', {
      token: a!.token,
      body: { name: 'stuck push', members: [online!.userId, offline!.userId] },
    });
    const sa = await TestSocket.open(t.wsUrl, a!.token);
    const so = await TestSocket.open(t.wsUrl, online!.token);
    try {
      // More messages than the dispatcher sends at once, so that its queue backs up too.
      const n = 12;
      for (let i = 0; i < n; i++)
        sa.send({ type: 'send', id: `h${i}`, group: g.body.groupId, text: `m${i}` });
      const sent: string[] = [];
      for (let i = 0; i < n; i++) sent.push((await sa.next('sent', (f) => f.id === `h${i}`)).messageId);
      const delivered: string[] = [];
      for (const id of sent) delivered.push((await so.next('message', (f) => f.messageId === id)).messageId);
      expect(delivered).toEqual(sent);
      expect(delivered.map((id) => BigInt(id))).toEqual(
        sent.map((id) => BigInt(id)).sort((x, y) => (x < y ? -1 : 1)),
      );

      // The first push reached the receiver and is still unanswered and open: delivery did not wait for it.
      const [first] = await receiver.waitFor((body) => body.userId === offline!.userId);
      expect(sent).toContain(first!.body.messageId);
      expect(first!.answered).toBeUndefined();
      expect(first!.closed).toBe(false);
      expect(receiver.requests.every((r) => r.answered === undefined)).toBe(true);
      expect(receiver.matching((body) => body.userId !== offline!.userId)).toEqual([]);
    } finally {
      sa.close();
      so.close();
    }
  });
});
