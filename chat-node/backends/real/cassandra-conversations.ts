/**
 * v1.1 in the Cassandra store: profiles, contacts, group lists, conversation entries, read
 * positions, unread rows and message changes. Nothing here reads history: the conversation list
 * reads a user's activity index and entries, and counts unread rows (at most UNREAD_CAP each).
 *
 *   usernames_by_first ─ first code point ─▶ username ─▶ user_id                  ◀── prefix search
 *   contacts ─────────── user_id ─▶ contact_id;   user_groups ─ user_id ─▶ group_id
 *   user_conversations ─ user_id ─▶ conversation ─▶ activity_id, last_message_id, read_up_to
 *   conversation_activity user_id ─▶ (activity_id DESC, conversation)             ◀── the list, in order
 *   unread ───────────── (user_id, conversation) ─▶ message_id                    ◀── unread counts
 *   read_positions ───── conversation ─▶ user_id ─▶ up_to                          ◀── receipts
 *   messages_by_id ───── message_id ─▶ conversation, sender, recipients            ◀── edit/delete
 *   update_inbox ─────── (user_id, day) ─▶ update_id ─▶ change; user_update_buckets ◀── sync updates
 *
 * Ids only move forward without compare-and-set: activity_id, last_message_id and read_up_to are
 * written USING TIMESTAMP = the id's time in µs, so the cell of the highest id wins whatever the
 * order of the writes (on a tie, the larger value). A message's entry write puts the new activity
 * row first, then the entry, then deletes the old activity row; the list skips an activity row that
 * its entry does not name (and deletes it when it is older), so racing writers never lose an entry.
 * Unread rows at or below the read position are never counted; a read deletes them (one range).
 */
import type cassandra from 'cassandra-driver';
import type { Message, Update } from '../../../common/protocol.ts';
import { UNREAD_CAP } from '../../../common/resources.ts';
import { snowflakeTime } from '../../../common/snowflake.ts';
import type { AddContactResult, ConversationEntry, Envelope, GroupRecord, UserRecord } from '../types.ts';
import { UpdatePage } from '../update-page.ts';
import { bucketOf } from './cassandra-schema.ts';

const WRITE = { prepare: true, isIdempotent: true } as const;
const READ = { prepare: true, isIdempotent: true } as const;
/** Statements in flight at once for one call. */
const CONCURRENCY = 32;
/** Entries read per IN query. */
const IN_CHUNK = 100;

/** The write timestamp (µs) that makes the cell of the highest id win. */
export const idTime = (id: bigint): bigint => BigInt(snowflakeTime(id)) * 1000n;

/**
 * The write timestamp of a change: after its message's (which is written at the message id's
 * time) and after earlier changes (later update ids).
 */
const changeTime = (updateId: bigint): bigint =>
  idTime(updateId) + 1n + (((updateId >> 12n) & 0x3ffn) % 999n);

async function forEachLimit<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function statements(ks: string) {
  const M = 'message_id, conversation, sender, to_user, group_id, text, ts, edited_at, deleted';
  return {
    insertFirst: `INSERT INTO ${ks}.usernames_by_first (first, username, user_id) VALUES (?, ?, ?)`,
    byFirst: `SELECT username, user_id FROM ${ks}.usernames_by_first WHERE first = ? AND username >= ? LIMIT ?`,
    setDisplayName: `UPDATE ${ks}.users SET display_name = ? WHERE user_id = ?`,
    hasContact: `SELECT contact_id FROM ${ks}.contacts WHERE user_id = ? AND contact_id = ?`,
    contactCount: `SELECT count(*) AS n FROM ${ks}.contacts WHERE user_id = ?`,
    addContact: `INSERT INTO ${ks}.contacts (user_id, contact_id) VALUES (?, ?)`,
    removeContact: `DELETE FROM ${ks}.contacts WHERE user_id = ? AND contact_id = ?`,
    contacts: `SELECT contact_id FROM ${ks}.contacts WHERE user_id = ?`,
    addUserGroup: `INSERT INTO ${ks}.user_groups (user_id, group_id) VALUES (?, ?)`,
    removeUserGroup: `DELETE FROM ${ks}.user_groups WHERE user_id = ? AND group_id = ?`,
    userGroups: `SELECT group_id FROM ${ks}.user_groups WHERE user_id = ?`,
    entry: `SELECT * FROM ${ks}.user_conversations WHERE user_id = ? AND conversation = ?`,
    entries: `SELECT * FROM ${ks}.user_conversations WHERE user_id = ? AND conversation IN ?`,
    moveEntry: `UPDATE ${ks}.user_conversations USING TIMESTAMP ? SET activity_id = ?, last_message_id = ?
      WHERE user_id = ? AND conversation = ?`,
    setActivity: `UPDATE ${ks}.user_conversations USING TIMESTAMP ? SET activity_id = ?
      WHERE user_id = ? AND conversation = ?`,
    removeEntry: `DELETE FROM ${ks}.user_conversations WHERE user_id = ? AND conversation = ?`,
    insertActivity: `INSERT INTO ${ks}.conversation_activity (user_id, activity_id, conversation) VALUES (?, ?, ?)`,
    deleteActivity: `DELETE FROM ${ks}.conversation_activity WHERE user_id = ? AND activity_id = ? AND conversation = ?`,
    activityLatest: `SELECT activity_id, conversation FROM ${ks}.conversation_activity WHERE user_id = ? LIMIT ?`,
    activityBefore: `SELECT activity_id, conversation FROM ${ks}.conversation_activity
      WHERE user_id = ? AND activity_id < ? LIMIT ?`,
    insertUnread: `INSERT INTO ${ks}.unread (user_id, conversation, message_id) VALUES (?, ?, ?)`,
    countUnread: `SELECT message_id FROM ${ks}.unread WHERE user_id = ? AND conversation = ? AND message_id > ?
      LIMIT ${UNREAD_CAP}`,
    clearUnread: `DELETE FROM ${ks}.unread WHERE user_id = ? AND conversation = ? AND message_id <= ?`,
    clearAllUnread: `DELETE FROM ${ks}.unread WHERE user_id = ? AND conversation = ?`,
    deleteUnread: `DELETE FROM ${ks}.unread WHERE user_id = ? AND conversation = ? AND message_id = ?`,
    readPosition: `SELECT up_to FROM ${ks}.read_positions WHERE conversation = ? AND user_id = ?`,
    readPositions: `SELECT user_id, up_to FROM ${ks}.read_positions WHERE conversation = ?`,
    setReadPosition: `INSERT INTO ${ks}.read_positions (conversation, user_id, up_to) VALUES (?, ?, ?) USING TIMESTAMP ?`,
    setEntryRead: `UPDATE ${ks}.user_conversations USING TIMESTAMP ? SET read_up_to = ?
      WHERE user_id = ? AND conversation = ?`,
    insertOwner: `INSERT INTO ${ks}.messages_by_id (message_id, conversation, sender, recipients) VALUES (?, ?, ?, ?)`,
    owner: `SELECT conversation, sender, recipients FROM ${ks}.messages_by_id WHERE message_id = ?`,
    message: `SELECT ${M} FROM ${ks}.messages WHERE conversation = ? AND bucket = ? AND message_id = ?`,
    editMessage: `UPDATE ${ks}.messages USING TIMESTAMP ? SET text = ?, edited_at = ?
      WHERE conversation = ? AND bucket = ? AND message_id = ?`,
    deleteMessage: `UPDATE ${ks}.messages USING TIMESTAMP ? SET text = '', deleted = true
      WHERE conversation = ? AND bucket = ? AND message_id = ?`,
    editInbox: `UPDATE ${ks}.inbox USING TIMESTAMP ? SET text = ?, edited_at = ?
      WHERE user_id = ? AND bucket = ? AND message_id = ?`,
    deleteInbox: `UPDATE ${ks}.inbox USING TIMESTAMP ? SET text = '', deleted = true
      WHERE user_id = ? AND bucket = ? AND message_id = ?`,
    insertUpdate: `INSERT INTO ${ks}.update_inbox (user_id, bucket, update_id, message_id, conversation, sender, text,
      deleted, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    insertUpdateBucket: `INSERT INTO ${ks}.user_update_buckets (user_id, bucket) VALUES (?, ?)`,
    updateBuckets: `SELECT bucket FROM ${ks}.user_update_buckets WHERE user_id = ? AND bucket >= ?`,
    updates: `SELECT * FROM ${ks}.update_inbox WHERE user_id = ? AND bucket = ? AND update_id > ? LIMIT ?`,
  };
}

function toUpdate(row: cassandra.types.Row): Update {
  const u: Update = {
    updateId: (row.get('update_id') as bigint).toString(),
    messageId: (row.get('message_id') as bigint).toString(),
    conversation: row.get('conversation'),
    from: row.get('sender'),
    ts: Number(row.get('ts') as bigint),
  };
  if (row.get('deleted') === true) u.deleted = true;
  else u.text = (row.get('text') as string | null) ?? '';
  return u;
}

/** The first code point of a username: the partition of its prefix index. */
const firstOf = (name: string): string => String.fromCodePoint(name.codePointAt(0) ?? 0);

interface EntryRow {
  conversation: string;
  activityId: bigint;
  lastMessageId: bigint;
  readUpTo: bigint;
}

function toEntryRow(row: cassandra.types.Row): EntryRow {
  return {
    conversation: row.get('conversation'),
    activityId: (row.get('activity_id') as bigint | null) ?? 0n,
    lastMessageId: (row.get('last_message_id') as bigint | null) ?? 0n,
    readUpTo: (row.get('read_up_to') as bigint | null) ?? 0n,
  };
}

export class CassandraConversations {
  private readonly client: cassandra.Client;
  private readonly q: ReturnType<typeof statements>;
  private readonly toMessage: (row: cassandra.types.Row) => Message;
  private readonly userById: (userId: string) => Promise<UserRecord | undefined>;

  constructor(
    client: cassandra.Client,
    keyspace: string,
    deps: {
      toMessage: (row: cassandra.types.Row) => Message;
      userById: (userId: string) => Promise<UserRecord | undefined>;
    },
  ) {
    this.client = client;
    this.q = statements(keyspace);
    this.toMessage = deps.toMessage;
    this.userById = deps.userById;
  }

  private run(query: string, params: unknown[], options: cassandra.QueryOptions = READ) {
    return this.client.execute(query, params, options);
  }

  // ---- people ----------------------------------------------------------------------------------

  async userCreated(user: UserRecord): Promise<void> {
    await this.run(this.q.insertFirst, [firstOf(user.username), user.username, user.userId], WRITE);
  }

  async setDisplayName(userId: string, displayName: string): Promise<void> {
    await this.run(this.q.setDisplayName, [displayName, userId], WRITE);
  }

  async usersByPrefix(prefix: string, limit: number): Promise<UserRecord[]> {
    const rs = await this.run(this.q.byFirst, [firstOf(prefix), prefix, limit]);
    const ids: string[] = [];
    for (const r of rs.rows) {
      if (!(r.get('username') as string).startsWith(prefix)) break;
      ids.push(r.get('user_id'));
    }
    const users = await Promise.all(ids.map((id) => this.userById(id)));
    return users.filter((u): u is UserRecord => u !== undefined);
  }

  /** Counted, then written: two concurrent adds at 999 may both pass (the bound is 1000 ± a race). */
  async addContact(userId: string, contactId: string, max: number): Promise<AddContactResult> {
    if ((await this.run(this.q.hasContact, [userId, contactId])).rowLength > 0) return 'already';
    const n = Number((await this.run(this.q.contactCount, [userId])).first()?.get('n') ?? 0);
    if (n >= max) return 'full';
    await this.run(this.q.addContact, [userId, contactId], WRITE);
    return 'added';
  }

  async removeContact(userId: string, contactId: string): Promise<void> {
    await this.run(this.q.removeContact, [userId, contactId], WRITE);
  }

  async contacts(userId: string): Promise<string[]> {
    const rs = await this.run(this.q.contacts, [userId], { ...READ, fetchSize: 5000 });
    return rs.rows.map((r) => r.get('contact_id') as string);
  }

  async groupsOf(userId: string): Promise<string[]> {
    const rs = await this.run(this.q.userGroups, [userId], { ...READ, fetchSize: 5000 });
    return rs.rows.map((r) => r.get('group_id') as string);
  }

  // ---- group membership ------------------------------------------------------------------------

  /** A member's entry from the group's activity (or its latest message, when it has one). */
  async memberJoined(group: GroupRecord, userId: string, latest: bigint): Promise<void> {
    const conversation = `g:${group.groupId}`;
    const activity = BigInt(group.activityId ?? '1');
    const top = latest > activity ? latest : activity;
    await this.run(this.q.addUserGroup, [userId, group.groupId], WRITE);
    await this.run(this.q.insertActivity, [userId, top, conversation], WRITE);
    if (latest > 0n) {
      await this.run(this.q.moveEntry, [idTime(top), top, latest, userId, conversation], WRITE);
    } else {
      await this.run(this.q.setActivity, [idTime(top), top, userId, conversation], WRITE);
    }
  }

  async memberLeft(groupId: string, userId: string): Promise<void> {
    const conversation = `g:${groupId}`;
    const entry = (await this.run(this.q.entry, [userId, conversation])).first();
    await this.run(this.q.removeUserGroup, [userId, groupId], WRITE);
    await this.run(this.q.removeEntry, [userId, conversation], WRITE);
    await this.run(this.q.clearAllUnread, [userId, conversation], WRITE);
    const activity = entry?.get('activity_id') as bigint | null | undefined;
    if (activity) await this.run(this.q.deleteActivity, [userId, activity, conversation], WRITE);
  }

  // ---- messages written ------------------------------------------------------------------------

  /**
   * After saveMessages wrote the messages: their owners (for changes), each recipient's entry and
   * activity, and an unread row per message of another. Idempotent like the rest of the write.
   */
  async messagesSaved(envelopes: readonly Envelope[]): Promise<void> {
    const top = new Map<string, { userId: string; conversation: string; id: bigint; group: boolean }>();
    const unread: unknown[][] = [];
    const owners: unknown[][] = [];
    for (const { message: m, recipients } of envelopes) {
      const id = BigInt(m.messageId);
      const users = [...new Set(recipients)];
      owners.push([id, m.conversation, m.from, users]);
      for (const userId of users) {
        const key = `${userId}|${m.conversation}`;
        const t = top.get(key);
        if (!t || t.id < id)
          top.set(key, { userId, conversation: m.conversation, id, group: m.group !== undefined });
        if (userId !== m.from) unread.push([userId, m.conversation, id]);
      }
    }
    await forEachLimit(owners, (p) => this.run(this.q.insertOwner, p, WRITE));
    await forEachLimit([...top.values()], (t) => this.moveEntry(t.userId, t.conversation, t.id, t.group));
    await forEachLimit(unread, (p) => this.run(this.q.insertUnread, p, WRITE));
  }

  /** New activity row, then the entry (highest id wins), then the old row goes. */
  private async moveEntry(userId: string, conversation: string, id: bigint, group: boolean): Promise<void> {
    const row = (await this.run(this.q.entry, [userId, conversation])).first();
    // A group's entry exists while the user is a member: a message racing a removal makes none.
    if (group && !row) return;
    const previous = (row?.get('activity_id') as bigint | null | undefined) ?? 0n;
    if (previous < id) await this.run(this.q.insertActivity, [userId, id, conversation], WRITE);
    await this.run(this.q.moveEntry, [idTime(id), id, id, userId, conversation], WRITE);
    if (previous > 0n && previous < id) {
      await this.run(this.q.deleteActivity, [userId, previous, conversation], WRITE);
    }
  }

  // ---- the list --------------------------------------------------------------------------------

  private async unreadOf(userId: string, e: EntryRow): Promise<number> {
    if (e.lastMessageId <= e.readUpTo) return 0;
    const rs = await this.run(this.q.countUnread, [userId, e.conversation, e.readUpTo], {
      ...READ,
      fetchSize: UNREAD_CAP,
    });
    return rs.rowLength;
  }

  /** The unread count and the last message, read at once (one round of reads for a whole page). */
  private async withUnread(userId: string, e: EntryRow): Promise<ConversationEntry> {
    const [unread, last] = await Promise.all([
      this.unreadOf(userId, e),
      e.lastMessageId > 0n
        ? this.run(this.q.message, [e.conversation, bucketOf(e.lastMessageId), e.lastMessageId])
        : undefined,
    ]);
    const row = last?.first();
    return row ? { ...e, unread, lastMessage: this.toMessage(row) } : { ...e, unread };
  }

  async conversations(
    userId: string,
    before: bigint | undefined,
    limit: number,
  ): Promise<{ entries: ConversationEntry[]; more: boolean }> {
    const want = limit + 1;
    const fetch = want + 8;
    const found: EntryRow[] = [];
    const seen = new Set<string>();
    let cursor = before;
    for (let round = 0; round < 16 && found.length < want; round++) {
      const rs =
        cursor === undefined
          ? await this.run(this.q.activityLatest, [userId, fetch])
          : await this.run(this.q.activityBefore, [userId, cursor, fetch]);
      if (rs.rowLength === 0) break;
      const rows = rs.rows.map((r) => ({
        activityId: r.get('activity_id') as bigint,
        conversation: r.get('conversation') as string,
      }));
      const entries = await this.entries(userId, [...new Set(rows.map((r) => r.conversation))]);
      for (const r of rows) {
        const e = entries.get(r.conversation);
        if (!e || e.activityId !== r.activityId) {
          // Older than its entry: left behind by racing writers. Newer: its entry is being written.
          if (e && r.activityId < e.activityId) {
            void this.run(this.q.deleteActivity, [userId, r.activityId, r.conversation], WRITE).catch(
              () => {},
            );
          }
          continue;
        }
        if (seen.has(r.conversation)) continue;
        seen.add(r.conversation);
        found.push(e);
        if (found.length >= want) break;
      }
      cursor = rows[rows.length - 1]!.activityId;
      if (rs.rowLength < fetch) break;
    }
    const page = found.slice(0, limit);
    const entries = await Promise.all(page.map((e) => this.withUnread(userId, e)));
    return { entries, more: found.length > limit };
  }

  private async entries(userId: string, conversations: string[]): Promise<Map<string, EntryRow>> {
    const out = new Map<string, EntryRow>();
    await Promise.all(
      chunks(conversations, IN_CHUNK).map(async (part) => {
        const rs = await this.run(this.q.entries, [userId, part], { ...READ, fetchSize: IN_CHUNK });
        for (const row of rs.rows) {
          const e = toEntryRow(row);
          out.set(e.conversation, e);
        }
      }),
    );
    return out;
  }

  async conversationEntry(userId: string, conversation: string): Promise<ConversationEntry | undefined> {
    const row = (await this.run(this.q.entry, [userId, conversation])).first();
    return row ? this.withUnread(userId, toEntryRow(row)) : undefined;
  }

  async messagesByIds(
    refs: readonly { conversation: string; messageId: bigint }[],
  ): Promise<Map<string, Message>> {
    const out = new Map<string, Message>();
    await forEachLimit(refs, async ({ conversation, messageId }) => {
      const row = (await this.run(this.q.message, [conversation, bucketOf(messageId), messageId])).first();
      if (row) out.set(messageId.toString(), this.toMessage(row));
    });
    return out;
  }

  // ---- reads and receipts ----------------------------------------------------------------------

  /** Moved when it was below; two devices racing may both say so (a receipt may repeat). */
  async setReadPosition(userId: string, conversation: string, upTo: bigint): Promise<boolean> {
    const current = (await this.run(this.q.readPosition, [conversation, userId])).first()?.get('up_to') as
      | bigint
      | null
      | undefined;
    if (current !== null && current !== undefined && current >= upTo) return false;
    const ts = idTime(upTo);
    await Promise.all([
      this.run(this.q.setReadPosition, [conversation, userId, upTo, ts], WRITE),
      this.run(this.q.setEntryRead, [ts, upTo, userId, conversation], WRITE),
    ]);
    await this.run(this.q.clearUnread, [userId, conversation, upTo], WRITE);
    return true;
  }

  async readPositions(conversation: string, userIds: readonly string[]): Promise<Map<string, bigint>> {
    const rs = await this.run(this.q.readPositions, [conversation], { ...READ, fetchSize: 5000 });
    const all = new Map(rs.rows.map((r) => [r.get('user_id') as string, r.get('up_to') as bigint]));
    return new Map(userIds.map((u) => [u, all.get(u) ?? 0n]));
  }

  // ---- changes ---------------------------------------------------------------------------------

  async messageById(messageId: bigint): Promise<Message | undefined> {
    const owner = (await this.run(this.q.owner, [messageId])).first();
    if (!owner) return undefined;
    const conversation = owner.get('conversation') as string;
    const row = (await this.run(this.q.message, [conversation, bucketOf(messageId), messageId])).first();
    return row ? this.toMessage(row) : undefined;
  }

  /** The message, every stored copy of it, then the participants' update rows (day index first). */
  async saveUpdate(u: Update, participants: readonly string[]): Promise<void> {
    const messageId = BigInt(u.messageId);
    const updateId = BigInt(u.updateId);
    const owner = (await this.run(this.q.owner, [messageId])).first();
    const recipients = [...((owner?.get('recipients') as string[] | null) ?? [])];
    const bucket = bucketOf(messageId);
    const ts = changeTime(updateId);
    const at = BigInt(u.ts);
    const copies: [string, unknown[]][] = [
      u.deleted
        ? [this.q.deleteMessage, [ts, u.conversation, bucket, messageId]]
        : [this.q.editMessage, [ts, u.text ?? '', at, u.conversation, bucket, messageId]],
      ...recipients.map((r): [string, unknown[]] =>
        u.deleted
          ? [this.q.deleteInbox, [ts, r, bucket, messageId]]
          : [this.q.editInbox, [ts, u.text ?? '', at, r, bucket, messageId]],
      ),
    ];
    await forEachLimit(copies, ([q, p]) => this.run(q, p, WRITE));
    const day = bucketOf(updateId);
    const users = [...new Set(participants)];
    await forEachLimit(users, (p) => this.run(this.q.insertUpdateBucket, [p, day], WRITE));
    const text = u.deleted ? undefined : (u.text ?? '');
    await forEachLimit(users, async (p) => {
      await this.run(
        this.q.insertUpdate,
        [p, day, updateId, messageId, u.conversation, u.from, text, u.deleted === true, at],
        WRITE,
      );
      if (u.deleted) await this.run(this.q.deleteUnread, [p, u.conversation, messageId], WRITE);
    });
  }

  async updatesSince(userId: string, since: bigint, limit: number, maxBytes: number) {
    const page = new UpdatePage(limit, maxBytes);
    const index = await this.run(this.q.updateBuckets, [userId, bucketOf(since)]);
    for (const r of index.rows) {
      const params = [userId, r.get('bucket') as number, since, limit + 1];
      // Small driver pages: rows past the page's bytes are never fetched.
      let pageState: string | undefined;
      do {
        const rs = await this.client.execute(this.q.updates, params, { ...READ, fetchSize: 16, pageState });
        for (const row of rs.rows) if (!page.add(toUpdate(row))) return { updates: page.updates, more: true };
        pageState = rs.pageState ?? undefined;
      } while (pageState);
    }
    return { updates: page.updates, more: page.more };
  }
}
