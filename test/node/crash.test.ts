/**
 * The embedded node killed with SIGKILL in the middle of a burst of sends: every message that got
 * `sent` is in the store after a restart on the same data dir. This catches commits that never reach
 * the disk; that `sent` waits for the writer thread's commit is shown, more sharply, by the writer
 * test in sqlite-store.test.ts (a kill rarely lands between an early answer and its commit).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type NodeProcess, spawnNode } from '../helpers/cluster.ts';
import { TestSocket } from '../helpers/socket.ts';
import { until } from '../helpers/until.ts';
import { createUsers, http, type TestUser } from '../helpers/users.ts';
import { dmOf } from '../helpers/ws.ts';

// With one event loop, and with two (CHAT_WORKERS: the sends cross to the main thread's store writer).
describe.each([1, 2])('an embedded node of %i event loop(s) killed during a burst of sends', (workers) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-crash-'));
  const env = {
    ...process.env,
    CHAT_HOST: '127.0.0.1',
    CHAT_PORT: '0',
    CHAT_DATA_DIR: dataDir,
    CHAT_WORKERS: String(workers),
    CHAT_LOG_LEVEL: 'info',
    CHAT_FRAMES_PER_SECOND: '100000',
    CHAT_FRAME_BURST: '100000',
    // The burst's own copies come back faster than this test reads them while it is still sending.
    CHAT_MAX_BUFFERED_BYTES: String(512 * 1024 ** 2),
  };
  let node: NodeProcess | undefined;
  afterAll(() => {
    node?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged message', async () => {
    node = await spawnNode(0, env);
    const [alice, bob] = (await createUsers(node.url, 2, 'crash')) as [TestUser, TestUser];
    const ws = await TestSocket.open(`${node.url.replace('http', 'ws')}/v1/ws`, alice.token);
    // Large texts make each commit take milliseconds, and the kill comes the moment the 100th
    // `sent` arrives: a node that answered `sent` before its commit would lose that batch.
    const N = 1000;
    const text = (i: number) => `burst ${i} `.padEnd(50_000, 'x');
    const exited = new Promise((r) => node!.child.once('exit', r));
    let acks = 0;
    ws.ws.on('message', (data) => {
      if (JSON.parse(data.toString()).type === 'sent' && ++acks === 100) node!.child.kill('SIGKILL');
    });
    for (let i = 0; i < N; i++)
      ws.ws.send(JSON.stringify({ type: 'send', id: `c${i}`, to: bob.userId, text: text(i) }));
    await until(
      'the node is killed at the 100th acknowledgement',
      () => node!.child.signalCode !== null,
      30_000,
    );
    await exited;
    await until('the socket is closed', () => ws.closed !== undefined, 5000);
    const acked = () => ws.frames.filter((f) => f.type === 'sent');
    const ackedIds = new Set(acked().map((f) => f.messageId as string));
    // The kill came before the end of the burst, or the test shows nothing.
    expect(ackedIds.size).toBeLessThan(N);

    node = await spawnNode(0, env);
    const stored = new Set<string>();
    let before = '';
    for (;;) {
      const res = await http(
        node.url,
        'GET',
        `/v1/conversations/${dmOf(alice.userId, bob.userId)}/messages?limit=200${before}`,
        {
          token: bob.token,
        },
      );
      expect(res.status).toBe(200);
      if (res.body.messages.length === 0) break;
      for (const m of res.body.messages) stored.add(m.messageId);
      before = `&before=${res.body.messages.at(-1).messageId}`;
    }
    const missing = [...ackedIds].filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
  }, 60_000);
});
