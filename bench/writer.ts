/**
 * The embedded store's message writer alone, without sockets: `--messages` 1:1 messages between
 * `--users` users (sender i, recipient 7i+1), saved through SqliteStore.saveMessages in calls of
 * `--batch` envelopes with `--in-flight` calls outstanding, as the node's bus does. Printed per
 * batch size: messages a second and the process's CPU per message (main thread and writer thread;
 * the main thread only posts). A temporary data directory, removed at the end.
 *
 *   node bench/writer.ts [--users 1000] [--messages 60000] [--batch 1,8,64] [--in-flight 16]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteStore } from '../chat-node/backends/embedded/sqlite-store.ts';
import type { Envelope } from '../chat-node/backends/types.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '60000' },
    batch: { type: 'string', default: '1,8,64' },
    'in-flight': { type: 'string', default: '16' },
  },
});
const USERS = Number(values.users);
const TOTAL = Number(values.messages);
const IN_FLIGHT = Number(values['in-flight']);
const TEXT = 'x'.repeat(64);

for (const batch of values.batch.split(',').map(Number)) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-writer-'));
  const store = new SqliteStore(dir);
  let id = 1n << 40n;
  const envelope = (i: number): Envelope => {
    const from = `u${i % USERS}`;
    const to = `u${(i * 7 + 1) % USERS}`;
    id += 1n;
    return {
      message: {
        messageId: String(id),
        conversation: from < to ? `dm:${from}:${to}` : `dm:${to}:${from}`,
        from,
        to,
        text: TEXT,
        ts: Date.now(),
      },
      recipients: [from, to],
      dedupKey: `${from}/d/${i}`,
      fromDevice: 'd',
    };
  };
  // Warm-up (not measured): the tables' first pages, the writer thread's start.
  const WARM_UP = 1000;
  let next = 0;
  await store.saveMessages(Array.from({ length: WARM_UP }, () => envelope(next++)));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const lane = async () => {
    while (next < WARM_UP + TOTAL) {
      const n = Math.min(batch, WARM_UP + TOTAL - next);
      const batchOf = Array.from({ length: n }, () => envelope(next++));
      await store.saveMessages(batchOf);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const us = (v: number) => (v / TOTAL).toFixed(1);
  console.log(
    `batch ${batch}, ${IN_FLIGHT} in flight: ${Math.round(TOTAL / seconds)} msgs/s, CPU ${us(cpu.user + cpu.system)} us/msg (user ${us(cpu.user)}, system ${us(cpu.system)})`,
  );
}
