/** Which kubeconfig files chatctl reads, and how it merges several, as kubectl does. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kubeconfigFiles, loadKubeConfig } from '../../cli/kubeconfig.ts';

describe('kubeconfigFiles', () => {
  const none = () => false;

  it('takes --kubeconfig alone', () => {
    expect(kubeconfigFiles('/a', { KUBECONFIG: '/b', HOME: '/h' }, none)).toEqual(['/a']);
  });

  it('takes every existing file of KUBECONFIG, in order, once each', () => {
    const exists = (p: string) => p !== '/x';
    expect(kubeconfigFiles(undefined, { KUBECONFIG: '/x:/y:/z:/y' }, exists)).toEqual(['/y', '/z']);
    expect(kubeconfigFiles(undefined, { KUBECONFIG: '/x' }, none)).toEqual([]);
  });

  it('falls back to ~/.kube/config', () => {
    expect(kubeconfigFiles(undefined, { HOME: '/home/ops' }, none)).toEqual(['/home/ops/.kube/config']);
    expect(kubeconfigFiles(undefined, { KUBECONFIG: '', HOME: '/h' }, none)).toEqual(['/h/.kube/config']);
  });
});

describe('loadKubeConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string) => {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    return path;
  };
  const config = (o: { current?: string; clusters: [string, string][]; contexts: [string, string][] }) =>
    [
      'apiVersion: v1',
      'kind: Config',
      ...(o.current ? [`current-context: ${o.current}`] : []),
      'clusters:',
      ...o.clusters.map(
        ([n, server]) => `- name: ${n}\n  cluster:\n    server: ${server}\n    certificate-authority: ca.crt`,
      ),
      'users:',
      '- name: ops\n  user:\n    token: t',
      'contexts:',
      ...o.contexts.map(([n, cluster]) => `- name: ${n}\n  context:\n    cluster: ${cluster}\n    user: ops`),
    ].join('\n');

  it('merges the files: the first to name a cluster or context wins, and the first current-context', () => {
    const first = file(
      'a/config',
      config({ clusters: [['prod', 'https://prod-a:6443']], contexts: [['prod', 'prod']] }),
    );
    const second = file(
      'b/config',
      config({
        current: 'staging',
        clusters: [
          ['prod', 'https://prod-b:6443'],
          ['staging', 'https://staging:6443'],
        ],
        contexts: [
          ['prod', 'staging'],
          ['staging', 'staging'],
        ],
      }),
    );
    const third = file('c/config', config({ current: 'prod', clusters: [], contexts: [] }));
    const kc = loadKubeConfig([first, second, third], 'test');
    expect(kc.getCurrentContext()).toBe('staging'); // the first file has none; the second's wins over the third's
    expect(kc.getContextObject('prod')?.cluster).toBe('prod');
    expect(kc.getCluster('prod')?.server).toBe('https://prod-a:6443');
    expect(kc.getCluster('staging')?.server).toBe('https://staging:6443');
    // A relative path is relative to the file that holds it.
    expect(kc.getCluster('prod')?.caFile).toBe(join(dir, 'a', 'ca.crt'));
    expect(kc.getCluster('staging')?.caFile).toBe(join(dir, 'b', 'ca.crt'));
  });

  it('names the file it cannot read, and says when KUBECONFIG names no existing file', () => {
    expect(() => loadKubeConfig([join(dir, 'missing')], 'x')).toThrow(/no kubeconfig at .*missing/);
    expect(() => loadKubeConfig([file('bad', 'clusters: [')], 'x')).toThrow(
      /cannot read the kubeconfig .*bad/,
    );
    expect(() => loadKubeConfig([], '/nowhere')).toThrow(/no file of KUBECONFIG exists \(\/nowhere\)/);
  });
});
