/** Groups of up to 100 members: creation, membership changes, and lookups for members only. */
import { ChatError } from '../../common/errors.ts';
import { randomId } from '../../common/ids.ts';
import { MAX_GROUP_MEMBERS } from '../../common/protocol.ts';
import type { GroupRecord, Store } from '../backends/types.ts';

export class Groups {
  private readonly store: Store;
  private readonly clock: () => number;
  private readonly maxMembers: number;

  constructor(deps: { store: Store; clock?: () => number; maxMembers?: number }) {
    this.store = deps.store;
    this.clock = deps.clock ?? Date.now;
    this.maxMembers = deps.maxMembers ?? MAX_GROUP_MEMBERS;
  }

  async create(creator: string, name: string, members: readonly string[]): Promise<{ groupId: string }> {
    const distinct = [...new Set([creator, ...members])];
    if (distinct.length > this.maxMembers) {
      throw new ChatError('group_full', `a group has at most ${this.maxMembers} members, creator included`, {
        status: 400,
      });
    }
    const existing = await this.store.existingUsers(distinct);
    const missing = distinct.filter((u) => !existing.has(u));
    if (missing.length > 0) {
      throw new ChatError('unknown_recipient', `no such users: ${missing.slice(0, 5).join(', ')}`, {
        status: 400,
      });
    }
    const groupId = randomId('g');
    await this.store.createGroup({
      groupId,
      name,
      createdBy: creator,
      createdAt: this.clock(),
      members: distinct,
    });
    return { groupId };
  }

  /** The group, if `caller` is a member; `not_member` otherwise (also when it does not exist). */
  async getForMember(caller: string, groupId: string): Promise<GroupRecord> {
    const group = await this.store.group(groupId);
    if (!group?.members.includes(caller))
      throw new ChatError('not_member', 'you are not a member of that group');
    return group;
  }

  async addMember(caller: string, groupId: string, userId: string): Promise<void> {
    await this.getForMember(caller, groupId);
    const exists = await this.store.existingUsers([userId]);
    if (!exists.has(userId)) throw new ChatError('unknown_recipient', 'no such user');
    const result = await this.store.addMember(groupId, userId, this.maxMembers, this.clock());
    if (result === 'full')
      throw new ChatError('group_full', `the group already has ${this.maxMembers} members`);
    if (result === 'no_group') throw new ChatError('not_member', 'you are not a member of that group');
  }

  /** A member may remove itself; the group's creator may remove anyone. Removing a non-member is a no-op. */
  async removeMember(caller: string, groupId: string, userId: string): Promise<void> {
    const group = await this.getForMember(caller, groupId);
    if (caller !== userId && caller !== group.createdBy) {
      throw new ChatError('forbidden', 'only the group creator can remove other members');
    }
    await this.store.removeMember(groupId, userId);
  }
}
