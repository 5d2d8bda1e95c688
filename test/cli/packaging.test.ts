/**
 * chatctl as an operator installs it (test/helpers/installed-chatctl.ts: `npm pack` of cli/, which
 * bundles it, and `npm install -g` of the tarball into a temp prefix), and the installed `chatctl`,
 * `kubectl chat` (kubectl finding the plugin on PATH) and `kubectl_complete-chat` run as processes;
 * then `kubectl chat clusters` against the real Kubernetes API server (npm run k8s:up), with
 * KUBECONFIG naming several files.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { exec, type InstalledChatctl, installChatctl } from '../helpers/installed-chatctl.ts';
import { installChatClusterCrd, KUBECONFIG, testKubeConfig } from '../helpers/kube.ts';

const root = resolve(import.meta.dirname, '../..');
const version = (JSON.parse(readFileSync(join(root, 'cli/package.json'), 'utf8')) as { version: string })
  .version;

let chatctl: InstalledChatctl;
let dir: string;
let prefix: string;
let tarball: string;
/** PATH with the installed bin first, then this Node (22.19+), then the system's (kubectl). */
let path: string;
const installed = (bin: string, args: string[], env: Record<string, string> = {}) =>
  chatctl.run(bin, args, env);

beforeAll(async () => {
  chatctl = await installChatctl();
  ({ dir, prefix, tarball, path } = chatctl);
}, 300_000);

afterAll(() => chatctl?.remove());

describe('chatctl installed from its packed tarball', () => {
  it('packs one bundled file and installs chatctl, kubectl-chat and kubectl_complete-chat', async () => {
    const files = (await exec('tar', ['-tzf', tarball])).stdout.trim().split('\n').sort();
    expect(files).toEqual(['package/README.md', 'package/dist/chatctl.js', 'package/package.json']);
    for (const bin of ['chatctl', 'kubectl-chat', 'kubectl_complete-chat']) {
      expect(existsSync(join(prefix, 'bin', bin)), bin).toBe(true);
    }
    expect(await installed('chatctl', ['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('runs its commands, and answers a usage error with exit code 2', async () => {
    const help = await installed('chatctl', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: chatctl');
    expect((await installed('chatctl', ['completion', 'bash'])).stdout).toContain(
      'complete -o default -F _chatctl chatctl',
    );
    const wrong = await installed('chatctl', ['clusters', '-o', 'xml']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('must be one of table, wide, json, yaml, name');
  });

  it('is a kubectl plugin: kubectl chat runs it, and kubectl asks it for completions', async () => {
    const help = await exec('kubectl', ['chat', '--help'], { env: { PATH: path, HOME: join(dir, 'home') } });
    expect(help.stdout).toContain('Usage: kubectl chat');
    const direct = await installed('kubectl_complete-chat', ['clusters', '-o', '']);
    expect(direct.stdout.trim().split('\n')).toEqual(['table', 'wide', 'json', 'yaml', 'name', ':4']);
    const viaKubectl = await exec('kubectl', ['__complete', 'chat', 'st'], {
      env: { PATH: path, HOME: join(dir, 'home') },
    });
    expect(viaKubectl.stdout.split('\n')).toContain('status');
  });
});

describe('kubectl chat on the real API server', () => {
  const ns = `chatctl-pkg-${randomUUID().slice(0, 8)}`;
  let core: CoreV1Api;

  beforeAll(async () => {
    const kc = testKubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    await installChatClusterCrd(kc, 'default');
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      body: chatClusterBody('pkg', { image: 'chat-platform/chat-node:packaged' }),
    });
  }, 120_000);

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  it('lists ChatClusters with every file of KUBECONFIG merged, in each output format', async () => {
    // A missing file first, as kubectl allows: the existing one is read.
    const env = { KUBECONFIG: [join(dir, 'absent'), KUBECONFIG].join(delimiter) };
    const table = await installed('kubectl-chat', ['clusters', '-n', ns], env);
    expect(table.stderr).toBe('');
    expect(table.stdout).toMatch(/^NAME\s+DESIRED/);
    expect(table.stdout).toMatch(/\npkg\s/);
    const names = await installed('kubectl-chat', ['clusters', '-n', ns, '-o', 'name'], env);
    expect(names.stdout).toBe('chatcluster.chatplatform.io/pkg\n');
    const yaml = parse((await installed('kubectl-chat', ['clusters', '-n', ns, '-o', 'yaml'], env)).stdout);
    expect(yaml.map((c: { metadata: { name: string } }) => c.metadata.name)).toEqual(['pkg']);
    const wide = await installed('kubectl-chat', ['clusters', '-n', ns, '-o', 'wide'], env);
    expect(wide.stdout).toContain('chat-platform/chat-node:packaged');
  });
});
