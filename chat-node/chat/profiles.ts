/** People: profiles (display names default to the username), lookups by exact username and by prefix. */
import { ChatError } from '../../common/errors.ts';
import { isOpaqueId } from '../../common/ids.ts';
import type { Profile } from '../../common/resources.ts';
import type { Store, UserRecord } from '../backends/types.ts';

export function toProfile(u: UserRecord): Profile {
  return {
    userId: u.userId,
    username: u.username,
    displayName: u.displayName ?? u.username,
    createdAt: u.createdAt,
  };
}

export class Profiles {
  private readonly store: Store;

  constructor(deps: { store: Store }) {
    this.store = deps.store;
  }

  /** The profile of `userId`; `not_found` for an unknown user. */
  async get(userId: string): Promise<Profile> {
    const user = isOpaqueId(userId) ? await this.store.userById(userId) : undefined;
    if (!user) throw new ChatError('not_found', 'no such user');
    return toProfile(user);
  }

  async setDisplayName(userId: string, displayName: string): Promise<Profile> {
    await this.get(userId);
    await this.store.setDisplayName(userId, displayName);
    return this.get(userId);
  }

  /** Zero or one profile: the account whose username is this one (compared as logins compare them). */
  async byUsername(username: string): Promise<Profile[]> {
    if (username.length === 0 || username.length > 256) return [];
    const user = await this.store.userByUsername(username);
    // userByUsername may answer from a login record; the profile comes from the account itself.
    const full = user ? await this.store.userById(user.userId) : undefined;
    return full ? [toProfile(full)] : [];
  }

  /** Usernames starting with `prefix` (as typed), in code point order. */
  async byPrefix(prefix: string, limit: number): Promise<Profile[]> {
    if (prefix.length === 0) throw new ChatError('bad_request', 'prefix must not be empty');
    if (prefix.length > 256) return [];
    return (await this.store.usersByPrefix(prefix, limit)).map(toProfile);
  }
}
