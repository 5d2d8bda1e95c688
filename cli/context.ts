/**
 * What a command may touch of the outside world, passed in by main.ts (the only file that reads
 * process.env and process.stdout) so tests can run commands with their own.
 */
import type { Readable } from 'node:stream';

export interface CliContext {
  /** The environment: KUBECONFIG, HOME, CHATCTL_ADMIN_TOKEN, CHATCTL_URL, CHATCTL_PASSWORD. */
  env: Readonly<Record<string, string | undefined>>;
  /** Writes a line (a newline is added) to standard output. */
  out(line: string): void;
  /** Writes a line to standard error: progress, warnings, errors. */
  err(line: string): void;
  /** Standard input, for `chatctl chat`. */
  stdin: Readable;
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void>;
  /**
   * Resolves when the user asks to stop (Ctrl-C, SIGTERM), for commands that run until then. Only
   * once a command calls it does Ctrl-C stop being the end of the process.
   */
  interrupted(): Promise<void>;
}
