import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroupCpus, defaultWorkers, quotaCpus } from '../../common/cpus.ts';

describe('the CPUs a node may use', () => {
  const roots: string[] = [];
  const root = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'cgroup-'));
    roots.push(dir);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), `${text}\n`);
    }
    return dir;
  };
  afterEach(() => {
    for (const d of roots.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('reads a cgroup v2 limit (cpu.max), rounded up, and none for "max"', () => {
    expect(cgroupCpus(root({ 'cpu.max': '150000 100000' }))).toBe(2);
    expect(cgroupCpus(root({ 'cpu.max': '50000 100000' }))).toBe(1);
    expect(cgroupCpus(root({ 'cpu.max': 'max 100000' }))).toBeUndefined();
  });

  it('reads a cgroup v1 quota, and none for -1 or no cgroup files', () => {
    const v1 = (quota: string) => root({ 'cpu/cpu.cfs_quota_us': quota, 'cpu/cpu.cfs_period_us': '100000' });
    expect(cgroupCpus(v1('400000'))).toBe(4);
    expect(cgroupCpus(v1('-1'))).toBeUndefined();
    expect(cgroupCpus(root({}))).toBeUndefined();
    expect(quotaCpus(0, 100000)).toBeUndefined();
  });

  it('leaves one CPU to the main thread by default, and never goes below one loop', () => {
    expect([1, 2, 3, 8].map((n) => defaultWorkers(n))).toEqual([1, 1, 2, 7]);
  });
});
