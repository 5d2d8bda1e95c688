/**
 * PROTOCOL.md "Devices and push" on a real node whose push credentials point at local stand-ins of
 * FCM, APNs and a Web Push service (stand-ins.ts; the requests themselves are checked in the
 * *-requests tests): devices register and remove their tokens, an offline recipient gets a
 * notification on every device that registered one (and the webhook still gets its own), and a token
 * that its service reports as no longer valid is removed.
 */
import { createECDH, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import { ChatApi } from '../../client/index.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { createUser, http, login, type TestUser } from '../helpers/users.ts';
import { WebhookReceiver } from '../helpers/webhook.ts';
import { apnsStandIn, fcmStandIn, type StandIn, webPushStandIn } from './stand-ins.ts';
import { selfSignedCert, type TestCert } from './tls.ts';

const APNS_TOKEN = randomBytes(32).toString('hex');
let vapidPublicKey: string;

let dir: string;
let cert: TestCert;
let fcm: StandIn;
let apns: StandIn;
let webPush: StandIn;
let webhook: WebhookReceiver;
let node: TestNode;
let plain: TestNode;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'push-e2e-'));
  cert = selfSignedCert();
  [fcm, apns, webPush, webhook] = await Promise.all([
    fcmStandIn(cert),
    apnsStandIn(cert),
    webPushStandIn(cert),
    WebhookReceiver.start(),
  ]);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(
    join(dir, 'service-account.json'),
    JSON.stringify({
      type: 'service_account',
      project_id: 'chat-test',
      private_key_id: 'k1',
      private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: 'push@chat-test.iam.gserviceaccount.com',
      token_uri: `${fcm.origin}/token`,
    }),
  );
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'apns.p8'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const vapid = webpush.generateVAPIDKeys();
  vapidPublicKey = vapid.publicKey;
  writeFileSync(join(dir, 'vapid.key'), `${vapid.privateKey}\n`);
  node = await startTestNode({
    pushWebhookUrl: webhook.url,
    pushFcmCredentialsFile: join(dir, 'service-account.json'),
    pushFcmUrl: fcm.origin,
    pushApnsKeyFile: join(dir, 'apns.p8'),
    pushApnsKeyId: 'ABC123DEFG',
    pushApnsTeamId: 'DEF123GHIJ',
    pushApnsTopic: 'com.example.chat',
    pushApnsUrl: apns.origin,
    pushVapidPublicKey: vapid.publicKey,
    pushVapidPrivateKeyFile: join(dir, 'vapid.key'),
    pushVapidSubject: 'mailto:ops@example.com',
    pushCaFile: cert.certFile,
  });
  plain = await startTestNode();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([node?.close(), plain?.close()]);
  await Promise.allSettled([fcm?.close(), apns?.close(), webPush?.close(), webhook?.close()]);
  cert?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function subscription(path: string) {
  const keys = createECDH('prime256v1');
  keys.generateKeys();
  return {
    endpoint: `${webPush.origin}${path}`,
    expirationTime: null,
    keys: { p256dh: keys.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
  };
}

const register = (base: string, token: string, body: unknown) =>
  http(base, 'PUT', '/v1/devices/me/push', { token, body });

async function send(from: TestUser, to: string, text: string): Promise<void> {
  const res = await http(node.baseUrl, 'POST', '/v1/messages', { token: from.token, body: { to, text } });
  expect(res.status).toBe(201);
  await node.node.push.idle();
}

describe('PUT and DELETE /v1/devices/me/push', () => {
  it('answer 204, and 400 for a provider without credentials, an unknown provider or a malformed token', async () => {
    const u = await createUser(node.baseUrl, 'reg');
    expect((await register(node.baseUrl, u.token, { provider: 'fcm', token: 'fcm-token-1' })).status).toBe(
      204,
    );
    expect((await register(node.baseUrl, u.token, { provider: 'apns', token: APNS_TOKEN })).status).toBe(204);
    expect(
      (await register(node.baseUrl, u.token, { provider: 'webpush', token: subscription('/s') })).status,
    ).toBe(204);
    expect((await http(node.baseUrl, 'DELETE', '/v1/devices/me/push', { token: u.token })).status).toBe(204);
    expect((await http(node.baseUrl, 'DELETE', '/v1/devices/me/push', { token: u.token })).status).toBe(204);

    const bad = [
      { provider: 'sms', token: 'x' },
      { provider: 'apns', token: 'not hex' },
      { provider: 'fcm', token: '' },
      { provider: 'webpush', token: { endpoint: 'http://insecure.example/x', keys: {} } },
      { provider: 'webpush', token: 'not a subscription' },
    ];
    for (const body of bad) {
      const res = await register(node.baseUrl, u.token, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
    }
    const other = await createUser(plain.baseUrl, 'plain');
    const refused = await register(plain.baseUrl, other.token, { provider: 'fcm', token: 'fcm-token-1' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/no credentials for fcm/);
    expect((await register(node.baseUrl, '', { provider: 'fcm', token: 't' })).status).toBe(401);
    expect(await node.node.backends.store.pushTokens(u.userId, 10)).toEqual([]);
  });

  it('through the SDK: what the node takes, this device’s registration, and removing it', async () => {
    const u = await createUser(node.baseUrl, 'sdk');
    const api = new ChatApi(node.baseUrl, { token: u.token });
    expect(await api.pushSettings()).toEqual({
      providers: ['fcm', 'apns', 'webpush'],
      vapidPublicKey,
      registration: null,
    });
    await api.registerPush('webpush', subscription('/sdk'));
    const settings = await api.pushSettings();
    expect(settings.registration?.provider).toBe('webpush');
    await expect(api.registerPush('apns', 'zz')).rejects.toMatchObject({ status: 400, code: 'bad_request' });
    await api.unregisterPush();
    expect((await api.pushSettings()).registration).toBeNull();
    const other = await createUser(plain.baseUrl, 'sdk');
    expect(await new ChatApi(plain.baseUrl, { token: other.token }).pushSettings()).toEqual({
      providers: [],
      registration: null,
    });
  });
});

describe('signing out', () => {
  it('removes the push registration of a device that logs out, and of every other device on a password change', async () => {
    const u = await createUser(node.baseUrl, 'out');
    const phone = await login(node.baseUrl, u.username, u.password);
    const tablet = await login(node.baseUrl, u.username, u.password);
    for (const d of [u, phone, tablet])
      expect(
        (await register(node.baseUrl, d.token, { provider: 'fcm', token: `fcm-${d.deviceId}` })).status,
      ).toBe(204);
    const registered = async () =>
      (await node.node.backends.store.pushTokens(u.userId, 10)).map((r) => r.deviceId).sort();
    expect(await registered()).toEqual([u.deviceId, phone.deviceId, tablet.deviceId].sort());

    expect((await http(node.baseUrl, 'DELETE', '/v1/sessions/current', { token: phone.token })).status).toBe(
      204,
    );
    expect(await registered()).toEqual([u.deviceId, tablet.deviceId].sort());

    const changed = await http(node.baseUrl, 'POST', '/v1/users/me/password', {
      token: u.token,
      body: { currentPassword: u.password, newPassword: `${u.password}-new` },
    });
    expect(changed.status).toBe(200);
    // The device that changed it stays signed in, with its registration.
    expect(await registered()).toEqual([u.deviceId]);
  });
});

describe('push to devices', () => {
  it('notifies every registered device of an offline recipient, and the webhook; removes rejected tokens', async () => {
    const ann = await createUser(node.baseUrl, 'ann');
    const bob = await createUser(node.baseUrl, 'bob');
    const onApns = await login(node.baseUrl, bob.username, bob.password);
    const onWeb = await login(node.baseUrl, bob.username, bob.password);
    await login(node.baseUrl, bob.username, bob.password); // a device without a token
    const fcmToken = `fcm-${randomBytes(8).toString('hex')}`;
    const path = `/sub/${randomBytes(8).toString('hex')}`;
    expect((await register(node.baseUrl, bob.token, { provider: 'fcm', token: fcmToken })).status).toBe(204);
    expect((await register(node.baseUrl, onApns.token, { provider: 'apns', token: APNS_TOKEN })).status).toBe(
      204,
    );
    expect(
      (await register(node.baseUrl, onWeb.token, { provider: 'webpush', token: subscription(path) })).status,
    ).toBe(204);
    const fcmSends = () =>
      fcm.seen.filter((r) => r.path !== '/token' && JSON.parse(r.body.toString()).message.token === fcmToken);
    const apnsSends = () => apns.seen.filter((r) => r.path === `/3/device/${APNS_TOKEN}`);
    const webSends = () => webPush.seen.filter((r) => r.path === path);

    await send(ann, bob.userId, 'first');
    expect(fcmSends()).toHaveLength(1);
    expect(JSON.parse(fcmSends()[0]!.body.toString()).message.notification).toEqual({
      title: 'New message',
      body: 'first',
    });
    expect(apnsSends()).toHaveLength(1);
    expect(JSON.parse(apnsSends()[0]!.body.toString()).aps.alert.body).toBe('first');
    expect(webSends()).toHaveLength(1);
    await webhook.waitFor((b) => b.userId === bob.userId && b.preview === 'first');

    // FCM and APNs now report their tokens as gone: both registrations are removed.
    fcm.answers = [{ status: 404, body: { error: { code: 404, status: 'NOT_FOUND' } } }];
    apns.answers = [{ status: 410, body: { reason: 'Unregistered' } }];
    await send(ann, bob.userId, 'second');
    expect(fcmSends()).toHaveLength(2);
    expect(apnsSends()).toHaveLength(2);
    const left = await node.node.backends.store.pushTokens(bob.userId, 10);
    expect(left.map((r) => [r.deviceId, r.provider])).toEqual([[onWeb.deviceId, 'webpush']]);

    await send(ann, bob.userId, 'third');
    expect([fcmSends().length, apnsSends().length, webSends().length]).toEqual([2, 2, 3]);

    // A Web Push service's 410 removes the subscription too; then nothing is left to notify.
    webPush.answers = [{ status: 410 }];
    await send(ann, bob.userId, 'fourth');
    expect(webSends()).toHaveLength(4);
    expect(await node.node.backends.store.pushTokens(bob.userId, 10)).toEqual([]);
    await send(ann, bob.userId, 'fifth');
    expect([fcmSends().length, apnsSends().length, webSends().length]).toEqual([2, 2, 4]);
    await webhook.waitFor((b) => b.userId === bob.userId && b.preview === 'fifth');
  });

  it('sends nothing to a device that removed its registration', async () => {
    const ann = await createUser(node.baseUrl, 'ann');
    const bob = await createUser(node.baseUrl, 'bob');
    const fcmToken = `fcm-${randomBytes(8).toString('hex')}`;
    const sends = () =>
      fcm.seen.filter((r) => r.path !== '/token' && JSON.parse(r.body.toString()).message.token === fcmToken);
    await register(node.baseUrl, bob.token, { provider: 'fcm', token: fcmToken });
    await send(ann, bob.userId, 'one');
    expect(sends()).toHaveLength(1);
    expect((await http(node.baseUrl, 'DELETE', '/v1/devices/me/push', { token: bob.token })).status).toBe(
      204,
    );
    await send(ann, bob.userId, 'two');
    expect(sends()).toHaveLength(1);
  });
});
