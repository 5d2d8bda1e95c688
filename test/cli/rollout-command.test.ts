/**
 * `chatctl rollout status` as a command, in process without an API server: its help, its usage
 * errors (exit 2) and its shell completion, a command group's subcommand being one level down.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { complete } from '../../cli/completion.ts';
import type { CliContext } from '../../cli/context.ts';
import { createProgram, run } from '../../cli/program.ts';

function context() {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    env: { HOME: '/nonexistent' },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    stdin: Readable.from([]),
    now: () => 0,
    sleep: async () => {},
    interrupted: () => new Promise(() => {}),
  };
  return { ctx, out, err };
}

describe('chatctl rollout status', () => {
  it('--help says what done means, with examples, and exits 0', async () => {
    const { ctx, out } = context();
    expect(await run(['rollout', 'status', '--help'], ctx)).toBe(0);
    const help = out.join('\n');
    expect(help).toContain('Usage: chatctl rollout status [options] <name>');
    expect(help).toContain('--timeout <seconds>');
    expect(help).toMatch(/Examples:\n {2}\$ chatctl rollout status chat -n chat/);
    expect(help).toContain('status.updatedReplicas (the nodes on\nthe current pod template)');
    expect(help).toContain('An operator older than status.updatedReplicas');
  });

  it('exits 2 on usage errors: no subcommand, no name, a bad --timeout', async () => {
    const cases: [string[], string][] = [
      [['rollout'], 'Usage: chatctl rollout'],
      [['rollout', 'status'], "missing required argument 'name'"],
      [['rollout', 'status', 'chat', '--timeout', 'soon'], 'must be an integer from 0'],
    ];
    for (const [args, message] of cases) {
      const { ctx, err } = context();
      expect(await run(args, ctx), args.join(' ')).toBe(2);
      expect(err.join('\n'), args.join(' ')).toContain(message);
    }
  });

  it.each([
    { words: ['ro'], exactly: ['rollout'] },
    { words: ['rollout', ''], exactly: ['status'] },
    { words: ['rollout', 'status', '--t'], exactly: ['--timeout'] },
    { words: ['rollout', 'status', 'chat', '-n', 'chat', '--s'], exactly: ['--settle'] },
    { words: ['clusters', '-n', 'chat', '--all'], exactly: ['--all-namespaces'] },
  ])('completes $words', ({ words, exactly }) => {
    expect(complete(createProgram(context().ctx), words)).toEqual(exactly);
  });
});
