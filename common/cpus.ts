/**
 * The CPUs this process may use: the scheduler's CPU set (os.availableParallelism) capped by the
 * cgroup's CPU quota (a container's `limits.cpu`), rounded up. Read once at start.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** A quota/period pair as cgroup v2's cpu.max ("max 100000" or "150000 100000") or v1's files hold it. */
export function quotaCpus(quota: number, period: number): number | undefined {
  if (!(quota > 0) || !(period > 0)) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The cgroup's CPU limit, if one is set (v2 first, then v1). */
export function cgroupCpus(root = '/sys/fs/cgroup'): number | undefined {
  const v2 = read(`${root}/cpu.max`);
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    return quota === 'max' ? undefined : quotaCpus(Number(quota), Number(period));
  }
  for (const dir of [`${root}/cpu`, `${root}/cpu,cpuacct`]) {
    const quota = read(`${dir}/cpu.cfs_quota_us`);
    const period = read(`${dir}/cpu.cfs_period_us`);
    if (quota !== undefined && period !== undefined) return quotaCpus(Number(quota), Number(period));
  }
  return undefined;
}

export function availableCpus(): number {
  const set = availableParallelism();
  const limit = cgroupCpus();
  return limit === undefined ? set : Math.min(set, limit);
}

/**
 * CHAT_WORKERS when unset: one CPU is left to the main thread, which keeps the backends (and the
 * SQLite writer's thread); on 2 CPUs two loops were slower than one (BENCHMARKS.md, "Event loops").
 */
export function defaultWorkers(cpus = availableCpus()): number {
  return Math.max(1, cpus - 1);
}
