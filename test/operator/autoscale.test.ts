import { describe, expect, it } from 'vitest';
import { decideReplicas, type Recommendation, type ScalePolicy } from '../../operator/autoscale.ts';

const policy: ScalePolicy = {
  minReplicas: 2,
  maxReplicas: 10,
  targetConnectionsPerNode: 5_000,
  scaleUp: { stabilizationWindowSeconds: 0, tolerance: 0.1 },
  scaleDown: { stabilizationWindowSeconds: 300, tolerance: 0.1 },
};
const now = 1_700_000_000_000;
const secondsAgo = (s: number) => now - s * 1000;
const rec = (ago: number, replicas: number): Recommendation => ({ at: secondsAgo(ago), replicas });

interface Case {
  name: string;
  policy?: Partial<ScalePolicy>;
  current: number;
  connections: number;
  history?: Recommendation[];
  replicas: number;
  raw: number;
  reason: string;
  message?: string;
  newHistory?: Recommendation[];
}

const cases: Case[] = [
  {
    name: 'scales up at once when the connections exceed the target',
    current: 2,
    connections: 12_400,
    replicas: 3,
    raw: 3,
    reason: 'scale-up',
    message: '12,400 connections over 2 nodes exceed the target 5,000 per node: scaling 2 → 3',
  },
  {
    name: 'scales up by several nodes in one step when the load jumps',
    current: 2,
    connections: 31_000,
    replicas: 7,
    raw: 7,
    reason: 'scale-up',
  },
  {
    name: 'scales down when no higher recommendation is left in the down window',
    current: 4,
    connections: 14_000,
    history: [rec(301, 4)],
    replicas: 3,
    raw: 3,
    reason: 'scale-down',
    message: '14,000 connections over 4 nodes are below the target 5,000 per node: scaling 4 → 3',
    newHistory: [{ at: now, replicas: 3 }],
  },
  {
    name: 'keeps the count when the load is above the target but within the scale-up tolerance',
    current: 2,
    connections: 10_900,
    replicas: 2,
    raw: 3,
    reason: 'within-tolerance',
    message: '10,900 connections over 2 nodes are within 10% of the target 5,000 per node: keeping 2',
    newHistory: [{ at: now, replicas: 2 }],
  },
  {
    name: 'keeps the count when the load is exactly on the edge of the scale-up tolerance',
    current: 2,
    connections: 11_000,
    replicas: 2,
    raw: 3,
    reason: 'within-tolerance',
  },
  {
    name: 'scales up when the load is just past the scale-up tolerance',
    current: 2,
    connections: 11_001,
    replicas: 3,
    raw: 3,
    reason: 'scale-up',
  },
  {
    name: 'keeps the count when the load is below the target but within the scale-down tolerance',
    policy: { scaleDown: { stabilizationWindowSeconds: 300, tolerance: 0.3 } },
    current: 4,
    connections: 15_000,
    replicas: 4,
    raw: 3,
    reason: 'within-tolerance',
    message: '15,000 connections over 4 nodes are within 30% of the target 5,000 per node: keeping 4',
  },
  {
    name: 'calls it steady when the load asks for exactly the current count outside the tolerance',
    current: 2,
    connections: 8_000,
    replicas: 2,
    raw: 2,
    reason: 'steady',
    message: '8,000 connections need 2 nodes at 5,000 per node: keeping 2',
  },
  {
    name: 'holds a scale-down while a higher recommendation is in the down window',
    current: 4,
    connections: 9_000,
    history: [rec(200, 4)],
    replicas: 4,
    raw: 2,
    reason: 'stabilizing',
    message:
      '9,000 connections need 2 nodes at 5,000 per node, but the 300 s scale-down stabilization window holds 4: keeping 4',
    newHistory: [rec(200, 4), { at: now, replicas: 2 }],
  },
  {
    name: 'scales down only as far as the highest recommendation in the down window',
    current: 4,
    connections: 9_000,
    history: [rec(200, 3), rec(100, 2)],
    replicas: 3,
    raw: 2,
    reason: 'scale-down',
    message:
      '9,000 connections over 4 nodes are below the target 5,000 per node: scaling 4 → 3 (the 300 s scale-down stabilization window holds it at 3, not 2)',
  },
  {
    name: 'releases the scale-down once the higher recommendation is a full window old',
    current: 4,
    connections: 9_000,
    history: [rec(300, 4), rec(100, 2)],
    replicas: 2,
    raw: 2,
    reason: 'scale-down',
    newHistory: [{ at: now, replicas: 2 }],
  },
  {
    name: 'holds a scale-up while a lower recommendation is in the up window',
    policy: { scaleUp: { stabilizationWindowSeconds: 60, tolerance: 0.1 } },
    current: 2,
    connections: 16_000,
    history: [rec(30, 2)],
    replicas: 2,
    raw: 4,
    reason: 'stabilizing',
    message:
      '16,000 connections need 4 nodes at 5,000 per node, but the 60 s scale-up stabilization window holds 2: keeping 2',
  },
  {
    name: 'scales up only as far as the lowest recommendation in the up window',
    policy: { scaleUp: { stabilizationWindowSeconds: 60, tolerance: 0.1 } },
    current: 2,
    connections: 16_000,
    history: [rec(30, 3)],
    replicas: 3,
    raw: 4,
    reason: 'scale-up',
    message:
      '16,000 connections over 2 nodes exceed the target 5,000 per node: scaling 2 → 3 (the 60 s scale-up stabilization window holds it at 3, not 4)',
  },
  {
    name: 'releases the scale-up once the lower recommendation is a full up window old',
    policy: { scaleUp: { stabilizationWindowSeconds: 60, tolerance: 0.1 } },
    current: 2,
    connections: 16_000,
    history: [rec(60, 2)],
    replicas: 4,
    raw: 4,
    reason: 'scale-up',
    // the old 2 stays for the longer (down) window, which still needs it
    newHistory: [rec(60, 2), { at: now, replicas: 4 }],
  },
  {
    name: 'clamps at the maximum when the load asks for more nodes',
    current: 8,
    connections: 60_000,
    replicas: 10,
    raw: 12,
    reason: 'clamped-max',
    message: '60,000 connections need 12 nodes at 5,000 per node, above the maximum 10: scaling 8 → 10',
    newHistory: [{ at: now, replicas: 12 }],
  },
  {
    name: 'stays at the maximum and says why when the load keeps asking for more',
    current: 10,
    connections: 60_000,
    replicas: 10,
    raw: 12,
    reason: 'clamped-max',
    message: '60,000 connections need 12 nodes at 5,000 per node, above the maximum 10: keeping 10',
  },
  {
    name: 'scales down to a lowered maximum at once, whatever the down window holds',
    current: 12,
    connections: 60_000,
    history: [rec(100, 12)],
    replicas: 10,
    raw: 12,
    reason: 'clamped-max',
  },
  {
    name: 'clamps at the minimum when the load asks for fewer nodes',
    current: 3,
    connections: 4_000,
    replicas: 2,
    raw: 1,
    reason: 'clamped-min',
    message: '4,000 connections need 1 node at 5,000 per node, below the minimum 2: scaling 3 → 2',
  },
  {
    name: 'raises the count to a raised minimum even while the up window holds it lower',
    policy: { minReplicas: 3, scaleUp: { stabilizationWindowSeconds: 60, tolerance: 0.1 } },
    current: 1,
    connections: 25_000,
    history: [rec(30, 1)],
    replicas: 3,
    raw: 5,
    reason: 'clamped-min',
    message:
      '25,000 connections over 1 node and the stabilization windows ask for 1 node, below the minimum 3: scaling 1 → 3',
  },
  {
    name: 'goes to the minimum when there are no connections',
    current: 3,
    connections: 0,
    replicas: 2,
    raw: 0,
    reason: 'clamped-min',
    message: '0 connections need 0 nodes at 5,000 per node, below the minimum 2: scaling 3 → 2',
  },
  {
    name: 'starts a cluster with no nodes and no connections at the minimum',
    current: 0,
    connections: 0,
    replicas: 2,
    raw: 0,
    reason: 'clamped-min',
    message: '0 connections need 0 nodes at 5,000 per node, below the minimum 2: scaling 0 → 2',
  },
  {
    name: 'starts a cluster with no nodes straight at what its load asks for',
    current: 0,
    connections: 23_000,
    replicas: 5,
    raw: 5,
    reason: 'scale-up',
    message: '23,000 connections over 0 nodes exceed the target 5,000 per node: scaling 0 → 5',
  },
  {
    name: 'prunes recommendations older than the longest window from the history',
    current: 4,
    connections: 19_000,
    history: [rec(900, 9), rec(301, 7), rec(299, 5)],
    replicas: 4,
    raw: 4,
    reason: 'within-tolerance',
    newHistory: [rec(299, 5), { at: now, replicas: 4 }],
  },
  {
    name: 'drops history entries that a newer equal recommendation makes redundant',
    current: 4,
    connections: 19_000,
    history: [rec(200, 4), rec(100, 4), rec(50, 4)],
    replicas: 4,
    raw: 4,
    reason: 'within-tolerance',
    newHistory: [{ at: now, replicas: 4 }],
  },
  {
    name: 'keeps every entry that is still the lowest or highest of some window',
    current: 4,
    connections: 19_000,
    history: [rec(100, 3), rec(50, 5)],
    replicas: 4,
    raw: 4,
    reason: 'within-tolerance',
    newHistory: [rec(100, 3), rec(50, 5), { at: now, replicas: 4 }],
  },
  {
    name: 'forgets recommendations from the future (an earlier leader with a skewed clock)',
    current: 4,
    connections: 9_000,
    history: [{ at: now + 60_000, replicas: 8 }],
    replicas: 2,
    raw: 2,
    reason: 'scale-down',
    newHistory: [{ at: now, replicas: 2 }],
  },
];

describe('decideReplicas', () => {
  it.each(cases)('$name', (c) => {
    const d = decideReplicas({
      policy: { ...policy, ...c.policy },
      currentReplicas: c.current,
      totalConnections: c.connections,
      history: c.history ?? [],
      now,
    });
    expect({ replicas: d.replicas, raw: d.raw, reason: d.reason }).toEqual({
      replicas: c.replicas,
      raw: c.raw,
      reason: c.reason,
    });
    if (c.message !== undefined) expect(d.message).toBe(c.message);
    if (c.newHistory !== undefined) expect(d.history).toEqual(c.newHistory);
  });

  it('holds a scale-down until the last higher recommendation is a full down window old, then releases it', () => {
    const steps = [
      { at: 0, connections: 19_000 },
      { at: 60, connections: 9_000 },
      { at: 299, connections: 9_000 },
      { at: 300, connections: 9_000 },
    ];
    let current = 4;
    let history: Recommendation[] = [];
    const seen: [number, string][] = [];
    for (const step of steps) {
      const d = decideReplicas({
        policy,
        currentReplicas: current,
        totalConnections: step.connections,
        history,
        now: now + step.at * 1000,
      });
      seen.push([d.replicas, d.reason]);
      current = d.replicas;
      history = d.history;
    }
    expect(seen).toEqual([
      [4, 'within-tolerance'],
      [4, 'stabilizing'],
      [4, 'stabilizing'],
      [2, 'scale-down'],
    ]);
  });

  it('does not flap the node count under a flapping load, and keeps its history at two entries', () => {
    let current = 4;
    let history: Recommendation[] = [];
    const counts = new Set<number>();
    for (let i = 0; i < 1_000; i++) {
      const d = decideReplicas({
        policy,
        currentReplicas: current,
        totalConnections: i % 2 === 0 ? 19_000 : 9_000,
        history,
        now: now + i * 15_000,
      });
      counts.add(d.replicas);
      current = d.replicas;
      history = d.history;
    }
    expect([...counts]).toEqual([4]);
    expect(history).toEqual([
      { at: now + 998 * 15_000, replicas: 4 },
      { at: now + 999 * 15_000, replicas: 2 },
    ]);
  });

  it.each([
    [
      'targetConnectionsPerNode',
      { targetConnectionsPerNode: 0 },
      /policy\.targetConnectionsPerNode .* got 0/,
    ],
    ['maxReplicas', { minReplicas: 5, maxReplicas: 3 }, /policy\.maxReplicas .* got 3/],
    [
      'scaleDown.tolerance',
      { scaleDown: { stabilizationWindowSeconds: 300, tolerance: -0.1 } },
      /policy\.scaleDown\.tolerance .* got -0\.1/,
    ],
  ])('refuses a policy with a bad %s and names the field', (_field, bad, error) => {
    const input = {
      policy: { ...policy, ...bad },
      currentReplicas: 2,
      totalConnections: 0,
      history: [],
      now,
    };
    expect(() => decideReplicas(input)).toThrow(error);
  });
});
