/**
 * Message writes of the embedded store, off the event loop. `node:sqlite` is synchronous: on the
 * main thread every commit (one fsync with synchronous=FULL) would stop all connections for as long
 * as the disk takes. Here a worker thread owns a second connection to the same WAL file and commits
 * there; the main thread keeps serving sockets meanwhile and reads on its own connection, which sees
 * every commit once the worker has answered.
 *
 * The worker drains every request waiting on its port before it begins a transaction, so requests
 * that arrive during one fsync share the next: group commit without a timer.
 *
 * A message is committed in two steps. The first, which `sent` waits for, writes its row and an
 * `unindexed` row naming its recipients: both append at the end of their tables, so a commit of
 * many messages writes few pages. The second writes every recipient's inbox row, conversation entry
 * and unread row for the unindexed messages, in a later transaction: when a read of those tables
 * asks for it (`indexed()`), and otherwise at most INDEX_WITHIN_MS after the first of them. Those
 * rows sit on each user's own pages; writing them in their own transaction, without an fsync, takes
 * them off the path of `sent`, and rows for the same user in one transaction share a page write.
 * (Longer waits, up to a second, gave no more throughput and held the next commits behind a long
 * second step: `npm run bench -- --scenario 1:1 --targets embedded`, BENCHMARKS.md.) Until the next
 * first step's fsync covers it, a power loss can only lose index rows, and the `unindexed` rows that
 * name them are lost with them or still there, so opening the store (indexer) writes them.
 */

import { DatabaseSync } from 'node:sqlite';
import { isMainThread, parentPort, receiveMessageOnPort, Worker, workerData } from 'node:worker_threads';
import { errorMessage } from '../../../common/errors.ts';
import type { Envelope } from '../types.ts';

/** The pragmas of both connections to the store's file (the store's own and this writer's). */
export const CONNECTION_PRAGMAS =
  'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;';

/** Recipients from which a group message's rows are written set-wise (below, one statement each). */
const GROUP_STATEMENTS_FROM = 4;

/** The oldest unindexed message's age (ms) by which the writer indexes, busy or idle. */
const INDEX_WITHIN_MS = 5;

/** The workerData key that names the database file (and marks the thread as this writer). */
const WORKER_KEY = 'chatSqliteWriterFile';

/** A save, or (without envelopes) a request to index what is saved. */
interface Request {
  id: number;
  envelopes?: readonly Envelope[];
}

/** A save's answer, or (without id) word that the saves up to `indexedThrough` are indexed. */
type Reply =
  | {
      id: number;
      error?: string;
      /** The envelopes (by index) that were not inserted: their id or dedup key was stored already. */
      skipped?: number[];
    }
  | { id?: undefined; indexedThrough: number; error?: string };

/** Whether each envelope of a save was inserted (false: its id or its dedup key was stored before). */
export type Inserted = readonly boolean[];

/** The main thread's side: one worker, requests answered in order. */
export class SqliteWriter {
  private readonly file: string;
  private worker?: Worker;
  private nextId = 1;
  private closed = false;
  /** The highest save request id whose messages the worker has indexed. */
  private indexedThrough = 0;
  /** The highest save request id sent. */
  private lastSave = 0;
  /** The id of the latest request to index (what it covers: the saves before it). */
  private askedThrough = 0;
  /** Reads waiting for the saves up to `upTo` to be indexed. */
  private indexWaiters: { upTo: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  /** Requests sent to the worker and not answered yet. */
  private readonly pending = new Map<
    number,
    {
      done: Promise<Inserted>;
      resolve: (inserted: Inserted) => void;
      reject: (err: Error) => void;
      size: number;
    }
  >();

  constructor(file: string) {
    this.file = file;
  }

  /**
   * Resolves once the envelopes are committed (idempotent: the same id gives the same row), with
   * whether each was inserted.
   */
  save(envelopes: readonly Envelope[]): Promise<Inserted> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    // Keep the process alive while a write is in flight, not while the worker idles (see settle).
    if (this.pending.size === 0) worker.ref();
    let resolve!: (inserted: Inserted) => void;
    let reject!: (err: Error) => void;
    const done = new Promise<Inserted>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.pending.set(id, { done, resolve, reject, size: envelopes.length });
    this.lastSave = id;
    worker.postMessage({ id, envelopes } satisfies Request);
    return done;
  }

  /**
   * Resolves once every message saved before the call has its inbox, conversation entry and unread
   * rows: the store's reads of those tables wait for it. Immediate when nothing is left to index.
   */
  indexed(): Promise<void> {
    const upTo = this.lastSave;
    if (this.indexedThrough >= upTo) return Promise.resolve();
    // Closed: no new worker for a read that comes after (close() indexed what it could).
    if (this.closed) return Promise.reject(new Error('message writer is closed'));
    const worker = this.worker ?? this.start();
    if (this.pending.size === 0 && this.indexWaiters.length === 0) worker.ref();
    return new Promise<void>((resolve, reject) => {
      this.indexWaiters.push({ upTo, resolve, reject });
      // One request covers every read that came before it: reads at once ask once.
      if (this.askedThrough > upTo) return;
      this.askedThrough = this.nextId++;
      worker.postMessage({ id: this.askedThrough } satisfies Request);
    });
  }

  /** Waits for the writes in flight, then stops the worker. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending.values()].map((p) => p.done));
    await this.indexed().catch(() => undefined);
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = new Worker(new URL(import.meta.url), { workerData: { [WORKER_KEY]: this.file } });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      if (reply.id === undefined) {
        this.onIndexed(reply.indexedThrough, reply.error);
        return;
      }
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.settle(reply.id);
      if (reply.error === undefined) {
        const inserted = new Array<boolean>(p.size).fill(true);
        for (const i of reply.skipped ?? []) inserted[i] = false;
        p.resolve(inserted);
      } else p.reject(new Error(`message write failed: ${reply.error}`));
    });
    const fail = (why: string) => {
      if (this.worker !== worker) return;
      // The next save starts a new worker; what was in flight is reported failed (the sender retries
      // with the same id, which the store keeps once).
      this.worker = undefined;
      for (const [id, p] of this.pending) {
        this.settle(id);
        p.reject(new Error(`message writer stopped: ${why}`));
      }
      // What was saved stays unindexed in the file; the next worker indexes it before anything else.
      this.askedThrough = 0;
      this.onIndexed(0, `message writer stopped: ${why}`);
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  /** Resolves the reads waiting for saves up to `through`; with an error, fails them all. */
  private onIndexed(through: number, error?: string): void {
    if (error === undefined) this.indexedThrough = Math.max(this.indexedThrough, through);
    const waiting = this.indexWaiters;
    this.indexWaiters = [];
    for (const w of waiting) {
      if (error !== undefined) w.reject(new Error(`message indexing failed: ${error}`));
      else if (w.upTo <= this.indexedThrough) w.resolve();
      else this.indexWaiters.push(w);
    }
    this.unrefIfIdle();
  }

  /** Forgets an answered request; with none left, the idle worker no longer keeps the process alive. */
  private settle(id: number): void {
    this.pending.delete(id);
    this.unrefIfIdle();
  }

  private unrefIfIdle(): void {
    if (this.pending.size === 0 && this.indexWaiters.length === 0) this.worker?.unref();
  }
}

/**
 * Writes every recipient's inbox row, conversation entry and (for another's message) unread row for
 * all messages in `unindexed`, and empties it, in one transaction of `db` (without its own fsync:
 * see the top of this file). Returns how many messages it indexed. Used by the writer and by the
 * store when it opens the file (what a crash left unindexed).
 */
export function indexer(db: DatabaseSync): () => number {
  const unindexed = db.prepare(
    `SELECT u.message_id AS id, u.recipients, m.conversation, m.sender, m.group_id FROM unindexed u
     JOIN messages m ON m.message_id = u.message_id ORDER BY u.message_id`,
  );
  unindexed.setReadBigInts(true);
  const clear = db.prepare('DELETE FROM unindexed');
  const insertInbox = db.prepare('INSERT OR IGNORE INTO inbox (user_id, message_id) VALUES (?, ?)');
  // v1.1: each recipient's conversation entry (created by a dm's first message; a group's exists
  // while the user is a member) and an unread row for a message of another not read yet.
  const upsertEntry = db.prepare(
    `INSERT INTO conversation_entries (user_id, conversation, activity_id, last_message_id) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id, conversation) DO UPDATE SET activity_id = max(activity_id, excluded.activity_id),
     last_message_id = max(last_message_id, excluded.last_message_id)`,
  );
  const updateEntry = db.prepare(
    `UPDATE conversation_entries SET activity_id = max(activity_id, ?1), last_message_id = max(last_message_id, ?1)
     WHERE user_id = ?2 AND conversation = ?3`,
  );
  const insertUnread = db.prepare(
    `INSERT OR IGNORE INTO unread (user_id, conversation, message_id) SELECT ?1, ?2, ?3
     WHERE ?3 > coalesce((SELECT read_up_to FROM conversation_entries WHERE user_id = ?1 AND conversation = ?2), 0)`,
  );
  // A group message's rows for all its recipients in three statements, not three per recipient: the
  // recipients go in as one JSON array (json_each), so SQLite walks them without a call from here
  // for each row (a group message of 100 members was 300 statement runs).
  const groupInbox = db.prepare(
    'INSERT OR IGNORE INTO inbox (user_id, message_id) SELECT value, ?2 FROM json_each(?1)',
  );
  const groupEntries = db.prepare(
    `UPDATE conversation_entries SET activity_id = max(activity_id, ?2), last_message_id = max(last_message_id, ?2)
     WHERE conversation = ?3 AND user_id IN (SELECT value FROM json_each(?1))`,
  );
  const groupUnread = db.prepare(
    `INSERT OR IGNORE INTO unread (user_id, conversation, message_id) SELECT j.value, ?3, ?2 FROM json_each(?1) j
     WHERE j.value <> ?4 AND ?2 > coalesce((SELECT read_up_to FROM conversation_entries e
       WHERE e.user_id = j.value AND e.conversation = ?3), 0)`,
  );
  interface Row {
    id: bigint;
    recipients: string;
    conversation: string;
    sender: string;
    group_id: string | null;
  }
  const index = (m: Row) => {
    const group = m.group_id !== null;
    const recipients = JSON.parse(m.recipients) as string[];
    if (group && recipients.length >= GROUP_STATEMENTS_FROM) {
      groupInbox.run(m.recipients, m.id);
      groupEntries.run(m.recipients, m.id, m.conversation);
      groupUnread.run(m.recipients, m.id, m.conversation, m.sender);
      return;
    }
    for (const userId of recipients) {
      insertInbox.run(userId, m.id);
      if (group) updateEntry.run(m.id, userId, m.conversation);
      else upsertEntry.run(userId, m.conversation, m.id, m.id);
      if (userId !== m.sender) insertUnread.run(userId, m.conversation, m.id);
    }
  };
  return () => {
    db.exec('PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE');
    try {
      let n = 0;
      for (const row of unindexed.iterate() as Iterable<Row>) {
        index(row);
        n++;
      }
      if (n > 0) clear.run();
      db.exec('COMMIT');
      return n;
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    } finally {
      db.exec('PRAGMA synchronous = FULL');
    }
  };
}

/** The worker: a connection of its own, one transaction per drained set of requests. */
function runWorker(file: string): void {
  const port = parentPort!;
  const db = new DatabaseSync(file);
  db.exec(CONNECTION_PRAGMAS);
  const insertMessage = db.prepare(
    `INSERT INTO messages (message_id, conversation, sender, to_user, group_id, text, ts, dedup_key)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const insertUnindexed = db.prepare('INSERT INTO unindexed (message_id, recipients) VALUES (?, ?)');
  const indexAll = indexer(db);
  /** Messages committed and not indexed yet (the count this worker wrote, or unknown: -1). */
  let unindexed = -1;
  /** When the oldest of them was committed (performance.now(); 0 while unknown: index at once). */
  let oldestUnindexed = 0;
  /** The highest request id received (saves and index requests share the numbering). */
  let received = 0;
  /** Commits the saves in one transaction; returns, per save, the envelopes not inserted. */
  const write = (saves: Request[]): (number[] | undefined)[] => {
    const skipped: (number[] | undefined)[] = saves.map(() => undefined);
    let inserted = 0;
    db.exec('BEGIN IMMEDIATE');
    try {
      for (const [ri, r] of saves.entries()) {
        for (const [ei, { message: m, recipients, dedupKey }] of r.envelopes!.entries()) {
          const id = BigInt(m.messageId);
          const { changes } = insertMessage.run(
            id,
            m.conversation,
            m.from,
            m.to ?? null,
            m.group ?? null,
            m.text,
            m.ts,
            dedupKey ?? null,
          );
          // Not inserted: the id is stored already (a retry, whose rows exist or are unindexed) or
          // its dedup key is (another message, whose inbox rows must not point at this id).
          if (changes === 0) {
            const list = skipped[ri] ?? [];
            list.push(ei);
            skipped[ri] = list;
            continue;
          }
          insertUnindexed.run(id, JSON.stringify(recipients));
          inserted++;
        }
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    if (unindexed === 0 && inserted > 0) oldestUnindexed = performance.now();
    if (unindexed >= 0) unindexed += inserted;
    return skipped;
  };
  /** Commits the saves among `requests` and answers each. */
  const commit = (saves: Request[]) => {
    if (saves.length === 0) return;
    try {
      const skipped = write(saves);
      for (const [i, r] of saves.entries())
        port.postMessage({ id: r.id, ...(skipped[i] && { skipped: skipped[i] }) } satisfies Reply);
    } catch {
      // One bad request must not fail the others: write them one by one to find it.
      for (const r of saves) {
        try {
          const [skipped] = write([r]);
          port.postMessage({ id: r.id, ...(skipped && { skipped }) } satisfies Reply);
        } catch (err) {
          port.postMessage({ id: r.id, error: errorMessage(err) } satisfies Reply);
        }
      }
    }
  };
  /** Indexes what is unindexed and says through which request. */
  const index = () => {
    const through = received;
    try {
      indexAll();
      unindexed = 0;
      port.postMessage({ indexedThrough: through } satisfies Reply);
    } catch (err) {
      port.postMessage({ indexedThrough: through, error: errorMessage(err) } satisfies Reply);
    }
  };
  const take = (requests: Request[]) => {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
      requests.push(m.message as Request);
  };
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  port.on('message', (first: Request) => {
    clearTimeout(idleTimer);
    idleTimer = undefined;
    const requests = [first];
    take(requests);
    // Saves are committed as they come. The index waits, so that one transaction covers many
    // messages, until a read asks for it or the oldest unindexed message is INDEX_WITHIN_MS old.
    while (requests.length > 0) {
      for (const r of requests) if (r.id > received) received = r.id;
      const asked = requests.some((r) => r.envelopes === undefined);
      commit(requests.filter((r) => r.envelopes !== undefined));
      requests.length = 0;
      const due = unindexed !== 0 && performance.now() - oldestUnindexed >= INDEX_WITHIN_MS;
      if (asked || due) index();
      take(requests);
    }
    if (unindexed !== 0)
      idleTimer = setTimeout(index, Math.max(0, oldestUnindexed + INDEX_WITHIN_MS - performance.now()));
  });
}

const file = isMainThread ? undefined : (workerData as Record<string, unknown> | null)?.[WORKER_KEY];
if (typeof file === 'string') runWorker(file);
