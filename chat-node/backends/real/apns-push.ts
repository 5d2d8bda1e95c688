/**
 * Apple Push Notification service, token-based: one HTTP/2 connection to the provider API, each
 * notification `POST /3/device/<token>` with `authorization: bearer <JWT>` (ES256, `kid` = key id,
 * `iss` = team id, `iat`), renewed every 40 minutes (Apple refuses tokens older than an hour and
 * renewals more often than every 20). A 410, or a 400 `BadDeviceToken`, means the device token is no
 * longer valid.
 */
import http2 from 'node:http2';
import { importPKCS8, SignJWT } from 'jose';
import type { DevicePushProvider, PushNotification } from '../types.ts';
import { pushContent } from './push-content.ts';

const JWT_LIFETIME_MS = 40 * 60_000;
/** How long APNs keeps a notification for a device it cannot reach (then drops it), in seconds. */
const EXPIRATION_S = 24 * 3600;
const MAX_ANSWER_BYTES = 16 * 1024;

export interface ApnsPushOptions {
  /** The .p8 signing key (PKCS#8 PEM). */
  key: string;
  keyId: string;
  teamId: string;
  /** The app's bundle id. */
  topic: string;
  /** Base URL of the provider API, e.g. https://api.push.apple.com. */
  url: string;
  /** Extra CA certificates (PEM) to trust instead of the system's. */
  ca?: string;
  timeoutMs?: number;
  clock?: () => number;
}

export class ApnsPush implements DevicePushProvider {
  readonly service = 'apns';
  private readonly o: ApnsPushOptions;
  private readonly clock: () => number;
  private session: http2.ClientHttp2Session | undefined;
  private jwt: { value: string; until: number } | undefined;

  constructor(o: ApnsPushOptions) {
    this.o = o;
    this.clock = o.clock ?? Date.now;
  }

  async send(token: string, n: PushNotification): Promise<'sent' | 'invalid'> {
    const { title, body, data } = pushContent(n);
    const payload = JSON.stringify({
      aps: { alert: { title, body }, sound: 'default', 'thread-id': n.conversation },
      ...data,
    });
    const expiration = Math.floor(this.clock() / 1000) + EXPIRATION_S;
    const { status, reason } = await this.post(`/3/device/${token}`, await this.token(), payload, expiration);
    if (status === 200) return 'sent';
    if (status === 410 || (status === 400 && reason === 'BadDeviceToken')) return 'invalid';
    if (status === 403 && reason === 'ExpiredProviderToken') this.jwt = undefined;
    throw new Error(`APNs answered ${status}${reason ? ` ${reason}` : ''}`);
  }

  private async token(): Promise<string> {
    const now = this.clock();
    if (this.jwt && now < this.jwt.until) return this.jwt.value;
    const key = await importPKCS8(this.o.key, 'ES256');
    const value = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.o.keyId })
      .setIssuer(this.o.teamId)
      .setIssuedAt(Math.floor(now / 1000))
      .sign(key);
    this.jwt = { value, until: now + JWT_LIFETIME_MS };
    return value;
  }

  /** The connection, opened on first use and again after it closed or failed. */
  private connection(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(this.o.url, this.o.ca ? { ca: this.o.ca } : {});
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    session.unref();
    this.session = session;
    return session;
  }

  private post(
    path: string,
    jwt: string,
    payload: string,
    expiration: number,
  ): Promise<{ status: number; reason?: string }> {
    const timeoutMs = this.o.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const req = this.connection().request({
        ':method': 'POST',
        ':path': path,
        authorization: `bearer ${jwt}`,
        'apns-topic': this.o.topic,
        'apns-push-type': 'alert',
        'apns-priority': '10',
        'apns-expiration': String(expiration),
        'content-type': 'application/json',
      });
      const timer = setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
      let status = 0;
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('response', (headers) => {
        status = Number(headers[':status']);
      });
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(c);
      });
      req.on('close', () => {
        clearTimeout(timer);
        if (status === 0)
          return reject(new Error(`no answer from APNs in ${timeoutMs} ms or the stream failed`));
        const reason = (parse(Buffer.concat(chunks).toString('utf8')) as { reason?: unknown } | undefined)
          ?.reason;
        resolve(typeof reason === 'string' ? { status, reason: reason.slice(0, 64) } : { status });
      });
      req.on('error', () => {}); // reported by 'close' with no status
      req.end(payload);
    });
  }

  async close(): Promise<void> {
    this.session?.close();
    this.session = undefined;
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
