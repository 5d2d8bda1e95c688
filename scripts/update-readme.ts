/** Rewrites the generated configuration table inside README.md. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTable } from './config-table.ts';

const file = join(import.meta.dirname, '..', 'README.md');
const readme = readFileSync(file, 'utf8');
const updated = readme.replace(
  /(<!-- config-table:start[^\n]*-->\n)[\s\S]*?(\n<!-- config-table:end -->)/,
  `$1${configTable()}$2`,
);
writeFileSync(file, updated);
