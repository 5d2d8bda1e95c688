/**
 * The requests ApnsPush sends, checked by a local HTTP/2 server (TLS, a self-signed certificate)
 * standing in for Apple's provider API, as Apple's documentation specifies them for token-based
 * authentication: HTTP/2, `POST /3/device/<hex token>`, the `authorization: bearer` JWT (ES256,
 * `kid` the key id, `iss` the team id, `iat`), the `apns-*` headers and an `aps` payload.
 * The real service cannot be reached from here.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApnsPush } from '../../chat-node/backends/real/apns-push.ts';
import type { PushNotification } from '../../chat-node/backends/types.ts';
import { verifiedJwt } from './jwt.ts';
import { apnsStandIn, type Recorded, type StandIn } from './stand-ins.ts';
import { selfSignedCert, type TestCert } from './tls.ts';

const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p8 = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const TOKEN = 'a1'.repeat(32);

let cert: TestCert;
let apns: StandIn;
let origin: string;

beforeAll(async () => {
  cert = selfSignedCert();
  apns = await apnsStandIn(cert);
  origin = apns.origin;
});

afterAll(async () => {
  await apns?.close();
  cert?.remove();
});

const notification: PushNotification = {
  userId: 'bob',
  messageId: '123456789',
  conversation: 'dm:ann:bob',
  from: 'ann',
  preview: 'hello Bob',
};

function provider(url = origin) {
  return new ApnsPush({
    key: p8,
    keyId: 'ABC123DEFG',
    teamId: 'DEF123GHIJ',
    topic: 'com.example.chat',
    url,
    ca: cert.cert,
  });
}

describe('ApnsPush: the requests we send', () => {
  it('posts over HTTP/2 with a provider token and the apns headers, as token-based APNs specifies', async () => {
    apns.seen.length = 0;
    const p = provider();
    const before = Math.floor(Date.now() / 1000);
    expect(await p.send(TOKEN, notification)).toBe('sent');
    expect(await p.send(TOKEN, notification)).toBe('sent');
    await p.close();

    expect(apns.seen).toHaveLength(2);
    const [first, second] = apns.seen as [Recorded, Recorded];
    expect(first.httpVersion).toBe('2.0');
    expect(first.headers[':method']).toBe('POST');
    expect(first.headers[':path']).toBe(`/3/device/${TOKEN}`);
    expect(first.headers['apns-topic']).toBe('com.example.chat');
    expect(first.headers['apns-push-type']).toBe('alert');
    expect(first.headers['apns-priority']).toBe('10');
    // Kept for a day for a device APNs cannot reach (epoch seconds).
    const expiration = Number(first.headers['apns-expiration']);
    expect(expiration).toBeGreaterThanOrEqual(before + 86_400);
    expect(expiration).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 86_400);
    expect(first.headers['content-type']).toBe('application/json');

    const auth = /^bearer (.+)$/.exec(String(first.headers.authorization));
    expect(auth).not.toBeNull();
    const { header, claims } = await verifiedJwt(auth![1]!, keys.publicKey, 'ES256');
    expect(header).toEqual({ alg: 'ES256', kid: 'ABC123DEFG' });
    expect(claims.iss).toBe('DEF123GHIJ');
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    // Apple refuses provider tokens renewed more often than every 20 minutes: the same one is reused.
    expect(second.headers.authorization).toBe(first.headers.authorization);

    const body = JSON.parse(first.body.toString());
    expect(body).toEqual({
      aps: {
        alert: { title: 'New message', body: 'hello Bob' },
        sound: 'default',
        'thread-id': 'dm:ann:bob',
      },
      messageId: '123456789',
      conversation: 'dm:ann:bob',
      from: 'ann',
    });
    expect(first.body.length).toBeLessThanOrEqual(4096); // APNs' payload limit
  });

  it('reports 410 Unregistered and 400 BadDeviceToken as no longer valid', async () => {
    const p = provider();
    apns.answers = [
      { status: 410, body: { reason: 'Unregistered' } },
      { status: 400, body: { reason: 'BadDeviceToken' } },
    ];
    expect(await p.send(TOKEN, notification)).toBe('invalid');
    expect(await p.send(TOKEN, notification)).toBe('invalid');
    await p.close();
  });

  it('throws (to be retried) on other refusals, and on a service that is not there', async () => {
    const p = provider();
    apns.answers = [
      { status: 429, body: { reason: 'TooManyRequests' } },
      { status: 400, body: { reason: 'BadTopic' } },
    ];
    await expect(p.send(TOKEN, notification)).rejects.toThrow(/429 TooManyRequests/);
    await expect(p.send(TOKEN, notification)).rejects.toThrow(/400 BadTopic/);
    await p.close();
    const nowhere = provider('https://127.0.0.1:1');
    await expect(nowhere.send(TOKEN, notification)).rejects.toThrow();
    await nowhere.close();
  });
});
