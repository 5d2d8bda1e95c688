/**
 * Web Push with VAPID (RFC 8030, 8291, 8292) through the `web-push` library: the payload encrypted
 * (aes128gcm) for the subscription's keys and POSTed to its endpoint with a VAPID JWT. A 404 or 410
 * means the subscription is gone.
 */
import https from 'node:https';
import webpush from 'web-push';
import { errorMessage } from '../../../common/errors.ts';
import type { DevicePushProvider, PushNotification } from '../types.ts';
import { pushContent } from './push-content.ts';

/** How long a push service keeps a notification for a browser that is not reachable, in seconds. */
const TTL_S = 24 * 3600;

export interface WebPushOptions {
  publicKey: string;
  privateKey: string;
  /** A mailto: or https: URL the push service can reach the sender at. */
  subject: string;
  ca?: string;
  timeoutMs?: number;
}

export class WebPush implements DevicePushProvider {
  readonly service = 'webpush';
  private readonly o: WebPushOptions;
  private readonly agent: https.Agent;

  constructor(o: WebPushOptions) {
    this.o = o;
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(o.ca ? { ca: o.ca } : {}) });
  }

  async send(token: string, n: PushNotification): Promise<'sent' | 'invalid'> {
    const subscription = parseSubscription(token);
    if (!subscription) return 'invalid';
    const { title, body, data } = pushContent(n);
    try {
      await webpush.sendNotification(subscription, JSON.stringify({ title, body, ...data }), {
        vapidDetails: { subject: this.o.subject, publicKey: this.o.publicKey, privateKey: this.o.privateKey },
        TTL: TTL_S,
        urgency: 'high',
        contentEncoding: 'aes128gcm',
        agent: this.agent,
        timeout: this.o.timeoutMs ?? 10_000,
      });
      return 'sent';
    } catch (err) {
      const status = (err as { statusCode?: unknown }).statusCode;
      if (status === 404 || status === 410) return 'invalid';
      if (typeof status === 'number') throw new Error(`the Web Push service answered ${status}`);
      throw new Error(`Web Push failed: ${errorMessage(err)}`);
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

/** The stored subscription (validated at registration), or undefined if it is unreadable. */
function parseSubscription(token: string): webpush.PushSubscription | undefined {
  try {
    const s = JSON.parse(token) as webpush.PushSubscription;
    return typeof s?.endpoint === 'string' && typeof s.keys?.p256dh === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}
