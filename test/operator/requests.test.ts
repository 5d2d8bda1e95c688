/**
 * Drains and rebalances asked for by annotation: the pure plans of requests.ts, and how decide()
 * carries them out with the shared move budget.
 */
import { describe, expect, it } from 'vitest';
import type { ChatClusterStatus } from '../../operator/chatcluster-schema.ts';
import { decide, SETTLE_MS } from '../../operator/decide.ts';
import {
  DRAIN_ANNOTATION,
  MAX_REQUEST_ROUNDS,
  planDrainRequest,
  planRebalanceRequest,
  REBALANCE_ANNOTATION,
  requestedDrain,
} from '../../operator/requests.ts';
import { emptyMemory, type Observation } from '../../operator/types.ts';
import { chatCluster } from '../helpers/chatcluster.ts';
import {
  type NodeSketch as N,
  nodeObservation as node,
  nodeUrl as url,
} from '../helpers/node-observations.ts';

const NOW = Date.parse('2030-01-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
function cluster(annotations: Record<string, string>, status?: ChatClusterStatus, adminToken = true) {
  return chatCluster({
    metadata: { annotations },
    spec: {
      minReplicas: 1,
      // A decision that keeps the node count: 3 nodes and little load, with a long scale-down window.
      auth: {
        jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
        ...(adminToken && { adminTokenRef: { name: 'chat-auth', key: 'admin' } }),
      },
    },
    ...(status && { status }),
  });
}

function observe(
  nodes: N[],
  annotations: Record<string, string>,
  o: { status?: ChatClusterStatus; canMove?: boolean; updateRevision?: string } = {},
): Observation {
  return {
    cluster: cluster(annotations, o.status),
    statefulSet: {
      replicas: nodes.length,
      readyReplicas: nodes.length,
      currentRevision: 'r1',
      updateRevision: o.updateRevision ?? 'r1',
    },
    nodes: nodes.map((n, i) => node(i, n)),
    canMoveSessions: o.canMove ?? true,
  };
}

/** A memory whose autoscaler history keeps 3 nodes (scale-down window), so nothing scales. */
const steady = () => ({
  ...emptyMemory(),
  recommendations: [{ at: NOW - 1000, replicas: 3 }],
});

describe('requestedDrain', () => {
  it.each([
    { value: 'chat-2', want: { pod: 'chat-2', ordinal: 2 } },
    { value: ' chat-0 ', want: { pod: 'chat-0', ordinal: 0 } },
    { value: 'other-1', want: { pod: 'other-1' } },
    { value: 'chat-01', want: { pod: 'chat-01' } },
    { value: '', want: undefined },
  ])('reads $value', ({ value, want }) => {
    expect(requestedDrain(cluster({ [DRAIN_ANNOTATION]: value }))).toEqual(want);
  });
});

describe('planDrainRequest', () => {
  const input = (
    annotations: Record<string, string>,
    more: Partial<Parameters<typeof planDrainRequest>[0]> = {},
  ) => ({
    cluster: cluster(annotations),
    now: NOW,
    replicas: 3,
    canMoveSessions: true,
    ...more,
  });

  it('fails for a pod that is not one of the cluster’s', () => {
    const p = planDrainRequest(input({ [DRAIN_ANNOTATION]: 'web-1' }));
    expect(p.status).toMatchObject({ state: 'Failed', pod: 'web-1', finishedAt: iso(NOW) });
    expect(p.hold).toBeUndefined();
  });

  it('fails without an admin token, saying so', () => {
    const p = planDrainRequest(input({ [DRAIN_ANNOTATION]: 'chat-1' }, { canMoveSessions: false }));
    expect(p.status?.state).toBe('Failed');
    expect(p.status?.message).toMatch(/admin token/);
  });

  it('waits for a node that does not report, holding it', () => {
    const p = planDrainRequest(input({ [DRAIN_ANNOTATION]: 'chat-1' }));
    expect(p).toMatchObject({ hold: 1, drain: false, status: { state: 'Pending', ordinal: 1 } });
  });

  it('says a pod past the replicas has nothing on it', () => {
    const p = planDrainRequest(input({ [DRAIN_ANNOTATION]: 'chat-5' }));
    expect(p.status).toMatchObject({ state: 'Drained', sessionsLeft: 0 });
    expect(p.hold).toBeUndefined();
  });

  it('drains a serving node, then counts what left it since the last status', () => {
    const first = planDrainRequest(
      input(
        { [DRAIN_ANNOTATION]: 'chat-1' },
        { node: { reporting: true, draining: false, connections: 40 } },
      ),
    );
    expect(first).toMatchObject({
      drain: true,
      hold: 1,
      moved: 0,
      status: { state: 'Draining', sessionsLeft: 40 },
    });
    const status = { drainRequest: first.status! };
    const second = planDrainRequest({
      ...input(
        { [DRAIN_ANNOTATION]: 'chat-1' },
        { node: { reporting: true, draining: true, connections: 25 } },
      ),
      cluster: cluster({ [DRAIN_ANNOTATION]: 'chat-1' }, status),
      now: NOW + 5000,
    });
    expect(second).toMatchObject({
      drain: false,
      moved: 15,
      status: { state: 'Draining', sessionsLeft: 25 },
    });
    expect(second.status?.startedAt).toBe(iso(NOW));
  });

  it('keeps the time it was first seen drained', () => {
    const drained = {
      pod: 'chat-1',
      ordinal: 1,
      state: 'Drained' as const,
      sessionsLeft: 0,
      startedAt: iso(NOW - 9000),
      finishedAt: iso(NOW - 4000),
      message: '',
    };
    const p = planDrainRequest({
      ...input({}, { node: { reporting: true, draining: true, connections: 0 } }),
      cluster: cluster({ [DRAIN_ANNOTATION]: 'chat-1' }, { drainRequest: drained }),
    });
    expect(p.status).toMatchObject({
      state: 'Drained',
      finishedAt: iso(NOW - 4000),
      startedAt: iso(NOW - 9000),
    });
    expect(p.hold).toBe(1);
  });
});

describe('planRebalanceRequest', () => {
  const base = (annotations: Record<string, string>, status?: ChatClusterStatus) => ({
    cluster: cluster(annotations, status),
    now: NOW,
    canMoveSessions: true,
    settling: false,
    nodes: [
      { ordinal: 0, connections: 100, ready: true, draining: false },
      { ordinal: 1, connections: 110, ready: true, draining: false },
      { ordinal: 2, connections: 30, ready: true, draining: false },
    ],
    movedInLastMinute: 0,
  });

  it('moves sessions below the spec’s threshold (110 is less than 20 % above the average 80)', () => {
    const p = planRebalanceRequest(base({ [REBALANCE_ANNOTATION]: 'r1' }));
    expect(p.active).toBe(true);
    expect(p.sheds).toEqual([
      { ordinal: 1, count: 30 },
      { ordinal: 0, count: 20 },
    ]);
    expect(p.status).toMatchObject({
      request: 'r1',
      state: 'Running',
      rounds: 1,
      sessionsMoved: 50,
      startedAt: iso(NOW),
    });
  });

  it('takes no more than what is left of the minute’s budget', () => {
    const p = planRebalanceRequest({ ...base({ [REBALANCE_ANNOTATION]: 'r1' }), movedInLastMinute: 590 });
    expect(p.sheds).toEqual([{ ordinal: 1, count: 10 }]);
  });

  it('is done when the nodes are balanced, and stays done for the same value', () => {
    const balanced = {
      ...base({ [REBALANCE_ANNOTATION]: 'r1' }),
      nodes: base({}).nodes.map((n) => ({ ...n, connections: 80 })),
    };
    const done = planRebalanceRequest(balanced);
    expect(done).toMatchObject({ active: false, sheds: [], status: { state: 'Done', finishedAt: iso(NOW) } });
    const again = planRebalanceRequest({
      ...base({ [REBALANCE_ANNOTATION]: 'r1' }, { rebalanceRequest: done.status! }),
      now: NOW + 60_000,
    });
    expect(again).toEqual({ status: done.status, sheds: [], active: false });
  });

  it('starts over for a new value', () => {
    const done = {
      request: 'r1',
      state: 'Done' as const,
      rounds: 2,
      sessionsMoved: 9,
      startedAt: iso(NOW - 1),
      finishedAt: iso(NOW - 1),
      message: '',
    };
    const p = planRebalanceRequest(base({ [REBALANCE_ANNOTATION]: 'r2' }, { rebalanceRequest: done }));
    expect(p.status).toMatchObject({ request: 'r2', state: 'Running', rounds: 1, sessionsMoved: 50 });
  });

  it('waits while scaling or a rollout runs, and while moves settle', () => {
    expect(
      planRebalanceRequest({ ...base({ [REBALANCE_ANNOTATION]: 'r1' }), blockedBy: 'scaling' }),
    ).toMatchObject({
      sheds: [],
      status: { state: 'Pending', message: 'waiting until scaling is done' },
    });
    expect(planRebalanceRequest({ ...base({ [REBALANCE_ANNOTATION]: 'r1' }), settling: true }).sheds).toEqual(
      [],
    );
  });

  it('fails without an admin token, with rebalancing off, and after its last round', () => {
    expect(
      planRebalanceRequest({ ...base({ [REBALANCE_ANNOTATION]: 'r1' }), canMoveSessions: false }).status
        ?.state,
    ).toBe('Failed');
    const off = cluster({ [REBALANCE_ANNOTATION]: 'r1' });
    off.spec.rebalance.maxSessionsMovedPerMinute = 0;
    expect(planRebalanceRequest({ ...base({}), cluster: off }).status?.message).toMatch(/is 0/);
    const running = {
      request: 'r1',
      state: 'Running' as const,
      rounds: MAX_REQUEST_ROUNDS,
      sessionsMoved: 7,
      startedAt: iso(NOW - 1),
      message: '',
    };
    const last = planRebalanceRequest(base({ [REBALANCE_ANNOTATION]: 'r1' }, { rebalanceRequest: running }));
    expect(last).toMatchObject({
      active: false,
      sheds: [],
      status: { state: 'Failed', finishedAt: iso(NOW) },
    });
  });
});

describe('decide() with requests', () => {
  it('drains the annotated pod and keeps it drained instead of undraining it', () => {
    const first = decide(observe([100, 100, 100], { [DRAIN_ANNOTATION]: 'chat-1' }), steady(), NOW);
    expect(first.actions).toContainEqual({ kind: 'drain', ordinal: 1, url: url(1), ratePerSec: 10 });
    expect(first.status.drainRequest).toMatchObject({ pod: 'chat-1', state: 'Draining', sessionsLeft: 100 });
    const o = observe(
      [100, { c: 60, draining: true }, 100],
      { [DRAIN_ANNOTATION]: 'chat-1' },
      { status: first.status },
    );
    const second = decide(o, first.memory, NOW + 5000);
    expect(second.actions.filter((a) => a.ordinal === 1)).toEqual([]);
    // The 40 sessions that left count against the minute's budget.
    expect(second.status.sessionMoves).toContainEqual({ at: iso(NOW + 5000), count: 40, ordinal: 1 });
    expect(second.status.drainRequest).toMatchObject({ state: 'Draining', sessionsLeft: 60 });
  });

  it('undrains the node once the annotation is gone, and drops the request from the status', () => {
    const drained = {
      pod: 'chat-1',
      ordinal: 1,
      state: 'Drained' as const,
      sessionsLeft: 0,
      startedAt: iso(NOW - 9000),
      finishedAt: iso(NOW - 4000),
      message: '',
    };
    const o = observe([100, { c: 0, draining: true }, 100], {}, { status: { drainRequest: drained } });
    const d = decide(o, steady(), NOW);
    expect(d.actions).toContainEqual({ kind: 'undrain', ordinal: 1, url: url(1) });
    expect(d.status.drainRequest).toBeUndefined();
  });

  it('lets a rollout go past a held node on the new revision', () => {
    const o = observe(
      [{ c: 100, revision: 'r0' }, { c: 0, draining: true, revision: 'r2' }, 100],
      { [DRAIN_ANNOTATION]: 'chat-1' },
      { updateRevision: 'r2' },
    );
    const d = decide(o, steady(), NOW);
    expect(d.actions).toContainEqual({ kind: 'drain', ordinal: 2, url: url(2), ratePerSec: 10 });
  });

  it('carries out a requested rebalance with sheds, and the automatic one waits for it', () => {
    const o = observe([100, 110, 30], { [REBALANCE_ANNOTATION]: '2030-01-01' });
    const d = decide(o, steady(), NOW);
    expect(d.actions).toEqual([
      { kind: 'shed', ordinal: 1, url: url(1), count: 30, ratePerSec: 10 },
      { kind: 'shed', ordinal: 0, url: url(0), count: 20, ratePerSec: 10 },
    ]);
    expect(d.status.rebalanceRequest).toMatchObject({
      state: 'Running',
      rounds: 1,
      sessionsMoved: 50,
    });
    expect(d.status.conditions?.find((c) => c.type === 'Rebalancing')?.reason).toBe('RebalanceRequested');
    // Settling: the next reconcile moves nothing.
    const next = decide({ ...o, cluster: { ...o.cluster, status: d.status } }, d.memory, NOW + SETTLE_MS - 1);
    expect(next.actions).toEqual([]);
    expect(next.status.rebalanceRequest?.rounds).toBe(1);
  });

  it('holds a requested rebalance while the cluster scales', () => {
    const o = observe([19_000, 19_000], { [REBALANCE_ANNOTATION]: 'x' });
    const d = decide(o, emptyMemory(), NOW);
    expect(d.replicas).toBeGreaterThan(2);
    expect(d.status.rebalanceRequest).toMatchObject({
      state: 'Pending',
      message: 'waiting until scaling is done',
    });
    expect(d.actions.filter((a) => a.kind === 'shed')).toEqual([]);
  });

  it('calls drain once on a held node that a scale-down removes too', () => {
    // External: 2 nodes wanted, node 2 is leaving and also named by the annotation.
    const o = observe([100, 100, 100], { [DRAIN_ANNOTATION]: 'chat-2' });
    o.cluster.spec.replicasManagedBy = 'External';
    o.cluster.spec.replicas = 2;
    const d = decide(o, steady(), NOW);
    expect(d.actions.filter((a) => a.kind === 'drain')).toEqual([
      { kind: 'drain', ordinal: 2, url: url(2), ratePerSec: 10 },
    ]);
  });

  it('shares the drain pace between a held node and a scale-down’s leaving node', () => {
    const o = observe([100, { c: 80, draining: true }, 100], { [DRAIN_ANNOTATION]: 'chat-1' });
    o.cluster.spec.replicasManagedBy = 'External';
    o.cluster.spec.replicas = 2;
    const d = decide(o, steady(), NOW);
    expect(d.actions.filter((a) => a.kind === 'drain')).toEqual([
      { kind: 'drain', ordinal: 2, url: url(2), ratePerSec: 5 },
    ]);
  });
});
