/**
 * The device push providers this node has credentials for, built from the configuration: FCM from a
 * service-account key file, APNs from a .p8 key file and its ids, Web Push from a VAPID key pair. The
 * files' contents are secrets: no error message repeats them.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../../common/config.ts';
import type { NodeConfig } from '../../../common/node-config.ts';
import type { DevicePushProvider, PushService } from '../types.ts';
import { ApnsPush } from './apns-push.ts';
import { FcmPush, type ServiceAccount } from './fcm-push.ts';
import { pushHttpClient } from './push-http.ts';
import { WebPush } from './web-push.ts';

type Keys = Pick<
  NodeConfig,
  | 'pushFcmCredentialsFile'
  | 'pushFcmUrl'
  | 'pushApnsKeyFile'
  | 'pushApnsKeyId'
  | 'pushApnsTeamId'
  | 'pushApnsTopic'
  | 'pushApnsUrl'
  | 'pushVapidPublicKey'
  | 'pushVapidPrivateKeyFile'
  | 'pushVapidSubject'
  | 'pushCaFile'
>;

export function devicePushProviders(c: Keys): Partial<Record<PushService, DevicePushProvider>> {
  const ca = c.pushCaFile ? read(c.pushCaFile, 'CHAT_PUSH_CA_FILE') : undefined;
  const out: Partial<Record<PushService, DevicePushProvider>> = {};
  if (c.pushFcmCredentialsFile) {
    const account = serviceAccount(read(c.pushFcmCredentialsFile, 'CHAT_PUSH_FCM_CREDENTIALS_FILE'));
    out.fcm = new FcmPush({ account, url: c.pushFcmUrl, http: pushHttpClient(ca ? { ca } : {}) });
  }
  if (c.pushApnsKeyFile && c.pushApnsKeyId && c.pushApnsTeamId && c.pushApnsTopic) {
    const key = read(c.pushApnsKeyFile, 'CHAT_PUSH_APNS_KEY_FILE');
    if (!key.includes('-----BEGIN PRIVATE KEY-----')) {
      throw new ConfigError('CHAT_PUSH_APNS_KEY_FILE: not a .p8 key (PKCS#8 PEM, BEGIN PRIVATE KEY)');
    }
    out.apns = new ApnsPush({
      key,
      keyId: c.pushApnsKeyId,
      teamId: c.pushApnsTeamId,
      topic: c.pushApnsTopic,
      url: c.pushApnsUrl,
      ...(ca ? { ca } : {}),
    });
  }
  if (c.pushVapidPublicKey && c.pushVapidPrivateKeyFile && c.pushVapidSubject) {
    const privateKey = read(c.pushVapidPrivateKeyFile, 'CHAT_PUSH_VAPID_PRIVATE_KEY_FILE').trim();
    if (!/^[A-Za-z0-9_-]{43}$/.test(privateKey)) {
      throw new ConfigError(
        'CHAT_PUSH_VAPID_PRIVATE_KEY_FILE: not a VAPID private key (32 bytes, base64url)',
      );
    }
    if (!/^[A-Za-z0-9_-]{87}$/.test(c.pushVapidPublicKey)) {
      throw new ConfigError('CHAT_PUSH_VAPID_PUBLIC_KEY: not a VAPID public key (65 bytes, base64url)');
    }
    out.webpush = new WebPush({
      publicKey: c.pushVapidPublicKey,
      privateKey,
      subject: c.pushVapidSubject,
      ...(ca ? { ca } : {}),
    });
  }
  return out;
}

function read(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function serviceAccount(text: string): ServiceAccount {
  let a: Partial<Record<keyof ServiceAccount, unknown>> | undefined;
  try {
    a = JSON.parse(text);
  } catch {
    // The parser's message would quote the file.
  }
  const missing = (['project_id', 'client_email', 'private_key', 'token_uri'] as const).filter(
    (k) => typeof a?.[k] !== 'string' || a[k] === '',
  );
  if (!a || missing.length > 0) {
    throw new ConfigError(
      `CHAT_PUSH_FCM_CREDENTIALS_FILE: not a service-account key (JSON with ${missing.join(', ') || 'its fields'})`,
    );
  }
  return a as ServiceAccount;
}
