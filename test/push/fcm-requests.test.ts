/**
 * The requests FcmPush sends, checked by a local HTTPS server standing in for Google's OAuth2 token
 * endpoint and the FCM HTTP v1 API, as their documentation specifies them: the JWT bearer grant
 * (form body, RS256 assertion signed by the service account's key, its claims) and
 * `messages:send` (bearer access token, JSON message). The real services cannot be reached from here.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FCM_SCOPE, FcmPush } from '../../chat-node/backends/real/fcm-push.ts';
import { pushHttpClient } from '../../chat-node/backends/real/push-http.ts';
import type { PushNotification } from '../../chat-node/backends/types.ts';
import { verifiedJwt } from './jwt.ts';
import { fcmStandIn, type StandIn } from './stand-ins.ts';
import { selfSignedCert, type TestCert } from './tls.ts';

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKeyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let cert: TestCert;
let fcm: StandIn;
let origin: string;

beforeAll(async () => {
  cert = selfSignedCert();
  fcm = await fcmStandIn(cert);
  origin = fcm.origin;
});

afterAll(async () => {
  await fcm?.close();
  cert?.remove();
});

const grants = () => fcm.seen.filter((s) => s.path === '/token');
const sends = () => fcm.seen.filter((s) => s.path !== '/token');

const account = () => ({
  project_id: 'chat-test-project',
  client_email: 'push@chat-test-project.iam.gserviceaccount.com',
  private_key: privateKeyPem,
  private_key_id: 'key-1',
  token_uri: `${origin}/token`,
});

const notification: PushNotification = {
  userId: 'bob',
  messageId: '123456789',
  conversation: 'dm:ann:bob',
  from: 'ann',
  preview: 'hello Bob',
};

function provider() {
  return new FcmPush({ account: account(), url: origin, http: pushHttpClient({ ca: cert.cert }) });
}

describe('FcmPush: the requests we send', () => {
  it('buys an access token with a signed JWT bearer grant, as Google OAuth2 for service accounts specifies', async () => {
    fcm.seen.length = 0;
    const p = provider();
    const before = Math.floor(Date.now() / 1000);
    expect(await p.send('registration-token-1', notification)).toBe('sent');
    await p.close();

    const grant = grants()[0]!;
    expect(grant.method).toBe('POST');
    expect(grant.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(grant.body.toString());
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const { header, claims } = await verifiedJwt(form.get('assertion')!, keys.publicKey, 'RS256');
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'key-1' });
    expect(claims.iss).toBe(account().client_email);
    expect(claims.scope).toBe(FCM_SCOPE);
    expect(claims.aud).toBe(`${origin}/token`);
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(claims.exp).toBe((claims.iat as number) + 3600);
  });

  it('posts messages:send with the access token and a v1 message, as the FCM HTTP v1 API specifies', async () => {
    fcm.seen.length = 0;
    const p = provider();
    await p.send('registration-token-1', notification);
    await p.send('registration-token-2', notification);
    await p.close();

    expect(grants()).toHaveLength(1); // the access token is kept for its lifetime
    expect(sends()).toHaveLength(2);
    for (const [i, s] of sends().entries()) {
      expect(s.method).toBe('POST');
      expect(s.path).toBe('/v1/projects/chat-test-project/messages:send');
      expect(s.headers.authorization).toMatch(/^Bearer access-\d+$/);
      expect(s.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(s.body.toString());
      expect(body).toEqual({
        message: {
          token: `registration-token-${i + 1}`,
          notification: { title: 'New message', body: 'hello Bob' },
          data: { messageId: '123456789', conversation: 'dm:ann:bob', from: 'ann' },
          android: { priority: 'high' },
        },
      });
      // FCM refuses data values that are not strings.
      for (const v of Object.values(body.message.data)) expect(typeof v).toBe('string');
    }
  });

  it('reports a token FCM answers UNREGISTERED (404) as no longer valid', async () => {
    const p = provider();
    fcm.answers = [
      {
        status: 404,
        body: {
          error: {
            code: 404,
            status: 'NOT_FOUND',
            details: [
              { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' },
            ],
          },
        },
      },
    ];
    expect(await p.send('gone-token', notification)).toBe('invalid');
    await p.close();
  });

  it('throws (to be retried) on an unavailable service, and buys a new access token after a 401', async () => {
    const p = provider();
    fcm.answers = [
      { status: 503, body: { error: { code: 503, status: 'UNAVAILABLE' } } },
      { status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED' } } },
    ];
    await expect(p.send('t', notification)).rejects.toThrow(/503 UNAVAILABLE/);
    const before = grants().length;
    await expect(p.send('t', notification)).rejects.toThrow(/401/);
    expect(await p.send('t', notification)).toBe('sent');
    expect(grants()).toHaveLength(before + 1);
    const [refused, accepted] = sends().slice(-2);
    expect(accepted?.headers.authorization).not.toBe(refused?.headers.authorization);
    await p.close();
  });
});
