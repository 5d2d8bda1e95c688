/**
 * Runs chatctl in this process through cli/program.ts, the way main.ts does but with the
 * environment a test passes (a HOME with no kubeconfig, nothing of the machine's): its exit code and
 * what it printed. Real clock and sleep, so waits (drain --wait) behave as they do for a user.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CliContext } from '../../cli/context.ts';
import { run } from '../../cli/program.ts';

const HOME = mkdtempSync(join(tmpdir(), 'chatctl-home-'));

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `onErr` sees each standard-error line as it is written (progress, warnings). */
export async function chatctlInProcess(
  args: readonly string[],
  env: Record<string, string> = {},
  onErr?: (line: string) => void,
): Promise<InProcessResult> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    env: { HOME, ...env },
    out: (line) => out.push(line),
    err: (line) => {
      err.push(line);
      onErr?.(line);
    },
    stdin: Readable.from([]),
    now: Date.now,
    sleep: (ms) => sleep(ms),
    interrupted: () => new Promise(() => {}),
  };
  const code = await run(args, ctx);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}
