/**
 * The pace of drains (operator/decide.ts paceDrains): a drain has no count, only a pace, so the
 * drains that run together must share rebalance.maxSessionsMovedPerMinute; their rates add up to at
 * most the budget a second, also for small budgets, where a floor of 1 a second per node would not.
 */
import { describe, expect, it } from 'vitest';
import type { ChatClusterSpec } from '../../operator/chatcluster-schema.ts';
import { decide } from '../../operator/decide.ts';
import { DRAIN_ANNOTATION } from '../../operator/requests.ts';
import { type Decision, emptyMemory, type Observation } from '../../operator/types.ts';
import { chatCluster } from '../helpers/chatcluster.ts';
import { type NodeSketch as N, nodeObservation as node } from '../helpers/node-observations.ts';

const NOW = Date.parse('2030-01-01T12:00:00.000Z');

/** `nodes[i]` is the pod at ordinal i; `replicas` is spec.replicas (External), the budget a minute. */
function observe(
  nodes: N[],
  o: { perMinute: number; replicas?: number; drain?: string; updateRevision?: string },
): Observation {
  const spec: Partial<ChatClusterSpec> = {
    replicasManagedBy: 'External',
    replicas: o.replicas ?? nodes.length,
    minReplicas: 1,
    rebalance: { maxSessionsMovedPerMinute: o.perMinute, imbalanceThreshold: 0.2 },
    auth: {
      jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
      adminTokenRef: { name: 'chat-auth', key: 'admin' },
    },
  };
  const observed = nodes.map((n, i) => node(i, n));
  return {
    cluster: chatCluster({
      name: 'chat',
      metadata: {
        uid: 'uid-1',
        generation: 1,
        ...(o.drain && { annotations: { [DRAIN_ANNOTATION]: o.drain } }),
      },
      spec,
    }),
    statefulSet: {
      replicas: nodes.length,
      readyReplicas: nodes.length,
      currentRevision: 'r1',
      updateRevision: o.updateRevision ?? 'r1',
    },
    nodes: observed,
    canMoveSessions: true,
  };
}

/** The drain calls of a decision: ordinal → sessions a second. */
function drains(d: Decision): Map<number, number> {
  return new Map(d.actions.flatMap((a) => (a.kind === 'drain' ? [[a.ordinal, a.ratePerSec]] : [])));
}

const perMinute = (rates: Iterable<number>) => [...rates].reduce((sum, r) => sum + r, 0) * 60;

describe('drain pace: the drains together move no more than maxSessionsMovedPerMinute', () => {
  it('splits a small budget between two leaving nodes without rounding up (60 a minute: 0.5 a second each)', () => {
    const d = decide(observe([100, 100, 100], { perMinute: 60, replicas: 1 }), emptyMemory(), NOW);
    const rates = drains(d);
    expect([...rates.keys()].sort()).toEqual([1, 2]);
    expect(rates.get(1)).toBeCloseTo(0.5);
    expect(rates.get(2)).toBeCloseTo(0.5);
    // A floor of 1 a second per node would make this 120.
    expect(perMinute(rates.values())).toBeCloseTo(60);
  });

  const budgets = [1, 7, 30, 59, 60, 61, 90, 120, 600, 1_000, 30_000];
  const leaving = [1, 2, 3, 5, 9];
  it.each(budgets.flatMap((b) => leaving.map((l) => [b, l] as const)))(
    'a budget of %i a minute over %i leaving nodes: the rates add up to the budget, never more',
    (budget, count) => {
      const nodes = Array.from({ length: count + 1 }, () => 50);
      const d = decide(observe(nodes, { perMinute: budget, replicas: 1 }), emptyMemory(), NOW);
      const rates = drains(d);
      expect(rates.size).toBe(count);
      for (const r of rates.values()) expect(r).toBeGreaterThan(0);
      expect(perMinute(rates.values())).toBeLessThanOrEqual(budget * (1 + 1e-9));
      expect(perMinute(rates.values())).toBeCloseTo(budget, 6);
    },
  );

  it('counts a leaving node that is already draining, and one that cannot be called yet (no load report)', () => {
    const o = observe([100, { c: 80, draining: true }, 100, { reported: false }], {
      perMinute: 60,
      replicas: 1,
    });
    const rates = drains(decide(o, emptyMemory(), NOW));
    // Nodes 1, 2 and 3 share the budget; only node 2 is called now (1 drains, 3 has no URL yet).
    expect([...rates.keys()]).toEqual([2]);
    expect(rates.get(2)).toBeCloseTo(1 / 3);
  });

  it('shares the pace between a drain asked for by annotation and a scale-down decided at the same time', () => {
    // Node 0 stays (held by the annotation), nodes 2 and 3 leave: three drains start together.
    const o = observe([100, 100, 100, 100], { perMinute: 90, replicas: 2, drain: 'chat-1' });
    const rates = drains(decide(o, emptyMemory(), NOW));
    expect([...rates.keys()].sort()).toEqual([1, 2, 3]);
    expect(perMinute(rates.values())).toBeCloseTo(90);
    for (const r of rates.values()) expect(r).toBeCloseTo(0.5);
  });

  it('does not slow a scale-down for a held node that is drained and empty', () => {
    const o = observe([100, { c: 0, draining: true }, 100, 100], {
      perMinute: 60,
      replicas: 2,
      drain: 'chat-1',
    });
    const rates = drains(decide(o, emptyMemory(), NOW));
    expect([...rates.keys()].sort()).toEqual([2, 3]);
    for (const r of rates.values()) expect(r).toBeCloseTo(0.5);
  });

  it('paces a rollout’s drain at the budget itself, below 1 a second too', () => {
    const o = observe(
      [
        { c: 100, revision: 'r0' },
        { c: 100, revision: 'r0' },
      ],
      {
        perMinute: 30,
        updateRevision: 'r2',
      },
    );
    const rates = drains(decide(o, emptyMemory(), NOW));
    expect([...rates.entries()]).toEqual([[1, 0.5]]);
  });

  it('paces a rollout’s drain together with a held node that still has sessions', () => {
    const o = observe(
      [
        { c: 100, revision: 'r0' },
        { c: 40, draining: true },
        { c: 100, revision: 'r0' },
      ],
      {
        perMinute: 120,
        drain: 'chat-1',
        updateRevision: 'r1',
      },
    );
    const rates = drains(decide(o, emptyMemory(), NOW));
    expect([...rates.entries()]).toEqual([[2, 1]]);
  });

  it('drains at 1 a second in all when rebalancing is off (0 a minute): a leaving node must still empty', () => {
    const d = decide(observe([100, 100, 100], { perMinute: 0, replicas: 1 }), emptyMemory(), NOW);
    const rates = drains(d);
    expect(rates.size).toBe(2);
    expect(perMinute(rates.values())).toBeCloseTo(60);
  });
});
