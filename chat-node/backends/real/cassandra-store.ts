/**
 * The production store: Apache Cassandra. Every partition stays bounded as time goes on: messages and
 * inboxes are split by UTC day (`bucket`, BUCKET_MS in cassandra-schema.ts), and two small index
 * partitions (one row per active day) name the non-empty days so that reads never walk empty ones.
 *
 *   users ──────────── user_id ──▶ record            users_by_key ─── username key ──▶ record (LWT: unique)
 *   token_cutoffs ───── user_id ─▶ device_id ('*': all) ─▶ cutoff      users_by_name: older accounts' logins
 *   groups ─────────── group_id ─▶ name, members map, version (LWT: compare-and-set on version)
 *   messages ────────── (conversation, day) ─▶ message_id DESC ─▶ message     ◀── history
 *   conversation_buckets conversation ─▶ day DESC (days with messages)
 *   inbox ───────────── (user_id, day) ─▶ message_id ASC ─▶ message (copy)     ◀── sync
 *   user_buckets ────── user_id ─▶ day ASC (days with inbox rows)
 *   messages_by_dedup ─ dedup_key ─▶ message
 *   read_cursors ────── user_id ─▶ (device_id, conversation) ─▶ up_to (LWT: only forward)
 *   node_high_water ─── node_id ─▶ max_id (the highest id wins by write timestamp)
 *
 * saveMessages writes the day indexes first, then the rows (one partition per statement, a bounded
 * number in flight, never a multi-partition batch), so a reader that finds a row also finds its day.
 * Every write is an upsert of the same content for the same id: saving twice is harmless. Tables
 * written with lightweight transactions (users_by_name, groups, read_cursors) are never written
 * without one, as Cassandra requires for LWTs to be correct.
 */
import cassandra from 'cassandra-driver';
import { ChatError } from '../../../common/errors.ts';
import type { Logger } from '../../../common/logger.ts';
import type { Message, Update } from '../../../common/protocol.ts';
import { snowflakeNode, snowflakeTime } from '../../../common/snowflake.ts';
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
import { CassandraConversations } from './cassandra-conversations.ts';
import { CassandraPushTokens } from './cassandra-push-tokens.ts';
import { bucketOf, migrate, statements } from './cassandra-schema.ts';

export interface CassandraStoreOptions {
  /** `host:port` strings. */
  contactPoints: string[];
  /** Credentials and TLS (backend-auth.ts). */
  auth?: Pick<cassandra.ClientOptions, 'credentials' | 'sslOptions'>;
  localDataCenter: string;
  keyspace: string;
  /** Replication factor used when the keyspace is created. */
  replication: number;
  /**
   * Consistency of reads and writes (a `cassandra.types.consistencies` name in upper case, e.g.
   * LOCAL_QUORUM). Default: LOCAL_QUORUM when the keyspace's replication is 3 or more, else LOCAL_ONE.
   */
  consistency?: string;
  log: Logger;
}

/** Writes in flight at once per saveMessages call. */
const WRITE_CONCURRENCY = 32;
/** Compare-and-set attempts before a contended group or cursor update gives up. */
const CAS_ATTEMPTS = 16;
/** Day buckets read in parallel at most while paging through sync or history. */
const MAX_BUCKETS_AHEAD = 8;
/** (user, day) and (conversation, day) index rows this process remembers having written. */
const KNOWN_BUCKETS_CAP = 100_000;
/**
 * Rows in the first driver page of a read. Later pages are sized by the largest row seen so that a
 * page of messages near the 400 KB maximum is read a few rows at a time: the driver decodes each
 * page on the event loop, and rows past the frame's byte budget are never fetched.
 */
const FIRST_FETCH_ROWS = 8;
/** Largest driver page, for small rows. */
const MAX_FETCH_ROWS = 1000;
/** The device id under which a revocation of every device of a user is kept. */
const ALL_DEVICES = '*';

const WRITE = { prepare: true, isIdempotent: true } as const;
const READ = { prepare: true, isIdempotent: true } as const;
/** LWTs are not idempotent: a retried one could report that its own write did not apply. */
const LWT = { prepare: true, isIdempotent: false } as const;

type Query = { query: string; params: unknown[] };

/**
 * The configured consistency, or the default for the keyspace as it is (it may have been created
 * with another replication): LOCAL_QUORUM from 3 replicas on (one replica down is tolerated, and a
 * read sees every acknowledged write), LOCAL_ONE below (a quorum of 2 would tolerate no failure).
 */
async function chooseConsistency(client: cassandra.Client, o: CassandraStoreOptions): Promise<number> {
  const { consistencies } = cassandra.types;
  if (o.consistency) {
    const name = o.consistency.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = (consistencies as unknown as Record<string, number>)[name];
    if (value === undefined) throw new RangeError(`unknown Cassandra consistency ${o.consistency}`);
    return value;
  }
  const row = (
    await client.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [
      o.keyspace,
    ])
  ).first();
  const replication = (row?.get('replication') ?? {}) as Record<string, string> | Map<string, string>;
  const entries = replication instanceof Map ? [...replication.entries()] : Object.entries(replication);
  const factors = entries
    .filter(([k]) => k === 'replication_factor' || k === o.localDataCenter)
    .map(([, v]) => Number.parseInt(v, 10));
  const factor = factors.length > 0 ? Math.max(...factors) : o.replication;
  return factor >= 3 ? consistencies.localQuorum : consistencies.localOne;
}

function toUser(row: cassandra.types.Row): UserRecord {
  const user: UserRecord = {
    userId: row.get('user_id'),
    username: row.get('username'),
    passwordHash: row.get('password_hash'),
    createdAt: Number(row.get('created_at') as bigint),
  };
  const displayName = row.get('display_name') as string | null | undefined;
  if (displayName !== null && displayName !== undefined) user.displayName = displayName;
  return user;
}

function toMessage(row: cassandra.types.Row): Message {
  const m: Message = {
    messageId: (row.get('message_id') as bigint).toString(),
    conversation: row.get('conversation') as string,
    from: row.get('sender') as string,
    text: row.get('text') as string,
    ts: Number(row.get('ts') as bigint),
  };
  const to = row.get('to_user') as string | null;
  const group = row.get('group_id') as string | null;
  if (to !== null && to !== undefined) m.to = to;
  if (group !== null && group !== undefined) m.group = group;
  const editedAt = row.get('edited_at') as bigint | null | undefined;
  if (editedAt !== null && editedAt !== undefined) m.editedAt = Number(editedAt);
  if (row.get('deleted') === true) {
    m.deleted = true;
    m.text = '';
  }
  return m;
}

/** A message's columns in MESSAGE_COLUMNS order; absent fields stay unset (no tombstones). */
function messageParams(m: Message): unknown[] {
  return [BigInt(m.messageId), m.conversation, m.from, m.to, m.group, m.text, BigInt(m.ts)];
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects on the first failure. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Fills `page` from day buckets in order (1, then 2, 4… read at a time). `read(bucket, n, maxBytes)`
 * adds at most n rows and maxBytes of one bucket to a page of its own and answers whether the bucket
 * had more. Buckets read together share the byte budget left, so a wide step never reads more than
 * one page; a bucket cut short by its share ends the page (`more`), as later buckets come after it.
 */
async function walkBuckets(
  buckets: readonly number[],
  page: PageBuilder,
  want: number,
  read: (bucket: number, n: number, maxBytes: number) => Promise<PageBuilder>,
): Promise<void> {
  let width = 1;
  for (let i = 0; i < buckets.length; i += width, width = Math.min(width * 2, MAX_BUCKETS_AHEAD)) {
    const need = want - page.messages.length;
    const share = Math.max(1, Math.floor(page.room / width));
    const parts = await Promise.all(buckets.slice(i, i + width).map((b) => read(b, need, share)));
    for (const part of parts) {
      for (const m of part.messages) if (!page.add(m)) return;
      if (part.more) {
        page.more = true;
        return;
      }
    }
    if (page.messages.length >= want) return;
  }
}

function isCasTimeout(err: unknown): boolean {
  return (
    err instanceof cassandra.errors.ResponseError &&
    err.code === cassandra.types.responseErrorCodes.writeTimeout &&
    (err as { writeType?: string }).writeType === 'CAS'
  );
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.random() * 10 * Math.min(attempt + 1, 5)));
}

export class CassandraStore implements Store {
  private readonly client: cassandra.Client;
  private readonly log: Logger;
  private readonly q: ReturnType<typeof statements>;
  private readonly knownBuckets = new Set<string>();
  /** v1.1: profiles, contacts, conversation entries, receipts, changes (cassandra-conversations.ts). */
  private readonly v11: CassandraConversations;
  /** Devices' push registrations (cassandra-push-tokens.ts). */
  private readonly pushTokensOf: CassandraPushTokens;
  private closed = false;

  private constructor(client: cassandra.Client, keyspace: string, log: Logger) {
    this.client = client;
    this.log = log;
    this.q = statements(keyspace);
    this.pushTokensOf = new CassandraPushTokens(client, keyspace);
    this.v11 = new CassandraConversations(client, keyspace, {
      toMessage,
      userById: (id) => this.userById(id),
    });
  }

  /** Connects, brings the schema up to date (idempotent, safe from several nodes at once). */
  static async open(options: CassandraStoreOptions): Promise<CassandraStore> {
    const client = new cassandra.Client({
      contactPoints: options.contactPoints,
      localDataCenter: options.localDataCenter,
      // Maps as Map: member ids such as `constructor` or `__proto__` are not object properties.
      encoding: { map: Map, useBigIntAsLong: true, useBigIntAsVarint: true, useUndefinedAsUnset: true },
      queryOptions: {
        prepare: true,
        consistency: cassandra.types.consistencies.localQuorum,
        serialConsistency: cassandra.types.consistencies.localSerial,
      },
      socketOptions: { connectTimeout: 10_000, readTimeout: 15_000 },
      // The driver's default waits up to 10 minutes between attempts after a long outage; a chat
      // node should be back within seconds of Cassandra.
      policies: {
        reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(500, 5000, false),
      },
      ...options.auth,
    });
    try {
      await client.connect();
      await migrate(client, options.keyspace, options.replication, options.log);
      // The driver reads its default query options at every execute.
      (client as unknown as { options: cassandra.ClientOptions }).options.queryOptions!.consistency =
        await chooseConsistency(client, options);
    } catch (err) {
      await client.shutdown().catch(() => {});
      throw err;
    }
    return new CassandraStore(client, options.keyspace, options.log);
  }

  private run(query: string, params: unknown[], options: cassandra.QueryOptions = READ) {
    return this.client.execute(query, params, options);
  }

  /**
   * Runs a lightweight transaction; undefined when its outcome is unknown (Paxos contention or a
   * timeout: it may still apply), after a short pause; the caller reads again and decides. Throws
   * after CAS_ATTEMPTS unknown outcomes.
   */
  private async cas(query: string, params: unknown[], attempt: number) {
    try {
      return await this.client.execute(query, params, LWT);
    } catch (err) {
      if (!isCasTimeout(err) || attempt + 1 >= CAS_ATTEMPTS) throw err;
      this.log.debug({ err, attempt }, 'lightweight transaction outcome unknown; reading again');
      await backoff(attempt);
      return undefined;
    }
  }

  async createUser(user: UserRecord): Promise<void> {
    const { userId, username, passwordHash } = user;
    const createdAt = BigInt(user.createdAt);
    const claim = [usernameKey(username), userId, username, passwordHash, createdAt];
    let rs: cassandra.types.ResultSet | undefined;
    for (let attempt = 0; rs === undefined; attempt++) {
      rs = await this.cas(this.q.claimUsernameKey, claim, attempt);
    }
    // Not applied: taken, unless by this very user (a retry of a claim whose answer was lost).
    if (!rs.wasApplied() && rs.first()?.get('user_id') !== userId) {
      throw new ChatError('username_taken', 'that username is taken');
    }
    // A crash right here leaves the name claimed without a users row; a retry with the same id repairs it.
    await this.run(
      this.q.insertUserV11,
      [userId, username, passwordHash, createdAt, user.displayName],
      WRITE,
    );
    await this.v11.userCreated(user);
  }

  async userByUsername(username: string): Promise<UserRecord | undefined> {
    const row =
      (await this.run(this.q.userByKey, [usernameKey(username)])).first() ??
      (await this.run(this.q.userByName, [username])).first();
    return row ? toUser(row) : undefined;
  }

  async userById(userId: string): Promise<UserRecord | undefined> {
    const row = (await this.run(this.q.userById, [userId])).first();
    return row ? toUser(row) : undefined;
  }

  /** The users row, then the login record (an LWT, IF user_id: the tables written only so). */
  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    const user = await this.userById(userId);
    if (!user) return;
    await this.run(this.q.setPassword, [passwordHash, userId], WRITE);
    for (const [query, key] of [
      [this.q.setPasswordByKey, usernameKey(user.username)],
      [this.q.setPasswordByName, user.username],
    ] as const) {
      for (
        let attempt = 0;
        (await this.cas(query, [passwordHash, key, userId], attempt)) === undefined;
        attempt++
      );
    }
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
    const params = [userId, deviceId ?? ALL_DEVICES, BigInt(cutoff), BigInt(cutoff) * 1000n];
    await this.run(this.q.revokeTokens, params, WRITE);
  }

  async tokenCutoff(userId: string, deviceId: string): Promise<number | undefined> {
    const [user, cutoffs] = await Promise.all([
      this.run(this.q.userExists, [userId]),
      this.run(this.q.tokenCutoffs, [userId, deviceId]),
    ]);
    if (user.rowLength === 0) return undefined;
    let cutoff = 0;
    for (const r of cutoffs.rows) cutoff = Math.max(cutoff, Number(r.get('cutoff') as bigint));
    return cutoff;
  }

  async existingUsers(userIds: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    await forEachLimit([...new Set(userIds)], WRITE_CONCURRENCY, async (id) => {
      if ((await this.run(this.q.userExists, [id])).rowLength > 0) found.add(id);
    });
    return found;
  }

  async createGroup(group: GroupRecord): Promise<void> {
    const members = new Map(group.members.map((u) => [u, BigInt(group.createdAt)]));
    const activity = group.activityId === undefined ? undefined : BigInt(group.activityId);
    const params = [group.groupId, group.name, group.createdBy, BigInt(group.createdAt), members, activity];
    for (let attempt = 0; ; attempt++) {
      const rs = await this.cas(this.q.insertGroup, params, attempt);
      if (rs === undefined) continue;
      // Not applied after an unknown outcome: the row found may be this very create.
      const ours = attempt > 0 && rs.first()?.get('created_by') === group.createdBy;
      if (rs.wasApplied() || ours) break;
      throw new Error(`group ${group.groupId} already exists`);
    }
    await forEachLimit(group.members, WRITE_CONCURRENCY, (u) => this.v11.memberJoined(group, u, 0n));
  }

  private async groupRow(groupId: string) {
    const row = (await this.run(this.q.group, [groupId])).first();
    if (!row) return undefined;
    const members = (row.get('members') ?? new Map()) as Map<string, bigint>;
    return { row, members, version: row.get('version') as bigint };
  }

  async group(groupId: string): Promise<GroupRecord | undefined> {
    const g = await this.groupRow(groupId);
    if (!g) return undefined;
    // Join order, then user id: the order of the embedded store.
    const members = [...g.members]
      .sort(([a, ja], [b, jb]) => (ja !== jb ? Number(ja - jb) : a < b ? -1 : 1))
      .map(([u]) => u);
    const group: GroupRecord = {
      groupId,
      name: g.row.get('name'),
      createdBy: g.row.get('created_by'),
      createdAt: Number(g.row.get('created_at') as bigint),
      members,
    };
    const activity = g.row.get('activity_id') as bigint | null | undefined;
    if (activity !== null && activity !== undefined) group.activityId = activity.toString();
    return group;
  }

  /** Read, check, then `UPDATE … IF version = ?`; a lost race reads again (bounded). */
  async addMember(
    groupId: string,
    userId: string,
    maxMembers: number,
    now: number,
  ): Promise<AddMemberResult> {
    let unknown = false; // an earlier attempt may have added the user
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const g = await this.groupRow(groupId);
      if (!g) return 'no_group';
      if (g.members.has(userId)) {
        if (!unknown) return 'already_member';
        await this.memberJoined(groupId, userId);
        return 'added';
      }
      if (g.members.size >= maxMembers) return 'full';
      const params = [userId, BigInt(now), g.version + 1n, groupId, g.version];
      const rs = await this.cas(this.q.addMember, params, attempt);
      if (rs?.wasApplied()) {
        await this.memberJoined(groupId, userId);
        return 'added';
      }
      unknown ||= rs === undefined;
      if (rs) await backoff(attempt);
    }
    this.log.warn({ groupId, attempts: CAS_ATTEMPTS }, 'addMember: too much contention');
    throw new ChatError('unavailable', 'the group is busy; try again');
  }

  async removeMember(groupId: string, userId: string): Promise<void> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const g = await this.groupRow(groupId);
      if (!g?.members.has(userId)) return;
      const params = [[userId], g.version + 1n, groupId, g.version];
      const rs = await this.cas(this.q.removeMember, params, attempt);
      if (rs?.wasApplied()) {
        await this.v11.memberLeft(groupId, userId);
        return;
      }
      if (rs) await backoff(attempt);
    }
    throw new ChatError('unavailable', 'the group is busy; try again');
  }

  async saveMessages(envelopes: readonly Envelope[]): Promise<undefined> {
    const indexes = new Map<string, Query>();
    const rows: Query[] = [];
    const highWater = new Map<number, bigint>();
    const index = (kind: 'c' | 'u', key: string, bucket: number) => {
      const known = `${kind}|${bucket}|${key}`;
      const query = kind === 'c' ? this.q.insertConversationBucket : this.q.insertUserBucket;
      if (!this.knownBuckets.has(known)) indexes.set(known, { query, params: [key, bucket] });
    };
    for (const { message, recipients, dedupKey } of envelopes) {
      const id = BigInt(message.messageId);
      const bucket = bucketOf(id);
      const columns = messageParams(message);
      const writeTime = BigInt(snowflakeTime(id)) * 1000n;
      index('c', message.conversation, bucket);
      rows.push({ query: this.q.insertMessage, params: [...columns, bucket, writeTime] });
      for (const userId of new Set(recipients)) {
        index('u', userId, bucket);
        rows.push({ query: this.q.insertInbox, params: [userId, bucket, ...columns, writeTime] });
      }
      if (dedupKey !== undefined) rows.push({ query: this.q.insertDedup, params: [dedupKey, ...columns] });
      const node = snowflakeNode(id);
      if (id > (highWater.get(node) ?? -1n)) highWater.set(node, id);
    }
    for (const [node, id] of highWater) {
      // Last write wins by timestamp, then by the larger value: the highest id stays, whatever the order.
      rows.push({ query: this.q.raiseHighWater, params: [node, id, BigInt(snowflakeTime(id)) * 1000n] });
    }
    // The day indexes first: a reader that finds a row must find its day too.
    await forEachLimit([...indexes], WRITE_CONCURRENCY, async ([known, { query, params }]) => {
      await this.run(query, params, WRITE);
      if (this.knownBuckets.size >= KNOWN_BUCKETS_CAP) this.knownBuckets.clear();
      this.knownBuckets.add(known);
    });
    await forEachLimit(rows, WRITE_CONCURRENCY, ({ query, params }) => this.run(query, params, WRITE));
    await this.v11.messagesSaved(envelopes);
    return undefined;
  }

  async messageByDedupKey(dedupKey: string): Promise<Message | undefined> {
    const row = (await this.run(this.q.byDedup, [dedupKey])).first();
    return row ? toMessage(row) : undefined;
  }

  async sync(
    userId: string,
    since: bigint,
    limit: number,
    maxBytes?: number,
  ): Promise<{ messages: Message[]; more: boolean }> {
    const index = await this.run(this.q.userBuckets, [userId, bucketOf(since)]);
    const buckets = index.rows.map((r) => r.get('bucket') as number);
    const page = new PageBuilder(limit, maxBytes);
    await walkBuckets(buckets, page, limit + 1, (bucket, n, bytes) =>
      this.readPage(this.q.inbox, [userId, bucket, since, n], n, bytes),
    );
    return { messages: page.messages, more: page.more };
  }

  async history(
    conversation: string,
    before: bigint | undefined,
    limit: number,
    maxBytes?: number,
  ): Promise<Message[]> {
    const index =
      before === undefined
        ? await this.run(this.q.conversationBuckets, [conversation])
        : await this.run(this.q.conversationBucketsUpTo, [conversation, bucketOf(before)]);
    const buckets = index.rows.map((r) => r.get('bucket') as number);
    const page = new PageBuilder(limit, maxBytes);
    await walkBuckets(buckets, page, limit, (bucket, n, bytes) =>
      before === undefined
        ? this.readPage(this.q.history, [conversation, bucket, n], n, bytes)
        : this.readPage(this.q.historyBefore, [conversation, bucket, before, n], n, bytes),
    );
    return page.messages;
  }

  /**
   * Reads a query's rows into a page of at most `limit` rows and `maxBytes`, with driver pages of
   * FIRST_FETCH_ROWS and then as many rows of the largest size seen as the budget has room for, so
   * that rows past the page are not fetched. `more` is set when rows were left unread.
   */
  private async readPage(query: string, params: unknown[], limit: number, maxBytes: number) {
    const page = new PageBuilder(limit, maxBytes);
    let pageState: string | undefined;
    let fetchSize = Math.min(limit, FIRST_FETCH_ROWS);
    let largest = 1;
    for (;;) {
      const rs = await this.client.execute(query, params, { ...READ, fetchSize, pageState });
      for (const row of rs.rows) {
        const before = page.bytes;
        if (!page.add(toMessage(row))) return page;
        largest = Math.max(largest, page.bytes - before);
      }
      pageState = rs.pageState ?? undefined;
      if (!pageState || page.messages.length >= limit) return page;
      const rowsLeft = limit - page.messages.length;
      fetchSize = Math.max(1, Math.min(rowsLeft, MAX_FETCH_ROWS, Math.ceil(page.room / largest) + 1));
    }
  }

  /** `UPDATE … IF up_to < ?`; a missing row is created with IF NOT EXISTS; a lost race tries again. */
  async setReadCursor(
    userId: string,
    deviceId: string,
    conversation: string,
    upTo: bigint,
  ): Promise<boolean> {
    const key = [userId, deviceId, conversation];
    // After an unknown outcome, "moved" is the safer answer: a repeated read event is harmless.
    let unknown = false;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const moved = await this.cas(this.q.moveCursor, [upTo, ...key, upTo], attempt);
      if (moved === undefined) {
        unknown = true;
        continue;
      }
      if (moved.wasApplied()) return true;
      const current = moved.first()?.get('up_to') as bigint | null | undefined;
      if (current !== null && current !== undefined) return unknown; // already at or past upTo
      const created = await this.cas(this.q.createCursor, [...key, upTo], attempt);
      if (created?.wasApplied()) return true;
      unknown ||= created === undefined;
      // Otherwise another writer created the row in between: compare with its value.
    }
    throw new ChatError('unavailable', 'the read cursor is busy; try again');
  }

  // ---- v1.1 (cassandra-conversations.ts) -------------------------------------------------------

  /** The new member's entry, at the group's newest message when it has one. */
  private async memberJoined(groupId: string, userId: string): Promise<void> {
    const group = await this.group(groupId);
    if (!group) return;
    const conversation = `g:${groupId}`;
    const day = (
      await this.run(this.q.conversationBuckets, [conversation], { ...READ, fetchSize: 1 })
    ).first();
    const latest = day
      ? ((await this.run(this.q.latestMessageId, [conversation, day.get('bucket')]))
          .first()
          ?.get('message_id') as bigint | undefined)
      : undefined;
    await this.v11.memberJoined(group, userId, latest ?? 0n);
  }

  /** `UPDATE … IF version = ?`, like member changes. */
  async renameGroup(groupId: string, name: string): Promise<void> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const g = await this.groupRow(groupId);
      if (!g) return;
      const rs = await this.cas(this.q.renameGroup, [name, g.version + 1n, groupId, g.version], attempt);
      if (rs?.wasApplied()) return;
      if (rs) await backoff(attempt);
    }
    throw new ChatError('unavailable', 'the group is busy; try again');
  }

  setDisplayName(userId: string, displayName: string): Promise<void> {
    return this.v11.setDisplayName(userId, displayName);
  }
  usersByPrefix(prefix: string, limit: number): Promise<UserRecord[]> {
    return this.v11.usersByPrefix(prefix, limit);
  }
  addContact(userId: string, contactId: string, max: number): Promise<AddContactResult> {
    return this.v11.addContact(userId, contactId, max);
  }
  removeContact(userId: string, contactId: string): Promise<void> {
    return this.v11.removeContact(userId, contactId);
  }
  contacts(userId: string): Promise<string[]> {
    return this.v11.contacts(userId);
  }
  groupsOf(userId: string): Promise<string[]> {
    return this.v11.groupsOf(userId);
  }
  conversations(userId: string, before: bigint | undefined, limit: number) {
    return this.v11.conversations(userId, before, limit);
  }
  conversationEntry(userId: string, conversation: string): Promise<ConversationEntry | undefined> {
    return this.v11.conversationEntry(userId, conversation);
  }
  messagesByIds(refs: readonly { conversation: string; messageId: bigint }[]): Promise<Map<string, Message>> {
    return this.v11.messagesByIds(refs);
  }
  setReadPosition(userId: string, conversation: string, upTo: bigint): Promise<boolean> {
    return this.v11.setReadPosition(userId, conversation, upTo);
  }
  readPositions(conversation: string, userIds: readonly string[]): Promise<Map<string, bigint>> {
    return this.v11.readPositions(conversation, userIds);
  }
  messageById(messageId: bigint): Promise<Message | undefined> {
    return this.v11.messageById(messageId);
  }
  saveUpdate(update: Update, participants: readonly string[]): Promise<void> {
    return this.v11.saveUpdate(update, participants);
  }
  updatesSince(userId: string, since: bigint, limit: number, maxBytes = PAGE_MAX_BYTES) {
    return this.v11.updatesSince(userId, since, limit, maxBytes);
  }

  async maxMessageId(nodeId: number): Promise<bigint> {
    const row = (await this.run(this.q.highWater, [nodeId])).first();
    return (row?.get('max_id') as bigint | undefined) ?? 0n;
  }

  isReady(): boolean {
    return !this.closed && this.client.getState().getConnectedHosts().length > 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.shutdown();
  }
}
