/**
 * Prints the chat node's configuration table (Markdown) from the one schema in common/node-config.ts.
 * The README's table is this output; test/docs.test.ts fails when they drift.
 */
import { describeConfig } from '../common/config.ts';
import { nodeConfigSpec } from '../common/node-config.ts';

export function configTable(): string {
  const rows = describeConfig(nodeConfigSpec).map(
    (d) => `| \`${d.env}\` | \`${d.flag}\` | ${d.default === '' ? '—' : `\`${d.default}\``} | ${d.doc} |`,
  );
  return ['| variable | flag | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

if (import.meta.main) console.log(configTable());
