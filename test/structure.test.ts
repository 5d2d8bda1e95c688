/**
 * The architecture as the imports show it: each program imports only common/ and its own folder
 * (never another program's internals), and no module imports itself through a cycle.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The repo-relative files a module imports (static, dynamic and type-only imports, and re-exports). */
function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm)];
  return specs.map((m) => relative(root, resolve(root, dirname(file), m[2] as string)));
}

const programs = ['chat-node', 'operator', 'cli', 'client', 'common', 'web'];
/** What each folder may import besides itself. */
const allowed: Record<string, string[]> = {
  'chat-node': ['common'],
  // The ChatCluster resource is the operator's; chatctl reads it through its schema module only.
  cli: ['common', 'client', 'operator/chatcluster-schema.ts', 'operator/openapi-schema.ts', 'package.json'],
  operator: ['common'],
  client: ['common'],
  common: [],
  // The web app is the SDK's reference user: its public entry point and nothing else.
  web: ['client/index.ts'],
};

const graph = new Map<string, string[]>();
for (const dir of programs)
  for (const file of sources(dir)) graph.set(file, importsOf(file, readFileSync(join(root, file), 'utf8')));

describe('imports between programs', () => {
  it('finds imports of every form', () => {
    const text = `import a from './a.ts';\nimport type { B } from "../b.ts";\nexport { c } from './c.ts';\nconst d = await import('./d.ts');\nimport './e.ts';`;
    expect(importsOf('cli/x.ts', text)).toEqual(['cli/a.ts', 'b.ts', 'cli/c.ts', 'cli/d.ts', 'cli/e.ts']);
  });

  for (const dir of programs) {
    it(`${dir}/ imports only ${[dir, ...(allowed[dir] ?? [])].join(', ')}`, () => {
      const bad: string[] = [];
      for (const [file, imports] of graph) {
        if (!file.startsWith(`${dir}/`)) continue;
        for (const target of imports) {
          const ok = [dir, ...(allowed[dir] ?? [])].some((a) => target === a || target.startsWith(`${a}/`));
          if (!ok) bad.push(`${file} → ${target}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }
});

describe('import cycles', () => {
  it('none among the modules of chat-node, operator, cli, client and common', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' → '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
