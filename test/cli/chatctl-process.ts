/**
 * Runs `node cli/main.ts …` as a real process, the way an operator runs chatctl: its exit code,
 * standard output and error. The environment is only what a test passes (plus PATH and a HOME with no
 * kubeconfig), so nothing from the machine leaks in.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = join(import.meta.dirname, '..', '..', 'cli', 'main.ts');
const HOME = mkdtempSync(join(tmpdir(), 'chatctl-home-'));

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running chatctl: its output so far, and a way to wait for a line of it. */
export class Chatctl {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Result>;

  constructor(args: readonly string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code) => resolve({ code, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  /** Waits until stdout or stderr matches; fails with both when it does not in time. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stdout) && !pattern.test(this.stderr)) {
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`chatctl printed no ${pattern}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  write(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Ends stdin (Ctrl-D) and waits for the exit. */
  end(): Promise<Result> {
    this.child.stdin!.end();
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Runs chatctl to its end (stdin closed at once) and returns what it printed and its exit code. */
export function chatctl(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  return new Chatctl(args, env).end();
}
