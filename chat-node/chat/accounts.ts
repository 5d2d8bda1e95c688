/** Accounts: sign-up with a hashed password, and login that issues a device's token. */
import { ChatError } from '../../common/errors.ts';
import { randomId } from '../../common/ids.ts';
import type { Store } from '../backends/types.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords.ts';
import type { Tokens } from './tokens.ts';

export interface Session {
  token: string;
  userId: string;
  deviceId: string;
}

export class Accounts {
  private readonly store: Store;
  private readonly tokens: Tokens;
  private readonly clock: () => number;

  constructor(deps: { store: Store; tokens: Tokens; clock?: () => number }) {
    this.store = deps.store;
    this.tokens = deps.tokens;
    this.clock = deps.clock ?? Date.now;
  }

  /** Creates an account; throws `username_taken` if the name is in use. */
  async createUser(username: string, password: string): Promise<{ userId: string }> {
    if (await this.store.userByUsername(username))
      throw new ChatError('username_taken', 'that username is taken');
    const userId = randomId('u');
    await this.store.createUser({
      userId,
      username,
      passwordHash: await hashPassword(password),
      createdAt: this.clock(),
    });
    return { userId };
  }

  /** Checks the credentials and issues a token for the device (a new device id when none is given). */
  async login(username: string, password: string, deviceId?: string): Promise<Session> {
    const user = await this.store.userByUsername(username);
    // Hash even for an unknown user so that the answer time does not reveal which usernames exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) throw new ChatError('unauthorized', 'wrong username or password');
    const device = deviceId ?? randomId('d');
    return {
      token: await this.tokens.sign({ userId: user.userId, deviceId: device }),
      userId: user.userId,
      deviceId: device,
    };
  }
}
