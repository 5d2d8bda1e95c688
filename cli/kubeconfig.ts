/**
 * The kubeconfig as kubectl reads it: `--kubeconfig` alone when given; else every file of KUBECONFIG
 * that exists, merged (the first file to name a cluster, user or context wins, and the first
 * current-context set wins); else ~/.kube/config. Relative paths in a file are taken from its folder.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '../common/errors.ts';
import { CliError, UsageError } from './errors.ts';

/** The files to read, in order: `--kubeconfig`, else the existing files of KUBECONFIG, else ~/.kube/config. */
export function kubeconfigFiles(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  exists: (path: string) => boolean = existsSync,
): string[] {
  if (flag) return [flag];
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '');
  if (listed.length > 0) return [...new Set(listed)].filter(exists);
  return [join(env.HOME ?? env.USERPROFILE ?? '.', '.kube', 'config')];
}

/** Reads and merges `files` (see kubeconfigFiles); `what` names them in errors. */
export function loadKubeConfig(files: readonly string[], what: string): KubeConfig {
  if (files.length === 0) {
    throw new UsageError(
      `no file of KUBECONFIG exists (${what}): pass --kubeconfig <file> or fix KUBECONFIG`,
    );
  }
  const merged = { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: '' };
  for (const file of files) {
    if (!existsSync(file)) {
      throw new UsageError(`no kubeconfig at ${file}: pass --kubeconfig <file> or set KUBECONFIG`);
    }
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      throw new CliError(`cannot read the kubeconfig ${file}: ${errorMessage(err)}`, { cause: err });
    }
    for (const c of one.getClusters()) if (!merged.clusters.has(c.name)) merged.clusters.set(c.name, c);
    for (const u of one.getUsers()) if (!merged.users.has(u.name)) merged.users.set(u.name, u);
    for (const c of one.getContexts()) if (!merged.contexts.has(c.name)) merged.contexts.set(c.name, c);
    if (!merged.currentContext && one.getCurrentContext()) merged.currentContext = one.getCurrentContext();
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [...merged.clusters.values()],
    users: [...merged.users.values()],
    contexts: [...merged.contexts.values()],
    currentContext: merged.currentContext,
  });
  return kc;
}
