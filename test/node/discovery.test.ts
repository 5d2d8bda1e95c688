/** Discovery's choice of node: least loaded, not draining, zone first, bursts spread before a refresh. */
import { describe, expect, it } from 'vitest';
import { Discovery, pickNode } from '../../chat-node/discovery.ts';
import type { NodeInfo } from '../../common/node-registry.ts';

function node(nodeId: number, connections: number, more: Partial<NodeInfo> = {}): NodeInfo {
  return {
    nodeId,
    url: `http://n${nodeId}`,
    connections,
    capacity: 100,
    draining: false,
    startedAt: 0,
    updatedAt: 1000,
    ...more,
  };
}

describe('pickNode', () => {
  const cases: [string, NodeInfo[], string | undefined, number | undefined][] = [
    ['picks the least loaded node', [node(0, 50), node(1, 10), node(2, 30)], undefined, 1],
    ['compares load as connections ÷ capacity', [node(0, 50, { capacity: 1000 }), node(1, 10)], undefined, 0],
    ['skips draining nodes', [node(0, 50), node(1, 10, { draining: true })], undefined, 0],
    ['breaks ties by the lower node id', [node(3, 10), node(1, 10), node(2, 10)], undefined, 1],
    ['prefers the client zone', [node(0, 0, { zone: 'a' }), node(1, 50, { zone: 'b' })], 'b', 1],
    [
      'falls back to any zone when none matches',
      [node(0, 5, { zone: 'a' }), node(1, 1, { zone: 'a' })],
      'c',
      1,
    ],
    ['answers nothing when every node drains', [node(0, 0, { draining: true })], undefined, undefined],
  ];
  it.each(cases)('%s', (_name, nodes, zone, expected) => {
    expect(pickNode(nodes, zone)?.nodeId).toBe(expected);
  });
});

describe('Discovery', () => {
  it('spreads a burst of clients evenly before the registry is refreshed', () => {
    const d = new Discovery();
    const nodes = [node(0, 0), node(1, 0), node(2, 0)];
    const counts = [0, 0, 0];
    for (let i = 0; i < 30; i++) counts[d.pick(nodes)!.nodeId]!++;
    expect(counts).toEqual([10, 10, 10]);
  });

  it('forgets its own count once a node refreshes its entry with real numbers', () => {
    const d = new Discovery();
    for (let i = 0; i < 5; i++) d.pick([node(0, 0), node(1, 3)]);
    // Node 0 got four clients (0:3, 1:3, 2:3, tie 3:3 → lower id), node 1 the fifth (4:3).
    // Node 0's refreshed entry says 4: its own count restarts from there, node 1 is still 3 + 1.
    const refreshed = [node(0, 4, { updatedAt: 2000 }), node(1, 3)];
    expect(d.pick(refreshed)!.nodeId).toBe(0); // 4 vs 4: the lower id
    expect(d.pick(refreshed)!.nodeId).toBe(1); // 5 vs 4
  });

  it('never picks the excepted node (a node shedding names targets other than itself)', () => {
    const d = new Discovery();
    // Node 0 is the least loaded, yet it is the one shedding: its sessions spread over 1 and 2.
    const nodes = [node(0, 0), node(1, 10), node(2, 12)];
    const picks = Array.from({ length: 6 }, () => d.pick(nodes, undefined, 0)!.nodeId);
    expect(picks).toEqual([1, 1, 1, 2, 1, 2]);
    expect(d.pick([node(0, 0), node(1, 0, { draining: true })], undefined, 0)).toBeUndefined();
    // The sheds count like discovery answers: a new client now goes to node 0.
    expect(d.pick(nodes)!.nodeId).toBe(0);
  });
});
