/** The embedded SQLite store against the Store contract. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import type { Envelope } from '../../chat-node/backends/types.ts';
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
    try {
      const row = db.prepare('SELECT count(*) AS n FROM inbox').get() as { n: number };
      expect(row.n).toBe(4000);
    } finally {
      db.close();
    }
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
