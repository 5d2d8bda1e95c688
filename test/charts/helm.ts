/**
 * The helm binary for chart tests: built once by scripts/helm.sh (go install, cached outside the
 * repo), then run as a process. A helm that cannot be built fails the tests with the reason.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

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

/** A rendered manifest, read as a plain object. */
export type Obj = KubernetesObject & Record<string, any>;

/**
 * The objects `helm template <release> <chart>` renders in `namespace` with `--set` values `set`
 * (hooks and tests included); rejects when helm fails or prints YAML that does not parse.
 */
export async function renderChart(
  binary: string,
  chart: string,
  release: string,
  namespace: string,
  set: readonly string[] = [],
  flags: readonly string[] = [],
): Promise<Obj[]> {
  const args = ['template', release, chart, '--namespace', namespace, ...flags];
  for (const s of set) args.push('--set', s);
  const text = await helm(binary, args);
  const docs = parseAllDocuments(text);
  const errors = docs.flatMap((d) => d.errors.map((e) => e.message));
  if (errors.length > 0)
    throw new Error(`helm template printed invalid YAML (${errors.join('; ')}):\n${text}`);
  return docs.map((d) => d.toJS() as Obj).filter((o) => o !== null);
}
