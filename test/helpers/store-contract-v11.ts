/**
 * The v1.1 part of the Store contract (profiles, contacts, group lists, conversation entries, read
 * positions, unread counts, message changes), called by describeStoreContract for every backend.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../chat-node/backends/types.ts';
import { dmConversationId, groupConversationId } from '../../common/ids.ts';
import type { Update } from '../../common/protocol.ts';
import { Snowflake, snowflakeTime } from '../../common/snowflake.ts';
import { dm, groupMessage, uniqueId } from './store-contract.ts';

const ids = new Snowflake(11);

async function user(store: Store, name = uniqueId('n')) {
  const u = { userId: uniqueId('u'), username: name, passwordHash: 'h', createdAt: 1 };
  await store.createUser(u);
  return u.userId;
}

function change(messageId: string, conversation: string, from: string, edit?: string): Update {
  const id = ids.next();
  const u: Update = { updateId: id.toString(), messageId, conversation, from, ts: snowflakeTime(id) };
  if (edit === undefined) u.deleted = true;
  else u.text = edit;
  return u;
}

export function describeV11Contract(get: () => Store): void {
  describe('v1.1: people and contacts', () => {
    it('keeps a display name and finds users by username prefix in code point order', async () => {
      const store = get();
      const p = uniqueId('pre');
      const b = await user(store, `${p}-b`);
      const a = await user(store, `${p}-a`);
      await user(store, `${p}-C`);
      await user(store, `x${p}`);
      await store.setDisplayName(a, 'Ann');
      expect((await store.userById(a))?.displayName).toBe('Ann');
      const found = await store.usersByPrefix(`${p}-`, 10);
      expect(found.map((u) => u.username)).toEqual([`${p}-C`, `${p}-a`, `${p}-b`]);
      expect((await store.usersByPrefix(`${p}-`, 2)).map((u) => u.userId)).toHaveLength(2);
      expect(found.find((u) => u.userId === b)?.displayName).toBeUndefined();
    });

    it('adds a contact once, refuses past the bound, removes it', async () => {
      const store = get();
      const [me, c1, c2] = [uniqueId('u'), uniqueId('c'), uniqueId('c')];
      expect(await store.addContact(me, c1, 1)).toBe('added');
      expect(await store.addContact(me, c1, 1)).toBe('already');
      expect(await store.addContact(me, c2, 1)).toBe('full');
      expect(await store.contacts(me)).toEqual([c1]);
      await store.removeContact(me, c1);
      expect(await store.contacts(me)).toEqual([]);
    });
  });

  describe('v1.1: conversation entries and unread counts', () => {
    it('lists dms by their newest message with exact unread counts that a read lowers', async () => {
      const store = get();
      const [me, x, y] = [uniqueId('me'), uniqueId('x'), uniqueId('y')];
      const withX = [dm(x, me), dm(x, me), dm(me, x)];
      await store.saveMessages(withX);
      const withY = [dm(y, me)];
      await store.saveMessages(withY);
      const list = await store.conversations(me, undefined, 10);
      expect(list.more).toBe(false);
      expect(list.entries.map((e) => e.conversation)).toEqual([
        dmConversationId(me, y),
        dmConversationId(me, x),
      ]);
      const [ey, ex] = list.entries as [ReturnType<typeof Object>, ReturnType<typeof Object>];
      expect(ey).toMatchObject({
        unread: 1,
        readUpTo: 0n,
        lastMessageId: BigInt(withY[0]!.message.messageId),
      });
      expect(ex).toMatchObject({ unread: 2, activityId: BigInt(withX[2]!.message.messageId) });
      // x's own view: my message is unread for x, its own are not.
      expect((await store.conversationEntry(x, dmConversationId(me, x)))?.unread).toBe(1);
      expect(
        await store.setReadPosition(me, dmConversationId(me, x), BigInt(withX[0]!.message.messageId)),
      ).toBe(true);
      expect((await store.conversationEntry(me, dmConversationId(me, x)))?.unread).toBe(1);
      expect(await store.setReadPosition(me, dmConversationId(me, x), 1n)).toBe(false);
      const pos = await store.readPositions(dmConversationId(me, x), [me, x]);
      expect(pos.get(me)).toBe(BigInt(withX[0]!.message.messageId));
      expect(pos.get(x)).toBe(0n);
      // Paging by activity.
      const first = await store.conversations(me, undefined, 1);
      expect(first.more).toBe(true);
      const second = await store.conversations(me, first.entries[0]!.activityId, 1);
      expect(second.entries.map((e) => e.conversation)).toEqual([dmConversationId(me, x)]);
      expect(second.more).toBe(false);
    });

    it('counts unread up to 1000 and no further', async () => {
      const store = get();
      const [me, x] = [uniqueId('me'), uniqueId('x')];
      for (let i = 0; i < 11; i++) await store.saveMessages(Array.from({ length: 100 }, () => dm(x, me)));
      expect((await store.conversationEntry(me, dmConversationId(me, x)))?.unread).toBe(1000);
    });

    it('indexes a message of a larger group for every member: entry, unread row, sync', async () => {
      const store = get();
      const members = Array.from({ length: 8 }, (_, i) => uniqueId(`m${i}`));
      const [sender, ahead] = [members[0]!, members[1]!];
      const groupId = uniqueId('g');
      await store.createGroup({
        groupId,
        name: 'eight',
        createdBy: sender,
        createdAt: 1,
        members,
        activityId: ids.next().toString(),
      });
      const cid = groupConversationId(groupId);
      const m = groupMessage(groupId, sender, members, ids.next());
      // One member's read position is past the message already (read on another device first).
      await store.setReadPosition(ahead, cid, BigInt(m.message.messageId) + 1n);
      await store.saveMessages([m]);
      const id = BigInt(m.message.messageId);
      for (const u of members) {
        expect(await store.conversationEntry(u, cid)).toMatchObject({
          activityId: id,
          lastMessageId: id,
          unread: u === sender || u === ahead ? 0 : 1,
        });
        expect((await store.sync(u, id - 1n, 10)).messages.map((x) => x.messageId)).toEqual([
          m.message.messageId,
        ]);
      }
    });

    it('lists a group from its creation on, for its members only, and drops it for one who left', async () => {
      const store = get();
      const [a, b, c] = [uniqueId('a'), uniqueId('b'), uniqueId('c')];
      const groupId = uniqueId('g');
      const activityId = ids.next().toString();
      await store.createGroup({
        groupId,
        name: 'n',
        createdBy: a,
        createdAt: 1,
        members: [a, b],
        activityId,
      });
      const cid = groupConversationId(groupId);
      expect((await store.conversations(b, undefined, 5)).entries).toEqual([
        { conversation: cid, activityId: BigInt(activityId), lastMessageId: 0n, readUpTo: 0n, unread: 0 },
      ]);
      expect(await store.groupsOf(b)).toEqual([groupId]);
      expect((await store.group(groupId))?.activityId).toBe(activityId);
      const m = groupMessage(groupId, a, [a, b], ids.next()); // after activityId: one generator
      await store.saveMessages([m]);
      expect(await store.conversationEntry(b, cid)).toMatchObject({
        unread: 1,
        activityId: BigInt(m.message.messageId),
      });
      expect(await store.addMember(groupId, c, 100, 2)).toBe('added');
      expect(await store.conversationEntry(c, cid)).toMatchObject({
        lastMessageId: BigInt(m.message.messageId),
        unread: 0,
      });
      await store.removeMember(groupId, b);
      expect(await store.conversationEntry(b, cid)).toBeUndefined();
      expect((await store.conversations(b, undefined, 5)).entries).toEqual([]);
      expect(await store.groupsOf(b)).toEqual([]);
      await store.renameGroup(groupId, 'renamed');
      expect((await store.group(groupId))?.name).toBe('renamed');
    });
  });

  describe('v1.1: message changes', () => {
    it('edits and deletes a message everywhere it is read, and syncs the changes once', async () => {
      const store = get();
      const [a, b] = [uniqueId('a'), uniqueId('b')];
      const first = dm(a, b);
      const second = dm(a, b);
      await store.saveMessages([first, second]);
      const cid = first.message.conversation;
      expect(await store.messageById(BigInt(first.message.messageId))).toMatchObject({
        from: a,
        text: first.message.text,
      });
      expect(await store.messageById(ids.next())).toBeUndefined();
      const since = ids.next();
      const edit = change(first.message.messageId, cid, a, 'fixed');
      await store.saveUpdate(edit, [a, b]);
      const del = change(second.message.messageId, cid, a);
      await store.saveUpdate(del, [a, b]);
      const history = await store.history(cid, undefined, 10);
      expect(history[0]).toMatchObject({ messageId: second.message.messageId, deleted: true, text: '' });
      expect(history[1]).toMatchObject({ text: 'fixed', editedAt: edit.ts });
      const synced = await store.sync(b, 0n, 10);
      expect(synced.messages.map((m) => m.text)).toEqual(['fixed', '']);
      const updates = await store.updatesSince(b, since, 10);
      expect(updates).toEqual({ updates: [edit, del], more: false });
      expect((await store.updatesSince(b, BigInt(edit.updateId), 10)).updates).toEqual([del]);
      expect((await store.updatesSince(b, since, 1)).more).toBe(true);
      // The deleted message is unread no more.
      expect((await store.conversationEntry(b, cid))?.unread).toBe(1);
      const last = await store.messagesByIds([
        { conversation: cid, messageId: BigInt(second.message.messageId) },
      ]);
      expect(last.get(second.message.messageId)).toMatchObject({ deleted: true });
    });
  });
}
