import { describe, expect, it } from 'vitest';
import type { ChatCluster, ChatClusterSpec, ChatClusterStatus } from '../../operator/chatcluster-schema.ts';
import { decide, SETTLE_MS } from '../../operator/decide.ts';
import { buildObjects, renderedTemplateHash } from '../../operator/objects.ts';
import {
  type Decision,
  emptyMemory,
  type Memory,
  type NodeAction,
  type Observation,
} from '../../operator/types.ts';
import { chatCluster } from '../helpers/chatcluster.ts';
import {
  type NodeSketch as N,
  nodeObservation as node,
  nodeUrl as url,
} from '../helpers/node-observations.ts';

const NOW = Date.parse('2030-01-01T12:00:00.000Z');
const EARLIER = '2030-01-01T11:00:00.000Z';
const SECOND = 1000;

function cluster(spec: Partial<ChatClusterSpec> = {}, status?: ChatClusterStatus): ChatCluster {
  return chatCluster({
    metadata: { uid: 'uid-1', generation: 7 },
    spec: {
      auth: {
        jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
        adminTokenRef: { name: 'chat-auth', key: 'admin' },
      },
      ...spec,
    },
    status,
  });
}

/**
 * An observation: `nodes[i]` is the pod at ordinal i (null: the pod is missing). The StatefulSet has
 * as many replicas as nodes unless said (null: it does not exist yet), update revision r1.
 */
function observe(
  nodes: (N | null)[],
  o: {
    spec?: Partial<ChatClusterSpec>;
    status?: ChatClusterStatus;
    replicas?: number | null;
    canMove?: boolean;
    updateRevision?: string;
    /** The StatefulSet was last applied with another spec's pod template. */
    oldTemplate?: boolean;
    /** Its controller has not seen its latest spec yet. */
    controllerBehind?: boolean;
  } = {},
): Observation {
  const observed = nodes.flatMap((n, i) => (n === null ? [] : [node(i, n)]));
  const replicas = o.replicas === undefined ? nodes.length : o.replicas;
  const c = cluster(o.spec, o.status);
  return {
    cluster: c,
    statefulSet:
      replicas === null
        ? undefined
        : {
            replicas,
            readyReplicas: observed.filter((n) => n.ready).length,
            currentRevision: 'r1',
            updateRevision: o.updateRevision ?? 'r1',
            templateHash: o.oldTemplate ? 'an-older-hash' : renderedTemplateHash(buildObjects(c, replicas)),
            controllerCurrent: !o.controllerBehind,
          },
    nodes: observed,
    canMoveSessions: o.canMove ?? true,
  };
}

const drain = (ordinal: number, ratePerSec = 10): NodeAction => ({
  kind: 'drain',
  ordinal,
  url: url(ordinal),
  ratePerSec,
});
const undrain = (ordinal: number): NodeAction => ({ kind: 'undrain', ordinal, url: url(ordinal) });
const shed = (ordinal: number, count: number, ratePerSec = 10): NodeAction => ({
  kind: 'shed',
  ordinal,
  url: url(ordinal),
  count,
  ratePerSec,
});
const restart = (ordinal: number): NodeAction => ({ kind: 'restart', ordinal, podName: `chat-${ordinal}` });
const moved = (secondsAgo: number, count: number, ordinal?: number) => ({
  at: NOW - secondsAgo * SECOND,
  count,
  ...(ordinal === undefined ? {} : { ordinal }),
});

const condition = (d: Decision, type: string) => d.status.conditions?.find((c) => c.type === type);
const stsReplicas = (d: Decision) =>
  (d.objects.find((o) => o.kind === 'StatefulSet') as unknown as { spec: { replicas: number } }).spec
    .replicas;

interface Case {
  name: string;
  observation: Observation;
  memory?: Memory;
  replicas: number;
  actions: NodeAction[];
  /** `type/reason` of each event. */
  events: string[];
  /** type → [status, reason]. */
  conditions?: Record<string, [string, string]>;
  moves?: Memory['moves'];
}

function check(c: Case): Decision {
  const d = decide(c.observation, c.memory ?? emptyMemory(), NOW);
  expect(d.replicas).toBe(c.replicas);
  expect(stsReplicas(d)).toBe(c.replicas);
  expect(d.actions).toEqual(c.actions);
  expect(d.events.map((e) => `${e.type}/${e.reason}`)).toEqual(c.events);
  for (const [type, [status, reason]] of Object.entries(c.conditions ?? {})) {
    expect(condition(d, type), type).toMatchObject({ status, reason });
  }
  if (c.moves) expect(d.memory.moves).toEqual(c.moves);
  return d;
}

describe('decide: how many nodes', () => {
  it.each<Case>([
    {
      name: 'creates a new cluster with minReplicas nodes',
      observation: observe([], { replicas: null }),
      replicas: 2,
      actions: [],
      events: ['Normal/ScaledUp'],
      conditions: { Ready: ['False', 'Creating'], Scaling: ['True', 'ScalingUp'] },
    },
    {
      name: 'scales up at once when the load is above the target',
      observation: observe([15_000, 15_000]),
      replicas: 3,
      actions: [],
      events: ['Normal/ScaledUp'],
      conditions: { Scaling: ['True', 'ScalingUp'], Rebalancing: ['False', 'Scaling'] },
    },
    {
      name: 'scales up no further than maxReplicas',
      observation: observe([60_000, 60_000]),
      replicas: 10,
      actions: [],
      events: ['Normal/ScaledUp'],
    },
    {
      name: 'keeps the count when the load is within the tolerance',
      observation: observe([10_500, 10_500]),
      replicas: 2,
      actions: [],
      events: [],
      conditions: { Scaling: ['False', 'Steady'] },
    },
    {
      name: 'drains the leaving nodes, highest ordinal first, and keeps the replicas while they drain',
      observation: observe([3_000, 3_000, 3_000, 3_000]),
      replicas: 4,
      actions: [drain(3, 5), drain(2, 5)],
      events: ['Normal/ScalingDown'],
      conditions: { Scaling: ['True', 'ScalingDown'], Rebalancing: ['False', 'Scaling'] },
    },
    {
      name: 'keeps the replicas while the highest leaving node still has sessions',
      observation: observe([4_500, 4_500, { draining: true }, { c: 3_000, draining: true }]),
      replicas: 4,
      actions: [],
      events: [],
      conditions: { Scaling: ['True', 'ScalingDown'] },
    },
    {
      name: 'lowers the replicas past the drained, empty nodes only',
      observation: observe([5_900, 5_900, { c: 200, draining: true }, { draining: true }]),
      replicas: 3,
      actions: [],
      events: ['Normal/ScaledDown'],
    },
    {
      name: 'lowers the replicas once every leaving node is drained and empty',
      observation: observe([6_000, 6_000, { draining: true }, { draining: true }]),
      replicas: 2,
      actions: [],
      events: ['Normal/ScaledDown'],
    },
    {
      name: 'undrains a leaving node when the load comes back before it is gone',
      observation: observe([12_000, 12_000, 12_000, { c: 4_000, draining: true }]),
      replicas: 4,
      actions: [undrain(3)],
      events: ['Normal/Undraining'],
    },
    {
      name: 'grows at once and undrains the nodes it keeps',
      observation: observe([20_000, 20_000, 20_000, { c: 4_000, draining: true }]),
      replicas: 7,
      actions: [undrain(3)],
      events: ['Normal/Undraining', 'Normal/ScaledUp'],
    },
    {
      name: 'follows spec.replicas up when managed outside, whatever the load (the autoscaler steps aside)',
      observation: observe([1_000, 1_000], { spec: { replicas: 5, replicasManagedBy: 'External' } }),
      replicas: 5,
      actions: [],
      events: ['Normal/ScaledUp'],
    },
    {
      name: 'follows spec.replicas down when managed outside, by draining first, whatever the load',
      observation: observe([20_000, 20_000, 20_000, 20_000], {
        spec: { replicas: 2, replicasManagedBy: 'External' },
      }),
      replicas: 4,
      actions: [drain(3, 5), drain(2, 5)],
      events: ['Normal/ScalingDown'],
    },
    {
      name: 'clamps spec.replicas to maxReplicas',
      observation: observe([0, 0], { spec: { replicas: 20, replicasManagedBy: 'External' } }),
      replicas: 10,
      actions: [],
      events: ['Normal/ScaledUp'],
    },
    {
      name: 'clamps spec.replicas to minReplicas',
      observation: observe([0, 0], { spec: { replicas: 0, replicasManagedBy: 'External' } }),
      replicas: 2,
      actions: [],
      events: [],
    },
    {
      name: 'keeps the count when no node reports its load, and warns',
      observation: observe([{ reported: false }, { reported: false }, { reported: false }]),
      replicas: 3,
      actions: [],
      events: ['Warning/NodesNotReporting'],
      conditions: { Degraded: ['True', 'NodesNotReporting'] },
    },
    {
      name: 'does not scale down on a partial report (a silent node is unknown, not empty)',
      observation: observe([5_000, 5_000, { reported: false }]),
      replicas: 3,
      actions: [],
      events: ['Warning/NodesNotReporting'],
    },
    {
      name: 'still scales up on a partial report',
      observation: observe([25_000, 25_000, { reported: false }]),
      replicas: 5,
      actions: [],
      events: ['Normal/ScaledUp', 'Warning/NodesNotReporting'],
    },
    {
      name: 'does not warn about a node that is still starting',
      observation: observe([10_000, 10_000, { ready: false }]),
      replicas: 3,
      actions: [],
      events: [],
      conditions: { Degraded: ['False', 'AsExpected'], Ready: ['False', 'NodesNotReady'] },
    },
    {
      name: 'lowers the replicas at once without an admin token (nodes drain themselves on SIGTERM)',
      observation: observe([3_000, 3_000, 3_000, 3_000], { canMove: false }),
      replicas: 2,
      actions: [],
      events: ['Normal/ScaledDown'],
      conditions: { Degraded: ['True', 'NoAdminToken'], Scaling: ['True', 'ScalingDown'] },
    },
  ])('$name', (c) => {
    check(c);
  });

  it('scales down step by step: drain, wait for the sessions to leave, then lower the replicas', () => {
    const first = decide(observe([3_000, 3_000, 3_000, 3_000]), emptyMemory(), NOW);
    expect(first.actions).toEqual([drain(3, 5), drain(2, 5)]);
    expect(first.replicas).toBe(4);
    // The nodes took the moved sessions; the drained ones keep some for a while.
    const next = (nodes: N[], at: number) => decide(observe(nodes), first.memory, at);
    const draining = next(
      [5_000, 5_000, { c: 1_000, draining: true }, { c: 1_000, draining: true }],
      NOW + 10_000,
    );
    expect(draining.actions).toEqual([]);
    expect(draining.replicas).toBe(4);
    const done = next([6_000, 6_000, { draining: true }, { draining: true }], NOW + 20_000);
    expect(done.replicas).toBe(2);
    expect(done.events).toEqual([
      { type: 'Normal', reason: 'ScaledDown', message: expect.stringContaining('4 → 2') },
    ]);
  });

  it('writes its decision into spec.replicas while it manages the replicas, and ignores an outside value', () => {
    // spec.replicas is 9 (kubectl scale while replicasManagedBy is Operator): the autoscaler wins.
    const up = decide(observe([20_000, 20_000], { spec: { replicas: 9 } }), emptyMemory(), NOW);
    expect(up.replicas).toBe(4);
    expect(up.specReplicas).toBe(4);
    // Writing spec.replicas makes the next generation (7 + 1), which the decision already is.
    expect(up.status.observedGeneration).toBe(8);
    expect(up.status.conditions?.every((c) => c.observedGeneration === 8)).toBe(true);
    // Already there: nothing to write.
    const steady = decide(observe([10_000, 10_000], { spec: { replicas: 2 } }), emptyMemory(), NOW);
    expect(steady.specReplicas).toBeUndefined();
    // A scale-down writes the target at once, while the leaving nodes still drain.
    const down = decide(observe([3_000, 3_000, 3_000, 3_000], { spec: { replicas: 4 } }), emptyMemory(), NOW);
    expect(down.replicas).toBe(4);
    expect(down.specReplicas).toBe(2);
  });

  it('calls a node on its admin URL, and shows the URL it advertises to clients in the status', () => {
    const o = observe([3_000, 3_000, 3_000, 3_000]);
    for (const n of o.nodes) {
      n.load!.url = `http://chat.example.com:${30100 + n.ordinal}`;
      n.load!.adminUrl = `http://10.0.0.${n.ordinal}:9090`;
    }
    const d = decide(o, emptyMemory(), NOW);
    expect(d.actions.map((a) => (a.kind === 'drain' ? a.url : a.kind))).toEqual([
      'http://10.0.0.3:9090',
      'http://10.0.0.2:9090',
    ]);
    expect(d.status.nodes?.map((n) => n.url)).toContain('http://chat.example.com:30103');
  });

  it('never writes spec.replicas when an outside scaler manages it', () => {
    const spec = { replicas: 3, replicasManagedBy: 'External' as const };
    const d = decide(observe([20_000, 20_000], { spec }), emptyMemory(), NOW);
    expect(d.replicas).toBe(3);
    expect(d.specReplicas).toBeUndefined();
  });

  it('shares the rebalance budget among nodes that drain at once (together no more than maxSessionsMovedPerMinute)', () => {
    const spec = { replicas: 1, replicasManagedBy: 'External' as const, minReplicas: 1 };
    const d = decide(observe([1_000, 1_000, 1_000, 1_000], { spec }), emptyMemory(), NOW);
    expect(d.actions).toEqual([drain(3, 10 / 3), drain(2, 10 / 3), drain(1, 10 / 3)]);
    const total = d.actions.reduce((sum, a) => sum + (a.kind === 'drain' ? a.ratePerSec : 0), 0);
    expect(total * 60).toBeCloseTo(600);
    // One of them already draining still counts: the two new ones get a third each.
    const later = decide(
      observe([1_000, 1_000, 1_000, { c: 900, draining: true }], { spec }),
      emptyMemory(),
      NOW,
    );
    expect(later.actions).toEqual([drain(2, 10 / 3), drain(1, 10 / 3)]);
  });

  it('holds a scale-down for the stabilization window once the load has been higher', () => {
    const busy = decide(observe([10_000, 10_000, 10_000, 10_000]), emptyMemory(), NOW);
    expect(busy.replicas).toBe(4);
    const quiet = decide(observe([3_000, 3_000, 3_000, 3_000]), busy.memory, NOW + 60_000);
    expect(quiet.actions).toEqual([]);
    expect(quiet.replicas).toBe(4);
    const later = decide(observe([3_000, 3_000, 3_000, 3_000]), quiet.memory, NOW + 301_000);
    expect(later.actions).toEqual([drain(3, 5), drain(2, 5)]);
  });
});

describe('decide: rebalancing', () => {
  // 28,000 connections on 3 nodes is within the tolerance of 3 × 10,000: no scaling.
  const afterScaleUp = [14_000, 14_000, 0];

  it('keeps the minute’s budget in the status, so that a new leader does not spend it again', () => {
    const first = decide(observe(afterScaleUp), emptyMemory(), NOW);
    expect(first.actions).toEqual([shed(0, 600)]);
    expect(first.status.sessionMoves).toEqual([{ at: new Date(NOW).toISOString(), count: 600, ordinal: 0 }]);
    // Another replica takes over 20 s later with nothing in memory: the status says the budget is spent.
    const taken = decide(observe(afterScaleUp, { status: first.status }), emptyMemory(), NOW + 20_000);
    expect(taken.actions).toEqual([]);
    expect(condition(taken, 'Rebalancing')).toMatchObject({ status: 'True', reason: 'RateLimited' });
    // A minute after the moves the budget is back, and the status forgets them.
    const later = decide(observe(afterScaleUp, { status: first.status }), emptyMemory(), NOW + 61_000);
    expect(later.actions).toEqual([shed(0, 600)]);
    expect(later.status.sessionMoves).toHaveLength(1);
    expect(later.status.sessionMoves?.[0]?.at).toBe(new Date(NOW + 61_000).toISOString());
  });

  it.each<Case>([
    {
      name: 'sheds from the most loaded node after a scale-up, up to the budget of the minute',
      observation: observe(afterScaleUp),
      replicas: 3,
      actions: [shed(0, 600)],
      events: ['Normal/Rebalancing'],
      conditions: { Rebalancing: ['True', 'Rebalancing'], Scaling: ['False', 'Steady'] },
      moves: [moved(0, 600, 0)],
    },
    {
      name: 'sheds only what is left of the budget after earlier moves of the minute',
      observation: observe(afterScaleUp),
      memory: { recommendations: [], moves: [moved(30, 200, 1)] },
      replicas: 3,
      actions: [shed(0, 400)],
      events: ['Normal/Rebalancing'],
      moves: [moved(30, 200, 1), moved(0, 400, 0)],
    },
    {
      name: 'sheds nothing when the budget of the minute is spent',
      observation: observe(afterScaleUp),
      memory: { recommendations: [], moves: [moved(30, 600, 0)] },
      replicas: 3,
      actions: [],
      events: [],
      conditions: { Rebalancing: ['True', 'RateLimited'] },
      moves: [moved(30, 600, 0)],
    },
    {
      name: 'forgets moves older than a minute (memory pruned, budget back)',
      observation: observe(afterScaleUp),
      memory: { recommendations: [], moves: [moved(61, 600, 0), moved(60, 50, 0), moved(30, 100, 0)] },
      replicas: 3,
      actions: [shed(0, 500)],
      events: ['Normal/Rebalancing'],
      moves: [moved(30, 100, 0), moved(0, 500, 0)],
    },
    {
      name: 'waits for a move of the last seconds to show in the loads before the next',
      observation: observe(afterScaleUp),
      memory: { recommendations: [], moves: [moved(SETTLE_MS / SECOND - 1, 100, 0)] },
      replicas: 3,
      actions: [],
      events: [],
      conditions: { Rebalancing: ['True', 'Settling'] },
    },
    {
      name: 'waits for a new node to be ready before moving sessions to it',
      observation: observe([14_000, 14_000, { ready: false }]),
      replicas: 3,
      actions: [],
      events: [],
      conditions: { Rebalancing: ['False', 'NodesNotReady'] },
    },
    {
      name: 'moves nothing while scaling',
      observation: observe([30_000, 3_000]),
      replicas: 4,
      actions: [],
      events: ['Normal/ScaledUp'],
      conditions: { Rebalancing: ['False', 'Scaling'] },
    },
    {
      name: 'moves nothing when the nodes are balanced',
      observation: observe([9_500, 9_000, 9_300]),
      replicas: 3,
      actions: [],
      events: [],
      conditions: { Rebalancing: ['False', 'Balanced'] },
    },
    {
      name: 'moves nothing when rebalancing is off (0 a minute)',
      observation: observe(afterScaleUp, {
        spec: { rebalance: { maxSessionsMovedPerMinute: 0, imbalanceThreshold: 0.2 } },
      }),
      replicas: 3,
      actions: [],
      events: [],
      conditions: { Rebalancing: ['False', 'Disabled'] },
    },
    {
      name: 'paces sheds at the policy per second, at least 1',
      observation: observe(afterScaleUp, {
        spec: { rebalance: { maxSessionsMovedPerMinute: 30, imbalanceThreshold: 0.2 } },
      }),
      replicas: 3,
      actions: [shed(0, 30, 1)],
      events: ['Normal/Rebalancing'],
    },
    {
      name: 'moves nothing without an admin token, and says why',
      observation: observe(afterScaleUp, { canMove: false }),
      replicas: 3,
      actions: [],
      events: [],
      conditions: { Rebalancing: ['False', 'NoAdminToken'], Degraded: ['True', 'NoAdminToken'] },
    },
  ])('$name', (c) => {
    check(c);
  });

  it('says in the Degraded condition why rebalancing is off without an admin token', () => {
    const d = decide(observe(afterScaleUp, { canMove: false }), emptyMemory(), NOW);
    expect(condition(d, 'Degraded')?.message).toMatch(/admin token.*not rebalanced/);
  });
});

describe('decide: rollouts', () => {
  const rolling = (nodes: (N | null)[], o: { canMove?: boolean; replicas?: number } = {}) =>
    observe(nodes, { updateRevision: 'r2', ...o });

  it.each<Case>([
    {
      name: 'drains the highest node on an old revision first, and nothing else moves',
      observation: rolling([9_000, 15_000, 4_000]),
      replicas: 3,
      actions: [drain(2)],
      events: ['Normal/RollingNode'],
      conditions: { Rebalancing: ['True', 'RollingUpdate'] },
    },
    {
      name: 'waits while that node drains (and does not undrain it)',
      observation: rolling([13_000, 13_000, { c: 1_000, draining: true }]),
      replicas: 3,
      actions: [],
      events: [],
      conditions: { Rebalancing: ['True', 'RollingUpdate'] },
    },
    {
      name: 'restarts the node once it is drained',
      observation: rolling([13_500, 13_500, { draining: true }]),
      replicas: 3,
      actions: [restart(2)],
      events: ['Normal/RollingNode'],
    },
    {
      name: 'waits while the restarted pod is missing',
      observation: rolling([13_500, 13_500, null]),
      replicas: 3,
      actions: [],
      events: [],
    },
    {
      name: 'waits while the restarted node is not ready',
      observation: rolling([13_500, 13_500, { ready: false, revision: 'r2' }]),
      replicas: 3,
      actions: [],
      events: [],
    },
    {
      name: 'then drains the next node',
      observation: rolling([13_500, 13_500, { c: 0, revision: 'r2' }]),
      replicas: 3,
      actions: [drain(1)],
      events: ['Normal/RollingNode'],
    },
    {
      name: 'is done when every node runs the new revision: rebalancing resumes',
      observation: rolling([
        { c: 14_000, revision: 'r2' },
        { c: 14_000, revision: 'r2' },
        { c: 0, revision: 'r2' },
      ]),
      replicas: 3,
      actions: [shed(0, 600)],
      events: ['Normal/Rebalancing'],
    },
    {
      name: 'waits for scaling to finish',
      observation: rolling([15_000, 15_000]),
      replicas: 3,
      actions: [],
      events: ['Normal/ScaledUp'],
      conditions: { Rebalancing: ['False', 'Scaling'] },
    },
    {
      name: 'restarts without draining when there is no admin token',
      observation: rolling([9_000, 9_000, 9_000], { canMove: false }),
      replicas: 3,
      actions: [restart(2)],
      events: ['Normal/RollingNode'],
    },
  ])('$name', (c) => {
    check(c);
  });
});

describe('decide: status', () => {
  it('reports replicas, ready replicas, connections, the reporting nodes, the selector and the generation', () => {
    const d = decide(
      observe([5_000, { c: 6_000, draining: true }, { ready: false }], {
        replicas: 3,
        spec: { replicas: 3, replicasManagedBy: 'External' },
      }),
      emptyMemory(),
      NOW,
    );
    const { conditions, ...rest } = d.status;
    expect(rest).toEqual({
      replicas: 3,
      readyReplicas: 2,
      connections: 11_000,
      nodes: [
        { name: 'chat-0', ordinal: 0, nodeId: 0, url: url(0), connections: 5_000, draining: false },
        { name: 'chat-1', ordinal: 1, nodeId: 1, url: url(1), connections: 6_000, draining: true },
      ],
      selector:
        'app.kubernetes.io/name=chat-node,app.kubernetes.io/instance=chat,app.kubernetes.io/managed-by=chatplatform-operator',
      observedGeneration: 7,
      sessionMoves: [],
      updatedReplicas: 3,
    });
    expect(conditions?.map((c) => c.type)).toEqual(['Ready', 'Scaling', 'Rebalancing', 'Degraded']);
    for (const c of conditions ?? []) {
      expect(c.observedGeneration).toBe(7);
      expect(c.reason).toMatch(/^[A-Z][A-Za-z]*$/);
      expect(c.message.length).toBeGreaterThan(0);
    }
  });

  it.each([
    { name: 'every node on the update revision of a StatefulSet with this template', o: {}, updated: 3 },
    {
      name: 'the nodes on the update revision during a rollout',
      nodes: [{ revision: 'r2' }, 1, 1],
      o: { updateRevision: 'r2' },
      updated: 1,
    },
    {
      name: 'none while the StatefulSet still has the template of an earlier spec (the first reconcile of a change)',
      o: { oldTemplate: true },
      updated: 0,
    },
    {
      name: "none while the StatefulSet's controller has not seen its spec",
      o: { controllerBehind: true },
      updated: 0,
    },
    { name: 'none before the StatefulSet exists', nodes: [], o: { replicas: null }, updated: 0 },
  ])('counts as updatedReplicas $name', ({ nodes, o, updated }) => {
    const d = decide(observe(nodes ?? [1, 1, 1], o), emptyMemory(), NOW);
    expect(d.status.updatedReplicas).toBe(updated);
  });

  it('stamps the StatefulSet with the hash of the pod template it carries, which follows the template', () => {
    const sts = (spec: Partial<ChatClusterSpec>) =>
      decide(observe([1], { spec }), emptyMemory(), NOW).objects.find((x) => x.kind === 'StatefulSet');
    const hash = (spec: Partial<ChatClusterSpec>) =>
      sts(spec)?.metadata.annotations?.['chatplatform.io/template-hash'];
    expect(hash({})).toMatch(/^[0-9a-f]{16}$/);
    expect(hash({})).toBe(renderedTemplateHash(buildObjects(cluster({}), 5)));
    expect(hash({ minReplicas: 1, maxReplicas: 9 })).toBe(hash({}));
    expect(hash({ image: 'chat-platform/chat-node:9.9.9' })).not.toBe(hash({}));
  });

  it('reports 0 replicas before the StatefulSet exists', () => {
    const d = decide(observe([], { replicas: null }), emptyMemory(), NOW);
    expect(d.status).toMatchObject({ replicas: 0, readyReplicas: 0, connections: 0, nodes: [] });
  });

  it('keeps lastTransitionTime of a condition whose status did not change, and moves the others', () => {
    const before: ChatClusterStatus = {
      conditions: [
        { type: 'Ready', status: 'True', reason: 'NodesReady', message: '', lastTransitionTime: EARLIER },
        { type: 'Scaling', status: 'True', reason: 'ScalingUp', message: '', lastTransitionTime: EARLIER },
        { type: 'Rebalancing', status: 'False', reason: 'Scaling', message: '', lastTransitionTime: EARLIER },
        { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '', lastTransitionTime: EARLIER },
      ],
    };
    const d = decide(observe([9_500, 9_000, 9_300], { status: before }), emptyMemory(), NOW);
    const times = Object.fromEntries(
      (d.status.conditions ?? []).map((c) => [c.type, [c.status, c.lastTransitionTime]]),
    );
    expect(times).toEqual({
      Ready: ['True', EARLIER],
      Scaling: ['False', new Date(NOW).toISOString()],
      // Same status, another reason: the transition time stays.
      Rebalancing: ['False', EARLIER],
      Degraded: ['False', EARLIER],
    });
  });

  it('gives every condition the current time when there was none before', () => {
    const d = decide(observe([9_500, 9_000, 9_300]), emptyMemory(), NOW);
    for (const c of d.status.conditions ?? []) expect(c.lastTransitionTime).toBe(new Date(NOW).toISOString());
  });
});

describe('decide: purity', () => {
  const deepFreeze = <T>(o: T): T => {
    if (o && typeof o === 'object') {
      for (const v of Object.values(o)) deepFreeze(v);
      Object.freeze(o);
    }
    return o;
  };

  it.each([
    {
      name: 'a rebalance',
      observation: observe([14_000, 14_000, 0]),
      memory: { recommendations: [], moves: [moved(61, 5)] },
    },
    { name: 'a scale-down', observation: observe([3_000, 3_000, 3_000, 3_000]), memory: emptyMemory() },
    {
      name: 'a rollout',
      observation: observe([13_500, 13_500, { draining: true }], { updateRevision: 'r2' }),
      memory: { recommendations: [{ at: NOW - 1_000, replicas: 3 }], moves: [] },
    },
  ])('does not mutate its inputs in $name, and gives the same decision twice', ({ observation, memory }) => {
    const copy = structuredClone({ observation, memory });
    deepFreeze(observation);
    deepFreeze(memory);
    const a = decide(observation, memory, NOW);
    const b = decide(observation, memory, NOW);
    expect({ observation, memory }).toEqual(copy);
    expect(a).toEqual(b);
    expect(a.memory).not.toBe(memory);
  });
});
