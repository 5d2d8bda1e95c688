/** Which node drain, undrain and shed act on: a ChatCluster and its pod or node id, or a node URL. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/errors.ts';
import { nodeTarget, shedTarget } from '../../cli/node-target.ts';
import { chatctlInProcess } from './in-process.ts';

describe('nodeTarget', () => {
  it.each([
    [['chat', 'chat-1'], { kind: 'pod', chatcluster: 'chat', node: 'chat-1' }],
    [['chat', '1'], { kind: 'pod', chatcluster: 'chat', node: '1' }],
    [['chat', '007'], { kind: 'pod', chatcluster: 'chat', node: '7' }],
    [['http://10.0.0.7:9090/', undefined], { kind: 'url', url: 'http://10.0.0.7:9090' }],
    [['localhost:9090', undefined], { kind: 'url', url: 'http://localhost:9090' }],
  ] as const)('reads %j', (args, target) => {
    expect(nodeTarget(args[0], args[1])).toEqual(target);
  });

  it.each([
    [
      ['chat', undefined],
      'say which node of ChatCluster chat: its pod name (chat-0) or node id (0); chatctl nodes chat lists them',
    ],
    [['http://a:9090', 'chat-1'], 'a node URL names the node by itself'],
    [['Chat', '1'], "'Chat' is invalid for argument 'chatcluster': must be a Kubernetes name"],
    [['chat', 'Pod_1'], "'Pod_1' is invalid for argument 'node': must be a Kubernetes name"],
    [
      ['ftp://a', undefined],
      "'ftp://a' is invalid for argument 'node-url': must be an http:// or https:// URL",
    ],
  ] as const)('refuses %j as a usage error', (args, message) => {
    expect(() => nodeTarget(args[0], args[1])).toThrow(UsageError);
    expect(() => nodeTarget(args[0], args[1])).toThrow(message);
  });
});

describe('shedTarget', () => {
  it('takes <chatcluster> <node> <count> and <node-url> <count>', () => {
    expect(shedTarget('chat', 'chat-0', '500')).toEqual({
      target: { kind: 'pod', chatcluster: 'chat', node: 'chat-0' },
      count: 500,
    });
    expect(shedTarget('http://a:9090', '5', undefined)).toEqual({
      target: { kind: 'url', url: 'http://a:9090' },
      count: 5,
    });
  });

  it.each([
    [
      ['chat', 'chat-0', undefined],
      'say how many sessions to move off node chat-0 of ChatCluster chat: chatctl shed chat chat-0 <count>',
    ],
    [
      ['chat', 'chat-0', 'many'],
      "'many' is invalid for argument 'count': must be an integer from 1 to 10000000",
    ],
    [['http://a:9090', '0', undefined], "'0' is invalid for argument 'count'"],
    [['http://a:9090', 'chat-0', '5'], 'a node URL names the node by itself'],
  ] as const)('refuses %j as a usage error', (args, message) => {
    expect(() => shedTarget(args[0], args[1], args[2])).toThrow(message);
  });
});

describe('the node commands’ command lines', () => {
  it.each([
    [['drain', 'chat'], 'say which node of ChatCluster chat'],
    [
      ['undrain', 'http://a:9090', '-n', 'x'],
      '--kubeconfig, --context and -n go with a ChatCluster, not with a node URL',
    ],
    [['shed', 'chat', 'chat-0'], 'say how many sessions to move'],
    [
      ['nodes', 'chat', '--url', 'http://a:9090'],
      'pass one of a ChatCluster, --url or --redis-url, not a ChatCluster and --url',
    ],
    [
      ['nodes', '-n', 'chat'],
      '--kubeconfig, --context and -n go with a ChatCluster: chatctl nodes <chatcluster> -n <ns>',
    ],
    [['nodes'], 'say where the nodes are: a ChatCluster (chatctl nodes <chatcluster> -n <ns>)'],
    [['nodes', 'Not_A_Name'], 'must be a Kubernetes name'],
  ])('%j exits 2 and says what to pass', async (...args) => {
    const [argv, message] = args as [string[], string];
    const r = await chatctlInProcess(argv);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('(add --help for usage)');
  });

  it('drain --help shows both forms, with examples of each', async () => {
    const r = await chatctlInProcess(['drain', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: chatctl drain <chatcluster> <node> | <node-url>  [options]');
    expect(r.stdout).toContain('$ chatctl drain chat chat-1 -n chat');
    expect(r.stdout).toContain('$ chatctl drain http://10.0.0.7:9090');
    expect(r.stdout).not.toContain(':8080');
  });

  it('with a ChatCluster and no kubeconfig, says where it looked (exit 2)', async () => {
    const r = await chatctlInProcess(['drain', 'chat', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no kubeconfig at .*\.kube\/config: pass --kubeconfig <file> or set KUBECONFIG/);
  });
});
