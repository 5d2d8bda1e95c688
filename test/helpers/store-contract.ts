/**
 * The Store contract (chat-node/backends/types.ts), run against every implementation: each test file
 * calls describeStoreContract with a way to open a fresh store. Tests share that one store and keep
 * apart by using their own user, group and conversation ids.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, Store } from '../../chat-node/backends/types.ts';
import { ChatError } from '../../common/errors.ts';
import { dmConversationId, groupConversationId } from '../../common/ids.ts';
import type { Message } from '../../common/protocol.ts';
import { Snowflake, snowflakeTime } from '../../common/snowflake.ts';
import { describeV11Contract } from './store-contract-v11.ts';

export interface OpenedStore {
  store: Store;
  cleanup: () => Promise<void>;
}

const DAY_MS = 86_400_000;
/** Noon UTC of 2025-01-01: messages "on day n" are built from this plus n days. */
const BASE_MS = Date.UTC(2025, 0, 1, 12);

const run = randomBytes(3).toString('hex');
let counter = 0;
/** A fresh opaque id, unique within the test file. */
export const uniqueId = (prefix: string): string => `${prefix}_${run}_${(counter++).toString(36)}`;

/** Ids issued "now" by node 7 (a node id no fixed-clock generator uses). */
const nowIds = new Snowflake(7);
const dayIds = new Map<number, Snowflake>();
/** An id issued on day `day` after BASE_MS (one generator per day, so ids never repeat). */
export function idOnDay(day: number): bigint {
  let gen = dayIds.get(day);
  if (!gen) {
    gen = new Snowflake(8, { clock: () => BASE_MS + day * DAY_MS });
    dayIds.set(day, gen);
  }
  return gen.next();
}

/** A direct message from `from` to `to`. */
export function dm(from: string, to: string, id = nowIds.next(), text = `dm ${id}`): Envelope {
  const message: Message = {
    messageId: id.toString(),
    conversation: dmConversationId(from, to),
    from,
    to,
    text,
    ts: snowflakeTime(id),
  };
  return { message, recipients: from === to ? [from] : [from, to] };
}

/** A message to a group, for its members. */
export function groupMessage(groupId: string, from: string, members: string[], id = nowIds.next()): Envelope {
  const message: Message = {
    messageId: id.toString(),
    conversation: groupConversationId(groupId),
    from,
    group: groupId,
    text: `group ${id}`,
    ts: snowflakeTime(id),
  };
  return { message, recipients: members };
}

const ids = (messages: Message[]) => messages.map((m) => m.messageId);
const idsOf = (envelopes: Envelope[]) => envelopes.map((e) => e.message.messageId);

export function describeStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`${name} (the Store contract)`, () => {
    let opened: OpenedStore;
    let store: Store;

    beforeAll(async () => {
      opened = await open();
      store = opened.store;
    });
    afterAll(async () => {
      await opened?.cleanup();
    });

    /** Pages through sync with `limit` and returns every page's ids and `more`. */
    async function syncPages(userId: string, since: bigint, limit: number) {
      const pages: { ids: string[]; more: boolean }[] = [];
      for (let cursor = since; ; ) {
        const page = await store.sync(userId, cursor, limit);
        pages.push({ ids: ids(page.messages), more: page.more });
        if (!page.more) return pages;
        cursor = BigInt(page.messages.at(-1)!.messageId);
      }
    }

    describe('users', () => {
      it('finds a created user by username', async () => {
        const user = {
          userId: uniqueId('u'),
          username: uniqueId('name'),
          passwordHash: 'h',
          createdAt: 1234,
        };
        await store.createUser(user);
        expect(await store.userByUsername(user.username)).toEqual(user);
        expect(await store.userByUsername(uniqueId('nobody'))).toBeUndefined();
      });

      it('refuses a taken username with username_taken', async () => {
        const username = uniqueId('name');
        await store.createUser({ userId: uniqueId('u'), username, passwordHash: 'h', createdAt: 1 });
        const second = store.createUser({ userId: uniqueId('u'), username, passwordHash: 'h', createdAt: 2 });
        await expect(second).rejects.toSatisfy((e) => e instanceof ChatError && e.code === 'username_taken');
      });

      it('lets exactly one of several concurrent creates of one username succeed', async () => {
        const username = uniqueId('race');
        const userIds = Array.from({ length: 6 }, () => uniqueId('u'));
        const results = await Promise.allSettled(
          userIds.map((userId) => store.createUser({ userId, username, passwordHash: 'h', createdAt: 1 })),
        );
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [userIds[i]] : []));
        expect(won).toHaveLength(1);
        for (const r of results.filter((r) => r.status === 'rejected')) {
          expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'username_taken' });
        }
        expect((await store.userByUsername(username))?.userId).toBe(won[0]);
      });

      it('tells which of the given user ids exist', async () => {
        const a = uniqueId('u');
        const b = uniqueId('u');
        for (const userId of [a, b])
          await store.createUser({ userId, username: uniqueId('n'), passwordHash: 'h', createdAt: 1 });
        expect(await store.existingUsers([a, uniqueId('ghost'), b, a])).toEqual(new Set([a, b]));
        expect(await store.existingUsers([])).toEqual(new Set());
      });
    });

    describe('groups', () => {
      async function newGroup(memberCount: number) {
        const members = Array.from({ length: memberCount }, () => uniqueId('m'));
        const group = {
          groupId: uniqueId('g'),
          name: 'team',
          createdBy: members[0]!,
          createdAt: 1000,
          members,
        };
        await store.createGroup(group);
        return group;
      }

      it('reads back a created group with its members', async () => {
        const group = await newGroup(3);
        const read = await store.group(group.groupId);
        expect({ ...read, members: read?.members.toSorted() }).toEqual({
          ...group,
          members: group.members.toSorted(),
        });
        expect(await store.group(uniqueId('nogroup'))).toBeUndefined();
      });

      it('adds a member once, after the earlier members, and says already_member the second time', async () => {
        const group = await newGroup(2);
        const user = uniqueId('a');
        expect(await store.addMember(group.groupId, user, 100, 2000)).toBe('added');
        expect(await store.addMember(group.groupId, user, 100, 3000)).toBe('already_member');
        expect((await store.group(group.groupId))?.members.at(-1)).toBe(user);
        expect((await store.group(group.groupId))?.members).toHaveLength(3);
      });

      it('treats member ids that are also JavaScript property names as plain ids', async () => {
        const group = await newGroup(1);
        for (const user of ['constructor', '__proto__', 'toString']) {
          expect(await store.addMember(group.groupId, user, 10, 2000)).toBe('added');
        }
        expect((await store.group(group.groupId))?.members.toSorted()).toEqual(
          [group.members[0]!, 'constructor', '__proto__', 'toString'].toSorted(),
        );
        await store.removeMember(group.groupId, '__proto__');
        expect((await store.group(group.groupId))?.members).toHaveLength(3);
      });

      it('says no_group for a group that does not exist', async () => {
        expect(await store.addMember(uniqueId('nogroup'), uniqueId('u'), 100, 1)).toBe('no_group');
      });

      it('says full when the group already has maxMembers members', async () => {
        const group = await newGroup(3);
        expect(await store.addMember(group.groupId, uniqueId('late'), 3, 2000)).toBe('full');
        expect((await store.group(group.groupId))?.members).toHaveLength(3);
      });

      it('never lets concurrent adds racing for the last seats exceed maxMembers', async () => {
        const group = await newGroup(3);
        const racers = Array.from({ length: 8 }, () => uniqueId('r'));
        const results = await Promise.all(racers.map((u) => store.addMember(group.groupId, u, 5, 2000)));
        expect(results.filter((r) => r === 'added')).toHaveLength(2);
        expect(results.filter((r) => r === 'full')).toHaveLength(6);
        expect((await store.group(group.groupId))?.members).toHaveLength(5);
      });

      it('adds a user once when the same add races with itself', async () => {
        const group = await newGroup(2);
        const user = uniqueId('twin');
        const results = await Promise.all(
          [1, 2, 3, 4].map(() => store.addMember(group.groupId, user, 10, 2000)),
        );
        expect(results.toSorted()).toEqual(['added', 'already_member', 'already_member', 'already_member']);
      });

      it('removes a member and frees its seat', async () => {
        const group = await newGroup(3);
        await store.removeMember(group.groupId, group.members[1]!);
        expect((await store.group(group.groupId))?.members.toSorted()).toEqual(
          [group.members[0]!, group.members[2]!].toSorted(),
        );
        expect(await store.addMember(group.groupId, uniqueId('next'), 3, 2000)).toBe('added');
      });

      it('ignores the removal of a non-member or from a missing group', async () => {
        const group = await newGroup(2);
        await store.removeMember(group.groupId, uniqueId('stranger'));
        await store.removeMember(uniqueId('nogroup'), group.members[0]!);
        expect((await store.group(group.groupId))?.members).toHaveLength(2);
      });
    });

    describe('messages', () => {
      it('stores a message once when the same envelope is saved twice', async () => {
        const [a, b] = [uniqueId('a'), uniqueId('b')];
        const e = dm(a, b);
        e.recipients = [a, b, b];
        await store.saveMessages([e, e]);
        await store.saveMessages([e]);
        expect(await store.history(e.message.conversation, undefined, 10)).toStrictEqual([e.message]);
        for (const user of [a, b]) {
          expect(await store.sync(user, 0n, 10)).toStrictEqual({ messages: [e.message], more: false });
        }
      });

      it('returns the message stored under a dedup key, and nothing for an unknown key', async () => {
        const e = dm(uniqueId('a'), uniqueId('b'));
        e.dedupKey = `${e.message.from}/d1/${uniqueId('c')}`;
        await store.saveMessages([e, dm(e.message.from, e.message.to!)]);
        await store.saveMessages([e]);
        expect(await store.messageByDedupKey(e.dedupKey)).toStrictEqual(e.message);
        expect(await store.messageByDedupKey(`${e.message.from}/d1/unknown`)).toBeUndefined();
      });

      it('syncs only the conversations of the user, oldest first, with their fields', async () => {
        const [a, b, c] = [uniqueId('a'), uniqueId('b'), uniqueId('c')];
        const g = uniqueId('g');
        const sent = [dm(a, b), dm(b, c), groupMessage(g, c, [a, c]), dm(c, b), dm(b, a), dm(a, a)];
        await store.saveMessages(sent.toReversed());
        const mine = (await store.sync(a, 0n, 100)).messages;
        expect(mine).toStrictEqual([sent[0]!, sent[2]!, sent[4]!, sent[5]!].map((e) => e.message));
        expect(ids((await store.sync(c, 0n, 100)).messages)).toEqual(idsOf([sent[1]!, sent[2]!, sent[3]!]));
        expect(await store.sync(uniqueId('nobody'), 0n, 100)).toEqual({ messages: [], more: false });
      });

      it('pages sync with exact boundaries: more is true only when messages remain', async () => {
        const [a, b] = [uniqueId('a'), uniqueId('b')];
        const sent = Array.from({ length: 5 }, () => dm(a, b));
        await store.saveMessages(sent);
        const all = idsOf(sent);
        const at = (i: number) => BigInt(all[i]!);
        expect(await syncPages(a, 0n, 2)).toEqual([
          { ids: all.slice(0, 2), more: true },
          { ids: all.slice(2, 4), more: true },
          { ids: all.slice(4), more: false },
        ]);
        expect((await store.sync(a, 0n, 5)).more).toBe(false);
        expect((await store.sync(a, 0n, 4)).more).toBe(true);
        expect(ids((await store.sync(b, at(1), 2)).messages)).toEqual(all.slice(2, 4));
        expect(await store.sync(a, at(4), 10)).toEqual({ messages: [], more: false });
      });

      it('syncs across days, over a gap of many empty days, without skipping any message', async () => {
        const [a, b] = [uniqueId('a'), uniqueId('b')];
        const days = [0, 0, 0, 1, 1, 400, 400];
        const sent = days.map((d) => dm(a, b, idOnDay(d)));
        // Saved out of order and in several calls, as a store writer may.
        await store.saveMessages([sent[5]!, sent[0]!]);
        await store.saveMessages([sent[3]!, sent[6]!, sent[1]!]);
        await store.saveMessages([sent[2]!, sent[4]!]);
        const all = idsOf(sent);
        expect(await syncPages(a, 0n, 2)).toEqual([
          { ids: all.slice(0, 2), more: true },
          { ids: all.slice(2, 4), more: true },
          { ids: all.slice(4, 6), more: true },
          { ids: all.slice(6), more: false },
        ]);
        expect(await syncPages(b, 0n, 3)).toEqual([
          { ids: all.slice(0, 3), more: true },
          { ids: all.slice(3, 6), more: true },
          { ids: all.slice(6), more: false },
        ]);
        expect((await store.sync(a, 0n, 7)).more).toBe(false);
        expect((await store.sync(a, 0n, 6)).more).toBe(true);
        expect(ids((await store.sync(a, BigInt(all[4]!), 5)).messages)).toEqual(all.slice(5));
        expect(ids((await store.sync(a, idOnDay(200), 5)).messages)).toEqual(all.slice(5));
        expect((await store.sync(a, idOnDay(500), 5)).messages).toEqual([]);
      });

      it('gives history newest first, before an id, across days and gaps', async () => {
        const [a, b] = [uniqueId('a'), uniqueId('b')];
        const g = uniqueId('g');
        const days = [0, 0, 1, 1, 1, 400];
        const sent = days.map((d) => groupMessage(g, a, [a, b], idOnDay(d)));
        await store.saveMessages([...sent.toReversed(), dm(a, b, idOnDay(1))]);
        const conversation = groupConversationId(g);
        const newest = idsOf(sent).toReversed();
        expect(await store.history(conversation, undefined, 10)).toStrictEqual(
          sent.toReversed().map((e) => e.message),
        );
        expect(ids(await store.history(conversation, undefined, 3))).toEqual(newest.slice(0, 3));
        expect(ids(await store.history(conversation, BigInt(newest[2]!), 2))).toEqual(newest.slice(3, 5));
        expect(ids(await store.history(conversation, BigInt(newest[0]!), 100))).toEqual(newest.slice(1));
        expect(ids(await store.history(conversation, idOnDay(200), 1))).toEqual(newest.slice(1, 2));
        expect(await store.history(conversation, BigInt(newest.at(-1)!), 10)).toEqual([]);
        expect(await store.history(groupConversationId(uniqueId('none')), undefined, 10)).toEqual([]);
      });
    });

    describe('read cursors', () => {
      it('moves a cursor forward only, per device and per conversation', async () => {
        const [u, c] = [uniqueId('u'), uniqueId('c')];
        expect(await store.setReadCursor(u, 'd1', c, 10n)).toBe(true);
        expect(await store.setReadCursor(u, 'd1', c, 10n)).toBe(false);
        expect(await store.setReadCursor(u, 'd1', c, 9n)).toBe(false);
        expect(await store.setReadCursor(u, 'd1', c, 11n)).toBe(true);
        expect(await store.setReadCursor(u, 'd2', c, 5n)).toBe(true);
        expect(await store.setReadCursor(u, 'd1', `${c}x`, 5n)).toBe(true);
        expect(await store.setReadCursor(u, 'd1', c, 10n)).toBe(false);
      });

      it('reports a move once when the same first cursor is set concurrently', async () => {
        const [u, c] = [uniqueId('u'), uniqueId('c')];
        const results = await Promise.all([1, 2, 3, 4, 5].map(() => store.setReadCursor(u, 'd', c, 7n)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('ends at the largest of concurrently set cursors', async () => {
        const [u, c] = [uniqueId('u'), uniqueId('c')];
        const values = [3n, 8n, 1n, 6n, 2n, 7n, 5n, 4n];
        const results = await Promise.all(values.map((v) => store.setReadCursor(u, 'd', c, v)));
        expect(results).toContain(true);
        expect(await store.setReadCursor(u, 'd', c, 8n)).toBe(false);
        expect(await store.setReadCursor(u, 'd', c, 9n)).toBe(true);
      });
    });

    describe('maxMessageId', () => {
      it('is at least the highest id a node issued, even when older messages are saved later', async () => {
        const nodeIds = new Snowflake(900);
        const [a, b] = [uniqueId('a'), uniqueId('b')];
        const sent = [1, 2, 3].map(() => dm(a, b, nodeIds.next()));
        await store.saveMessages(sent);
        const older = new Snowflake(900, { clock: () => BASE_MS }).next();
        await store.saveMessages([dm(a, b, older)]);
        expect(await store.maxMessageId(900)).toBeGreaterThanOrEqual(BigInt(sent[2]!.message.messageId));
      });
    });

    describeV11Contract(() => store);

    it('is ready while open', () => {
      expect(store.isReady()).toBe(true);
    });
  });
}
