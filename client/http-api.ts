/** The HTTP API of PROTOCOL.md over fetch: one method per endpoint, errors thrown as ChatApiError. */
import type { ClientId, Message, PresenceInfo } from '../common/protocol.ts';
import type { Contact, Conversation, GroupSummary, Profile, Receipt } from '../common/resources.ts';
import { ChatApiError } from './errors.ts';
import type { OutgoingMessage } from './outgoing-message.ts';

export interface ChatApiOptions {
  /** Bearer token for every call but `createUser` and `login`; `login` replaces it. Default none. */
  token?: string;
  /** Time limit of one call, in ms. Default 10000. */
  timeoutMs?: number;
  /** The fetch to use; tests and odd runtimes inject one. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

export interface Session {
  token: string;
  userId: string;
  deviceId: string;
}

export interface GroupInfo {
  groupId: string;
  name: string;
  members: string[];
}

export interface PostedMessage {
  messageId: string;
  conversation: string;
  ts: number;
}

export interface NodeAddress {
  nodeId: number;
  /** The node's HTTP base URL; its WebSocket is at this URL with ws/wss and `/v1/ws`. */
  url: string;
}

export interface HistoryOptions {
  /** Only messages older than this message id. Default: the newest. */
  before?: string;
  /** At most this many messages. Default 50 (the server's); the server clamps above 200. */
  limit?: number;
}

type Method = 'GET' | 'POST' | 'DELETE' | 'PATCH' | 'PUT';

export interface ConversationsOptions {
  /** Only conversations with a lower activityId (the last one of the previous page). */
  before?: string;
  /** At most this many. Default 50 (the server's); clamped above 200. */
  limit?: number;
}

/** The answer of an edit or a delete. */
export interface ChangedMessage {
  messageId: string;
  updateId: string;
}

export type PushProviderName = 'fcm' | 'apns' | 'webpush';

/** A browser's PushSubscription as `toJSON()` gives it. */
export interface PushSubscriptionJson {
  endpoint: string;
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

/** The answer of `GET /v1/devices/me/push`. */
export interface PushSettings {
  providers: PushProviderName[];
  vapidPublicKey?: string;
  registration: { provider: PushProviderName; updatedAt: number } | null;
}

/** A client of one node's HTTP API (any node answers every call). */
export class ChatApi {
  /** The base URL, without a trailing slash, e.g. `https://chat.example.com`. */
  readonly baseUrl: string;
  /** The bearer token sent with authenticated calls; set by `login`. */
  token: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(baseUrl: string, options: ChatApiOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** `POST /v1/users`: a new account. Throws 409 `username_taken`, 400 `bad_request`. */
  createUser(username: string, password: string, displayName?: string): Promise<{ userId: string }> {
    return this.json('POST', '/v1/users', { username, password, displayName }, false);
  }

  // ---- v1.1: people, contacts, conversations, groups, changes ---------------------------------

  /** `GET /v1/users/me`: the caller's profile. */
  me(): Promise<Profile> {
    return this.json('GET', '/v1/users/me');
  }

  /** `PATCH /v1/users/me`: sets the display name (1–64 characters). */
  setDisplayName(displayName: string): Promise<Profile> {
    return this.json('PATCH', '/v1/users/me', { displayName });
  }

  /** `GET /v1/users/{id}`. Throws 404 `not_found`. */
  user(userId: string): Promise<Profile> {
    return this.json('GET', `/v1/users/${enc(userId)}`);
  }

  /** `GET /v1/users?username=`: the account with this username, or undefined. */
  async findUser(username: string): Promise<Profile | undefined> {
    const body = await this.json<{ users: Profile[] }>('GET', `/v1/users?username=${enc(username)}`);
    return body.users[0];
  }

  /** `GET /v1/users?prefix=`: usernames starting with `prefix`, in code point order (default 20, at most 50). */
  async searchUsers(prefix: string, limit?: number): Promise<Profile[]> {
    const qs = limit === undefined ? '' : `&limit=${limit}`;
    return (await this.json<{ users: Profile[] }>('GET', `/v1/users?prefix=${enc(prefix)}${qs}`)).users;
  }

  /** `GET /v1/contacts`: the caller's contacts with their presence, by username. */
  async contacts(): Promise<Contact[]> {
    return (await this.json<{ contacts: Contact[] }>('GET', '/v1/contacts')).contacts;
  }

  /** `PUT /v1/contacts/{id}`. Throws 404 for an unknown user, 409 `contacts_full` past 1000. */
  async addContact(userId: string): Promise<void> {
    await this.json('PUT', `/v1/contacts/${enc(userId)}`);
  }

  async removeContact(userId: string): Promise<void> {
    await this.json('DELETE', `/v1/contacts/${enc(userId)}`);
  }

  /**
   * `GET /v1/devices/me/push`: the push providers the node takes (`vapidPublicKey` to subscribe a
   * browser with, when it takes Web Push), and this device's registration, if any.
   */
  pushSettings(): Promise<PushSettings> {
    return this.json('GET', '/v1/devices/me/push');
  }

  /**
   * `PUT /v1/devices/me/push`: this device gets push notifications while its user is offline. `token`:
   * the FCM registration token, the APNs device token in hex, or a browser's PushSubscription (its
   * `toJSON()`). Replaces an earlier registration; 400 `bad_request` for a provider the node lacks.
   */
  async registerPush(provider: PushProviderName, token: string | PushSubscriptionJson): Promise<void> {
    await this.json('PUT', '/v1/devices/me/push', { provider, token });
  }

  /** `DELETE /v1/devices/me/push`: no more push notifications on this device (call it before logout). */
  async unregisterPush(): Promise<void> {
    await this.json('DELETE', '/v1/devices/me/push');
  }

  /** `GET /v1/conversations`: newest activity first; page on with `before` = the last activityId. */
  conversations(
    options: ConversationsOptions = {},
  ): Promise<{ conversations: Conversation[]; more: boolean }> {
    const query = new URLSearchParams();
    if (options.before !== undefined) query.set('before', options.before);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    return this.json('GET', `/v1/conversations${query.size > 0 ? `?${query}` : ''}`);
  }

  /** `GET /v1/conversations/{cid}`. Throws 403 for a non-participant. */
  conversation(conversation: string): Promise<Conversation> {
    return this.json('GET', `/v1/conversations/${enc(conversation)}`);
  }

  /** `GET /v1/conversations/{cid}/receipts`: every participant's read position. */
  async receipts(conversation: string): Promise<Receipt[]> {
    return (
      await this.json<{ receipts: Receipt[] }>('GET', `/v1/conversations/${enc(conversation)}/receipts`)
    ).receipts;
  }

  /** `GET /v1/groups`: the caller's groups with member counts. */
  async groups(): Promise<GroupSummary[]> {
    return (await this.json<{ groups: GroupSummary[] }>('GET', '/v1/groups')).groups;
  }

  /** `PATCH /v1/groups/{id}`: the creator renames the group. */
  renameGroup(groupId: string, name: string): Promise<GroupInfo> {
    return this.json('PATCH', `/v1/groups/${enc(groupId)}`, { name });
  }

  /** `PATCH /v1/messages/{id}`: the sender replaces the text. */
  editMessage(messageId: string, text: string): Promise<ChangedMessage> {
    return this.json('PATCH', `/v1/messages/${enc(messageId)}`, { text });
  }

  /** `DELETE /v1/messages/{id}`: the sender deletes the message. */
  deleteMessage(messageId: string): Promise<ChangedMessage> {
    return this.json('DELETE', `/v1/messages/${enc(messageId)}`);
  }

  /** `POST /v1/sessions`: logs in (on `deviceId`, else a new device) and keeps the token for later calls. */
  async login(username: string, password: string, deviceId?: string): Promise<Session> {
    const session = await this.json<Session>('POST', '/v1/sessions', { username, password, deviceId }, false);
    this.token = session.token;
    return session;
  }

  /**
   * `POST /v1/sessions/refresh`: a new token for this user and device with a fresh lifetime, kept for
   * later calls (the old one stays valid until it expires).
   */
  async refreshSession(): Promise<Session & { expiresAt: number }> {
    const session = await this.json<Session & { expiresAt: number }>('POST', '/v1/sessions/refresh', {});
    this.token = session.token;
    return session;
  }

  /**
   * `POST /v1/ws-tickets`: a ticket for one WebSocket handshake within 60 s, used as `?ticket=`
   * instead of the token (browsers cannot send the Authorization header on a WebSocket).
   */
  wsTicket(): Promise<{ ticket: string; expiresAt: number }> {
    return this.json('POST', '/v1/ws-tickets', {});
  }

  /** `DELETE /v1/sessions/current`: revokes this device's token on every node and forgets it. */
  async logout(): Promise<void> {
    await this.json('DELETE', '/v1/sessions/current');
    this.token = undefined;
  }

  /**
   * `POST /v1/users/me/password`: revokes every token of every device of the user and keeps the new
   * token the node answers for this device. Throws 403 for a wrong current password.
   */
  async changePassword(currentPassword: string, newPassword: string): Promise<Session> {
    const session = await this.json<Session>('POST', '/v1/users/me/password', {
      currentPassword,
      newPassword,
    });
    this.token = session.token;
    return session;
  }

  /** `POST /v1/groups`: a group of the caller and `members`. Throws 400 past 100 distinct members. */
  createGroup(name: string, members: string[]): Promise<{ groupId: string }> {
    return this.json('POST', '/v1/groups', { name, members });
  }

  /** `POST /v1/groups/{id}/members`. Throws 409 when the group is full, 403 for a non-member caller. */
  async addMember(groupId: string, userId: string): Promise<void> {
    await this.json('POST', `/v1/groups/${enc(groupId)}/members`, { userId });
  }

  /** `DELETE /v1/groups/{id}/members/{userId}`; a member may remove itself. */
  async removeMember(groupId: string, userId: string): Promise<void> {
    await this.json('DELETE', `/v1/groups/${enc(groupId)}/members/${enc(userId)}`);
  }

  /** `GET /v1/groups/{id}`. Throws 403 for a non-member. */
  getGroup(groupId: string): Promise<GroupInfo> {
    return this.json('GET', `/v1/groups/${enc(groupId)}`);
  }

  /** `POST /v1/messages`: resolves once the message is durable; same rules and codes as the `send` frame. */
  postMessage(message: OutgoingMessage): Promise<PostedMessage> {
    const body: { id?: ClientId; to?: string; group?: string; text: string } = { text: message.text };
    if (message.id !== undefined) body.id = message.id;
    if (message.to !== undefined) body.to = message.to;
    if (message.group !== undefined) body.group = message.group;
    return this.json('POST', '/v1/messages', body);
  }

  /** `GET /v1/conversations/{cid}/messages`: newest first. Throws 403 for a non-participant. */
  async history(conversation: string, options: HistoryOptions = {}): Promise<Message[]> {
    const query = new URLSearchParams();
    if (options.before !== undefined) query.set('before', options.before);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const qs = query.size > 0 ? `?${query}` : '';
    const body = await this.json<{ messages: Message[] }>(
      'GET',
      `/v1/conversations/${enc(conversation)}/messages${qs}`,
    );
    return body.messages;
  }

  /** `GET /v1/discovery`: the node this client should hold its WebSocket with. */
  discovery(): Promise<NodeAddress> {
    return this.json('GET', '/v1/discovery');
  }

  /** `GET /v1/presence?users=…`: one entry per user; `lastActiveAt` is null for a user never seen. */
  async presence(userIds: readonly string[]): Promise<PresenceInfo[]> {
    const users = userIds.map(enc).join(',');
    const body = await this.json<{ presence: PresenceInfo[] }>('GET', `/v1/presence?users=${users}`);
    return body.presence;
  }

  /** `GET /healthz`: true when the node answers 200, false for any other status; throws when unreachable. */
  async health(): Promise<boolean> {
    return (await this.call('GET', '/healthz', undefined, false)).ok;
  }

  /** `GET /readyz`: true when the node is ready to take connections. */
  async ready(): Promise<boolean> {
    return (await this.call('GET', '/readyz', undefined, false)).ok;
  }

  private async json<T = undefined>(method: Method, path: string, body?: unknown, auth = true): Promise<T> {
    const res = await this.call(method, path, body, auth);
    const text = await this.read(res, method, path);
    const parsed = parseJson(text);
    if (!res.ok) {
      const error = errorOf(parsed);
      throw new ChatApiError(
        res.status,
        error?.code ?? `http_${res.status}`,
        error?.message ?? `${method} ${path} answered ${res.status}`,
      );
    }
    return parsed as T;
  }

  private async call(method: Method, path: string, body: unknown, auth: boolean): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    try {
      return await this.fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw networkError(method, path, err);
    }
  }

  private async read(res: Response, method: Method, path: string): Promise<string> {
    try {
      return await res.text();
    } catch (err) {
      throw networkError(method, path, err);
    }
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The `{"error":{"code","message"}}` of an error body, when the body has that shape. */
function errorOf(body: unknown): { code?: string; message?: string } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return {
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message : undefined,
  };
}

function networkError(method: Method, path: string, err: unknown): ChatApiError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ChatApiError(0, 'network', `${method} ${path} failed: ${reason}`, { cause: err });
}
