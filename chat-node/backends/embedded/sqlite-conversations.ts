/**
 * v1.1 in the embedded store: profiles, contacts, conversation entries, read positions, unread rows
 * and message changes. The conversation list reads `conversation_entries` (one row per user and
 * conversation, by activity) and counts `unread` rows (one per message of others not yet read, at
 * most UNREAD_CAP read): it never reads history. Message writes keep both up to date
 * (sqlite-writer.ts), reads delete the unread rows they cover, deletes remove their message's.
 *
 *   conversation_entries (user_id, conversation) ─▶ activity_id, last_message_id, read_up_to
 *       index (user_id, activity_id)                               ◀── GET /v1/conversations
 *   unread (user_id, conversation, message_id)                     ◀── unread counts (≤ 1000 read)
 *   updates (update_id) ─▶ change;  update_inbox (user_id, update_id)   ◀── sync's updates
 *   contacts (user_id, contact_id)
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Message, Update } from '../../../common/protocol.ts';
import { UNREAD_CAP } from '../../../common/resources.ts';
import type { AddContactResult, ConversationEntry, UserRecord } from '../types.ts';
import { UpdatePage } from '../update-page.ts';

/** The v1.1 schema, with what older data needs to show in the conversation list at once. */
export const MIGRATION_V11 = `
  ALTER TABLE users ADD COLUMN display_name TEXT;
  ALTER TABLE groups ADD COLUMN activity_id INTEGER;
  ALTER TABLE messages ADD COLUMN edited_at INTEGER;
  ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX group_members_by_user ON group_members (user_id, group_id);
  CREATE TABLE contacts (
    user_id TEXT NOT NULL, contact_id TEXT NOT NULL, PRIMARY KEY (user_id, contact_id)
  ) WITHOUT ROWID;
  CREATE TABLE conversation_entries (
    user_id TEXT NOT NULL, conversation TEXT NOT NULL, activity_id INTEGER NOT NULL DEFAULT 0,
    last_message_id INTEGER NOT NULL DEFAULT 0, read_up_to INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, conversation)
  ) WITHOUT ROWID;
  CREATE INDEX conversation_entries_by_activity ON conversation_entries (user_id, activity_id);
  CREATE TABLE unread (
    user_id TEXT NOT NULL, conversation TEXT NOT NULL, message_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation, message_id)
  ) WITHOUT ROWID;
  CREATE TABLE updates (
    update_id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL, conversation TEXT NOT NULL,
    sender TEXT NOT NULL, text TEXT, deleted INTEGER NOT NULL, ts INTEGER NOT NULL
  );
  CREATE TABLE update_inbox (
    user_id TEXT NOT NULL, update_id INTEGER NOT NULL, PRIMARY KEY (user_id, update_id)
  ) WITHOUT ROWID;
  INSERT INTO conversation_entries (user_id, conversation, activity_id, last_message_id)
    SELECT i.user_id, m.conversation, max(m.message_id), max(m.message_id)
    FROM inbox i JOIN messages m ON m.message_id = i.message_id GROUP BY i.user_id, m.conversation;
  INSERT OR IGNORE INTO conversation_entries (user_id, conversation, activity_id)
    SELECT user_id, 'g:' || group_id, 1 FROM group_members;
  UPDATE conversation_entries SET read_up_to = coalesce((SELECT max(up_to) FROM read_cursors c
    WHERE c.user_id = conversation_entries.user_id AND c.conversation = conversation_entries.conversation), 0);
  INSERT INTO unread (user_id, conversation, message_id)
    SELECT i.user_id, m.conversation, m.message_id FROM inbox i
    JOIN messages m ON m.message_id = i.message_id
    JOIN conversation_entries e ON e.user_id = i.user_id AND e.conversation = m.conversation
    WHERE m.sender <> i.user_id AND m.message_id > e.read_up_to;
`;

interface EntryRow {
  conversation: string;
  activity_id: bigint;
  last_message_id: bigint;
  read_up_to: bigint;
}

interface UpdateRow {
  update_id: bigint;
  message_id: bigint;
  conversation: string;
  sender: string;
  text: string | null;
  deleted: bigint;
  ts: bigint;
}

export function toUpdate(r: UpdateRow): Update {
  const u: Update = {
    updateId: r.update_id.toString(),
    messageId: r.message_id.toString(),
    conversation: r.conversation,
    from: r.sender,
    ts: Number(r.ts),
  };
  if (r.deleted) u.deleted = true;
  else u.text = r.text ?? '';
  return u;
}

export class SqliteConversations {
  private readonly db: DatabaseSync;
  private readonly s: Record<string, StatementSync>;
  private readonly toMessage: (row: never) => Message;
  private readonly toUser: (row: never) => UserRecord | undefined;

  constructor(
    db: DatabaseSync,
    convert: { toMessage: (row: never) => Message; toUser: (row: never) => UserRecord | undefined },
  ) {
    this.db = db;
    this.toMessage = convert.toMessage;
    this.toUser = convert.toUser;
    const p = (sql: string) => {
      const st = db.prepare(sql);
      st.setReadBigInts(true);
      return st;
    };
    this.s = {
      setDisplayName: p('UPDATE users SET display_name = ? WHERE user_id = ?'),
      usersFrom: p('SELECT * FROM users WHERE username >= ? ORDER BY username'),
      addContact: p('INSERT OR IGNORE INTO contacts (user_id, contact_id) VALUES (?, ?)'),
      hasContact: p('SELECT 1 FROM contacts WHERE user_id = ? AND contact_id = ?'),
      contactCount: p('SELECT count(*) AS n FROM contacts WHERE user_id = ?'),
      removeContact: p('DELETE FROM contacts WHERE user_id = ? AND contact_id = ?'),
      contacts: p('SELECT contact_id FROM contacts WHERE user_id = ?'),
      groupsOf: p('SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id'),
      rename: p('UPDATE groups SET name = ? WHERE group_id = ?'),
      entriesLatest: p(
        `SELECT * FROM conversation_entries WHERE user_id = ? AND activity_id > 0
         ORDER BY activity_id DESC LIMIT ?`,
      ),
      entriesBefore: p(
        `SELECT * FROM conversation_entries WHERE user_id = ? AND activity_id > 0 AND activity_id < ?
         ORDER BY activity_id DESC LIMIT ?`,
      ),
      entry: p('SELECT * FROM conversation_entries WHERE user_id = ? AND conversation = ?'),
      unread: p(
        `SELECT count(*) AS n FROM (SELECT 1 FROM unread
         WHERE user_id = ? AND conversation = ? AND message_id > ? LIMIT ${UNREAD_CAP})`,
      ),
      message: p('SELECT * FROM messages WHERE message_id = ?'),
      moveRead: p(
        `INSERT INTO conversation_entries (user_id, conversation, read_up_to) VALUES (?, ?, ?)
         ON CONFLICT (user_id, conversation) DO UPDATE SET read_up_to = excluded.read_up_to
         WHERE excluded.read_up_to > conversation_entries.read_up_to`,
      ),
      clearUnread: p('DELETE FROM unread WHERE user_id = ? AND conversation = ? AND message_id <= ?'),
      readPosition: p('SELECT read_up_to FROM conversation_entries WHERE user_id = ? AND conversation = ?'),
      addEntry: p(
        `INSERT INTO conversation_entries (user_id, conversation, activity_id, last_message_id)
         VALUES (?, ?, ?, coalesce((SELECT max(message_id) FROM messages WHERE conversation = ?), 0))
         ON CONFLICT (user_id, conversation) DO UPDATE SET activity_id = max(activity_id, excluded.activity_id),
         last_message_id = max(last_message_id, excluded.last_message_id)`,
      ),
      removeEntry: p('DELETE FROM conversation_entries WHERE user_id = ? AND conversation = ?'),
      removeUnreadOf: p('DELETE FROM unread WHERE user_id = ? AND conversation = ?'),
      editMessage: p('UPDATE messages SET text = ?, edited_at = ? WHERE message_id = ? AND deleted = 0'),
      deleteMessage: p("UPDATE messages SET text = '', deleted = 1 WHERE message_id = ?"),
      insertUpdate: p(
        `INSERT OR IGNORE INTO updates (update_id, message_id, conversation, sender, text, deleted, ts)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertUpdateInbox: p('INSERT OR IGNORE INTO update_inbox (user_id, update_id) VALUES (?, ?)'),
      unreadOne: p('DELETE FROM unread WHERE user_id = ? AND conversation = ? AND message_id = ?'),
      updatesSince: p(
        `SELECT u.* FROM update_inbox i JOIN updates u ON u.update_id = i.update_id
         WHERE i.user_id = ? AND i.update_id > ? ORDER BY i.update_id LIMIT ?`,
      ),
    };
  }

  private transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  setDisplayName(userId: string, displayName: string): void {
    this.s.setDisplayName!.run(displayName, userId);
  }

  /** An index range from the prefix on; the first name that does not start with it ends the range. */
  usersByPrefix(prefix: string, limit: number): UserRecord[] {
    const out: UserRecord[] = [];
    for (const row of this.s.usersFrom!.iterate(prefix) as Iterable<{ username: string }>) {
      if (!row.username.startsWith(prefix) || out.length >= limit) break;
      out.push(this.toUser(row as never)!);
    }
    return out;
  }

  addContact(userId: string, contactId: string, max: number): AddContactResult {
    return this.transaction(() => {
      if (this.s.hasContact!.get(userId, contactId) !== undefined) return 'already';
      const { n } = this.s.contactCount!.get(userId) as { n: bigint };
      if (n >= BigInt(max)) return 'full';
      this.s.addContact!.run(userId, contactId);
      return 'added';
    });
  }

  removeContact(userId: string, contactId: string): void {
    this.s.removeContact!.run(userId, contactId);
  }

  contacts(userId: string): string[] {
    return (this.s.contacts!.all(userId) as { contact_id: string }[]).map((r) => r.contact_id);
  }

  groupsOf(userId: string): string[] {
    return (this.s.groupsOf!.all(userId) as { group_id: string }[]).map((r) => r.group_id);
  }

  renameGroup(groupId: string, name: string): void {
    this.s.rename!.run(name, groupId);
  }

  /** A member's entry from the group's creation or its joining on (its latest message, if any). */
  addGroupEntry(userId: string, conversation: string, activityId: bigint): void {
    this.s.addEntry!.run(userId, conversation, activityId, conversation);
  }

  /** A member who left: no entry, no unread rows. */
  removeGroupEntry(userId: string, conversation: string): void {
    this.s.removeEntry!.run(userId, conversation);
    this.s.removeUnreadOf!.run(userId, conversation);
  }

  private toEntry(userId: string, r: EntryRow): ConversationEntry {
    const unread =
      r.last_message_id > r.read_up_to
        ? Number((this.s.unread!.get(userId, r.conversation, r.read_up_to) as { n: bigint }).n)
        : 0;
    return {
      conversation: r.conversation,
      activityId: r.activity_id,
      lastMessageId: r.last_message_id,
      readUpTo: r.read_up_to,
      unread,
    };
  }

  conversations(
    userId: string,
    before: bigint | undefined,
    limit: number,
  ): { entries: ConversationEntry[]; more: boolean } {
    const rows = (before === undefined
      ? this.s.entriesLatest!.all(userId, limit + 1)
      : this.s.entriesBefore!.all(userId, before, limit + 1)) as unknown as EntryRow[];
    return { entries: rows.slice(0, limit).map((r) => this.toEntry(userId, r)), more: rows.length > limit };
  }

  conversationEntry(userId: string, conversation: string): ConversationEntry | undefined {
    const row = this.s.entry!.get(userId, conversation) as EntryRow | undefined;
    return row ? this.toEntry(userId, row) : undefined;
  }

  messageById(messageId: bigint): Message | undefined {
    const row = this.s.message!.get(messageId);
    return row ? this.toMessage(row as never) : undefined;
  }

  setReadPosition(userId: string, conversation: string, upTo: bigint): boolean {
    return this.transaction(() => {
      const moved = this.s.moveRead!.run(userId, conversation, upTo).changes > 0;
      if (moved) this.s.clearUnread!.run(userId, conversation, upTo);
      return moved;
    });
  }

  readPositions(conversation: string, userIds: readonly string[]): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const u of userIds) {
      const row = this.s.readPosition!.get(u, conversation) as { read_up_to: bigint } | undefined;
      out.set(u, row?.read_up_to ?? 0n);
    }
    return out;
  }

  saveUpdate(u: Update, participants: readonly string[]): void {
    const id = BigInt(u.updateId);
    const messageId = BigInt(u.messageId);
    this.transaction(() => {
      if (u.deleted) this.s.deleteMessage!.run(messageId);
      else this.s.editMessage!.run(u.text ?? '', u.ts, messageId);
      this.s.insertUpdate!.run(
        id,
        messageId,
        u.conversation,
        u.from,
        u.deleted ? null : (u.text ?? ''),
        u.deleted ? 1 : 0,
        u.ts,
      );
      for (const p of participants) {
        this.s.insertUpdateInbox!.run(p, id);
        if (u.deleted) this.s.unreadOne!.run(p, u.conversation, messageId);
      }
    });
  }

  updatesSince(userId: string, since: bigint, limit: number, maxBytes: number) {
    const page = new UpdatePage(limit, maxBytes);
    for (const row of this.s.updatesSince!.iterate(userId, since, limit + 1) as Iterable<UpdateRow>) {
      if (!page.add(toUpdate(row))) break;
    }
    return { updates: page.updates, more: page.more };
  }
}
