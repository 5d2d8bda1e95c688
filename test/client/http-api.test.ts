import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi, ChatApiError } from '../../client/index.ts';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

/** A fake node that records each request and answers from a table keyed by "METHOD path". */
describe('ChatApi', () => {
  let server: Server;
  let baseUrl: string;
  const requests: Seen[] = [];
  const answers: Record<string, { status: number; body?: unknown; raw?: string }> = {
    'POST /v1/users': { status: 409, body: { error: { code: 'username_taken', message: 'taken' } } },
    'POST /v1/sessions': { status: 200, body: { token: 't1', userId: 'u1', deviceId: 'd1' } },
    'POST /v1/groups/g%201/members': { status: 204 },
    'GET /v1/conversations/dm%3Aa%3Ab/messages?before=10&limit=2': {
      status: 200,
      body: { messages: [{ messageId: '9' }] },
    },
    'GET /v1/presence?users=a,b': { status: 200, body: { presence: [{ userId: 'a' }] } },
    'GET /v1/discovery': { status: 502, raw: '<html>bad gateway</html>' },
    'GET /readyz': { status: 503, body: { status: 'not ready' } },
    'GET /healthz': { status: 200, body: { status: 'ok' } },
  };

  beforeAll(async () => {
    server = createServer(async (req: IncomingMessage, res) => {
      let text = '';
      for await (const chunk of req) text += chunk;
      requests.push({
        method: req.method!,
        url: req.url!,
        authorization: req.headers.authorization,
        body: text ? JSON.parse(text) : undefined,
      });
      const answer = answers[`${req.method} ${req.url}`] ?? { status: 404 };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.raw ?? (answer.body === undefined ? '' : JSON.stringify(answer.body)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const last = () => requests[requests.length - 1]!;

  it('throws ChatApiError with the status and the code and message of the error body', async () => {
    const err = await new ChatApi(baseUrl).createUser('ann', 'pw').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatApiError);
    expect(err).toMatchObject({
      name: 'ChatApiError',
      status: 409,
      code: 'username_taken',
      message: 'taken',
    });
    expect(last()).toMatchObject({ authorization: undefined, body: { username: 'ann', password: 'pw' } });
  });

  it('keeps the token of login and sends it as a bearer token on later calls', async () => {
    const api = new ChatApi(`${baseUrl}/`);
    await expect(api.login('ann', 'pw')).resolves.toEqual({ token: 't1', userId: 'u1', deviceId: 'd1' });
    expect(last().authorization).toBeUndefined();
    await api.addMember('g 1', 'u2');
    expect(last()).toMatchObject({ url: '/v1/groups/g%201/members', authorization: 'Bearer t1' });
  });

  it('encodes the conversation id in the history path and passes before and limit', async () => {
    const api = new ChatApi(baseUrl, { token: 't' });
    await expect(api.history('dm:a:b', { before: '10', limit: 2 })).resolves.toEqual([{ messageId: '9' }]);
  });

  it('asks presence for users as one comma-separated list', async () => {
    await expect(new ChatApi(baseUrl, { token: 't' }).presence(['a', 'b'])).resolves.toEqual([
      { userId: 'a' },
    ]);
  });

  it('names the status in the code when an error body is not JSON', async () => {
    await expect(new ChatApi(baseUrl, { token: 't' }).discovery()).rejects.toMatchObject({
      status: 502,
      code: 'http_502',
    });
  });

  it('answers health and readiness as booleans', async () => {
    const api = new ChatApi(baseUrl);
    await expect(api.health()).resolves.toBe(true);
    await expect(api.ready()).resolves.toBe(false);
  });

  it('throws a network ChatApiError with status 0 when nothing answers', async () => {
    const api = new ChatApi('http://127.0.0.1:1', { timeoutMs: 2000 });
    await expect(api.health()).rejects.toMatchObject({ status: 0, code: 'network' });
  });
});
