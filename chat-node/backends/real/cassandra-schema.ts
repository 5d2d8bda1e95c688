/**
 * The Cassandra schema of CassandraStore (the data model is drawn in cassandra-store.ts), its
 * migrations (idempotent statements that every node runs on every start, several nodes at once) and
 * the statements the store runs.
 *
 * Two nodes that create one table at the same moment through different coordinators would otherwise
 * give it two different table ids (a schema disagreement that breaks writes); each table therefore
 * gets a deterministic id derived from `<keyspace>.<table>`, so concurrent creations are identical and
 * merge. The driver waits for schema agreement after each statement.
 */
import { createHash } from 'node:crypto';
import type cassandra from 'cassandra-driver';
import type { Logger } from '../../../common/logger.ts';
import { snowflakeTime } from '../../../common/snowflake.ts';

/** Messages and inboxes are partitioned by UTC day of the Snowflake timestamp. */
export const BUCKET_MS = 86_400_000;

/** The bucket (UTC day number since the Unix epoch) of a message id. */
export function bucketOf(id: bigint): number {
  return Math.floor(snowflakeTime(id) / BUCKET_MS);
}

/** Columns of a message, in this order, in `messages`, `inbox` and `messages_by_dedup`. */
const MESSAGE_COLUMNS = 'message_id, conversation, sender, to_user, group_id, text, ts';
const MESSAGE_DEFS =
  'message_id bigint, conversation text, sender text, to_user text, group_id text, text text, ts bigint';

/** Table name → definition (without the `CREATE TABLE IF NOT EXISTS <ks>.<name>` head). */
const TABLES: [string, string][] = [
  ['users', '(user_id text PRIMARY KEY, username text, password_hash text, created_at bigint)'],
  // Accounts created before usernames had keys: read for their logins only, written only by LWTs.
  ['users_by_name', '(username text PRIMARY KEY, user_id text, password_hash text, created_at bigint)'],
  // Written first, with IF NOT EXISTS: the owner of a username's canonical key (common/usernames.ts),
  // so look-alike names collide. Holds the whole record for logins. Written only with LWTs.
  [
    'users_by_key',
    '(username_key text PRIMARY KEY, user_id text, username text, password_hash text, created_at bigint)',
  ],
  // Token revocations, per device and under device_id '*' for every device; the latest cutoff wins
  // (written USING TIMESTAMP = the cutoff).
  ['token_cutoffs', '(user_id text, device_id text, cutoff bigint, PRIMARY KEY ((user_id), device_id))'],
  // members: user id → joined_at. Written only with LWTs (IF NOT EXISTS / IF version = ?).
  [
    'groups',
    '(group_id text PRIMARY KEY, name text, created_by text, created_at bigint, members map<text, bigint>, version bigint)',
  ],
  [
    'messages',
    `(${MESSAGE_DEFS}, bucket int, PRIMARY KEY ((conversation, bucket), message_id))
     WITH CLUSTERING ORDER BY (message_id DESC)`,
  ],
  [
    'conversation_buckets',
    '(conversation text, bucket int, PRIMARY KEY (conversation, bucket)) WITH CLUSTERING ORDER BY (bucket DESC)',
  ],
  [
    'inbox',
    `(user_id text, bucket int, ${MESSAGE_DEFS}, PRIMARY KEY ((user_id, bucket), message_id))
     WITH CLUSTERING ORDER BY (message_id ASC)`,
  ],
  ['user_buckets', '(user_id text, bucket int, PRIMARY KEY (user_id, bucket))'],
  ['messages_by_dedup', `(dedup_key text PRIMARY KEY, ${MESSAGE_DEFS})`],
  [
    'read_cursors',
    '(user_id text, device_id text, conversation text, up_to bigint, PRIMARY KEY ((user_id), device_id, conversation))',
  ],
  // Written USING TIMESTAMP = the id's millisecond: the cell with the highest id wins (see the store).
  ['node_high_water', '(node_id int PRIMARY KEY, max_id bigint)'],
  // ---- v1.1 (cassandra-conversations.ts draws them) ----
  ['usernames_by_first', '(first text, username text, user_id text, PRIMARY KEY (first, username))'],
  ['contacts', '(user_id text, contact_id text, PRIMARY KEY (user_id, contact_id))'],
  ['user_groups', '(user_id text, group_id text, PRIMARY KEY (user_id, group_id))'],
  [
    'user_conversations',
    '(user_id text, conversation text, activity_id bigint, last_message_id bigint, read_up_to bigint, PRIMARY KEY (user_id, conversation))',
  ],
  [
    'conversation_activity',
    `(user_id text, activity_id bigint, conversation text, PRIMARY KEY (user_id, activity_id, conversation))
     WITH CLUSTERING ORDER BY (activity_id DESC, conversation ASC)`,
  ],
  // Rows at or below the read position are never counted, so a resurrected one is harmless: a short
  // grace keeps the read path's range tombstones few.
  [
    'unread',
    `(user_id text, conversation text, message_id bigint, PRIMARY KEY ((user_id, conversation), message_id))
     WITH gc_grace_seconds = 3600`,
  ],
  ['read_positions', '(conversation text, user_id text, up_to bigint, PRIMARY KEY (conversation, user_id))'],
  ['messages_by_id', '(message_id bigint PRIMARY KEY, conversation text, sender text, recipients set<text>)'],
  [
    'update_inbox',
    `(user_id text, bucket int, update_id bigint, message_id bigint, conversation text, sender text, text text,
     deleted boolean, ts bigint, PRIMARY KEY ((user_id, bucket), update_id)) WITH CLUSTERING ORDER BY (update_id ASC)`,
  ],
  ['user_update_buckets', '(user_id text, bucket int, PRIMARY KEY (user_id, bucket))'],
  // Devices' push registrations (cassandra-push-tokens.ts).
  [
    'push_tokens',
    '(user_id text, device_id text, provider text, push_token text, updated_at bigint, PRIMARY KEY ((user_id), device_id))',
  ],
];

/** v1.1 columns of v1 tables: [table, column, type], added to keyspaces made before them. */
export const ADDED_COLUMNS: [string, string, string][] = [
  ['users', 'display_name', 'text'],
  ['groups', 'activity_id', 'bigint'],
  ['messages', 'edited_at', 'bigint'],
  ['messages', 'deleted', 'boolean'],
  ['inbox', 'edited_at', 'bigint'],
  ['inbox', 'deleted', 'boolean'],
];

const KEYSPACE_NAME = /^[a-z][a-z0-9_]{0,47}$/;

/** A UUID that depends only on the keyspace and table names. */
function tableId(keyspace: string, table: string): string {
  const h = createHash('sha256').update(`chat-platform:${keyspace}.${table}`).digest('hex');
  // Version 8 (custom) with the RFC 4122 variant bits.
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The statements that bring a keyspace up to date, in order. */
export function migrationStatements(keyspace: string, replication: number): string[] {
  if (!KEYSPACE_NAME.test(keyspace)) throw new Error(`invalid Cassandra keyspace name: ${keyspace}`);
  if (!Number.isInteger(replication) || replication < 1) {
    throw new Error(`invalid replication factor: ${replication}`);
  }
  // SimpleStrategy keeps the configuration to one number; a production cluster spread over several
  // racks or data centers should create the keyspace itself with NetworkTopologyStrategy.
  const create = `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${replication}}`;
  return [
    create,
    ...TABLES.map(([name, def]) => {
      const id = `ID = ${tableId(keyspace, name)}`;
      const withId = def.includes(' WITH ') ? def.replace(' WITH ', ` WITH ${id} AND `) : `${def} WITH ${id}`;
      return `CREATE TABLE IF NOT EXISTS ${keyspace}.${name} ${withId}`;
    }),
  ];
}

/** Runs every migration; each is idempotent, and a failed one is retried a few times. */
export async function migrate(
  client: cassandra.Client,
  keyspace: string,
  replication: number,
  log: Logger,
): Promise<void> {
  const started = Date.now();
  for (const statement of migrationStatements(keyspace, replication)) {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.execute(statement);
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
        log.warn({ err, attempt }, 'cassandra migration failed; retrying');
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  }
  await addColumns(client, keyspace, log);
  log.info({ keyspace, ms: Date.now() - started }, 'cassandra schema up to date');
}

/** Adds the v1.1 columns a keyspace lacks; one added meanwhile by another node is not an error. */
async function addColumns(client: cassandra.Client, keyspace: string, log: Logger): Promise<void> {
  const rs = await client.execute(
    'SELECT table_name, column_name FROM system_schema.columns WHERE keyspace_name = ?',
    [keyspace],
    { prepare: true },
  );
  const have = new Set(rs.rows.map((r) => `${r.get('table_name')}.${r.get('column_name')}`));
  for (const [table, column, type] of ADDED_COLUMNS) {
    if (have.has(`${table}.${column}`)) continue;
    try {
      await client.execute(`ALTER TABLE ${keyspace}.${table} ADD ${column} ${type}`);
    } catch (err) {
      if (!/already exist|conflicts with an existing column/i.test((err as Error).message)) throw err;
      log.debug({ table, column }, 'column added meanwhile by another node');
    }
  }
}

/** Every CQL statement, with the keyspace written in (all are prepared on first use). */
export function statements(ks: string) {
  const M = MESSAGE_COLUMNS;
  const V7 = '?, ?, ?, ?, ?, ?, ?';
  return {
    claimUsernameKey: `INSERT INTO ${ks}.users_by_key (username_key, user_id, username, password_hash, created_at)
      VALUES (?, ?, ?, ?, ?) IF NOT EXISTS`,
    insertUser: `INSERT INTO ${ks}.users (user_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)`,
    userByKey: `SELECT * FROM ${ks}.users_by_key WHERE username_key = ?`,
    userByName: `SELECT * FROM ${ks}.users_by_name WHERE username = ?`,
    userById: `SELECT * FROM ${ks}.users WHERE user_id = ?`,
    insertUserV11: `INSERT INTO ${ks}.users (user_id, username, password_hash, created_at, display_name) VALUES (?, ?, ?, ?, ?)`,
    setPassword: `UPDATE ${ks}.users SET password_hash = ? WHERE user_id = ?`,
    setPasswordByKey: `UPDATE ${ks}.users_by_key SET password_hash = ? WHERE username_key = ? IF user_id = ?`,
    setPasswordByName: `UPDATE ${ks}.users_by_name SET password_hash = ? WHERE username = ? IF user_id = ?`,
    revokeTokens: `INSERT INTO ${ks}.token_cutoffs (user_id, device_id, cutoff) VALUES (?, ?, ?) USING TIMESTAMP ?`,
    tokenCutoffs: `SELECT cutoff FROM ${ks}.token_cutoffs WHERE user_id = ? AND device_id IN ('*', ?)`,
    userExists: `SELECT user_id FROM ${ks}.users WHERE user_id = ?`,
    insertGroup: `INSERT INTO ${ks}.groups (group_id, name, created_by, created_at, members, version, activity_id)
      VALUES (?, ?, ?, ?, ?, 0, ?) IF NOT EXISTS`,
    renameGroup: `UPDATE ${ks}.groups SET name = ?, version = ? WHERE group_id = ? IF version = ?`,
    latestMessageId: `SELECT message_id FROM ${ks}.messages WHERE conversation = ? AND bucket = ? LIMIT 1`,
    group: `SELECT * FROM ${ks}.groups WHERE group_id = ?`,
    addMember: `UPDATE ${ks}.groups SET members[?] = ?, version = ? WHERE group_id = ? IF version = ?`,
    removeMember: `UPDATE ${ks}.groups SET members = members - ?, version = ? WHERE group_id = ? IF version = ?`,
    // USING TIMESTAMP = the id's time (µs): a later edit (timestamped by its update id) always wins,
    // even over a redelivered write of the same message.
    insertMessage: `INSERT INTO ${ks}.messages (${M}, bucket) VALUES (${V7}, ?) USING TIMESTAMP ?`,
    insertConversationBucket: `INSERT INTO ${ks}.conversation_buckets (conversation, bucket) VALUES (?, ?)`,
    insertInbox: `INSERT INTO ${ks}.inbox (user_id, bucket, ${M}) VALUES (?, ?, ${V7}) USING TIMESTAMP ?`,
    insertUserBucket: `INSERT INTO ${ks}.user_buckets (user_id, bucket) VALUES (?, ?)`,
    insertDedup: `INSERT INTO ${ks}.messages_by_dedup (dedup_key, ${M}) VALUES (?, ${V7})`,
    raiseHighWater: `INSERT INTO ${ks}.node_high_water (node_id, max_id) VALUES (?, ?) USING TIMESTAMP ?`,
    byDedup: `SELECT ${M} FROM ${ks}.messages_by_dedup WHERE dedup_key = ?`,
    userBuckets: `SELECT bucket FROM ${ks}.user_buckets WHERE user_id = ? AND bucket >= ?`,
    inbox: `SELECT ${M}, edited_at, deleted FROM ${ks}.inbox WHERE user_id = ? AND bucket = ? AND message_id > ? LIMIT ?`,
    conversationBuckets: `SELECT bucket FROM ${ks}.conversation_buckets WHERE conversation = ?`,
    conversationBucketsUpTo: `SELECT bucket FROM ${ks}.conversation_buckets WHERE conversation = ? AND bucket <= ?`,
    history: `SELECT ${M}, edited_at, deleted FROM ${ks}.messages WHERE conversation = ? AND bucket = ? LIMIT ?`,
    historyBefore: `SELECT ${M}, edited_at, deleted FROM ${ks}.messages
      WHERE conversation = ? AND bucket = ? AND message_id < ? LIMIT ?`,
    moveCursor: `UPDATE ${ks}.read_cursors SET up_to = ? WHERE user_id = ? AND device_id = ? AND conversation = ?
      IF up_to < ?`,
    createCursor: `INSERT INTO ${ks}.read_cursors (user_id, device_id, conversation, up_to)
      VALUES (?, ?, ?, ?) IF NOT EXISTS`,
    highWater: `SELECT max_id FROM ${ks}.node_high_water WHERE node_id = ?`,
  };
}
