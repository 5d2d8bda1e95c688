/**
 * The embedded node's files hold every account and the whole history: its data dir is 0700 and its
 * files 0600, whatever the umask, so other users of the machine read nothing.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';

/**
 * Creates `dir` (0700) if needed and makes it 0700 if it exists and is ours. A directory another user
 * owns (a pod's volume, owned by root with the pod's fsGroup) keeps its mode: only its owner could
 * change it, and the files inside are still 0600.
 */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    chmodSync(dir, 0o700);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}

/** Makes `file` 0600; with `create`, creates it empty first. A missing file is left alone. */
export function makePrivate(file: string, options: { create?: boolean } = {}): void {
  if (options.create) closeSync(openSync(file, 'a', 0o600));
  try {
    chmodSync(file, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
