/**
 * chatctl as an operator installs it: `npm pack` of cli/ (which bundles it) and `npm install -g` of
 * the tarball into a temporary prefix; its programs (chatctl, kubectl-chat, kubectl_complete-chat)
 * run as processes with PATH = that prefix's bin, this Node (22.19+), then the system's (kubectl).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const exec = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

export interface InstalledChatctl {
  /** The temporary directory: the tarball, the prefix, and HOME of the programs. */
  dir: string;
  prefix: string;
  tarball: string;
  /** PATH for the installed programs. */
  path: string;
  home: string;
  /** Runs an installed program; never throws for an exit code. */
  run(
    bin: string,
    args: string[],
    env?: Record<string, string>,
    timeoutMs?: number,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  remove(): void;
}

export async function installChatctl(): Promise<InstalledChatctl> {
  const dir = mkdtempSync(join(tmpdir(), 'chatctl-package-'));
  const prefix = join(dir, 'prefix');
  const home = join(dir, 'home');
  const flags = ['--no-audit', '--no-fund', '--loglevel=error'];
  const packed = await exec('npm', ['pack', '--json', '--pack-destination', dir, ...flags], {
    cwd: join(root, 'cli'),
    timeout: 120_000,
  });
  const [info] = JSON.parse(packed.stdout) as { filename: string }[];
  if (!info) throw new Error(`npm pack printed no package: ${packed.stdout}`);
  const tarball = join(dir, info.filename);
  await exec('npm', ['install', '-g', '--prefix', prefix, ...flags, tarball], { timeout: 120_000 });
  const path = [join(prefix, 'bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(
    delimiter,
  );
  return {
    dir,
    prefix,
    tarball,
    path,
    home,
    async run(bin, args, env = {}, timeoutMs = 60_000) {
      try {
        const r = await exec(join(prefix, 'bin', bin), args, {
          env: { PATH: path, HOME: home, ...env },
          timeout: timeoutMs,
        });
        return { code: 0, ...r };
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return {
          code: typeof e.code === 'number' ? e.code : -1,
          stdout: e.stdout ?? '',
          stderr: e.stderr ?? '',
        };
      }
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
