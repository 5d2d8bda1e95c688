/**
 * The friend list: one-way contacts with their presence. A change is announced to every node, whose
 * gateway then starts or stops watching the contact for the user's connected devices.
 */
import { ChatError } from '../../common/errors.ts';
import { isOpaqueId } from '../../common/ids.ts';
import { CONTACTS_MAX, type Contact } from '../../common/resources.ts';
import type { MessageBus, PresenceBackend, Store } from '../backends/types.ts';
import { byCodePoint } from './participants.ts';
import { toProfile } from './profiles.ts';

export class Contacts {
  private readonly store: Store;
  private readonly bus: MessageBus;
  private readonly presence: PresenceBackend;

  constructor(deps: { store: Store; bus: MessageBus; presence: PresenceBackend }) {
    this.store = deps.store;
    this.bus = deps.bus;
    this.presence = deps.presence;
  }

  /** The user's contacts with their presence, sorted by username (code point order). */
  async list(userId: string): Promise<Contact[]> {
    const ids = await this.store.contacts(userId);
    const [users, presence] = await Promise.all([
      Promise.all(ids.map((id) => this.store.userById(id))),
      this.presence.get(ids),
    ]);
    const status = new Map(presence.map((p) => [p.userId, p]));
    const out: Contact[] = [];
    for (const u of users) {
      if (!u) continue;
      const p = status.get(u.userId);
      out.push({ ...toProfile(u), status: p?.status ?? 'offline', lastActiveAt: p?.lastActiveAt ?? null });
    }
    return out.sort((a, b) => byCodePoint(a.username, b.username));
  }

  async add(userId: string, contactId: string): Promise<void> {
    if (!isOpaqueId(contactId) || !(await this.store.existingUsers([contactId])).has(contactId)) {
      throw new ChatError('not_found', 'no such user');
    }
    const result = await this.store.addContact(userId, contactId, CONTACTS_MAX);
    if (result === 'full')
      throw new ChatError('contacts_full', `a user has at most ${CONTACTS_MAX} contacts`);
    if (result === 'added')
      await this.bus.publishEvent({ userIds: [userId], contacts: { added: [contactId] } });
  }

  async remove(userId: string, contactId: string): Promise<void> {
    if (!isOpaqueId(contactId)) throw new ChatError('bad_request', 'userId is not a valid id');
    await this.store.removeContact(userId, contactId);
    await this.bus.publishEvent({ userIds: [userId], contacts: { removed: [contactId] } });
  }

  /** The ids a device watches from its welcome on. */
  of(userId: string): Promise<string[]> {
    return this.store.contacts(userId);
  }
}
