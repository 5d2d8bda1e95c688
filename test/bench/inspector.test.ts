/** The idle scenario's forced GC: a Node process under --inspect is collected and read from outside. */
import { describe, expect, it } from 'vitest';
import { heapAfterGc, inspectArg } from '../../bench/lib/inspector.ts';
import { freePort, spawnTracked, stopChild } from '../../bench/lib/proc.ts';

describe('heapAfterGc', () => {
  it('collects the garbage of a process under --inspect and reads its live heap', async () => {
    const port = await freePort();
    // 64 MiB of arrays, dropped after 300 ms: only a collection frees them before the reading.
    const script = `let junk = Array.from({ length: 64 }, () => new Array(131072).fill(0.5));
      setTimeout(() => { junk = undefined; console.log('dropped'); }, 300); setInterval(() => {}, 1000);`;
    let dropped!: () => void;
    const ready = new Promise<void>((r) => {
      dropped = r;
    });
    const child = spawnTracked(process.execPath, [inspectArg(port), '-e', script], {
      onLine: (line) => {
        if (line === 'dropped') dropped();
      },
    });
    try {
      await ready;
      const r = await heapAfterGc(port);
      expect(r.heapUsed).toBeGreaterThan(1 << 20);
      expect(r.heapUsed).toBeLessThan(32 << 20);
      expect(r.rss).toBeGreaterThan(r.heapUsed);
    } finally {
      await stopChild(child);
    }
  }, 20_000);
});
