import { describe, expect, it } from 'vitest';
import {
  type NodeLoad,
  planRebalance,
  planRollout,
  planScaleDown,
  type RebalancePolicy,
} from '../../operator/rebalance.ts';

/** Ready, non-draining nodes with these connection counts, at ordinals 0, 1, 2… */
const serving = (...connections: number[]): NodeLoad[] =>
  connections.map((c, ordinal) => ({ ordinal, connections: c, ready: true, draining: false }));
/** The same nodes with some changed, by ordinal. */
const with_ = (nodes: NodeLoad[], changes: Record<number, Partial<NodeLoad> | 'gone'>): NodeLoad[] =>
  nodes.flatMap((n) => {
    const change = changes[n.ordinal];
    if (change === 'gone') return [];
    return [{ ...n, ...change }];
  });
const draining = (connections: number): Partial<NodeLoad> => ({ draining: true, connections });

describe('planRebalance', () => {
  const policy: RebalancePolicy = { maxSessionsMovedPerMinute: 600, imbalanceThreshold: 0.2 };

  it.each([
    {
      name: 'moves nothing when the nodes are balanced',
      nodes: serving(1_000, 1_010, 990),
      sheds: [],
      reason: 'balanced',
      message: '3,000 connections over 3 nodes (average 1,000): no node is more than 20% above the average',
    },
    {
      name: 'moves nothing when the most loaded node is above the average but below the threshold',
      nodes: serving(2_300, 1_900, 1_800),
      sheds: [],
      reason: 'balanced',
    },
    {
      name: 'moves nothing when the most loaded node is exactly on the threshold',
      nodes: serving(2_400, 1_800, 1_800),
      sheds: [],
      reason: 'balanced',
    },
    {
      name: 'sheds an overloaded node down to the average when the budget allows',
      nodes: serving(2_500, 2_100, 1_400),
      sheds: [{ ordinal: 0, count: 500 }],
      reason: 'rebalancing',
      message: '6,000 connections over 3 nodes (average 2,000): moving 500 from node 0',
    },
    {
      name: 'sheds the most loaded node first and rounds the average up',
      policy: { maxSessionsMovedPerMinute: 10_000, imbalanceThreshold: 0.2 },
      nodes: serving(2_601, 3_400, 0),
      sheds: [
        { ordinal: 1, count: 1_399 },
        { ordinal: 0, count: 600 },
      ],
      reason: 'rebalancing',
    },
    {
      name: 'spends only what is left of the minute budget when part of it is used',
      movedInLastMinute: 200,
      nodes: serving(3_000, 3_000, 0),
      sheds: [{ ordinal: 0, count: 400 }],
      reason: 'rebalancing',
      message:
        "6,000 connections over 3 nodes (average 2,000): moving 400 from node 0 (all that is left of the minute's budget)",
    },
    {
      name: 'splits the budget across overloaded nodes, most loaded first',
      policy: { maxSessionsMovedPerMinute: 1_500, imbalanceThreshold: 0.2 },
      nodes: serving(2_800, 3_000, 200),
      sheds: [
        { ordinal: 1, count: 1_000 },
        { ordinal: 0, count: 500 },
      ],
      reason: 'rebalancing',
    },
    {
      name: 'moves nothing when the minute budget is used up',
      movedInLastMinute: 600,
      nodes: serving(3_000, 3_000, 0),
      sheds: [],
      reason: 'rate-limited',
      message:
        '6,000 connections over 3 nodes (average 2,000): nodes 0, 1 overloaded, but 600 sessions moved in the last minute already reach the limit of 600',
    },
    {
      name: 'moves nothing, and does not go negative, when more than the budget moved',
      movedInLastMinute: 900,
      nodes: serving(3_000, 3_000, 0),
      sheds: [],
      reason: 'rate-limited',
    },
    {
      name: 'moves nothing when rebalancing is off (a budget of 0)',
      policy: { maxSessionsMovedPerMinute: 0, imbalanceThreshold: 0.2 },
      nodes: serving(3_000, 3_000, 0),
      sheds: [],
      reason: 'rate-limited',
      message:
        '6,000 connections over 3 nodes (average 2,000): nodes 0, 1 overloaded, but rebalancing is off (maxSessionsMovedPerMinute is 0)',
    },
    {
      name: 'waits for a new node to be ready before moving sessions',
      nodes: with_(serving(3_000, 3_000, 0), { 2: { ready: false } }),
      sheds: [],
      reason: 'not-ready',
      message: 'waiting for node 2 to be ready before moving sessions',
    },
    {
      name: 'leaves draining nodes out of the average',
      nodes: with_(serving(2_000, 1_000, 1_000), { 0: { draining: true } }),
      sheds: [],
      reason: 'balanced',
    },
    {
      name: 'does not wait for a draining node that is not ready',
      nodes: with_(serving(3_000, 1_000, 0), { 2: { draining: true, ready: false } }),
      sheds: [{ ordinal: 0, count: 600 }],
      reason: 'rebalancing',
    },
    {
      name: 'moves nothing when a node is over the threshold but already at the rounded-up average',
      policy: { maxSessionsMovedPerMinute: 600, imbalanceThreshold: 0 },
      nodes: serving(3, 2),
      sheds: [],
      reason: 'balanced',
    },
    {
      name: 'moves nothing when every node is draining',
      nodes: with_(serving(10, 20), { 0: { draining: true }, 1: { draining: true } }),
      sheds: [],
      reason: 'balanced',
      message: 'no node takes sessions',
    },
  ])('$name', (c) => {
    const plan = planRebalance({
      nodes: c.nodes,
      policy: c.policy ?? policy,
      movedInLastMinute: c.movedInLastMinute ?? 0,
    });
    expect({ sheds: plan.sheds, reason: plan.reason }).toEqual({ sheds: c.sheds, reason: c.reason });
    if (c.message !== undefined) expect(plan.message).toBe(c.message);
  });
});

describe('planScaleDown', () => {
  const five = serving(500, 500, 500, 500, 500);

  it.each([
    {
      name: 'does nothing when the count does not change',
      nodes: five,
      current: 5,
      desired: 5,
      drain: [],
      undrain: [],
      replicas: 5,
      message: 'keeping 5 replicas',
    },
    {
      name: 'drains every node at or above the desired count, highest first, and keeps the replicas meanwhile',
      nodes: five,
      current: 5,
      desired: 3,
      drain: [4, 3],
      undrain: [],
      replicas: 5,
      message: 'scaling 5 → 3; draining 4, 3; node 4 is not draining yet; replicas stay 5',
    },
    {
      name: 'keeps the replicas while the highest draining node still has sessions',
      nodes: with_(five, { 3: draining(0), 4: draining(120) }),
      current: 5,
      desired: 3,
      drain: [],
      undrain: [],
      replicas: 5,
      message: 'scaling 5 → 3; node 4 still has 120 sessions; replicas stay 5',
    },
    {
      name: 'lowers the replicas only past the drained nodes at the top',
      nodes: with_(five, { 3: draining(40), 4: draining(0) }),
      current: 5,
      desired: 3,
      drain: [],
      undrain: [],
      replicas: 4,
      message: 'scaling 5 → 3; node 3 still has 40 sessions; replicas 5 → 4',
    },
    {
      name: 'lowers the replicas to the desired count once every leaving node is drained',
      nodes: with_(five, { 3: draining(0), 4: draining(0) }),
      current: 5,
      desired: 3,
      drain: [],
      undrain: [],
      replicas: 3,
      message: 'scaling 5 → 3; replicas 5 → 3',
    },
    {
      name: 'counts a node that is gone as drained',
      nodes: with_(five, { 3: draining(0), 4: 'gone' }),
      current: 5,
      desired: 3,
      drain: [],
      undrain: [],
      replicas: 3,
    },
    {
      name: 'does not remove an empty node that has not been seen draining yet',
      nodes: with_(five, { 4: { connections: 0 } }),
      current: 5,
      desired: 4,
      drain: [4],
      undrain: [],
      replicas: 5,
    },
    {
      name: 'undrains the leaving nodes when the count goes back up',
      nodes: with_(five, { 3: draining(200), 4: draining(0) }),
      current: 5,
      desired: 5,
      drain: [],
      undrain: [3, 4],
      replicas: 5,
      message: 'keeping 5 replicas; undraining 3, 4',
    },
    {
      name: 'undrains only the nodes below a partly raised count',
      nodes: with_(five, { 2: draining(200), 3: draining(100), 4: draining(0) }),
      current: 5,
      desired: 4,
      drain: [],
      undrain: [2, 3],
      replicas: 4,
      message: 'scaling 5 → 4; replicas 5 → 4; undraining 2, 3',
    },
    {
      name: 'raises the replicas at once and undrains a node left from an earlier scale-down',
      nodes: with_(serving(500, 500, 500), { 2: draining(300) }),
      current: 3,
      desired: 5,
      drain: [],
      undrain: [2],
      replicas: 5,
      message: 'scaling 3 → 5; undraining 2',
    },
    {
      name: 'leaves the node a rollout is draining alone when the count goes up',
      nodes: with_(five, { 1: draining(80) }),
      keepDraining: [1],
      current: 5,
      desired: 6,
      drain: [],
      undrain: [],
      replicas: 6,
    },
  ])('$name', (c) => {
    const plan = planScaleDown({
      nodes: c.nodes,
      currentReplicas: c.current,
      desiredReplicas: c.desired,
      keepDraining: c.keepDraining,
    });
    expect({ drain: plan.drain, undrain: plan.undrain, replicas: plan.replicas }).toEqual({
      drain: c.drain,
      undrain: c.undrain,
      replicas: c.replicas,
    });
    if (c.message !== undefined) expect(plan.message).toBe(c.message);
  });
});

describe('planRollout', () => {
  type Versioned = NodeLoad & { revision: string };
  const cluster = (...revisions: string[]): Versioned[] =>
    revisions.map((revision, ordinal) => ({
      ordinal,
      connections: 500,
      ready: true,
      draining: false,
      revision,
    }));
  const change = (nodes: Versioned[], ordinal: number, c: Partial<Versioned>): Versioned[] =>
    nodes.map((n) => (n.ordinal === ordinal ? { ...n, ...c } : n));

  it.each([
    {
      name: 'drains the highest ordinal on an old revision first',
      nodes: cluster('v1', 'v1', 'v1'),
      step: { drain: 2, message: '3 nodes on an old revision: draining node 2 (revision v1 → v2)' },
    },
    {
      name: 'waits while the draining node still has a session',
      nodes: change(cluster('v1', 'v1', 'v1'), 2, { draining: true, connections: 1 }),
      step: { message: 'node 2 is draining, 1 session left: waiting' },
    },
    {
      name: 'restarts the draining node once it has no session left',
      nodes: change(cluster('v1', 'v1', 'v1'), 2, { draining: true, connections: 0 }),
      step: { restart: 2, message: 'node 2 is drained: restarting it on revision v2' },
    },
    {
      name: 'waits while the restarted node is not ready',
      nodes: change(cluster('v1', 'v1', 'v2'), 2, { ready: false, connections: 0 }),
      step: { message: 'node 2 not ready: waiting' },
    },
    {
      name: 'waits while the restarted highest node is missing, given the replicas',
      nodes: cluster('v1', 'v1'),
      replicas: 3,
      step: { message: 'node 2 missing: waiting' },
    },
    {
      name: 'waits while a node below the highest is missing',
      nodes: cluster('v1', 'v1', 'v2').filter((n) => n.ordinal !== 1),
      step: { message: 'node 1 missing: waiting' },
    },
    {
      name: 'moves on to the next ordinal once the restarted node is ready on the new revision',
      nodes: cluster('v1', 'v1', 'v2'),
      step: { drain: 1, message: '2 nodes on an old revision: draining node 1 (revision v1 → v2)' },
    },
    {
      name: 'does not start while another node is not ready',
      nodes: change(cluster('v1', 'v1', 'v1'), 0, { ready: false }),
      step: { message: 'node 0 not ready: waiting' },
    },
    {
      name: 'does not start while a scale-down is draining nodes',
      nodes: change(change(cluster('v1', 'v1', 'v1', 'v1'), 3, { draining: true }), 2, { draining: true }),
      step: { message: 'nodes 3, 2 are draining: waiting' },
    },
    {
      name: 'does not restart a node that is draining for another reason',
      nodes: change(cluster('v1', 'v1', 'v2'), 2, { draining: true, connections: 0 }),
      step: { message: 'node 2 is draining for another reason: waiting' },
    },
    {
      name: 'does nothing once every node runs the target revision',
      nodes: cluster('v2', 'v2', 'v2'),
      step: { message: 'all 3 nodes run revision v2' },
    },
  ])('$name', (c) => {
    expect(planRollout({ nodes: c.nodes, targetRevision: 'v2', replicas: c.replicas })).toEqual(c.step);
  });

  it('rolls a cluster through one node at a time, highest ordinal first', () => {
    let nodes = cluster('v1', 'v1', 'v1');
    const actions: string[] = [];
    for (let tick = 0; tick < 30; tick++) {
      const step = planRollout({ nodes, targetRevision: 'v2', replicas: 3 });
      // At most one node is ever away from serving.
      expect(nodes.filter((n) => n.draining || !n.ready).length).toBeLessThanOrEqual(1);
      if (step.drain !== undefined) {
        actions.push(`drain ${step.drain}`);
        nodes = change(nodes, step.drain, { draining: true });
      } else if (step.restart !== undefined) {
        actions.push(`restart ${step.restart}`);
        nodes = change(nodes, step.restart, { draining: false, ready: false, revision: 'v2' });
      } else {
        // The world moves on: drained sessions leave, restarted pods become ready.
        nodes = nodes.map((n) => (n.draining ? { ...n, connections: 0 } : { ...n, ready: true }));
      }
    }
    expect(actions).toEqual(['drain 2', 'restart 2', 'drain 1', 'restart 1', 'drain 0', 'restart 0']);
    expect(nodes.map((n) => n.revision)).toEqual(['v2', 'v2', 'v2']);
  });
});
