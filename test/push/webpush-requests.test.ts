/**
 * The requests WebPush sends, checked by a local HTTPS server standing in for a browser's push
 * service, as the Web Push RFCs specify them: RFC 8030 (POST to the subscription's endpoint, `TTL`,
 * `Urgency`), RFC 8292 VAPID (`authorization: vapid t=<ES256 JWT>, k=<public key>`, the JWT's `aud`,
 * `exp` and `sub`) and RFC 8291 (`content-encoding: aes128gcm`, a body that the subscription's keys
 * decrypt). The real push services cannot be reached from here.
 */
import { createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { WebPush } from '../../chat-node/backends/real/web-push.ts';
import type { PushNotification } from '../../chat-node/backends/types.ts';
import { p256PublicKey, verifiedJwt } from './jwt.ts';
import { type StandIn, webPushStandIn } from './stand-ins.ts';
import { selfSignedCert, type TestCert } from './tls.ts';

/** The browser's side of a subscription: its ECDH key pair and auth secret. */
const browser = createECDH('prime256v1');
browser.generateKeys();
const authSecret = randomBytes(16);
const vapid = webpush.generateVAPIDKeys();

let cert: TestCert;
let service: StandIn;
let origin: string;

beforeAll(async () => {
  cert = selfSignedCert();
  service = await webPushStandIn(cert);
  origin = service.origin;
});

afterAll(async () => {
  await service?.close();
  cert?.remove();
});

const subscription = () =>
  JSON.stringify({
    endpoint: `${origin}/push/sub-1`,
    keys: { p256dh: browser.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
  });

const notification: PushNotification = {
  userId: 'bob',
  messageId: '123456789',
  conversation: 'dm:ann:bob',
  from: 'ann',
  preview: 'hello Bob',
};

function provider() {
  return new WebPush({
    publicKey: vapid.publicKey,
    privateKey: vapid.privateKey,
    subject: 'mailto:ops@example.com',
    ca: cert.cert,
  });
}

/** RFC 8291 decryption of one aes128gcm record with the browser's private key and auth secret. */
function decrypt(body: Buffer): string {
  const salt = body.subarray(0, 16);
  const idLength = body[20]!;
  const serverKey = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  const shared = browser.computeSecret(serverKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), browser.getPublicKey(), serverKey]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02 and optional zero padding.
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (plain[end] !== 2) throw new Error('no last-record delimiter');
  return plain.subarray(0, end).toString('utf8');
}

describe('WebPush: the requests we send', () => {
  it('posts to the endpoint with VAPID and an aes128gcm body, as RFC 8030, 8291 and 8292 specify', async () => {
    service.seen.length = 0;
    const wp = provider();
    const before = Math.floor(Date.now() / 1000);
    expect(await wp.send(subscription(), notification)).toBe('sent');
    await wp.close();

    expect(service.seen).toHaveLength(1);
    const s = service.seen[0]!;
    expect(s.method).toBe('POST');
    expect(s.path).toBe('/push/sub-1');
    expect(s.headers.ttl).toBe('86400');
    expect(s.headers.urgency).toBe('high');
    expect(s.headers['content-encoding']).toBe('aes128gcm');
    expect(s.headers['content-type']).toBe('application/octet-stream');
    expect(Number(s.headers['content-length'])).toBe(s.body.length);

    const auth = /^vapid t=([^,\s]+), k=([A-Za-z0-9_-]+)$/.exec(String(s.headers.authorization));
    expect(auth).not.toBeNull();
    const [, jwt, k] = auth as unknown as [string, string, string];
    expect(k).toBe(vapid.publicKey);
    const { header, claims } = await verifiedJwt(jwt, p256PublicKey(k), 'ES256');
    expect(header).toEqual({ typ: 'JWT', alg: 'ES256' });
    expect(claims.aud).toBe(origin);
    expect(claims.sub).toBe('mailto:ops@example.com');
    expect(claims.exp).toBeGreaterThan(before);
    expect(claims.exp).toBeLessThanOrEqual(before + 24 * 3600 + 1); // RFC 8292: at most 24 hours

    // RFC 8188 header: a 16-byte salt, the record size, the sender's 65-byte public key.
    expect(s.body.readUInt32BE(16)).toBeGreaterThanOrEqual(18);
    expect(s.body[20]).toBe(65);
    expect(JSON.parse(decrypt(s.body))).toEqual({
      title: 'New message',
      body: 'hello Bob',
      messageId: '123456789',
      conversation: 'dm:ann:bob',
      from: 'ann',
    });
  });

  it('reports a subscription the push service answers 404 or 410 as no longer valid', async () => {
    const wp = provider();
    service.answers = [{ status: 404 }, { status: 410 }];
    expect(await wp.send(subscription(), notification)).toBe('invalid');
    expect(await wp.send(subscription(), notification)).toBe('invalid');
    await wp.close();
  });

  it('throws (to be retried) on other refusals', async () => {
    const wp = provider();
    service.answers = [{ status: 429 }, { status: 500 }];
    await expect(wp.send(subscription(), notification)).rejects.toThrow(/429/);
    await expect(wp.send(subscription(), notification)).rejects.toThrow(/500/);
    await wp.close();
  });
});
