/**
 * The helm binary for chart tests: built once by scripts/helm.sh (go install, cached outside the
 * repo), then run as a process. A helm that cannot be built fails the tests with the reason.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The path of helm, building it first if this machine has none yet (minutes, once). */
export async function helmBinary(): Promise<string> {
  const r = await run('bash', [join(ROOT, 'scripts', 'helm.sh')]);
  const path = r.stdout.trim();
  if (r.code !== 0 || path === '') {
    throw new Error(
      `helm could not be built by scripts/helm.sh (it needs go on PATH and the Go module proxy), exit ${r.code}:\n` +
        r.stderr.split('\n').slice(-30).join('\n'),
    );
  }
  return path;
}

/** Runs helm; resolves with its stdout, or rejects with its stderr. */
export async function helm(binary: string, args: readonly string[]): Promise<string> {
  const r = await run(binary, args);
  if (r.code !== 0)
    throw new Error(`helm ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}
