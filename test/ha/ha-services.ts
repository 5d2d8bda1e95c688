/**
 * The clustered services of `npm run services:up -- --ha` for the tests in this folder: started
 * (or completed, after a test killed one server) by the same idempotent script, and servers killed
 * by their pid files.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** Starts whatever of the HA topology is not running (a no-op when all of it is). */
export function ensureHaServices(): void {
  execFileSync('bash', [join(ROOT, 'scripts/services/up.sh'), '--ha'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600_000,
  });
}

export type HaServer =
  | { kind: 'nats'; index: 0 | 1 | 2 }
  | { kind: 'redis'; index: 0 | 1 | 2 }
  | { kind: 'cassandra'; index: 0 | 1 | 2 };

function pidFile(s: HaServer): string {
  const dir = { nats: 'n', redis: 'r', cassandra: 'c' }[s.kind];
  return join(ROOT, '.services', 'ha', s.kind, `${dir}${s.index}`, `${s.kind}.pid`);
}

/** SIGKILLs one server of the topology and waits until it is gone. */
export async function killHaServer(s: HaServer): Promise<void> {
  const pid = Number(readFileSync(pidFile(s), 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${s.kind} ${s.index} (pid ${pid}) still alive after SIGKILL`);
}

/** The Redis Cluster master that serves a key (by asking one that is up). */
export function redisMasterOf(key: string): 0 | 1 | 2 {
  const ports = [26379, 26380, 26381];
  const slot = execFileSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'keyslot', key])
    .toString()
    .trim();
  const nodes = execFileSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'nodes']).toString();
  for (const line of nodes.split('\n')) {
    const [, addr, flags, , , , , , ...ranges] = line.split(' ');
    if (!flags?.includes('master')) continue;
    for (const r of ranges) {
      const [lo, hi] = r.split('-').map(Number);
      if (Number(slot) >= lo! && Number(slot) <= (hi ?? lo)!) {
        return ports.indexOf(Number(addr!.split(':')[1]!.split('@')[0])) as 0 | 1 | 2;
      }
    }
  }
  throw new Error(`no master serves slot ${slot}`);
}
