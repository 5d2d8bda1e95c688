/** decide(): the operator's whole decision for one ChatCluster, as a table of named cases. */
import { describe, expect, it } from 'vitest';
import type { ChatCluster } from '../../operator/chatcluster-schema.ts';
import { decide, SETTLE_MS } from '../../operator/decide.ts';
import { emptyMemory, type Memory, type NodeObservation, type Observation } from '../../operator/types.ts';

const NOW = 1_800_000_000_000;

function cluster(spec: Partial<ChatCluster['spec']> = {}, status?: ChatCluster['status']): ChatCluster {
  return {
    apiVersion: 'chatplatform.io/v1alpha1',
    kind: 'ChatCluster',
    metadata: { name: 'c', namespace: 'ns', uid: 'u1', generation: 3 },
    spec: {
      image: 'img',
      minReplicas: 1,
      maxReplicas: 5,
      targetConnectionsPerNode: 10,
      scaleUp: { stabilizationWindowSeconds: 0, tolerance: 0.1 },
      scaleDown: { stabilizationWindowSeconds: 0, tolerance: 0.1 },
      rebalance: { maxSessionsMovedPerMinute: 600, imbalanceThreshold: 0.2 },
      nats: { url: 'nats://n' },
      redis: { url: 'redis://r' },
      cassandra: { contactPoints: ['c'], keyspace: 'chat', localDataCenter: 'dc1', replication: 3 },
      auth: { jwtSecretRef: { name: 's', key: 'jwt' }, adminTokenRef: { name: 's', key: 'admin' } },
      ...spec,
    } as ChatCluster['spec'],
    status,
  };
}

/** Node `ordinal` with `connections`, ready and reporting, on revision r1 unless said otherwise. */
function node(
  ordinal: number,
  connections: number,
  more: Partial<NodeObservation> & { draining?: boolean } = {},
): NodeObservation {
  const { draining = false, ...rest } = more;
  return {
    name: `c-${ordinal}`,
    ordinal,
    ready: true,
    exists: true,
    revision: 'r1',
    load: { nodeId: ordinal, url: `http://n${ordinal}`, connections, capacity: 20, draining },
    ...rest,
  };
}

function observe(c: ChatCluster, nodes: NodeObservation[], canMoveSessions = true): Observation {
  return {
    cluster: c,
    statefulSet: {
      replicas: nodes.length,
      readyReplicas: nodes.filter((n) => n.ready).length,
      updateRevision: 'r1',
    },
    nodes,
    canMoveSessions,
  };
}

const kinds = (d: ReturnType<typeof decide>) => d.actions.map((a) => `${a.kind}:${a.ordinal}`);

describe('decide', () => {
  it('starts a new cluster at minReplicas, with every owned object', () => {
    const d = decide(
      { cluster: cluster({ minReplicas: 2 }), nodes: [], canMoveSessions: true },
      emptyMemory(),
      NOW,
    );
    expect(d.replicas).toBe(2);
    expect(d.objects.map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount', 'StatefulSet'].sort(),
    );
    expect(d.actions).toEqual([]);
  });

  it('scales up at once when the connections exceed the target, with an event', () => {
    const d = decide(observe(cluster(), [node(0, 25)]), emptyMemory(), NOW);
    expect(d.replicas).toBe(3);
    expect(d.events.map((e) => e.reason)).toContain('ScaledUp');
    expect(d.status.conditions?.find((c) => c.type === 'Scaling')).toMatchObject({
      status: 'True',
      reason: 'ScalingUp',
    });
  });

  it('drains the highest ordinal first and keeps the replicas until it is drained', () => {
    const d = decide(observe(cluster(), [node(0, 4), node(1, 3), node(2, 2)]), emptyMemory(), NOW);
    expect(kinds(d)).toEqual(['drain:2', 'drain:1']);
    expect(d.replicas).toBe(3);
    expect(d.events.map((e) => e.reason)).toEqual(['ScalingDown']);
  });

  it('lowers the replicas past nodes that are drained and empty', () => {
    const nodes = [node(0, 9), node(1, 0, { draining: true }), node(2, 0, { draining: true })];
    const d = decide(observe(cluster(), nodes), emptyMemory(), NOW);
    expect(d.replicas).toBe(1);
    expect(d.events.map((e) => e.reason)).toContain('ScaledDown');
  });

  it('follows spec.replicas (kubectl scale, an HPA), clamped to min and max', () => {
    expect(
      decide(
        observe(cluster({ replicas: 4 }), [node(0, 0), node(1, 0), node(2, 0), node(3, 0)]),
        emptyMemory(),
        NOW,
      ).replicas,
    ).toBe(4);
    expect(decide(observe(cluster({ replicas: 9 }), [node(0, 0)]), emptyMemory(), NOW).replicas).toBe(5);
  });

  it('sheds from the loaded node toward the average once the new nodes are ready', () => {
    const d = decide(observe(cluster(), [node(0, 25), node(1, 0), node(2, 0)]), emptyMemory(), NOW);
    expect(d.replicas).toBe(3);
    expect(d.actions).toEqual([{ kind: 'shed', ordinal: 0, url: 'http://n0', count: 16, ratePerSec: 10 }]);
    expect(d.memory.moves).toEqual([{ at: NOW, count: 16, ordinal: 0 }]);
    expect(d.status.conditions?.find((c) => c.type === 'Rebalancing')?.status).toBe('True');
  });

  it('waits for a new node to be ready before moving sessions', () => {
    const d = decide(
      observe(cluster(), [node(0, 25), node(1, 0), node(2, 0, { ready: false })]),
      emptyMemory(),
      NOW,
    );
    expect(d.actions).toEqual([]);
  });

  it('moves nothing more while the last moves settle, and never past the budget of the minute', () => {
    const nodes = [node(0, 25), node(1, 0), node(2, 0)];
    const settling: Memory = {
      recommendations: [],
      moves: [{ at: NOW - SETTLE_MS + 1, count: 16, ordinal: 0 }],
    };
    expect(decide(observe(cluster(), nodes), settling, NOW).actions).toEqual([]);
    const spent: Memory = { recommendations: [], moves: [{ at: NOW - 30_000, count: 595, ordinal: 0 }] };
    expect(decide(observe(cluster(), nodes), spent, NOW).actions).toEqual([
      { kind: 'shed', ordinal: 0, url: 'http://n0', count: 5, ratePerSec: 10 },
    ]);
  });

  it('without an admin token drains nothing, lowers replicas directly and says Degraded', () => {
    const d = decide(observe(cluster(), [node(0, 4), node(1, 3), node(2, 2)], false), emptyMemory(), NOW);
    expect(d.actions).toEqual([]);
    expect(d.replicas).toBe(1);
    expect(d.status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'NoAdminToken',
    });
  });

  it('rolls a node on an old revision: drains it, then restarts its pod once empty', () => {
    const draining = decide(
      observe(cluster(), [node(0, 8), node(1, 8, { revision: 'r0' })]),
      emptyMemory(),
      NOW,
    );
    expect(kinds(draining)).toEqual(['drain:1']);
    const drained = decide(
      observe(cluster(), [node(0, 16), node(1, 0, { revision: 'r0', draining: true })]),
      emptyMemory(),
      NOW,
    );
    expect(drained.actions).toEqual([{ kind: 'restart', ordinal: 1, podName: 'c-1' }]);
  });

  it('keeps a condition’s lastTransitionTime while its status does not change', () => {
    const first = decide(observe(cluster(), [node(0, 5)]), emptyMemory(), NOW);
    const again = decide(observe(cluster({}, first.status), [node(0, 5)]), emptyMemory(), NOW + 60_000);
    const ready = (d: typeof first) => d.status.conditions?.find((c) => c.type === 'Ready');
    expect(ready(again)?.lastTransitionTime).toBe(ready(first)?.lastTransitionTime);
    expect(ready(first)?.lastTransitionTime).toBe(new Date(NOW).toISOString());
  });

  it('reports the nodes, connections and selector in the status, and never changes its inputs', () => {
    const memory: Memory = { recommendations: [{ at: NOW - 1000, replicas: 1 }], moves: [] };
    const frozen = JSON.stringify(memory);
    const d = decide(observe(cluster(), [node(0, 7), node(1, 2)]), memory, NOW);
    expect(JSON.stringify(memory)).toBe(frozen);
    expect(d.status).toMatchObject({ replicas: 2, readyReplicas: 2, connections: 9, observedGeneration: 3 });
    expect(d.status.nodes?.map((n) => [n.name, n.connections])).toEqual([
      ['c-0', 7],
      ['c-1', 2],
    ]);
    expect(d.status.selector).toContain('app.kubernetes.io/instance=c');
  });
});
