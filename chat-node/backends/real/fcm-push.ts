/**
 * Firebase Cloud Messaging, HTTP v1 API: `POST <url>/v1/projects/<project>/messages:send` with an
 * OAuth2 access token, which the service account's key buys from its `token_uri` with a signed JWT
 * (RS256; the JWT bearer grant, RFC 7523). The token is kept until a minute before it expires.
 * A 404 or an `UNREGISTERED` error means the registration token is no longer valid.
 */
import { importPKCS8, SignJWT } from 'jose';
import type { DevicePushProvider, PushNotification } from '../types.ts';
import { pushContent } from './push-content.ts';
import type { PushHttpClient } from './push-http.ts';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** The fields of a Google service-account key file that FCM needs. */
export interface ServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri: string;
}

export interface FcmPushOptions {
  account: ServiceAccount;
  /** Base URL of the FCM API, e.g. https://fcm.googleapis.com. */
  url: string;
  http: PushHttpClient;
  clock?: () => number;
}

export class FcmPush implements DevicePushProvider {
  readonly service = 'fcm';
  private readonly o: FcmPushOptions;
  private readonly clock: () => number;
  private accessToken: { value: string; until: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(o: FcmPushOptions) {
    this.o = o;
    this.clock = o.clock ?? Date.now;
  }

  async send(token: string, n: PushNotification): Promise<'sent' | 'invalid'> {
    const { title, body, data } = pushContent(n);
    const url = `${this.o.url.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(this.o.account.project_id)}/messages:send`;
    const answer = await this.o.http.request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await this.token()}`,
        'content-type': 'application/json; charset=utf-8',
      },
      body: JSON.stringify({
        message: { token, notification: { title, body }, data, android: { priority: 'high' } },
      }),
    });
    if (answer.status === 200) return 'sent';
    const code = errorCode(answer.body);
    if (answer.status === 404 || code === 'UNREGISTERED') return 'invalid';
    if (answer.status === 401) this.accessToken = undefined;
    throw new Error(`FCM answered ${answer.status}${code ? ` ${code}` : ''}`);
  }

  /** The cached access token, or a new one (one request at a time). */
  private async token(): Promise<string> {
    const now = this.clock();
    if (this.accessToken && now < this.accessToken.until) return this.accessToken.value;
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetchToken(): Promise<string> {
    const a = this.o.account;
    const iat = Math.floor(this.clock() / 1000);
    const key = await importPKCS8(a.private_key, 'RS256');
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({
        alg: 'RS256',
        typ: 'JWT',
        ...(a.private_key_id ? { kid: a.private_key_id } : {}),
      })
      .setIssuer(a.client_email)
      .setAudience(a.token_uri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(key);
    const answer = await this.o.http.request(a.token_uri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }).toString(),
    });
    const parsed = parseJson(answer.body) as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (answer.status !== 200 || typeof parsed?.access_token !== 'string') {
      throw new Error(`the OAuth2 token endpoint answered ${answer.status}`);
    }
    const lifetimeS = typeof parsed.expires_in === 'number' ? parsed.expires_in : 3600;
    this.accessToken = { value: parsed.access_token, until: this.clock() + (lifetimeS - 60) * 1000 };
    return parsed.access_token;
  }

  async close(): Promise<void> {
    this.o.http.close();
  }
}

/** FCM's error code: `error.details[].errorCode` (FcmError), else `error.status`. */
function errorCode(body: string): string | undefined {
  const e = (parseJson(body) as { error?: { status?: unknown; details?: { errorCode?: unknown }[] } })?.error;
  const detail = Array.isArray(e?.details)
    ? e.details.find((d) => typeof d?.errorCode === 'string')
    : undefined;
  const code = detail?.errorCode ?? e?.status;
  return typeof code === 'string' ? code.slice(0, 64) : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
