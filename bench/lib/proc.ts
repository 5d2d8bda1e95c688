/** Processes of the bench: spawning targets, waiting for them, and reading their RSS and CPU time. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { errorMessage } from '../../common/errors.ts';

/** Every child the bench started, so that an exit path can stop what is still running. */
const children = new Set<ChildProcess>();

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** The last output lines (stdout and stderr), for error messages. */
  logs: string[];
  /** Resolves when the child has exited. */
  exited: Promise<number | null>;
}

export function spawnTracked(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; onLine?: (line: string) => void } = {},
): Spawned {
  const child = spawn(cmd, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const logs: string[] = [];
  const onData = (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (!line) continue;
      if (logs.length > 200) logs.shift();
      logs.push(line);
      options.onLine?.(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, pid: child.pid ?? -1, logs, exited };
}

/** Stops a child (SIGTERM unless already signalled, SIGKILL after `graceMs`) and waits for it. */
export async function stopChild(
  s: Spawned,
  graceMs = 5000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill(signal);
  const timer = setTimeout(() => s.child.kill('SIGKILL'), graceMs);
  await s.exited;
  clearTimeout(timer);
}

/** Kills whatever the bench started and is still running (on errors and signals). */
export function killAllChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it is true (or throws after `timeoutMs`, with `what` in the message). */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
  intervalMs = 100,
  /** Keep polling when `check` throws (an API not answering yet), naming its last error on timeout. */
  retryErrors = false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      if (!retryErrors) throw err;
      last = errorMessage(err);
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`,
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status), or NaN if gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const CLOCK_TICKS = 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** The open-files limit (soft, hard) of a process, from /proc/<pid>/limits. */
export function fileLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const text = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const m = /Max open files\s+(\S+)\s+(\S+)/.exec(text);
  const n = (s: string | undefined) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

export function load1(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

/** CPU use of processes over an interval, as a fraction of one core. */
export class CpuMeter {
  private readonly pids: number[];
  private readonly start: number[];
  private readonly t0 = performance.now();
  constructor(pids: number[]) {
    this.pids = pids;
    this.start = pids.map(cpuSeconds);
  }
  /** CPU seconds each process used since the meter started. */
  used(): number[] {
    return this.pids.map((p, i) => cpuSeconds(p) - this.start[i]!);
  }
  cores(): number[] {
    const secs = (performance.now() - this.t0) / 1000;
    return this.pids.map((p, i) => Math.round(((cpuSeconds(p) - this.start[i]!) / secs) * 100) / 100);
  }
}
