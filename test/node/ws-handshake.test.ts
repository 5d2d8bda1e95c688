/** The WebSocket handshake of PROTOCOL.md: where the token goes, what is refused, and the welcome frame. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { createUser, login, type TestUser } from '../helpers/users.ts';
import { firstFrame, handshakeAnswer, roundTrip, SocketPool } from '../helpers/ws.ts';

const NODE_ID = 7;
const HEARTBEAT_MS = 4321;

/** A token shaped like the node's (HS256, sub = user, did = device, issuer) but signed with `secret`. */
function signToken(
  secret: string,
  claims: { sub: string; did: string },
  expiresAt: number | string = '1h',
): Promise<string> {
  return new SignJWT({ did: claims.did })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuer('chat-platform')
    .setIssuedAt()
    .setExpirationTime(expiresAt)
    .sign(new TextEncoder().encode(secret));
}

describe('the WebSocket handshake', () => {
  let t: TestNode;
  let alice: TestUser;
  const pool = new SocketPool();

  beforeAll(async () => {
    t = await startTestNode({ nodeId: NODE_ID, heartbeatMs: HEARTBEAT_MS });
    alice = await createUser(t.baseUrl, 'hs');
  });
  afterAll(async () => {
    pool.closeAll();
    await t.close();
  });

  describe('with a valid token', () => {
    it('accepts the token in the Authorization header and the connection answers frames', async () => {
      const s = await pool.open(t.wsUrl, alice.token);
      await roundTrip(s);
      expect(s.closed).toBeUndefined();
    });

    it('accepts the token in the ?token= query parameter and the connection answers frames', async () => {
      const s = await pool.open(t.wsUrl, alice.token, { viaQuery: true });
      await roundTrip(s);
      expect(s.closed).toBeUndefined();
    });

    it('accepts the Bearer scheme in any letter case', async () => {
      expect((await handshakeAnswer(t.wsUrl, { authorization: `bearer ${alice.token}` })).status).toBe(101);
    });
  });

  describe('with a bad token', () => {
    it('refuses a handshake without any token with HTTP 401', async () => {
      expect((await handshakeAnswer(t.wsUrl)).status).toBe(401);
    });

    it.each([
      ['a word that is not a JWT', 'Bearer nonsense'],
      ['three dotted parts of garbage', 'Bearer aaa.bbb.ccc'],
      ['an empty bearer', 'Bearer '],
      ['another scheme', 'Basic dXNlcjpwYXNz'],
    ])('refuses a malformed Authorization header (%s) with HTTP 401', async (_name, header) => {
      expect((await handshakeAnswer(t.wsUrl, { authorization: header })).status).toBe(401);
    });

    it('refuses a valid token that is cut short with HTTP 401', async () => {
      const cut = alice.token.slice(0, -4);
      expect((await handshakeAnswer(t.wsUrl, { authorization: `Bearer ${cut}` })).status).toBe(401);
      expect((await handshakeAnswer(`${t.wsUrl}?token=${encodeURIComponent(cut)}`)).status).toBe(401);
    });

    it('refuses the token without its Bearer scheme with HTTP 401', async () => {
      expect((await handshakeAnswer(t.wsUrl, { authorization: alice.token })).status).toBe(401);
    });

    it('refuses an empty or malformed ?token= with HTTP 401', async () => {
      expect((await handshakeAnswer(`${t.wsUrl}?token=`)).status).toBe(401);
      expect((await handshakeAnswer(`${t.wsUrl}?token=garbage`)).status).toBe(401);
    });

    it('refuses a token signed with another secret with HTTP 401, in the header and in the query', async () => {
      const forged = await signToken('another-secret-that-is-long-enough-0123456789', {
        sub: alice.userId,
        did: alice.deviceId,
      });
      expect((await handshakeAnswer(t.wsUrl, { authorization: `Bearer ${forged}` })).status).toBe(401);
      expect((await handshakeAnswer(`${t.wsUrl}?token=${encodeURIComponent(forged)}`)).status).toBe(401);
    });

    it('refuses an unsigned token (alg none) with HTTP 401', async () => {
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const exp = Math.floor(Date.now() / 1000) + 3600;
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: alice.userId, did: 'x', iss: 'chat-platform', exp })}.`;
      expect((await handshakeAnswer(t.wsUrl, { authorization: `Bearer ${unsigned}` })).status).toBe(401);
    });

    it('refuses an expired token signed with the node’s own secret with HTTP 401', async () => {
      const secret = readFileSync(join(t.dataDir, 'jwt-secret'), 'utf8').trim();
      const claims = { sub: alice.userId, did: alice.deviceId };
      // The same secret with a live expiry is accepted: only the expiry differs.
      const live = await signToken(secret, claims);
      expect((await handshakeAnswer(t.wsUrl, { authorization: `Bearer ${live}` })).status).toBe(101);
      const expired = await signToken(secret, claims, Math.floor(Date.now() / 1000) - 60);
      expect((await handshakeAnswer(t.wsUrl, { authorization: `Bearer ${expired}` })).status).toBe(401);
    });

    it('answers the 401 with a JSON error body of code unauthorized', async () => {
      const answer = await handshakeAnswer(t.wsUrl, { authorization: 'Bearer nonsense' });
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.body)).toMatchObject({
        error: { code: 'unauthorized', message: expect.any(String) },
      });
    });
  });

  describe('on another path', () => {
    it.each(['/v1/ws/', '/v1/ws/extra', '/v1/wss', '/v1/WS', '/ws', '/', '/v1/users'])(
      'refuses an upgrade on %s with a valid token (HTTP 404)',
      async (path) => {
        const url = `ws://127.0.0.1:${t.node.port}${path}`;
        expect((await handshakeAnswer(url, { authorization: `Bearer ${alice.token}` })).status).toBe(404);
        expect((await handshakeAnswer(`${url}?token=${encodeURIComponent(alice.token)}`)).status).toBe(404);
      },
    );

    it('still accepts /v1/ws right after refusing other paths', async () => {
      expect((await handshakeAnswer(t.wsUrl, { authorization: `Bearer ${alice.token}` })).status).toBe(101);
    });
  });

  describe('the welcome frame', () => {
    it('is the first frame and carries userId, the session’s deviceId, nodeId and the configured heartbeatMs', async () => {
      const welcome = await firstFrame(t.wsUrl, { authorization: `Bearer ${alice.token}` });
      expect(welcome).toEqual({
        type: 'welcome',
        userId: alice.userId,
        deviceId: alice.deviceId,
        nodeId: NODE_ID,
        heartbeatMs: HEARTBEAT_MS,
      });
    });

    it('is the same when the token comes in the query', async () => {
      const welcome = await firstFrame(`${t.wsUrl}?token=${encodeURIComponent(alice.token)}`);
      expect(welcome).toEqual({
        type: 'welcome',
        userId: alice.userId,
        deviceId: alice.deviceId,
        nodeId: NODE_ID,
        heartbeatMs: HEARTBEAT_MS,
      });
    });

    it('carries the deviceId chosen at login, different for each session of one user', async () => {
      const phone = await login(t.baseUrl, alice.username, alice.password, 'phone-1');
      const laptop = await login(t.baseUrl, alice.username, alice.password);
      expect(phone.deviceId).toBe('phone-1');
      expect(laptop.deviceId).not.toBe(alice.deviceId);
      const w1 = await firstFrame(t.wsUrl, { authorization: `Bearer ${phone.token}` });
      const w2 = await firstFrame(t.wsUrl, { authorization: `Bearer ${laptop.token}` });
      expect(w1).toMatchObject({ userId: alice.userId, deviceId: 'phone-1' });
      expect(w2).toMatchObject({ userId: alice.userId, deviceId: laptop.deviceId });
    });

    it('announces a heartbeatMs and nodeId that follow the node’s configuration', async () => {
      const other = await startTestNode({ nodeId: 3, heartbeatMs: 250 });
      try {
        const u = await createUser(other.baseUrl, 'hs2');
        const welcome = await firstFrame(other.wsUrl, { authorization: `Bearer ${u.token}` });
        expect(welcome).toMatchObject({ nodeId: 3, heartbeatMs: 250, userId: u.userId });
      } finally {
        await other.close();
      }
    });
  });
});
