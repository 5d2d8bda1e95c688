/**
 * PROTOCOL.md "Browsers" on a real node over HTTP and WebSocket: `POST /v1/ws-tickets` and the
 * `?ticket=` handshake (one use, 60 s, revocation, bounds), and CORS from CHAT_CORS_ORIGINS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_TICKETS_PER_USER, TICKET_TTL_MS } from '../../chat-node/http/ws-tickets.ts';
import { type ChatNode, startNode } from '../../chat-node/node.ts';
import { ConfigError } from '../../common/config.ts';
import { silentLogger } from '../../common/logger.ts';
import { loadNodeConfig } from '../../common/node-config.ts';
import { startTestNode, type TestNode, testConfig } from '../helpers/node.ts';
import { createUser, http, login, type TestUser } from '../helpers/users.ts';
import { firstFrame, handshakeAnswer } from '../helpers/ws.ts';

const ALLOWED = 'https://app.example.test';

async function ticketOf(baseUrl: string, token: string): Promise<{ ticket: string; expiresAt: number }> {
  const res = await http(baseUrl, 'POST', '/v1/ws-tickets', { token });
  expect(res.status).toBe(200);
  return res.body;
}

describe('POST /v1/ws-tickets and ?ticket=', () => {
  let t: TestNode;
  let alice: TestUser;

  beforeAll(async () => {
    t = await startTestNode();
    alice = await createUser(t.baseUrl, 'tk');
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 200 {ticket, expiresAt} for an empty body, 60 s ahead', async () => {
    const before = Date.now();
    const res = await http(t.baseUrl, 'POST', '/v1/ws-tickets', { token: alice.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'ticket']);
    expect(typeof res.body.ticket).toBe('string');
    expect(res.body.ticket).not.toContain(alice.token);
    expect(res.body.expiresAt).toBeGreaterThanOrEqual(before + TICKET_TTL_MS);
    expect(res.body.expiresAt).toBeLessThanOrEqual(Date.now() + TICKET_TTL_MS);
  });

  it('takes {} too, and refuses a body that is not an object with 400', async () => {
    expect((await http(t.baseUrl, 'POST', '/v1/ws-tickets', { token: alice.token, body: {} })).status).toBe(
      200,
    );
    for (const rawBody of ['[]', '"x"', '1', 'null', '{']) {
      const res = await http(t.baseUrl, 'POST', '/v1/ws-tickets', { token: alice.token, rawBody });
      expect(res.status, rawBody).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
    }
  });

  it('needs a valid token (401)', async () => {
    expect((await http(t.baseUrl, 'POST', '/v1/ws-tickets')).status).toBe(401);
    expect((await http(t.baseUrl, 'POST', '/v1/ws-tickets', { token: 'nope' })).status).toBe(401);
  });

  it("opens one WebSocket as the token's user and device, then is refused with 401", async () => {
    const { ticket } = await ticketOf(t.baseUrl, alice.token);
    const welcome = await firstFrame(`${t.wsUrl}?ticket=${encodeURIComponent(ticket)}`);
    expect(welcome).toMatchObject({ type: 'welcome', userId: alice.userId, deviceId: alice.deviceId });
    const again = await handshakeAnswer(`${t.wsUrl}?ticket=${encodeURIComponent(ticket)}`);
    expect(again.status).toBe(401);
  });

  it('refuses an unknown or malformed ticket with 401, even beside a valid token', async () => {
    for (const ticket of ['x', 'A'.repeat(43), '', '%00'.repeat(50)]) {
      expect((await handshakeAnswer(`${t.wsUrl}?ticket=${ticket}`)).status, ticket).toBe(401);
    }
    const withToken = await handshakeAnswer(`${t.wsUrl}?ticket=${'B'.repeat(43)}`, {
      authorization: `Bearer ${alice.token}`,
    });
    expect(withToken.status).toBe(401);
  });

  it('gives each ticket to one handshake only when several race for it', async () => {
    const { ticket } = await ticketOf(t.baseUrl, alice.token);
    const url = `${t.wsUrl}?ticket=${encodeURIComponent(ticket)}`;
    const answers = await Promise.all(Array.from({ length: 5 }, () => handshakeAnswer(url)));
    expect(answers.map((a) => a.status).sort()).toEqual([101, 401, 401, 401, 401]);
  });

  it('refuses a ticket whose token was revoked since (logout) with 401', async () => {
    const device = await login(t.baseUrl, alice.username, alice.password);
    const { ticket } = await ticketOf(t.baseUrl, device.token);
    expect((await http(t.baseUrl, 'DELETE', '/v1/sessions/current', { token: device.token })).status).toBe(
      204,
    );
    expect((await handshakeAnswer(`${t.wsUrl}?ticket=${encodeURIComponent(ticket)}`)).status).toBe(401);
  });

  it(`gives one user at most ${MAX_TICKETS_PER_USER} tickets a minute (429), other users theirs`, async () => {
    const bob = await createUser(t.baseUrl, 'tkb');
    const statuses: number[] = [];
    for (let i = 0; i <= MAX_TICKETS_PER_USER; i++) {
      statuses.push((await http(t.baseUrl, 'POST', '/v1/ws-tickets', { token: bob.token })).status);
    }
    expect(statuses.slice(0, MAX_TICKETS_PER_USER).every((s) => s === 200)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    expect((await http(t.baseUrl, 'POST', '/v1/ws-tickets', { token: alice.token })).status).toBe(200);
  });
});

describe('an expired ticket', () => {
  let node: ChatNode;
  let offset = 0;

  beforeAll(async () => {
    node = await startNode(testConfig(), { log: silentLogger(), clock: () => Date.now() + offset });
  });
  afterAll(async () => {
    await node.close();
  });

  it('is refused at the handshake with 401 after 60 s', async () => {
    const base = `http://127.0.0.1:${node.port}`;
    const u = await createUser(base, 'exp');
    const fresh = await ticketOf(base, u.token);
    const stale = await ticketOf(base, u.token);
    offset = TICKET_TTL_MS - 1000;
    expect((await firstFrame(`ws://127.0.0.1:${node.port}/v1/ws?ticket=${fresh.ticket}`)).type).toBe(
      'welcome',
    );
    offset = TICKET_TTL_MS + 1;
    expect((await handshakeAnswer(`ws://127.0.0.1:${node.port}/v1/ws?ticket=${stale.ticket}`)).status).toBe(
      401,
    );
  });
});

/** The Access-Control-* headers of an answer. */
function corsHeaders(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (name.startsWith('access-control-')) out[name] = value;
  });
  return out;
}

describe('CORS', () => {
  let t: TestNode;
  let any: TestNode;
  let alice: TestUser;

  beforeAll(async () => {
    t = await startTestNode({ corsOrigins: [ALLOWED, 'http://localhost:5173'] });
    any = await startTestNode({ corsOrigins: ['*'] });
    alice = await createUser(t.baseUrl, 'cors');
  });
  afterAll(async () => {
    await Promise.all([t.close(), any.close()]);
  });

  const preflight = (base: string, path: string, origin: string, method = 'POST') =>
    fetch(base + path, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': 'authorization, content-type',
      },
    });

  it('answers an allowed origin’s preflight 204 with every method of the API and both headers', async () => {
    for (const [path, method] of [
      ['/v1/ws-tickets', 'POST'],
      ['/v1/messages/123', 'PATCH'],
      ['/v1/contacts/u1', 'PUT'],
      ['/v1/groups/g1/members/u1', 'DELETE'],
    ] as const) {
      const res = await preflight(t.baseUrl, path, ALLOWED, method);
      expect(res.status, path).toBe(204);
      const h = corsHeaders(res);
      expect(h['access-control-allow-origin']).toBe(ALLOWED);
      const methods = h['access-control-allow-methods']!.split(',').map((m) => m.trim());
      for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) expect(methods, path).toContain(m);
      const headers = h['access-control-allow-headers']!.toLowerCase();
      expect(headers).toContain('authorization');
      expect(headers).toContain('content-type');
    }
  });

  it('gives an allowed origin Access-Control-Allow-Origin on answers, errors included', async () => {
    const ok = await fetch(`${t.baseUrl}/v1/users/me`, {
      headers: { origin: ALLOWED, authorization: `Bearer ${alice.token}` },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(ok.headers.get('vary')).toContain('Origin');
    const refused = await fetch(`${t.baseUrl}/v1/ws-tickets`, {
      method: 'POST',
      headers: { origin: ALLOWED },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const other = await fetch(`${t.baseUrl}/healthz`, { headers: { origin: 'http://localhost:5173' } });
    expect(other.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
  });

  it('gives any other origin, or none, no Access-Control-* header at all', async () => {
    for (const origin of [
      'https://evil.example.test',
      'https://app.example.test.evil',
      'null',
      'http://localhost:5174',
    ]) {
      const pre = await preflight(t.baseUrl, '/v1/ws-tickets', origin);
      expect(corsHeaders(pre), origin).toEqual({});
      const get = await fetch(`${t.baseUrl}/v1/users/me`, {
        headers: { origin, authorization: `Bearer ${alice.token}` },
      });
      expect(get.status).toBe(200);
      expect(corsHeaders(get), origin).toEqual({});
    }
    expect(corsHeaders(await fetch(`${t.baseUrl}/healthz`))).toEqual({});
  });

  it('with *, allows every origin', async () => {
    const pre = await preflight(any.baseUrl, '/v1/sessions', 'https://anywhere.example.test');
    expect(pre.status).toBe(204);
    expect(corsHeaders(pre)['access-control-allow-origin']).toBe('*');
    const res = await fetch(`${any.baseUrl}/healthz`, { headers: { origin: 'https://x.example.test' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('is off by default: no Access-Control-* header for any origin', async () => {
    const plain = await startTestNode();
    try {
      const pre = await preflight(plain.baseUrl, '/v1/ws-tickets', ALLOWED);
      expect(pre.status).toBe(204);
      expect(corsHeaders(pre)).toEqual({});
    } finally {
      await plain.close();
    }
  });

  it('CHAT_CORS_ORIGINS takes origins and *, and names a bad one', () => {
    const env = { CHAT_CORS_ORIGINS: `${ALLOWED}, http://127.0.0.1:8080,*` };
    expect(loadNodeConfig({ env }).corsOrigins).toEqual([ALLOWED, 'http://127.0.0.1:8080', '*']);
    for (const bad of [
      'app.example.test',
      'https://app.example.test/path',
      'ftp://x.example.test',
      'https://a?b',
    ]) {
      expect(() => loadNodeConfig({ env: { CHAT_CORS_ORIGINS: bad } }), bad).toThrow(ConfigError);
      expect(() => loadNodeConfig({ env: { CHAT_CORS_ORIGINS: bad } }), bad).toThrow(/CHAT_CORS_ORIGINS/);
    }
  });
});
