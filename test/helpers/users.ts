/** Creating users and sessions over the real HTTP API. */
import { randomBytes } from 'node:crypto';

export interface TestUser {
  username: string;
  password: string;
  userId: string;
  token: string;
  deviceId: string;
}

let counter = 0;

/** Sends a JSON request; returns the status and the parsed body (undefined for an empty one). */
export async function http(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; rawBody?: string } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined || options.rawBody !== undefined)
    headers['content-type'] = 'application/json';
  const res = await fetch(baseUrl + path, {
    method,
    headers,
    body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A new account (unique name) logged in on one device. */
export async function createUser(baseUrl: string, prefix = 'user'): Promise<TestUser> {
  const username = `${prefix}-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const created = await http(baseUrl, 'POST', '/v1/users', { body: { username, password } });
  if (created.status !== 201)
    throw new Error(`createUser: ${created.status} ${JSON.stringify(created.body)}`);
  const session = await login(baseUrl, username, password);
  return { username, password, ...session };
}

/** Another device's session for an existing user. */
export async function login(
  baseUrl: string,
  username: string,
  password: string,
  deviceId?: string,
): Promise<{ userId: string; token: string; deviceId: string }> {
  const res = await http(baseUrl, 'POST', '/v1/sessions', { body: { username, password, deviceId } });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Creates `n` users in parallel. */
export function createUsers(baseUrl: string, n: number, prefix = 'user'): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: n }, () => createUser(baseUrl, prefix)));
}
