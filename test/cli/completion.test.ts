/**
 * Shell completion: the candidates `chatctl __complete` gives for the words typed so far, the bash
 * script run in a real bash against chatctl as a process, and kubectl's plugin completion format.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { complete, completionScript } from '../../cli/completion.ts';
import type { CliContext } from '../../cli/context.ts';
import { createProgram } from '../../cli/program.ts';
import { chatctl } from './chatctl-process.ts';

const run = promisify(execFile);
const ctx = { env: {}, out: () => {}, err: () => {} } as unknown as CliContext;
const program = createProgram(ctx);

describe('complete', () => {
  it.each([
    { words: [''], has: ['clusters', 'drain', 'completion'], not: ['__complete'] },
    { words: ['cl'], exactly: ['clusters'] },
    { words: ['clusters', '--'], has: ['--kubeconfig', '--namespace', '--output', '--all-namespaces'] },
    { words: ['clusters', '-o', ''], exactly: ['table', 'wide', 'json', 'yaml', 'name'] },
    { words: ['nodes', '--output', 'y'], exactly: ['yaml'] },
    { words: ['completion', ''], exactly: ['bash', 'zsh', 'fish'] },
    { words: ['status', ''], exactly: [] },
    { words: ['nosuch', '-'], has: ['--help'] },
  ])('$words', ({ words, has, not, exactly }) => {
    const got = complete(program, words);
    if (exactly) expect(got).toEqual(exactly);
    for (const w of has ?? []) expect(got).toContain(w);
    for (const w of not ?? []) expect(got).not.toContain(w);
  });
});

describe('completion scripts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chatctl-completion-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // chatctl on PATH, as installed: this repo's chatctl run by this Node.
  const bin = join(dir, 'chatctl');
  writeFileSync(
    bin,
    `#!/bin/sh\nexec "${process.execPath}" "${join(import.meta.dirname, '../../cli/main.ts')}" "$@"\n`,
  );
  chmodSync(bin, 0o755);

  it('bash: completes commands, options and -o values through chatctl __complete', async () => {
    const script = (await chatctl(['completion', 'bash'])).stdout;
    expect(script).toBe(`${completionScript('bash').trimEnd()}\n`);
    const probe = (line: string) => `
      ${script}
      COMP_WORDS=(${line}); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
      _chatctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const bash = async (line: string) =>
      (await run('bash', ['-c', probe(line)], { env: { PATH: `${dir}:${process.env.PATH}` } })).stdout
        .trim()
        .split('\n');
    expect(await bash('chatctl dr')).toEqual(['drain']);
    expect(await bash("chatctl clusters -o ''")).toEqual(['table', 'wide', 'json', 'yaml', 'name']);
    expect(await bash('chatctl clusters --all')).toEqual(['--all-namespaces']);
  });

  it('zsh and fish: scripts that ask chatctl __complete for the words before the cursor', async () => {
    expect((await chatctl(['completion', 'zsh'])).stdout).toContain('compdef _chatctl chatctl');
    // The words from the first argument to the cursor, in zsh's own syntax.
    const zshWords = ['$', '{(@)words[2,CURRENT]}'].join('');
    expect(completionScript('zsh')).toContain(`chatctl __complete "${zshWords}"`);
    expect(completionScript('fish')).toContain(
      "complete -c chatctl -f -a '(chatctl __complete (commandline -opc)[2..-1] (commandline -ct)",
    );
    const refused = await chatctl(['completion', 'powershell']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('must be one of bash, zsh, fish');
  });
});
