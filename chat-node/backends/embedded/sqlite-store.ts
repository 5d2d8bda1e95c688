/**
 * The embedded store: users, groups, messages and read cursors in one SQLite file (node:sqlite, no
 * native addon). WAL with synchronous=FULL: a committed transaction survives a process or machine
 * crash. Messages are written by a worker thread (sqlite-writer.ts) that commits whatever arrived
 * during the previous fsync in one transaction; everything else runs on this connection.
 */
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { ChatError } from '../../../common/errors.ts';
import type { Message, Update } from '../../../common/protocol.ts';
import { usernameKey } from '../../../common/usernames.ts';
import { PAGE_MAX_BYTES, PageBuilder } from '../page.ts';
import type {
  AddContactResult,
  AddMemberResult,
  ConversationEntry,
  Envelope,
  GroupRecord,
  PushRegistration,
  Store,
  UserRecord,
} from '../types.ts';
import { makePrivate, privateDir } from './private-files.ts';
import { MIGRATION_V11, SqliteConversations } from './sqlite-conversations.ts';
import { MIGRATION_PUSH_TOKENS, SqlitePushTokens } from './sqlite-push-tokens.ts';
import { CONNECTION_PRAGMAS, indexer, SqliteWriter } from './sqlite-writer.ts';

/** SQL, or a function for what SQL alone cannot compute (username keys). */
type Migration = string | ((db: DatabaseSync) => void);

const MIGRATIONS: Migration[] = [
  `CREATE TABLE users (
     user_id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE groups (
     group_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_by TEXT NOT NULL, created_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE group_members (
     group_id TEXT NOT NULL, user_id TEXT NOT NULL, joined_at INTEGER NOT NULL, PRIMARY KEY (group_id, user_id)
   ) WITHOUT ROWID;
   CREATE TABLE messages (
     message_id INTEGER PRIMARY KEY, conversation TEXT NOT NULL, sender TEXT NOT NULL,
     to_user TEXT, group_id TEXT, text TEXT NOT NULL, ts INTEGER NOT NULL, dedup_key TEXT UNIQUE
   );
   CREATE INDEX messages_by_conversation ON messages (conversation, message_id);
   CREATE TABLE inbox (user_id TEXT NOT NULL, message_id INTEGER NOT NULL, PRIMARY KEY (user_id, message_id)) WITHOUT ROWID;
   CREATE TABLE read_cursors (
     user_id TEXT NOT NULL, device_id TEXT NOT NULL, conversation TEXT NOT NULL, up_to INTEGER NOT NULL,
     PRIMARY KEY (user_id, device_id, conversation)
   ) WITHOUT ROWID;`,
  // Usernames compared by their canonical key (common/usernames.ts); look-alikes created before this
  // migration keep working under a key made unique with their user id.
  (db) => {
    db.exec('ALTER TABLE users ADD COLUMN username_key TEXT');
    const rows = db.prepare('SELECT user_id, username FROM users ORDER BY created_at, user_id').all() as {
      user_id: string;
      username: string;
    }[];
    const set = db.prepare('UPDATE users SET username_key = ? WHERE user_id = ?');
    const seen = new Set<string>();
    for (const r of rows) {
      let key = usernameKey(r.username);
      if (seen.has(key)) key = `${key}\u0000${r.user_id}`;
      seen.add(key);
      set.run(key, r.user_id);
    }
    db.exec('CREATE UNIQUE INDEX users_by_key ON users (username_key)');
  },
  // Token revocations: device_id '*' stands for every device (device ids never contain '*').
  `CREATE TABLE token_cutoffs (
     user_id TEXT NOT NULL, device_id TEXT NOT NULL, cutoff INTEGER NOT NULL, PRIMARY KEY (user_id, device_id)
   ) WITHOUT ROWID;`,
  MIGRATION_V11,
  MIGRATION_PUSH_TOKENS,
  // Messages committed whose inbox, conversation entry and unread rows are not written yet
  // (sqlite-writer.ts: the writer indexes them in a later transaction).
  'CREATE TABLE unindexed (message_id INTEGER PRIMARY KEY, recipients TEXT NOT NULL);',
];

/** The device id under which a revocation of every device of a user is kept. */
const ALL_DEVICES = '*';

interface MessageRow {
  message_id: bigint;
  conversation: string;
  sender: string;
  to_user: string | null;
  group_id: string | null;
  text: string;
  ts: bigint;
  edited_at?: bigint | null;
  deleted?: bigint | null;
}

function toMessage(row: MessageRow): Message {
  const m: Message = {
    messageId: row.message_id.toString(),
    conversation: row.conversation,
    from: row.sender,
    text: row.text,
    ts: Number(row.ts),
  };
  if (row.to_user !== null) m.to = row.to_user;
  if (row.group_id !== null) m.group = row.group_id;
  if (row.edited_at !== null && row.edited_at !== undefined) m.editedAt = Number(row.edited_at);
  if (row.deleted) {
    m.deleted = true;
    m.text = '';
  }
  return m;
}

interface UserRow {
  user_id: string;
  username: string;
  password_hash: string;
  created_at: bigint;
  display_name?: string | null;
}

function toUser(row: UserRow | undefined): UserRecord | undefined {
  if (!row) return undefined;
  const user: UserRecord = {
    userId: row.user_id,
    username: row.username,
    passwordHash: row.password_hash,
    createdAt: Number(row.created_at),
  };
  if (row.display_name !== null && row.display_name !== undefined) user.displayName = row.display_name;
  return user;
}

/** Adds rows to the page until it is full; leaving the loop ends the statement's iteration. */
function fill(page: PageBuilder, rows: Iterator<unknown>): void {
  for (const row of rows as unknown as Iterable<MessageRow>) if (!page.add(toMessage(row))) break;
}

export class SqliteStore implements Store {
  private readonly db: DatabaseSync;
  private readonly stmts: Record<string, StatementSync>;
  private readonly writer: SqliteWriter;
  /** v1.1: profiles, contacts, conversation entries, receipts, changes (sqlite-conversations.ts). */
  private readonly v11: SqliteConversations;
  /** Devices' push registrations (sqlite-push-tokens.ts). */
  private readonly pushTokensOf: SqlitePushTokens;
  private closed = false;

  /** Opens (creating if needed) `<dataDir>/chat.db` and runs pending migrations. */
  constructor(dataDir: string) {
    privateDir(dataDir);
    const file = join(dataDir, 'chat.db');
    // SQLite gives the -wal and -shm files the mode of the database file: 0600 before it opens.
    makePrivate(file, { create: true });
    this.db = new DatabaseSync(file);
    this.db.exec(CONNECTION_PRAGMAS);
    for (const f of [`${file}-wal`, `${file}-shm`]) makePrivate(f);
    this.migrate();
    // What a crash left unindexed (messages committed, their inbox rows not yet): written before
    // the first read.
    indexer(this.db)();
    this.writer = new SqliteWriter(join(dataDir, 'chat.db'));
    const p = (sql: string) => {
      const s = this.db.prepare(sql);
      s.setReadBigInts(true);
      return s;
    };
    this.stmts = {
      insertUser: p(
        'INSERT INTO users (user_id, username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      userByKey: p('SELECT * FROM users WHERE username_key = ?'),
      userById: p('SELECT * FROM users WHERE user_id = ?'),
      userExists: p('SELECT 1 FROM users WHERE user_id = ?'),
      setPassword: p('UPDATE users SET password_hash = ? WHERE user_id = ?'),
      revoke: p(
        `INSERT INTO token_cutoffs (user_id, device_id, cutoff) VALUES (?, ?, ?)
         ON CONFLICT (user_id, device_id) DO UPDATE SET cutoff = max(cutoff, excluded.cutoff)`,
      ),
      cutoff: p(
        "SELECT max(cutoff) AS cutoff FROM token_cutoffs WHERE user_id = ? AND device_id IN ('*', ?)",
      ),
      insertGroup: p('INSERT INTO groups (group_id, name, created_by, created_at) VALUES (?, ?, ?, ?)'),
      insertMember: p('INSERT OR IGNORE INTO group_members (group_id, user_id, joined_at) VALUES (?, ?, ?)'),
      group: p('SELECT * FROM groups WHERE group_id = ?'),
      members: p('SELECT user_id FROM group_members WHERE group_id = ? ORDER BY joined_at, user_id'),
      isMember: p('SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?'),
      memberCount: p('SELECT count(*) AS n FROM group_members WHERE group_id = ?'),
      removeMember: p('DELETE FROM group_members WHERE group_id = ? AND user_id = ?'),
      byDedup: p('SELECT * FROM messages WHERE dedup_key = ?'),
      sync: p(
        `SELECT m.* FROM inbox i JOIN messages m ON m.message_id = i.message_id
         WHERE i.user_id = ? AND i.message_id > ? ORDER BY i.message_id LIMIT ?`,
      ),
      historyBefore: p(
        'SELECT * FROM messages WHERE conversation = ? AND message_id < ? ORDER BY message_id DESC LIMIT ?',
      ),
      historyLatest: p('SELECT * FROM messages WHERE conversation = ? ORDER BY message_id DESC LIMIT ?'),
      setCursor: p(
        `INSERT INTO read_cursors (user_id, device_id, conversation, up_to) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, device_id, conversation) DO UPDATE SET up_to = excluded.up_to
         WHERE excluded.up_to > read_cursors.up_to`,
      ),
      // One embedded node writes this file: the highest id overall is its floor (a primary-key lookup).
      maxId: p('SELECT max(message_id) AS id FROM messages'),
      insertUserV11: p(
        `INSERT INTO users (user_id, username, username_key, password_hash, created_at, display_name)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      setGroupActivity: p('UPDATE groups SET activity_id = ? WHERE group_id = ?'),
    };
    this.pushTokensOf = new SqlitePushTokens(this.db);
    this.v11 = new SqliteConversations(this.db, {
      toMessage: toMessage as (row: never) => Message,
      toUser: toUser as (row: never) => UserRecord | undefined,
    });
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = this.db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null };
    const current = row.v ?? 0;
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.transaction(() => {
        const m = MIGRATIONS[v]!;
        if (typeof m === 'string') this.db.exec(m);
        else m(this.db);
        this.db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(v + 1);
      });
    }
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

  async createUser(user: UserRecord): Promise<void> {
    try {
      this.stmts.insertUserV11!.run(
        user.userId,
        user.username,
        usernameKey(user.username),
        user.passwordHash,
        user.createdAt,
        user.displayName ?? null,
      );
    } catch (err) {
      if ((err as { errcode?: number }).errcode === 2067 /* SQLITE_CONSTRAINT_UNIQUE */) {
        throw new ChatError('username_taken', 'that username is taken');
      }
      throw err;
    }
  }

  async userByUsername(username: string): Promise<UserRecord | undefined> {
    return toUser(this.stmts.userByKey!.get(usernameKey(username)) as UserRow | undefined);
  }

  async userById(userId: string): Promise<UserRecord | undefined> {
    return toUser(this.stmts.userById!.get(userId) as UserRow | undefined);
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    this.stmts.setPassword!.run(passwordHash, userId);
  }

  setPushToken(registration: PushRegistration): Promise<void> {
    return this.pushTokensOf.setPushToken(registration);
  }

  removePushToken(userId: string, deviceId: string, token?: string): Promise<void> {
    return this.pushTokensOf.removePushToken(userId, deviceId, token);
  }

  pushTokens(userId: string, limit: number): Promise<PushRegistration[]> {
    return this.pushTokensOf.pushTokens(userId, limit);
  }

  async revokeTokens(userId: string, deviceId: string | undefined, cutoff: number): Promise<void> {
    this.stmts.revoke!.run(userId, deviceId ?? ALL_DEVICES, cutoff);
  }

  async tokenCutoff(userId: string, deviceId: string): Promise<number | undefined> {
    if (this.stmts.userExists!.get(userId) === undefined) return undefined;
    const row = this.stmts.cutoff!.get(userId, deviceId) as { cutoff: bigint | null };
    return Number(row.cutoff ?? 0n);
  }

  async existingUsers(userIds: readonly string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.stmts.userExists!.get(id) !== undefined));
  }

  async createGroup(group: GroupRecord): Promise<void> {
    this.transaction(() => {
      this.stmts.insertGroup!.run(group.groupId, group.name, group.createdBy, group.createdAt);
      const activity = BigInt(group.activityId ?? '1');
      if (group.activityId !== undefined) this.stmts.setGroupActivity!.run(activity, group.groupId);
      for (const userId of group.members) {
        this.stmts.insertMember!.run(group.groupId, userId, group.createdAt);
        this.v11.addGroupEntry(userId, `g:${group.groupId}`, activity);
      }
    });
  }

  async group(groupId: string): Promise<GroupRecord | undefined> {
    const row = this.stmts.group!.get(groupId) as
      | { group_id: string; name: string; created_by: string; created_at: bigint; activity_id: bigint | null }
      | undefined;
    if (!row) return undefined;
    const members = (this.stmts.members!.all(groupId) as { user_id: string }[]).map((r) => r.user_id);
    const group: GroupRecord = {
      groupId: row.group_id,
      name: row.name,
      createdBy: row.created_by,
      createdAt: Number(row.created_at),
      members,
    };
    if (row.activity_id !== null) group.activityId = row.activity_id.toString();
    return group;
  }

  async addMember(
    groupId: string,
    userId: string,
    maxMembers: number,
    now: number,
  ): Promise<AddMemberResult> {
    return this.transaction(() => {
      if (this.stmts.group!.get(groupId) === undefined) return 'no_group';
      if (this.stmts.isMember!.get(groupId, userId) !== undefined) return 'already_member';
      const { n } = this.stmts.memberCount!.get(groupId) as { n: bigint };
      if (n >= BigInt(maxMembers)) return 'full';
      this.stmts.insertMember!.run(groupId, userId, now);
      const g = this.stmts.group!.get(groupId) as { activity_id: bigint | null };
      this.v11.addGroupEntry(userId, `g:${groupId}`, g.activity_id ?? 1n);
      return 'added';
    });
  }

  async removeMember(groupId: string, userId: string): Promise<void> {
    await this.writer.indexed();
    this.transaction(() => {
      this.stmts.removeMember!.run(groupId, userId);
      this.v11.removeGroupEntry(userId, `g:${groupId}`);
    });
  }

  // ---- v1.1 (sqlite-conversations.ts) ----------------------------------------------------------
  // What reads or changes inbox rows, conversation entries or unread rows first waits for the
  // writer to have indexed the messages saved before it (sqlite-writer.ts).

  async setDisplayName(userId: string, displayName: string): Promise<void> {
    this.v11.setDisplayName(userId, displayName);
  }
  async usersByPrefix(prefix: string, limit: number): Promise<UserRecord[]> {
    return this.v11.usersByPrefix(prefix, limit);
  }
  async addContact(userId: string, contactId: string, max: number): Promise<AddContactResult> {
    return this.v11.addContact(userId, contactId, max);
  }
  async removeContact(userId: string, contactId: string): Promise<void> {
    this.v11.removeContact(userId, contactId);
  }
  async contacts(userId: string): Promise<string[]> {
    return this.v11.contacts(userId);
  }
  async groupsOf(userId: string): Promise<string[]> {
    return this.v11.groupsOf(userId);
  }
  async renameGroup(groupId: string, name: string): Promise<void> {
    this.v11.renameGroup(groupId, name);
  }
  async conversations(userId: string, before: bigint | undefined, limit: number) {
    await this.writer.indexed();
    return this.v11.conversations(userId, before, limit);
  }
  async conversationEntry(userId: string, conversation: string): Promise<ConversationEntry | undefined> {
    await this.writer.indexed();
    return this.v11.conversationEntry(userId, conversation);
  }
  async messagesByIds(refs: readonly { conversation: string; messageId: bigint }[]) {
    const out = new Map<string, Message>();
    for (const r of refs) {
      const m = this.v11.messageById(r.messageId);
      if (m && m.conversation === r.conversation) out.set(m.messageId, m);
    }
    return out;
  }
  async setReadPosition(userId: string, conversation: string, upTo: bigint): Promise<boolean> {
    await this.writer.indexed();
    return this.v11.setReadPosition(userId, conversation, upTo);
  }
  async readPositions(conversation: string, userIds: readonly string[]): Promise<Map<string, bigint>> {
    await this.writer.indexed();
    return this.v11.readPositions(conversation, userIds);
  }
  async messageById(messageId: bigint): Promise<Message | undefined> {
    return this.v11.messageById(messageId);
  }
  async saveUpdate(update: Update, participants: readonly string[]): Promise<void> {
    await this.writer.indexed();
    this.v11.saveUpdate(update, participants);
  }
  async updatesSince(userId: string, since: bigint, limit: number, maxBytes = PAGE_MAX_BYTES) {
    return this.v11.updatesSince(userId, since, limit, maxBytes);
  }

  /** Committed by the writer thread (sqlite-writer.ts): the event loop goes on during the fsync. */
  async saveMessages(envelopes: readonly Envelope[]): Promise<readonly boolean[]> {
    if (this.closed) throw new Error('store is closed');
    return this.writer.save(envelopes);
  }

  async messageByDedupKey(dedupKey: string): Promise<Message | undefined> {
    const row = this.stmts.byDedup!.get(dedupKey) as MessageRow | undefined;
    return row ? toMessage(row) : undefined;
  }

  /** Rows are read one at a time and reading stops at the first that does not fit the page. */
  async sync(
    userId: string,
    since: bigint,
    limit: number,
    maxBytes?: number,
  ): Promise<{ messages: Message[]; more: boolean }> {
    await this.writer.indexed();
    const page = new PageBuilder(limit, maxBytes);
    fill(page, this.stmts.sync!.iterate(userId, since, limit + 1));
    return { messages: page.messages, more: page.more };
  }

  async history(
    conversation: string,
    before: bigint | undefined,
    limit: number,
    maxBytes?: number,
  ): Promise<Message[]> {
    const page = new PageBuilder(limit, maxBytes);
    fill(
      page,
      before === undefined
        ? this.stmts.historyLatest!.iterate(conversation, limit)
        : this.stmts.historyBefore!.iterate(conversation, before, limit),
    );
    return page.messages;
  }

  async setReadCursor(
    userId: string,
    deviceId: string,
    conversation: string,
    upTo: bigint,
  ): Promise<boolean> {
    return this.stmts.setCursor!.run(userId, deviceId, conversation, upTo).changes > 0;
  }

  async maxMessageId(_nodeId: number): Promise<bigint> {
    const row = this.stmts.maxId!.get() as { id: bigint | null };
    return row.id ?? 0n;
  }

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.close();
    this.db.close();
  }
}
