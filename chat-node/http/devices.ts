/**
 * PROTOCOL.md "Devices and push": `PUT /v1/devices/me/push` registers the calling device's push token
 * (replacing any earlier one), `DELETE /v1/devices/me/push` removes it. A provider this node has no
 * credentials for is refused with 400. The addition `GET /v1/devices/me/push` tells an app what it
 * may register (the providers, and the VAPID public key a browser subscribes with) and what it has.
 */
import { z } from 'zod';
import { ChatError } from '../../common/errors.ts';
import { parseBody } from '../../common/protocol.ts';
import { PUSH_SERVICES, type PushService, type PushTokenStore } from '../backends/types.ts';
import { MAX_PUSH_DEVICES } from '../chat/push-dispatcher.ts';
import type { TokenClaims } from '../chat/tokens.ts';
import type { Request, Router } from './router.ts';

const base64url = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url')
    .refine((s) => Buffer.from(s, 'base64url').length === bytes, `must hold ${bytes} bytes`);

/** A browser's PushSubscription as `toJSON()` gives it. */
const subscription = z.object({
  endpoint: z
    .string()
    .max(2048)
    .refine((u) => URL.canParse(u) && new URL(u).protocol === 'https:', 'must be an https URL'),
  expirationTime: z.number().nullable().optional(),
  keys: z.object({ p256dh: base64url(65), auth: base64url(16) }),
});

const registerBody = z.discriminatedUnion('provider', [
  z.object({
    provider: z.literal('fcm'),
    token: z.string().regex(/^[\x21-\x7e]{1,4096}$/, 'must be an FCM registration token'),
  }),
  z.object({
    provider: z.literal('apns'),
    token: z.string().regex(/^([0-9a-fA-F]{2}){32,100}$/, 'must be an APNs device token in hex'),
  }),
  z.object({ provider: z.literal('webpush'), token: subscription }),
]);

/** The token as stored: the FCM token as given, the APNs token in lowercase hex, the subscription as JSON. */
function storedToken(body: z.infer<typeof registerBody>): string {
  if (body.provider === 'fcm') return body.token;
  if (body.provider === 'apns') return body.token.toLowerCase();
  const { endpoint, keys } = body.token;
  return JSON.stringify({ endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } });
}

export interface DeviceRoutesDeps {
  store: PushTokenStore;
  /** The push services this node has credentials for. */
  services: () => PushService[];
  /** The VAPID public key, given to browsers when Web Push is configured. */
  vapidPublicKey?: string | undefined;
  clock?: () => number;
}

export function addDeviceRoutes(
  router: Router,
  d: DeviceRoutesDeps,
  auth: (r: Request) => Promise<TokenClaims>,
): Router {
  const clock = d.clock ?? Date.now;
  return router
    .on('GET', '/v1/devices/me/push', async (r) => {
      const me = await auth(r);
      const services = d.services();
      const mine = (await d.store.pushTokens(me.userId, MAX_PUSH_DEVICES)).find(
        (x) => x.deviceId === me.deviceId,
      );
      return {
        status: 200,
        body: {
          providers: services,
          ...(services.includes('webpush') && d.vapidPublicKey ? { vapidPublicKey: d.vapidPublicKey } : {}),
          registration: mine ? { provider: mine.provider, updatedAt: mine.updatedAt } : null,
        },
      };
    })
    .on('PUT', '/v1/devices/me/push', async (r) => {
      const me = await auth(r);
      const raw = (await r.json()) as { provider?: unknown } | undefined;
      const provider = raw?.provider;
      if (typeof provider !== 'string' || !(PUSH_SERVICES as readonly string[]).includes(provider)) {
        throw new ChatError('bad_request', `provider must be one of ${PUSH_SERVICES.join(', ')}`);
      }
      if (!d.services().includes(provider as PushService)) {
        throw new ChatError('bad_request', `this node has no credentials for ${provider}`);
      }
      const body = parseBody(registerBody, raw);
      await d.store.setPushToken({
        userId: me.userId,
        deviceId: me.deviceId,
        provider: body.provider,
        token: storedToken(body),
        updatedAt: clock(),
      });
      return { status: 204 };
    })
    .on('DELETE', '/v1/devices/me/push', async (r) => {
      const me = await auth(r);
      await d.store.removePushToken(me.userId, me.deviceId);
      return { status: 204 };
    });
}
