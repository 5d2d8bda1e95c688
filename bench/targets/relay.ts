/** The raw `ws` relay (bench/targets/ws-relay.ts) as a target: the ceiling of a Node server. */
import { join } from 'node:path';
import { randomId } from '../../common/ids.ts';
import { inspectArg } from '../lib/inspector.ts';
import { freePort, spawnTracked, stopChild } from '../lib/proc.ts';
import type { Target } from './types.ts';

/** With `inspect`, under `--inspect` on a free port (the idle scenario forces GCs through it). */
export async function startRelay(o: { inspect?: boolean } = {}): Promise<Target> {
  const inspectPort = o.inspect ? await freePort() : undefined;
  let resolveReady: (addr: string) => void = () => {};
  const ready = new Promise<string>((r) => {
    resolveReady = r;
  });
  const proc = spawnTracked(
    process.execPath,
    [
      ...(inspectPort ? [inspectArg(inspectPort)] : []),
      join(import.meta.dirname, 'ws-relay.ts'),
      '--port',
      '0',
    ],
    {
      onLine: (line) => {
        const m = /^listening on (\S+)/.exec(line);
        if (m) resolveReady(m[1]!);
      },
    },
  );
  const addr = await Promise.race([
    ready,
    proc.exited.then(() => Promise.reject(new Error(`ws relay exited:\n${proc.logs.join('\n')}`))),
  ]);
  const ids = (n: number) => Array.from({ length: n }, () => ({ userId: randomId('u'), token: '' }));
  return {
    id: 'relay',
    name: 'raw ws relay (Node)',
    endpoint: { kind: 'relay', wsUrl: `ws://${addr}/` },
    pid: proc.pid,
    inspectPort,
    accounts: async (n) => ids(n),
    identities: async (n) => ids(n),
    group: async () => randomId('g'),
    stop: () => stopChild(proc),
  };
}
