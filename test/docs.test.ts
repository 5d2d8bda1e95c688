import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configTable } from '../scripts/config-table.ts';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

describe('README', () => {
  it('has the configuration table of the schema (run `npm run docs` after changing the schema)', () => {
    expect(readme).toContain(configTable());
  });

  it('names the command that runs the node and the command that tests it', () => {
    expect(readme).toContain('npm start');
    expect(readme).toContain('npm test');
  });
});
