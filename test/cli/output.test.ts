/** `-o table|wide|json|yaml|name`: the same items in each format, and the wide columns. */

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatClusterList } from '../../cli/clusters-view.ts';
import { formatNodesTable, type NodeRow } from '../../cli/nodes-view.ts';
import { render, type View } from '../../cli/output.ts';
import { chatCluster } from '../helpers/chatcluster.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const a = chatCluster({ name: 'alpha', metadata: { generation: 4 }, status: { observedGeneration: 3 } });
const b = chatCluster({ name: 'beta', spec: { image: 'registry.example/chat-node:9' } });
const view: View<typeof a> = {
  table: (items, wide) => formatClusterList(items, NOW, false, wide),
  name: (c) => `chatcluster.chatplatform.io/${c.metadata.name}`,
};

describe('render', () => {
  it('prints JSON and YAML of the same objects', () => {
    const json = JSON.parse(render('json', [a, b], view).join('\n'));
    const yaml = parse(render('yaml', [a, b], view).join('\n'));
    expect(json).toEqual([a, b]);
    expect(yaml).toEqual(json);
    expect(JSON.parse(render('json', a, view, true).join('\n'))).toEqual(a);
  });

  it('prints one name per line, as kubectl get -o name does', () => {
    expect(render('name', [a, b], view)).toEqual([
      'chatcluster.chatplatform.io/alpha',
      'chatcluster.chatplatform.io/beta',
    ]);
    expect(render('name', b, view, true)).toEqual(['chatcluster.chatplatform.io/beta']);
  });

  it('adds min, max, image and observed generation to the wide table of clusters', () => {
    const table = render('table', [a, b], view);
    const wide = render('wide', [a, b], view);
    expect(table[0]).not.toContain('IMAGE');
    expect(wide[0]?.split(/\s{3,}/).slice(-4)).toEqual(['MIN', 'MAX', 'IMAGE', 'OBSERVED']);
    expect(wide[1]).toMatch(/ 3\/4$/);
    expect(wide[2]).toContain('registry.example/chat-node:9');
    expect(wide[1]?.startsWith(table[1]!.split(/\s{3,}/)[0]!)).toBe(true);
  });

  it('adds the start time and the error to the wide table of nodes', () => {
    const rows: NodeRow[] = [
      { url: 'http://n0:8081', nodeId: 0, connections: 5, capacity: 10, startedAt: NOW - 60_000 },
      { url: 'http://n1:8081', nodeId: 1, error: 'connect ECONNREFUSED' },
    ];
    const wide = formatNodesTable(rows, NOW, true);
    expect(wide[0]).toMatch(/STARTED\s+ERROR$/);
    expect(wide[1]).toContain('2025-06-01T11:59:00Z');
    expect(wide[2]).toMatch(/connect ECONNREFUSED$/);
    expect(formatNodesTable(rows, NOW)[0]).not.toContain('STARTED');
  });
});
