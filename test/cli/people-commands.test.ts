/** `chatctl conversations` and `chatctl user` as processes against a real chat node. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationTable } from '../../cli/people-view.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { createUser, http, type TestUser } from '../helpers/users.ts';
import { chatctl } from './chatctl-process.ts';

describe('chatctl conversations and user', () => {
  let t: TestNode;
  let alice: TestUser;
  let bob: TestUser;
  const as = (u: TestUser) => ['--url', t.baseUrl, '--user', u.username, '--password', u.password];

  beforeAll(async () => {
    t = await startTestNode();
    [alice, bob] = [await createUser(t.baseUrl, 'alice'), await createUser(t.baseUrl, 'bob')];
    for (const text of ['one', 'two']) {
      await http(t.baseUrl, 'POST', '/v1/messages', { token: alice.token, body: { to: bob.userId, text } });
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('lists the conversations with their unread counts', async () => {
    const r = await chatctl(['conversations', ...as(bob)]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^CONVERSATION\s+WITH\s+UNREAD\s+LAST$/);
    expect(lines[1]).toMatch(new RegExp(`^dm:\\S+\\s+@${alice.userId}\\s+2\\s+${alice.userId}: two$`));
  });

  it('finds a user by username, and by prefix; exits 1 for none', async () => {
    const exact = await chatctl(['user', alice.username, ...as(bob)]);
    expect(exact.code, exact.stderr).toBe(0);
    expect(exact.stdout).toContain(alice.userId);
    const prefix = await chatctl(['user', alice.username.slice(0, 8), '--prefix', ...as(bob)]);
    expect(prefix.stdout).toContain(alice.userId);
    const none = await chatctl(['user', 'nobody-here-at-all', ...as(bob)]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no user is named nobody-here-at-all');
  });

  it('shows 1000+ at the unread cap and a deleted last message as such', () => {
    const [, row] = conversationTable([
      {
        conversation: 'g:x',
        kind: 'group',
        group: { groupId: 'x', name: 'team' },
        lastMessage: { messageId: '5', conversation: 'g:x', from: 'u1', text: '', deleted: true, ts: 1 },
        readUpTo: '0',
        unread: 1000,
        activityId: '5',
      },
    ]);
    expect(row).toMatch(/^g:x\s+#team\s+1000\+\s+u1: \(deleted\)$/);
  });
});
