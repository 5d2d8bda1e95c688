/** The HTTP API of PROTOCOL.md: every route, its auth, its limits and its answers. */
import { ChatError } from '../../common/errors.ts';
import { isOpaqueId, OPAQUE_ID, parseMessageId } from '../../common/ids.ts';
import {
  addMemberBody,
  changePasswordBody,
  createGroupBody,
  createSessionBody,
  createUserBody,
  HISTORY_DEFAULT_LIMIT,
  HISTORY_MAX_LIMIT,
  PRESENCE_SUBSCRIBE_MAX,
  parseBody,
  postMessageBody,
} from '../../common/protocol.ts';
import { PAGE_MAX_BYTES } from '../backends/page.ts';
import type { NodeRegistry, PresenceBackend } from '../backends/types.ts';
import type { Accounts } from '../chat/accounts.ts';
import type { Groups } from '../chat/groups.ts';
import type { Messaging } from '../chat/messaging.ts';
import type { TokenValidity } from '../chat/token-validity.ts';
import { bearer, type TokenClaims, type Tokens } from '../chat/tokens.ts';
import { Discovery } from '../discovery.ts';
import type { Metrics } from '../metrics.ts';
import { KeyedBuckets, WindowLimiter } from '../rate-limit.ts';
import type { FairTurns } from '../ws/fair-turns.ts';
import { AnswerBudget } from './answer-budget.ts';
import { addV11Routes, type V11Deps } from './api-v11.ts';
import { addDeviceRoutes, type DeviceRoutesDeps } from './devices.ts';
import { type Reply, type Request, Router } from './router.ts';
import { addSessionRefreshRoute } from './session-refresh.ts';
import { addTicketRoutes, type WsTickets } from './ws-tickets.ts';

export interface ApiDeps extends V11Deps {
  accounts: Accounts;
  groups: Groups;
  messaging: Messaging;
  presence: PresenceBackend;
  registry: NodeRegistry;
  tokens: Tokens;
  validity: TokenValidity;
  /** One-use WebSocket tickets for browsers (ws-tickets.ts). */
  tickets: WsTickets;
  /** Devices' push registrations (devices.ts). */
  devices: DeviceRoutesDeps;
  /** The node's fair turns for heavy requests (shared with the WebSocket gateway). */
  turns: FairTurns;
  metrics: Metrics;
  /** The /metrics text, when it is not this registry's alone (a node of several event loops). */
  metricsText?: () => Promise<string>;
  /** This node, for discovery when the registry has nothing better. */
  self: () => { nodeId: number; url: string };
  /** Discovery's picks, shared with the admin API's shed (which names a target for each session). */
  discovery?: Discovery;
  /** Readiness: undefined when ready, else the reason. */
  notReady: () => string | undefined;
  limits: {
    signupsPerMinute: number;
    loginsPerMinute: number;
    framesPerSecond: number;
    frameBurst: number;
    /** Bytes of HTTP answers held for clients that have not read them (answer-budget.ts). */
    httpUnreadBytes: number;
  };
  clock?: () => number;
}

const ok = (body?: unknown, status = 200): Reply => ({ status, body });

export function createApi(d: ApiDeps): Router {
  const clock = d.clock ?? Date.now;
  const signups = new WindowLimiter({ limit: d.limits.signupsPerMinute, windowMs: 60_000, now: clock() });
  const logins = new WindowLimiter({ limit: d.limits.loginsPerMinute, windowMs: 60_000, now: clock() });
  const sends = new KeyedBuckets(d.limits.framesPerSecond, d.limits.frameBurst);
  // History reads take from a per-user budget like the WebSocket's frames do.
  const reads = new KeyedBuckets(d.limits.framesPerSecond, d.limits.frameBurst);
  const answers = new AnswerBudget(d.limits.httpUnreadBytes, (held) => d.metrics.httpUnreadBytes.set(held));
  const discovery = d.discovery ?? new Discovery();

  const auth = async (r: Request): Promise<TokenClaims> => {
    const claims = await d.tokens.verify(bearer(r.req.headers.authorization));
    if (!claims || !(await d.validity.valid(claims)))
      throw new ChatError('unauthorized', 'missing or invalid bearer token');
    return claims;
  };
  const limited = (allowed: boolean, what: string) => {
    if (!allowed) throw new ChatError('rate_limited', `too many ${what}; try again later`);
  };

  const router = new Router()
    .on('POST', '/v1/users', async (r) => {
      limited(signups.hit(r.ip, clock()), 'accounts created from this address');
      const body = parseBody(createUserBody, await r.json());
      return ok(await d.accounts.createUser(body.username, body.password, body.displayName), 201);
    })
    .on('POST', '/v1/sessions', async (r) => {
      limited(logins.hit(r.ip, clock()), 'logins from this address');
      const body = parseBody(createSessionBody, await r.json());
      return ok(await d.accounts.login(body.username, body.password, body.deviceId));
    })
    .on('DELETE', '/v1/sessions/current', async (r) => {
      await d.accounts.logout(await auth(r));
      return ok(undefined, 204);
    })
    .on('POST', '/v1/users/me/password', async (r) => {
      const me = await auth(r);
      const body = parseBody(changePasswordBody, await r.json());
      return ok(await d.accounts.changePassword(me, body.currentPassword, body.newPassword));
    })
    .on('POST', '/v1/groups', async (r) => {
      const me = await auth(r);
      const body = parseBody(createGroupBody, await r.json());
      return ok(await d.groups.create(me.userId, body.name ?? '', body.members ?? []), 201);
    })
    .on('GET', '/v1/groups/:id', async (r) => {
      const me = await auth(r);
      const g = await d.groups.getForMember(me.userId, r.params.id!);
      return ok({
        groupId: g.groupId,
        name: g.name,
        members: g.members,
        createdBy: g.createdBy,
        createdAt: g.createdAt,
      });
    })
    .on('POST', '/v1/groups/:id/members', async (r) => {
      const me = await auth(r);
      const body = parseBody(addMemberBody, await r.json());
      await d.groups.addMember(me.userId, r.params.id!, body.userId);
      return ok(undefined, 204);
    })
    .on('DELETE', '/v1/groups/:id/members/:userId', async (r) => {
      const me = await auth(r);
      if (!isOpaqueId(r.params.userId)) throw new ChatError('bad_request', 'userId is not a valid id');
      await d.groups.removeMember(me.userId, r.params.id!, r.params.userId);
      return ok(undefined, 204);
    })
    .on('POST', '/v1/messages', async (r) => {
      const me = await auth(r);
      limited(sends.take(me.userId, clock()), 'messages');
      const body = parseBody(postMessageBody, await r.json());
      const m = await d.messaging.send(me, body);
      return ok({ messageId: m.messageId, conversation: m.conversation, ts: m.ts }, 201);
    })
    .on('GET', '/v1/conversations/:cid/messages', async (r) => {
      const me = await auth(r);
      const beforeParam = r.url.searchParams.get('before');
      const before = beforeParam ? parseMessageId(beforeParam, 'before') : undefined;
      const limit = parseLimit(r.url.searchParams.get('limit'));
      limited(reads.take(me.userId, clock()), 'history reads');
      const release = await answers.admit(r.req.socket, me.userId, PAGE_MAX_BYTES);
      try {
        const messages = await d.turns.run(me.userId, () =>
          d.messaging.history(me.userId, r.params.cid!, before, limit),
        );
        return { status: 200, body: { messages }, onDone: release };
      } catch (err) {
        release();
        throw err;
      }
    })
    .on('GET', '/v1/discovery', async (r) => {
      await auth(r);
      const node =
        discovery.pick(await d.registry.list(), r.url.searchParams.get('zone') ?? undefined) ?? d.self();
      return ok({ nodeId: node.nodeId, url: node.url });
    })
    .on('GET', '/v1/presence', async (r) => {
      await auth(r);
      const users = (r.url.searchParams.get('users') ?? '').split(',').filter((u) => u.length > 0);
      if (users.length > PRESENCE_SUBSCRIBE_MAX)
        throw new ChatError('bad_request', `at most ${PRESENCE_SUBSCRIBE_MAX} users`);
      const bad = users.find((u) => !OPAQUE_ID.test(u));
      if (bad !== undefined) throw new ChatError('bad_request', `not a user id: ${bad.slice(0, 80)}`);
      return ok({ presence: await d.presence.get([...new Set(users)]) });
    })
    .on('GET', '/healthz', async () => ok({ status: 'ok' }))
    .on('GET', '/readyz', async () => {
      const reason = d.notReady();
      return reason ? ok({ status: 'not ready', reason }, 503) : ok({ status: 'ready' });
    })
    .on('GET', '/metrics', async () => ({
      status: 200,
      text: await (d.metricsText?.() ?? d.metrics.registry.metrics()),
      contentType: d.metrics.registry.contentType,
    }));
  addTicketRoutes(router, d.tickets, auth);
  addDeviceRoutes(router, d.devices, auth);
  addSessionRefreshRoute(router, { tokens: d.tokens, clock }, auth);
  return addV11Routes(router, d, auth, (userId) => limited(sends.take(userId, clock()), 'message changes'));
}

/** A positive integer; values above the maximum are clamped, however many digits they have. */
function parseLimit(value: string | null): number {
  if (value === null || value === '') return HISTORY_DEFAULT_LIMIT;
  if (!/^\d+$/.test(value) || /^0+$/.test(value))
    throw new ChatError('bad_request', 'limit must be a positive integer');
  const digits = value.replace(/^0+/, '');
  return digits.length > 3 ? HISTORY_MAX_LIMIT : Math.min(Number(digits), HISTORY_MAX_LIMIT);
}
