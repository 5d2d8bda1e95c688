/**
 * Message writes of the embedded store, off the event loop. `node:sqlite` is synchronous: on the
 * main thread every commit (one fsync with synchronous=FULL) would stop all connections for as long
 * as the disk takes. Here a worker thread owns a second connection to the same WAL file and commits
 * there; the main thread keeps serving sockets meanwhile and reads on its own connection, which sees
 * every commit once the worker has answered.
 *
 * The worker drains every request waiting on its port before it begins a transaction, so requests
 * that arrive during one fsync share the next: group commit without a timer.
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

/** The workerData key that names the database file (and marks the thread as this writer). */
const WORKER_KEY = 'chatSqliteWriterFile';

interface Request {
  id: number;
  envelopes: readonly Envelope[];
}

interface Reply {
  id: number;
  error?: string;
  /** The envelopes (by index) that were not inserted: their id or dedup key was stored already. */
  skipped?: number[];
}

/** Whether each envelope of a save was inserted (false: its id or its dedup key was stored before). */
export type Inserted = readonly boolean[];

/** The main thread's side: one worker, requests answered in order. */
export class SqliteWriter {
  private readonly file: string;
  private worker?: Worker;
  private nextId = 1;
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
    worker.postMessage({ id, envelopes } satisfies Request);
    return done;
  }

  /** Waits for the writes in flight, then stops the worker. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending.values()].map((p) => p.done));
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = new Worker(new URL(import.meta.url), { workerData: { [WORKER_KEY]: this.file } });
    worker.unref();
    worker.on('message', (reply: Reply) => {
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
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  /** Forgets an answered request; with none left, the idle worker no longer keeps the process alive. */
  private settle(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
  }
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
  /** Every recipient's inbox row, conversation entry and (for another's message) unread row. */
  const indexAll = (recipients: readonly string[], m: Envelope['message'], id: bigint) => {
    if (m.group === undefined || recipients.length < GROUP_STATEMENTS_FROM) {
      for (const userId of recipients) index(userId, m, id);
      return;
    }
    const users = JSON.stringify(recipients);
    groupInbox.run(users, id);
    groupEntries.run(users, id, m.conversation);
    groupUnread.run(users, id, m.conversation, m.from);
  };
  /** A recipient's inbox row, conversation entry and (for another's message) unread row. */
  const index = (userId: string, m: Envelope['message'], id: bigint) => {
    insertInbox.run(userId, id);
    if (m.group === undefined) upsertEntry.run(userId, m.conversation, id, id);
    else updateEntry.run(id, userId, m.conversation);
    if (userId !== m.from) insertUnread.run(userId, m.conversation, id);
  };
  /** Commits the requests in one transaction; returns, per request, the envelopes not inserted. */
  const write = (requests: Request[]): (number[] | undefined)[] => {
    const skipped: (number[] | undefined)[] = requests.map(() => undefined);
    db.exec('BEGIN IMMEDIATE');
    try {
      for (const [ri, r] of requests.entries()) {
        for (const [ei, { message: m, recipients, dedupKey }] of r.envelopes.entries()) {
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
          // Not inserted: the id is stored already (a retry, whose inbox rows exist) or its dedup key
          // is (another message, whose inbox rows must not point at this id).
          if (changes === 0) {
            const list = skipped[ri] ?? [];
            list.push(ei);
            skipped[ri] = list;
            continue;
          }
          indexAll(recipients, m, id);
        }
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    return skipped;
  };
  port.on('message', (first: Request) => {
    const requests = [first];
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
      requests.push(m.message as Request);
    try {
      const skipped = write(requests);
      for (const [i, r] of requests.entries())
        port.postMessage({ id: r.id, ...(skipped[i] && { skipped: skipped[i] }) } satisfies Reply);
    } catch {
      // One bad request must not fail the others: write them one by one to find it.
      for (const r of requests) {
        try {
          const [skipped] = write([r]);
          port.postMessage({ id: r.id, ...(skipped && { skipped }) } satisfies Reply);
        } catch (err) {
          port.postMessage({ id: r.id, error: errorMessage(err) } satisfies Reply);
        }
      }
    }
  });
}

const file = isMainThread ? undefined : (workerData as Record<string, unknown> | null)?.[WORKER_KEY];
if (typeof file === 'string') runWorker(file);
