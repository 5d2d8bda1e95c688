/**
 * The signed-in session, kept in localStorage so that a reload stays signed in: the token (replaced
 * whenever the SDK refreshes it), the user and device ids, and the username.
 */
import { ChatApi, type Session } from '../../client/index.ts';

const KEY = 'chat.session';

export interface SavedSession extends Session {
  username: string;
}

export function savedSession(): SavedSession | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Partial<SavedSession> | null;
    if (s && typeof s.token === 'string' && typeof s.userId === 'string' && typeof s.deviceId === 'string') {
      return { token: s.token, userId: s.userId, deviceId: s.deviceId, username: s.username ?? '' };
    }
  } catch {
    // Unreadable: signed out.
  }
  return undefined;
}

export function saveSession(s: SavedSession): void {
  localStorage.setItem(KEY, JSON.stringify(s));
}

export function forgetSession(): void {
  localStorage.removeItem(KEY);
}

/**
 * Logs in, creating the account first when `create` is set; keeps the device id of an earlier
 * session of the same user on this browser, so a new login is the same device again.
 */
export async function signIn(
  username: string,
  password: string,
  create: { displayName?: string } | undefined,
): Promise<SavedSession> {
  const api = new ChatApi(location.origin);
  if (create) await api.createUser(username, password, create.displayName || undefined);
  const previous = savedSession();
  const device = previous?.username === username ? previous.deviceId : undefined;
  const session = await api.login(username, password, device);
  const saved = { ...session, username };
  saveSession(saved);
  return saved;
}
