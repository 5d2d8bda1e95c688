/**
 * Groups of up to 100 members: creation, membership changes, renames, lookups for members only, and
 * the `group` events that tell every member's devices (the member concerned included) what changed.
 */
import { ChatError } from '../../common/errors.ts';
import { randomId } from '../../common/ids.ts';
import { type GroupEventFrame, type GroupEventKind, MAX_GROUP_MEMBERS } from '../../common/protocol.ts';
import type { GroupSummary } from '../../common/resources.ts';
import type { Snowflake } from '../../common/snowflake.ts';
import type { GroupRecord, MessageBus, Store } from '../backends/types.ts';
import { byCodePoint } from './participants.ts';

export class Groups {
  private readonly store: Store;
  private readonly clock: () => number;
  private readonly maxMembers: number;
  private readonly bus: MessageBus | undefined;
  private readonly ids: Snowflake | undefined;

  constructor(deps: {
    store: Store;
    clock?: () => number;
    maxMembers?: number;
    /** Where `group` events go; none in unit uses without devices. */
    bus?: MessageBus;
    /** The message ids' sequence: a group's activity id comes from it. */
    ids?: Snowflake;
  }) {
    this.store = deps.store;
    this.clock = deps.clock ?? Date.now;
    this.maxMembers = deps.maxMembers ?? MAX_GROUP_MEMBERS;
    this.bus = deps.bus;
    this.ids = deps.ids;
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
    const group: GroupRecord = {
      groupId,
      name,
      createdBy: creator,
      createdAt: this.clock(),
      members: distinct,
    };
    if (this.ids) group.activityId = this.ids.next().toString();
    await this.store.createGroup(group);
    await this.announce(distinct, { groupId, event: 'created', name, by: creator });
    return { groupId };
  }

  /** The group, if `caller` is a member; `not_member` otherwise (also when it does not exist). */
  async getForMember(caller: string, groupId: string): Promise<GroupRecord> {
    const group = await this.store.group(groupId);
    if (!group?.members.includes(caller))
      throw new ChatError('not_member', 'you are not a member of that group');
    return group;
  }

  /** The caller's groups with their member counts, by name (code point order), then id. */
  async list(caller: string): Promise<GroupSummary[]> {
    const groups = await Promise.all((await this.store.groupsOf(caller)).map((id) => this.store.group(id)));
    return groups
      .filter((g): g is GroupRecord => g?.members.includes(caller) === true)
      .map((g) => ({ groupId: g.groupId, name: g.name, members: g.members.length }))
      .sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.groupId, b.groupId));
  }

  async addMember(caller: string, groupId: string, userId: string): Promise<void> {
    const group = await this.getForMember(caller, groupId);
    const exists = await this.store.existingUsers([userId]);
    if (!exists.has(userId)) throw new ChatError('unknown_recipient', 'no such user');
    const result = await this.store.addMember(groupId, userId, this.maxMembers, this.clock());
    if (result === 'full')
      throw new ChatError('group_full', `the group already has ${this.maxMembers} members`);
    if (result === 'no_group') throw new ChatError('not_member', 'you are not a member of that group');
    if (result === 'added') {
      const members = [...new Set([...group.members, userId])];
      await this.announce(members, { groupId, event: 'member_added', userId, by: caller });
    }
  }

  /** A member may remove itself; the group's creator may remove anyone. Removing a non-member is a no-op. */
  async removeMember(caller: string, groupId: string, userId: string): Promise<void> {
    const group = await this.getForMember(caller, groupId);
    if (caller !== userId && caller !== group.createdBy) {
      throw new ChatError('forbidden', 'only the group creator can remove other members');
    }
    await this.store.removeMember(groupId, userId);
    if (group.members.includes(userId)) {
      await this.announce(group.members, { groupId, event: 'member_removed', userId, by: caller });
    }
  }

  /** Only the creator renames (`forbidden` for other members, `not_member` for the rest). */
  async rename(caller: string, groupId: string, name: string): Promise<GroupRecord> {
    const group = await this.getForMember(caller, groupId);
    if (caller !== group.createdBy) throw new ChatError('forbidden', 'only the group creator can rename it');
    await this.store.renameGroup(groupId, name);
    await this.announce(group.members, { groupId, event: 'renamed', name, by: caller });
    return { ...group, name };
  }

  private async announce(
    members: readonly string[],
    e: { groupId: string; event: GroupEventKind; userId?: string; name?: string; by: string },
  ): Promise<void> {
    if (!this.bus) return;
    const frame: GroupEventFrame = { type: 'group', ...e, ts: this.clock() };
    await this.bus.publishEvent({ userIds: [...members], frame });
  }
}
