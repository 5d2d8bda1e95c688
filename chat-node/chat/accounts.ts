/**
 * Accounts: sign-up with a hashed password, login that issues a device's token (failed logins
 * limited per account, whatever the address), logout and password change (which revoke tokens and
 * remove the signed-out devices' push registrations).
 */
import { ChatError } from '../../common/errors.ts';
import { randomId } from '../../common/ids.ts';
import { usernameKey } from '../../common/usernames.ts';
import type { Store, UserRecord } from '../backends/types.ts';
import { WindowLimiter } from '../rate-limit.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords.ts';
import { MAX_PUSH_DEVICES } from './push-dispatcher.ts';
import type { TokenValidity } from './token-validity.ts';
import type { TokenClaims, Tokens } from './tokens.ts';

/** The window of the per-account login limit. */
const LOGIN_WINDOW_MS = 60_000;

export interface Session {
  token: string;
  userId: string;
  deviceId: string;
}

export class Accounts {
  private readonly store: Store;
  private readonly tokens: Tokens;
  private readonly validity: TokenValidity;
  private readonly clock: () => number;
  /** Failed logins per username key in the current window. */
  private readonly failures: WindowLimiter;

  constructor(deps: {
    store: Store;
    tokens: Tokens;
    validity: TokenValidity;
    /** Failed logins one account may have per minute, from any address. */
    loginFailuresPerAccount: number;
    clock?: () => number;
  }) {
    this.store = deps.store;
    this.tokens = deps.tokens;
    this.validity = deps.validity;
    this.clock = deps.clock ?? Date.now;
    this.failures = new WindowLimiter({
      limit: deps.loginFailuresPerAccount,
      windowMs: LOGIN_WINDOW_MS,
      now: this.clock(),
    });
  }

  /** Creates an account; throws `username_taken` if the name is in use. */
  async createUser(username: string, password: string, displayName?: string): Promise<{ userId: string }> {
    if (await this.store.userByUsername(username))
      throw new ChatError('username_taken', 'that username is taken');
    const userId = randomId('u');
    const user: UserRecord = {
      userId,
      username,
      passwordHash: await hashPassword(password),
      createdAt: this.clock(),
    };
    if (displayName !== undefined) user.displayName = displayName;
    await this.store.createUser(user);
    return { userId };
  }

  /** Checks the credentials and issues a token for the device (a new device id when none is given). */
  async login(username: string, password: string, deviceId?: string): Promise<Session> {
    // A guesser spread over many addresses is slowed per account. Only failures count, so that an
    // account's own devices logging in do not lock it; unknown names count alike (no tell).
    const key = usernameKey(username);
    if (!this.failures.allows(key, this.clock())) {
      throw new ChatError('rate_limited', 'too many failed logins for this account; try again later');
    }
    const user = await this.store.userByUsername(username);
    // Hash even for an unknown user so that the answer time does not reveal which usernames exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) {
      this.failures.hit(key, this.clock());
      throw new ChatError('unauthorized', 'wrong username or password');
    }
    const device = deviceId ?? randomId('d');
    return {
      token: await this.tokens.sign({ userId: user.userId, deviceId: device }, this.clock()),
      userId: user.userId,
      deviceId: device,
    };
  }

  /**
   * Revokes the calling device's tokens on every node (`DELETE /v1/sessions/current`), and removes
   * its push registration: a signed-out phone shows no more notifications (it registers again at
   * its next login).
   */
  async logout(me: TokenClaims): Promise<void> {
    await this.validity.revoke(me.userId, me.deviceId);
    await this.store.removePushToken(me.userId, me.deviceId);
  }

  /**
   * Replaces the password and revokes every token of every device of the user, on every node; the
   * calling device gets a new token (issued just after the revocation) in the answer.
   */
  async changePassword(me: TokenClaims, currentPassword: string, newPassword: string): Promise<Session> {
    const user = await this.store.userById(me.userId);
    if (!user) throw new ChatError('unauthorized', 'no such account');
    if (!(await verifyPassword(currentPassword, user.passwordHash))) {
      throw new ChatError('forbidden', 'the current password is wrong');
    }
    await this.store.setPasswordHash(user.userId, await hashPassword(newPassword));
    const cutoff = await this.validity.revoke(user.userId, undefined);
    // The other devices are signed out: their push registrations go too (a lost phone stops showing
    // the user's messages), each only while it is still the one read here.
    for (const r of await this.store.pushTokens(user.userId, MAX_PUSH_DEVICES)) {
      if (r.deviceId !== me.deviceId) await this.store.removePushToken(user.userId, r.deviceId, r.token);
    }
    return {
      token: await this.tokens.sign({ userId: user.userId, deviceId: me.deviceId }, cutoff + 1),
      userId: user.userId,
      deviceId: me.deviceId,
    };
  }
}
