/** The embedded SQLite store against the Store contract. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import type { Envelope } from '../../chat-node/backends/types.ts';
import { UNREAD_CAP } from '../../common/resources.ts';
import { describeStoreContract } from '../helpers/store-contract.ts';

describeStoreContract('SqliteStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
  const store = new SqliteStore(dir);
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore message writes (a worker thread commits them)', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sqlite-writer-'));
    store = new SqliteStore(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const envelopes = (n: number, size: number): Envelope[] =>
    Array.from({ length: n }, (_, i) => ({
      message: {
        messageId: String(1000 + i),
        conversation: 'dm:ua:ub',
        from: 'ua',
        to: 'ub',
        text: 'x'.repeat(size),
        ts: 1,
      },
      recipients: ['ua', 'ub'],
    }));

  it('are committed, on disk for any other connection, when saveMessages resolves', async () => {
    await store.saveMessages(envelopes(2000, 2000));
    // Read at once, on a connection of our own: a writer that answered before its commit fails here.
    const db = new DatabaseSync(join(dir, 'chat.db'));
    const copy = mkdtempSync(join(tmpdir(), 'sqlite-writer-copy-'));
    try {
      const row = db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number };
      expect(row.n).toBe(2000);
      // What is on disk then is enough: a store opened on a copy of it (whose inbox rows may still
      // be unindexed) gives both users every message and the recipient its unread count (capped).
      db.exec(`VACUUM INTO '${join(copy, 'chat.db')}'`);
      const reopened = new SqliteStore(copy);
      try {
        expect((await reopened.sync('ub', 0n, 3000, 100 * 1024 * 1024)).messages).toHaveLength(2000);
        expect((await reopened.sync('ua', 0n, 3000, 100 * 1024 * 1024)).messages).toHaveLength(2000);
        expect((await reopened.conversationEntry('ub', 'dm:ua:ub'))?.unread).toBe(UNREAD_CAP);
      } finally {
        await reopened.close();
      }
    } finally {
      db.close();
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('write the inbox rows of what they saved once the writer is idle, with no read asking', async () => {
    await store.saveMessages(envelopes(50, 10));
    const db = new DatabaseSync(join(dir, 'chat.db'));
    try {
      const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
      const deadline = Date.now() + 10_000;
      while (count('SELECT count(*) AS n FROM unindexed') > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(count('SELECT count(*) AS n FROM unindexed')).toBe(0);
      expect(count('SELECT count(*) AS n FROM inbox')).toBe(100);
      expect(count('SELECT count(*) AS n FROM unread')).toBe(50);
    } finally {
      db.close();
    }
  });

  it('index, when the store opens, what a crash left committed and unindexed', async () => {
    await store.saveMessages(envelopes(1, 10));
    await store.close();
    // As the first step of a save leaves it: the message rows and their recipients, no inbox rows.
    const db = new DatabaseSync(join(dir, 'chat.db'));
    try {
      const insert = db.prepare(
        `INSERT INTO messages (message_id, conversation, sender, to_user, text, ts) VALUES (?, 'dm:ua:ub', 'ua', 'ub', 'x', 1)`,
      );
      const unindexed = db.prepare('INSERT INTO unindexed (message_id, recipients) VALUES (?, ?)');
      for (let id = 5000; id < 5010; id++) {
        insert.run(id);
        unindexed.run(id, '["ua","ub"]');
      }
    } finally {
      db.close();
    }
    store = new SqliteStore(dir);
    expect((await store.sync('ub', 0n, 100)).messages.map((m) => m.messageId)).toEqual([
      '1000',
      ...Array.from({ length: 10 }, (_, i) => String(5000 + i)),
    ]);
    const entry = await store.conversationEntry('ub', 'dm:ua:ub');
    expect(entry?.lastMessageId).toBe(5009n);
    expect(entry?.unread).toBe(11);
  });

  it('share transactions when they arrive together, and each answers for itself', async () => {
    const all = envelopes(300, 10);
    await Promise.all(all.map((e) => store.saveMessages([e])));
    expect((await store.sync('ub', 0n, 1000)).messages).toHaveLength(300);
    // Saving again is harmless (same id, same row).
    await store.saveMessages(all.slice(0, 5));
    expect((await store.sync('ua', 0n, 1000)).messages).toHaveLength(300);
  });

  it('say which envelopes they inserted: not a stored id, not a stored dedup key', async () => {
    const [a, b, c] = envelopes(3, 10) as [Envelope, Envelope, Envelope];
    a.dedupKey = 'ua/d1/1';
    expect(await store.saveMessages([a, b])).toEqual([true, true]);
    // b again (same id), c under a's dedup key (another id), and a new one: only the last goes in.
    const d = { ...envelopes(4, 10)[3]!, dedupKey: 'ua/d1/2' };
    expect(await store.saveMessages([b, { ...c, dedupKey: 'ua/d1/1' }, d])).toEqual([false, false, true]);
    expect((await store.messageByDedupKey('ua/d1/1'))?.messageId).toBe(a.message.messageId);
  });

  it('refuse writes once closed, after finishing the ones in flight', async () => {
    const inFlight = store.saveMessages(envelopes(100, 10));
    await store.close();
    await inFlight;
    await expect(store.saveMessages(envelopes(1, 10))).rejects.toThrow(/closed/);
    const db = new DatabaseSync(join(dir, 'chat.db'));
    try {
      expect((db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n).toBe(100);
    } finally {
      db.close();
    }
  });
});
