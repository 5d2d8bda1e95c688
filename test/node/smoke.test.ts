import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { TestSocket } from '../helpers/socket.ts';
import { createUsers } from '../helpers/users.ts';

describe('a chat node on embedded defaults', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode();
  });
  afterAll(() => t.close());

  it('delivers a 1:1 message and answers sent', async () => {
    const [a, b] = await createUsers(t.baseUrl, 2);
    const sa = await TestSocket.open(t.wsUrl, a!.token);
    const sb = await TestSocket.open(t.wsUrl, b!.token);
    sa.send({ type: 'send', id: 'c1', to: b!.userId, text: 'hello' });
    const sent = await sa.next('sent');
    expect(sent.id).toBe('c1');
    const got = await sb.next('message');
    expect(got).toMatchObject({ messageId: sent.messageId, from: a!.userId, to: b!.userId, text: 'hello' });
    sa.close();
    sb.close();
  });
});
