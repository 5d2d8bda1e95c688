/** `chatctl send`, `history` and `chat` as processes against a real chat node, through the client SDK. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dmConversationId } from '../../common/ids.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { createUser, http, type TestUser } from '../helpers/users.ts';
import { Chatctl, chatctl } from './chatctl-process.ts';

describe('chatctl send, history and chat', () => {
  let t: TestNode;
  let bob: TestUser;
  const alice = { user: `alice-${randomBytes(3).toString('hex')}`, password: 'alice-password' };
  let aliceId: string;
  const login = () => ['--url', t.baseUrl, '--user', alice.user, '--password', alice.password];

  beforeAll(async () => {
    t = await startTestNode();
    bob = await createUser(t.baseUrl, 'bob');
  });
  afterAll(async () => {
    await t.close();
  });

  it('send --create makes the account, sends, and prints the message id and conversation', async () => {
    const r = await chatctl(['send', ...login(), '--create', '--to', bob.userId, '--text', 'hello bob']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`created the account ${alice.user}`);
    const m = /^sent (\d+) in (dm:\S+)\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    aliceId = (
      await http(t.baseUrl, 'POST', '/v1/sessions', {
        body: { username: alice.user, password: alice.password },
      })
    ).body.userId;
    expect(m![2]).toBe(dmConversationId(aliceId, bob.userId));
    const seen = await http(t.baseUrl, 'GET', `/v1/conversations/${m![2]}/messages`, { token: bob.token });
    expect(seen.body.messages).toEqual([expect.objectContaining({ messageId: m![1], text: 'hello bob' })]);
  });

  it('send --create logs in to an account that exists already', async () => {
    const r = await chatctl(['send', ...login(), '--create', '--to', bob.userId, '--text', 'again']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('exists already; logging in');
  });

  it('history prints the conversation oldest first, by id or as @user', async () => {
    const byId = await chatctl(['history', dmConversationId(aliceId, bob.userId), ...login()]);
    expect(byId.code, byId.stderr).toBe(0);
    const lines = byId.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d {2}→ ${bob.userId} me: hello bob$`),
    );
    expect(lines[1]).toMatch(/me: again$/);

    const asBob = await chatctl([
      'history',
      `@${aliceId}`,
      '--url',
      t.baseUrl,
      '--user',
      bob.username,
      '--password',
      bob.password,
      '--limit',
      '1',
    ]);
    expect(asBob.code, asBob.stderr).toBe(0);
    expect(asBob.stdout.trim()).toMatch(new RegExp(`  ${aliceId}: again$`));
  });

  it('chat prints incoming messages and sends each stdin line, until stdin ends', async () => {
    const chat = new Chatctl([
      'chat',
      '--url',
      t.baseUrl,
      '--user',
      bob.username,
      '--password',
      bob.password,
      '--to',
      aliceId,
    ]);
    try {
      await chat.waitFor(/talking to user /);
      const aliceSession = await http(t.baseUrl, 'POST', '/v1/sessions', {
        body: { username: alice.user, password: alice.password },
      });
      await http(t.baseUrl, 'POST', '/v1/messages', {
        token: aliceSession.body.token,
        body: { to: bob.userId, text: 'are you there?' },
      });
      await chat.waitFor(new RegExp(`${aliceId}: are you there\\?`));

      chat.write('yes, here');
      chat.write('/history');
      await chat.waitFor(/me: yes, here/);
      const r = await chat.end();
      expect(r.code, r.stderr).toBe(0);
      const cid = dmConversationId(aliceId, bob.userId);
      const seen = await http(t.baseUrl, 'GET', `/v1/conversations/${cid}/messages?limit=1`, {
        token: aliceSession.body.token,
      });
      expect(seen.body.messages[0]).toMatchObject({ from: bob.userId, text: 'yes, here' });
    } finally {
      chat.kill();
    }
  });

  it('chat switches targets with /group and leaves with /quit', async () => {
    const group = await http(t.baseUrl, 'POST', '/v1/groups', {
      token: bob.token,
      body: { name: 'ops', members: [aliceId] },
    });
    const chat = new Chatctl(['chat', ...login()]);
    try {
      await chat.waitFor(/talking to nobody yet/);
      chat.write('lost words');
      await chat.waitFor(/nobody to send to/);
      chat.write(`/group ${group.body.groupId}`);
      chat.write('hello ops');
      chat.write('/quit');
      const r = await chat.exited;
      expect(r.code, r.stderr).toBe(0);
      const seen = await http(t.baseUrl, 'GET', `/v1/conversations/g:${group.body.groupId}/messages`, {
        token: bob.token,
      });
      expect(seen.body.messages.map((m: { text: string }) => m.text)).toEqual(['hello ops']);
    } finally {
      chat.kill();
    }
  });

  it('says what to do on a wrong password (1), a node that is down (1), and bad usage (2)', async () => {
    const wrong = await chatctl([
      'send',
      '--url',
      t.baseUrl,
      '--user',
      alice.user,
      '--password',
      'nope',
      '--to',
      'x',
      '--text',
      'x',
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('wrong user or password (add --create to create the account)');

    const down = await chatctl([
      'history',
      'g:x',
      '--url',
      'http://127.0.0.1:9',
      '--user',
      'a',
      '--password',
      'b',
    ]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /cannot reach http:\/\/127\.0\.0\.1:9: .*Is the node running\? \(npm start\)/,
    );

    const noTarget = await chatctl(['send', ...login(), '--text', 'x']);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toContain('--to <userId> or --group <groupId>');

    const badConversation = await chatctl(['history', 'bob', ...login()]);
    expect(badConversation.code).toBe(2);
    expect(badConversation.stderr).toContain('"bob" is not a conversation');

    const noPassword = await chatctl(['history', 'g:x', '--url', t.baseUrl, '--user', 'a']);
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toContain('--password');
  });
});
