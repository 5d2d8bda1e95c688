/** chatctl's command tree in process: help for every command, and exit codes for usage errors. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../../cli/context.ts';
import { createProgram, run } from '../../cli/program.ts';

function context(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    env: { HOME: '/nonexistent', ...env },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    stdin: Readable.from([]),
    now: () => 0,
    sleep: async () => {},
    interrupted: () => new Promise(() => {}),
  };
  return { ctx, out, err };
}

describe('chatctl', () => {
  const commands = createProgram(context().ctx).commands.map((c) => c.name());

  it('has the commands of every group', () => {
    expect(commands).toEqual([
      'clusters',
      'status',
      'scale',
      'rollout',
      'nodes',
      'drain',
      'undrain',
      'shed',
      'chat',
      'send',
      'history',
      'conversations',
      'user',
      'completion',
    ]);
  });

  for (const name of commands) {
    it(`${name} --help says what it does, with an example, and exits 0`, async () => {
      const { ctx, out } = context();
      expect(await run([name, '--help'], ctx)).toBe(0);
      const help = out.join('\n');
      expect(help).toContain(`Usage: chatctl ${name}`);
      expect(help).toMatch(/Examples:\n {2}\$ chatctl /);
    });
  }

  it('--help lists the commands by what they talk to, with the exit codes', async () => {
    const { ctx, out } = context();
    expect(await run(['--help'], ctx)).toBe(0);
    expect(out.join('\n')).toContain('Exit codes: 0 ok, 1 failed, 2 wrong usage.');
  });

  it('exits 2 on usage errors: no command, an unknown one, a bad argument, options that exclude each other', async () => {
    const cases: [string[], string][] = [
      [[], 'Usage: chatctl'],
      [['frobnicate'], "unknown command 'frobnicate'"],
      [['status', 'Not_A_Name'], 'must be a Kubernetes name'],
      [['clusters', '-A', '-n', 'x'], 'pass either -n <ns> or -A, not both'],
      [
        ['nodes', '--url', 'http://a', '--redis-url', 'redis://b'],
        'pass one of a ChatCluster, --url or --redis-url, not --url and --redis-url',
      ],
      [['send', '--user', 'a', '--password', 'b', '--text', 'x', '--to', 'u', '--group', 'g'], 'not both'],
      [['drain', 'http://a'], 'CHATCTL_ADMIN_TOKEN'],
      [['nodes', '-o', 'xml', '--url', 'http://a'], 'must be one of table, wide, json, yaml, name'],
    ];
    for (const [args, message] of cases) {
      const { ctx, err } = context();
      expect(await run(args, ctx), args.join(' ')).toBe(2);
      expect(err.join('\n'), args.join(' ')).toContain(message);
    }
  });

  it('prints its version', async () => {
    const { ctx, out } = context();
    expect(await run(['--version'], ctx)).toBe(0);
    expect(out).toEqual(['0.1.0']);
  });
});
