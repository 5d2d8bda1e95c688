import { describe, expect, it } from 'vitest';
import {
  activeConditions,
  desiredText,
  formatClusterList,
  formatClusterStatus,
  scaleSummary,
} from '../../cli/clusters-view.ts';
import type { ChatCluster, ChatClusterCondition } from '../../operator/chatcluster-schema.ts';
import { chatCluster } from '../helpers/chatcluster.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');

const condition = (
  type: string,
  status: 'True' | 'False',
  reason: string,
  message = '',
): ChatClusterCondition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2025-06-01T11:55:00Z',
});

function cluster(
  name: string,
  change: Partial<ChatCluster['spec']> = {},
  status?: ChatCluster['status'],
): ChatCluster {
  return chatCluster({
    name,
    namespace: 'chat',
    metadata: { uid: undefined, generation: 2, creationTimestamp: '2025-06-01T10:00:00Z' },
    spec: {
      minReplicas: 1,
      targetConnectionsPerNode: 1000,
      cassandra: { contactPoints: ['c:9042'], keyspace: 'chat', localDataCenter: 'dc1', replication: 3 },
      auth: { jwtSecretRef: { name: 's', key: 'k' } },
      ...change,
    },
    status,
  });
}

const busy = cluster(
  'busy',
  { replicas: 3, replicasManagedBy: 'External' },
  {
    replicas: 3,
    readyReplicas: 2,
    connections: 1500,
    observedGeneration: 2,
    conditions: [
      condition('Ready', 'False', 'NodesStarting', '2 of 3 nodes ready'),
      condition('Scaling', 'True', 'ScalingUp', '2 → 3'),
      condition('Rebalancing', 'True', 'Shedding', 'moving 100 sessions'),
      condition('Degraded', 'False', 'AsExpected'),
    ],
    nodes: [
      { name: 'busy-1', ordinal: 1, nodeId: 1, url: 'http://busy-1:8080', connections: 500, draining: false },
      { name: 'busy-0', ordinal: 0, nodeId: 0, url: 'http://busy-0:8080', connections: 1000, draining: true },
    ],
  },
);

describe('the cluster list', () => {
  it('shows desired and existing nodes, connections against the target, and the conditions that are on', () => {
    expect(formatClusterList([busy, cluster('new')], NOW, false)).toEqual([
      'NAME   DESIRED      REPLICAS   READY   CONNECTIONS   TARGET   LOAD   STATUS    CONDITIONS            AGE',
      'busy   3            3          2       1500          1000     50%    False     Scaling,Rebalancing   120m',
      'new    auto 1..10   0          0       0             1000     -      Unknown   -                     120m',
    ]);
  });

  it('adds a NAMESPACE column for several namespaces, sorted by namespace then name', () => {
    const other = { ...cluster('a'), metadata: { ...cluster('a').metadata, namespace: 'blue' } };
    const lines = formatClusterList([busy, other], NOW, true);
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME/);
    expect(lines[1]).toMatch(/^blue\s+a\s/);
    expect(lines[2]).toMatch(/^chat\s+busy\s/);
  });

  it('names the desired count as the autoscaler range while the operator manages the replicas', () => {
    expect(desiredText(cluster('x', { minReplicas: 2, maxReplicas: 5 }))).toBe('auto 2..5');
    expect(activeConditions(cluster('x'))).toBe('-');
  });
});

describe('the status of one cluster', () => {
  it('prints the summary, the conditions, and the nodes by ordinal', () => {
    const text = formatClusterStatus(busy, NOW).join('\n');
    expect(text).toContain('ChatCluster chat/busy\n');
    expect(text).toContain('Replicas:     3 exist, 2 ready; desired 3 (min 1, max 10)');
    expect(text).toContain('Connections:  1500 (50% of 3 × 1000 target per node)');
    expect(text).toMatch(/Scaling\s+True\s+ScalingUp\s+5m\s+2 → 3/);
    const nodes = text.slice(text.indexOf('Nodes:')).split('\n');
    expect(nodes[1]).toMatch(/^ {2}NAME\s+ORDINAL\s+NODE ID\s+CONNECTIONS\s+OF TARGET\s+DRAINING\s+URL$/);
    expect(nodes[2]).toMatch(/^ {2}busy-0\s+0\s+0\s+1000\s+100%\s+yes\s+http:\/\/busy-0:8080$/);
    expect(nodes[3]).toMatch(/^ {2}busy-1\s+1\s+1\s+500\s+50%\s+no\s/);
  });

  it('says when the operator has not written a status yet', () => {
    const text = formatClusterStatus(cluster('new'), NOW).join('\n');
    expect(text).toContain('the operator has not seen generation 2 yet');
    expect(text).toContain('none yet: is the operator running?');
    expect(text).toContain('Nodes:\n  none reported');
  });
});

describe('the scale summary', () => {
  it('says what changed and how to watch it', () => {
    expect(scaleSummary(busy, 5)).toEqual([
      'chatcluster chat/busy scaled: spec.replicas 3 → 5',
      'watch it with: chatctl status busy -n chat',
    ]);
  });

  it('warns when the operator will clamp the count to minReplicas..maxReplicas', () => {
    const [, note] = scaleSummary(
      cluster('x', { minReplicas: 2, maxReplicas: 4, replicasManagedBy: 'External' }),
      9,
    );
    expect(note).toContain('(2..4), so it runs 4');
  });

  it('says that the autoscaler steps aside, and how to hand the replicas back', () => {
    const [first, note] = scaleSummary(cluster('x'), 3);
    expect(first).toContain('spec.replicas 2 (autoscaled) → 3');
    expect(note).toContain('replicasManagedBy is now External');
    expect(note).toContain(`-p '{"spec":{"replicasManagedBy":"Operator"}}'`);
  });
});
