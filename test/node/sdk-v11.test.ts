/** The SDK's v1.1 calls and events against a real node: people, conversations, receipts, typing, groups, changes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChatApi,
  ChatClient,
  type GroupEventFrame,
  type ReceiptFrame,
  type TypingEventFrame,
  type Update,
} from '../../client/index.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { until } from '../helpers/until.ts';
import { createUsers, type TestUser } from '../helpers/users.ts';

describe('the SDK on PROTOCOL v1.1', () => {
  let t: TestNode;
  let alice: TestUser;
  let bob: TestUser;
  const clients: ChatClient[] = [];

  beforeAll(async () => {
    t = await startTestNode();
    [alice, bob] = (await createUsers(t.baseUrl, 2, 'sdk11')) as [TestUser, TestUser];
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await t.close();
  });

  it('exposes people, conversations, receipts, groups and changes as typed calls and events', async () => {
    const a = new ChatClient({ baseUrl: t.baseUrl, token: alice.token });
    const b = new ChatClient({ baseUrl: t.baseUrl, token: bob.token });
    clients.push(a, b);
    const receipts: ReceiptFrame[] = [];
    const typing: TypingEventFrame[] = [];
    const groups: GroupEventFrame[] = [];
    const updates: Update[] = [];
    a.on('receipt', (r) => receipts.push(r));
    a.on('typing', (x) => typing.push(x));
    a.on('group', (g) => groups.push(g));
    a.on('update', (u) => updates.push(u));
    await Promise.all([a.connect(), b.connect()]);
    const api = new ChatApi(t.baseUrl, { token: bob.token });
    expect((await api.findUser(alice.username))?.userId).toBe(alice.userId);
    expect((await api.searchUsers(alice.username.slice(0, 10))).map((p) => p.userId)).toContain(alice.userId);
    expect(await api.setDisplayName('Bob B.')).toMatchObject({ userId: bob.userId, displayName: 'Bob B.' });
    expect((await api.me()).displayName).toBe('Bob B.');
    await api.addContact(alice.userId);
    expect((await api.contacts()).map((c) => c.userId)).toEqual([alice.userId]);

    const sent = await a.send({ to: bob.userId, text: 'hello' });
    const list = await api.conversations();
    expect(list.conversations[0]).toMatchObject({
      conversation: sent.conversation,
      unread: 1,
      peer: alice.userId,
    });
    b.read(sent.conversation, sent.messageId);
    await until('alice got the receipt', () => receipts.length > 0);
    expect(receipts[0]).toMatchObject({ userId: bob.userId, upTo: sent.messageId });
    expect((await api.conversation(sent.conversation)).unread).toBe(0);
    expect(await api.receipts(sent.conversation)).toContainEqual({
      userId: bob.userId,
      upTo: sent.messageId,
    });

    b.typing(sent.conversation);
    b.typing(sent.conversation); // within 2 s: not sent
    await until('alice saw bob typing', () => typing.length > 0);
    expect(typing[0]).toMatchObject({ conversation: sent.conversation, userId: bob.userId });

    const { groupId } = await api.createGroup('club', [alice.userId]);
    await api.renameGroup(groupId, 'club 2');
    await until('alice got both group events', () => groups.length >= 2);
    expect(groups.map((g) => g.event)).toEqual(['created', 'renamed']);
    expect(await new ChatApi(t.baseUrl, { token: alice.token }).groups()).toEqual([
      { groupId, name: 'club 2', members: 2 },
    ]);

    const edited = await a.edit(sent.messageId, 'hello!');
    const deleted = await a.delete(sent.messageId);
    await until('alice saw both changes once', () => updates.length >= 2);
    expect(updates.map((u) => u.updateId)).toEqual([edited.updateId, deleted.updateId]);
    await expect(b.delete(sent.messageId)).rejects.toMatchObject({ code: 'forbidden' });
  });
});
