/**
 * Who is who: profiles by user id, fetched once each (at most MAX_PROFILES kept), and the presence
 * the SDK reports for the users the app shows.
 */
import type { ChatApi, PresenceInfo, Profile } from '../../client/index.ts';

const MAX_PROFILES = 5000;

export class People {
  private readonly api: ChatApi;
  private readonly profiles = new Map<string, Promise<Profile | undefined>>();
  private readonly known = new Map<string, Profile>();
  private readonly presence = new Map<string, PresenceInfo>();
  /** Called when a name or a presence changed (views re-render the parts they show). */
  onChange: () => void = () => {};

  constructor(api: ChatApi) {
    this.api = api;
  }

  /** The name to show now: the display name once known, else the id. */
  name(userId: string): string {
    return this.known.get(userId)?.displayName ?? userId;
  }

  profile(userId: string): Profile | undefined {
    return this.known.get(userId);
  }

  /** Fetches the profiles not known yet; resolves once they are in. */
  async load(userIds: readonly string[]): Promise<void> {
    await Promise.all(userIds.map((id) => this.get(id)));
  }

  get(userId: string): Promise<Profile | undefined> {
    let p = this.profiles.get(userId);
    if (!p) {
      if (this.profiles.size >= MAX_PROFILES) this.profiles.clear();
      p = this.api.user(userId).then(
        (profile) => {
          this.known.set(userId, profile);
          this.onChange();
          return profile;
        },
        () => {
          this.profiles.delete(userId);
          return undefined;
        },
      );
      this.profiles.set(userId, p);
    }
    return p;
  }

  /** Remembers profiles found by a search. */
  learn(profiles: readonly Profile[]): void {
    for (const p of profiles) {
      this.known.set(p.userId, p);
      this.profiles.set(p.userId, Promise.resolve(p));
    }
  }

  setPresence(p: PresenceInfo): void {
    this.presence.set(p.userId, p);
    this.onChange();
  }

  online(userId: string): boolean {
    return this.presence.get(userId)?.status === 'online';
  }

  /** "online", "last seen 10:42", or "offline". */
  status(userId: string): string {
    const p = this.presence.get(userId);
    if (!p) return '';
    if (p.status === 'online') return 'online';
    if (p.lastActiveAt === null) return 'offline';
    return `last seen ${new Date(p.lastActiveAt).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' })}`;
  }
}
