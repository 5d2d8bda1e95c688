/**
 * The SDK's browser parts against a real node: tickets before every (re)connect with a WHATWG
 * WebSocket that cannot send headers (Node's global one, as a browser's), never the token in a URL;
 * `POST /v1/sessions/refresh`; and a client whose token is about to expire refreshing it and
 * reconnecting on the new one after the old one has expired. (test/web/ runs it in Chromium.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFRESHES_PER_MINUTE } from '../../chat-node/http/session-refresh.ts';
import { ChatClient } from '../../client/index.ts';
import type { SocketLike, WebSocketConstructor } from '../../client/socket.ts';
import { refreshTime, tokenTimes } from '../../client/token-refresh.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { createUser, http, login, type TestUser } from '../helpers/users.ts';
import { waitUntil } from '../helpers/ws.ts';

/** Node's global WebSocket (the WHATWG one, as in a browser: no headers), recording each URL. */
function recordingWebSocket(urls: string[]): WebSocketConstructor {
  const Native = globalThis.WebSocket as unknown as new (url: string) => SocketLike;
  return class {
    constructor(url: string, options?: unknown) {
      expect(options).toBeUndefined();
      urls.push(url);
      // biome-ignore lint/correctness/noConstructorReturn: the recorded socket is the native one
      return new Native(url);
    }
  } as unknown as WebSocketConstructor;
}

describe('the SDK in browser mode', () => {
  let t: TestNode;
  let alice: TestUser;
  let bob: TestUser;
  const clients: ChatClient[] = [];

  beforeAll(async () => {
    t = await startTestNode();
    [alice, bob] = [await createUser(t.baseUrl, 'sb'), await createUser(t.baseUrl, 'sb')];
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await t.close();
  });

  it('gets a ticket before every (re)connect and never puts the token into a URL', async () => {
    const urls: string[] = [];
    const client = new ChatClient({
      baseUrl: t.baseUrl,
      token: alice.token,
      tickets: true,
      WebSocket: recordingWebSocket(urls),
      backoff: { initialMs: 20, maxMs: 100 },
    });
    clients.push(client);
    const welcome = await client.connect();
    expect(welcome).toMatchObject({ userId: alice.userId, deviceId: alice.deviceId });
    // The node asks every session to move: the client comes back on a new ticket.
    const again = new Promise((r) => client.on('welcome', r));
    t.node.gateway.move({ count: Number.POSITIVE_INFINITY, reason: 'rebalance', ratePerSec: 1000 });
    await again;
    expect(urls.length).toBe(2);
    const tickets = urls.map((u) => new URL(u).searchParams.get('ticket'));
    expect(tickets[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tickets[1]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tickets[0]).not.toBe(tickets[1]);
    for (const u of urls) {
      expect(u).not.toContain(alice.token);
      expect(new URL(u).searchParams.has('token')).toBe(false);
    }
    const sent = await client.send({ to: bob.userId, text: 'over a ticket' });
    expect(sent.messageId).toMatch(/^\d+$/);
  });

  it('a ticket refused by the node (401 on the ticket call) closes the client as unauthorized', async () => {
    const client = new ChatClient({
      baseUrl: t.baseUrl,
      token: 'not-a-token',
      tickets: true,
      WebSocket: recordingWebSocket([]),
    });
    clients.push(client);
    await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.state).toBe('closed');
  });
});

describe('POST /v1/sessions/refresh', () => {
  let t: TestNode;
  let alice: TestUser;

  beforeAll(async () => {
    t = await startTestNode({ tokenTtlSec: 3600 });
    alice = await createUser(t.baseUrl, 'rf');
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers a new token for the same user and device with a fresh lifetime; both work', async () => {
    const before = Date.now();
    const res = await http(t.baseUrl, 'POST', '/v1/sessions/refresh', { token: alice.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['deviceId', 'expiresAt', 'token', 'userId']);
    expect(res.body).toMatchObject({ userId: alice.userId, deviceId: alice.deviceId });
    expect(res.body.expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000);
    expect(res.body.expiresAt).toBeLessThanOrEqual(Date.now() + 3600_000);
    for (const token of [res.body.token, alice.token]) {
      const me = await http(t.baseUrl, 'GET', '/v1/users/me', { token });
      expect(me.status).toBe(200);
      expect(me.body.userId).toBe(alice.userId);
    }
  });

  it('refuses a missing, bad or revoked token (401) and a body that is not an object (400)', async () => {
    expect((await http(t.baseUrl, 'POST', '/v1/sessions/refresh')).status).toBe(401);
    expect((await http(t.baseUrl, 'POST', '/v1/sessions/refresh', { token: 'x.y.z' })).status).toBe(401);
    const device = await login(t.baseUrl, alice.username, alice.password);
    expect(
      (await http(t.baseUrl, 'POST', '/v1/sessions/refresh', { token: device.token, rawBody: '[1]' })).status,
    ).toBe(400);
    await http(t.baseUrl, 'DELETE', '/v1/sessions/current', { token: device.token });
    expect((await http(t.baseUrl, 'POST', '/v1/sessions/refresh', { token: device.token })).status).toBe(401);
  });

  it(`allows ${REFRESHES_PER_MINUTE} refreshes a minute per device (429 after)`, async () => {
    const device = await login(t.baseUrl, alice.username, alice.password);
    const statuses: number[] = [];
    for (let i = 0; i <= REFRESHES_PER_MINUTE; i++) {
      statuses.push((await http(t.baseUrl, 'POST', '/v1/sessions/refresh', { token: device.token })).status);
    }
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe('a ChatClient whose token is about to expire', () => {
  let t: TestNode;
  let alice: TestUser;
  let client: ChatClient | undefined;

  beforeAll(async () => {
    t = await startTestNode();
    alice = await createUser(t.baseUrl, 'rx');
  });
  afterAll(async () => {
    client?.close();
    await t.close();
  });

  it('refreshes it, emits the new one, and reconnects on it after the old one expired', async () => {
    // A token of the node's own kind, 80 % into a 60 s life, expiring in 3 s.
    const secret = readFileSync(join(t.dataDir, 'jwt-secret'), 'utf8').trim();
    const now = Date.now();
    const issuedAt = Math.floor((now - 57_000) / 1000);
    const expiring = await new SignJWT({ did: alice.deviceId, ims: issuedAt * 1000 })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(alice.userId)
      .setIssuer('chat-platform')
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 60)
      .sign(new TextEncoder().encode(secret));
    expect(refreshTime(tokenTimes(expiring)!.issuedAt, tokenTimes(expiring)!.expiresAt)).toBeLessThan(now);

    const urls: string[] = [];
    client = new ChatClient({
      baseUrl: t.baseUrl,
      token: expiring,
      tickets: true,
      WebSocket: recordingWebSocket(urls),
      backoff: { initialMs: 20, maxMs: 100 },
    });
    const refreshed = new Promise<{ token: string; expiresAt: number }>((r) => client!.on('token', r));
    await client.connect();
    const fresh = await refreshed;
    expect(fresh.token).not.toBe(expiring);
    expect(client.token).toBe(fresh.token);
    expect(fresh.expiresAt).toBeGreaterThan(Date.now() + 6 * 24 * 3600_000);

    // Past the old token's end, a new connection is made with the new one.
    await waitUntil('the old token expired', async () =>
      (await http(t.baseUrl, 'GET', '/v1/users/me', { token: expiring })).status === 401 ? true : undefined,
    );
    const again = new Promise((r) => client!.on('welcome', r));
    t.node.gateway.move({ count: Number.POSITIVE_INFINITY, reason: 'rebalance', ratePerSec: 1000 });
    await again;
    expect(client.state).toBe('open');
    expect(urls.length).toBe(2);
  });

  it('reads the times of a JWT and refreshes at 80 % of its life', () => {
    const payload = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect(tokenTimes(`h.${payload({ iat: 1000, exp: 2000 })}.s`)).toEqual({
      issuedAt: 1_000_000,
      expiresAt: 2_000_000,
    });
    expect(tokenTimes(`h.${payload({ exp: 2000 })}.s`)).toEqual({
      issuedAt: undefined,
      expiresAt: 2_000_000,
    });
    for (const bad of ['opaque', 'a.b.c', `h.${payload({ iat: 1 })}.s`, `h.${payload({ exp: '2' })}.s`]) {
      expect(tokenTimes(bad), bad).toBeUndefined();
    }
    expect(refreshTime(0, 100_000)).toBe(80_000);
    expect(refreshTime(undefined, 1_000_000)).toBe(940_000);
  });
});
