/**
 * ChatClusters as chatctl prints them (pure: objects and the time in, lines out): the list of
 * `chatctl clusters`, the detail of `chatctl status`, and what `chatctl scale` did.
 */
import {
  type ChatCluster,
  type ChatClusterCondition,
  type ChatClusterNodeStatus,
  namespaceOf,
} from '../operator/chatcluster-schema.ts';
import { formatAge, formatTable, percent } from './table.ts';

const conditionOf = (c: ChatCluster, type: string): ChatClusterCondition | undefined =>
  c.status?.conditions?.find((x) => x.type === type);

const ageOf = (c: ChatCluster, now: number): string | undefined => {
  const created = c.metadata.creationTimestamp ? Date.parse(c.metadata.creationTimestamp) : Number.NaN;
  return Number.isNaN(created) ? undefined : formatAge(now - created);
};

/** The conditions other than Ready that are True (`Scaling,Rebalancing`), `-` for none. */
export function activeConditions(c: ChatCluster): string {
  const on = (c.status?.conditions ?? []).filter((x) => x.type !== 'Ready' && x.status === 'True');
  return on.map((x) => x.type).join(',') || '-';
}

/** Desired node count as the spec says: spec.replicas when managed outside, else the autoscaler's `min..max`. */
export function desiredText(c: ChatCluster): string {
  return c.spec.replicasManagedBy === 'External'
    ? String(c.spec.replicas)
    : `auto ${c.spec.minReplicas}..${c.spec.maxReplicas}`;
}

/** The table of `chatctl clusters`; a NAMESPACE column when they come from several namespaces. */
export function formatClusterList(
  clusters: readonly ChatCluster[],
  now: number,
  withNamespace: boolean,
  /** `-o wide`: also min and max nodes, the image and the generation the operator has acted on. */
  wide = false,
): string[] {
  const headers = [
    ...(withNamespace ? ['namespace'] : []),
    'name',
    'desired',
    'replicas',
    'ready',
    'connections',
    'target',
    'load',
    'status',
    'conditions',
    'age',
    ...(wide ? ['min', 'max', 'image', 'observed'] : []),
  ];
  const sorted = [...clusters].sort(
    (a, b) =>
      (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  const rows = sorted.map((c) => {
    const s = c.status;
    const capacity = (s?.replicas ?? 0) * c.spec.targetConnectionsPerNode;
    return [
      ...(withNamespace ? [c.metadata.namespace] : []),
      c.metadata.name,
      desiredText(c),
      s?.replicas ?? 0,
      s?.readyReplicas ?? 0,
      s?.connections ?? 0,
      c.spec.targetConnectionsPerNode,
      percent(s?.connections, capacity),
      conditionOf(c, 'Ready')?.status ?? 'Unknown',
      activeConditions(c),
      ageOf(c, now),
      ...(wide
        ? [
            c.spec.minReplicas,
            c.spec.maxReplicas,
            c.spec.image,
            `${c.status?.observedGeneration ?? '-'}/${c.metadata.generation ?? '-'}`,
          ]
        : []),
    ];
  });
  return formatTable(headers, rows);
}

/** The per-node table of `chatctl status`, by ordinal. */
export function formatNodeStatusTable(nodes: readonly ChatClusterNodeStatus[], target: number): string[] {
  const rows = [...nodes]
    .sort((a, b) => a.ordinal - b.ordinal)
    .map((n) => [
      n.name,
      n.ordinal,
      n.nodeId,
      n.connections,
      percent(n.connections, target),
      n.draining,
      n.url,
    ]);
  return formatTable(['name', 'ordinal', 'node id', 'connections', 'of target', 'draining', 'url'], rows);
}

/** The detail of `chatctl status`: summary, conditions, then one line per node. */
export function formatClusterStatus(c: ChatCluster, now: number): string[] {
  const s = c.status;
  const spec = c.spec;
  const generation = c.metadata.generation;
  const observed = s?.observedGeneration;
  const stale =
    generation !== undefined && observed !== generation
      ? `  (the operator has not seen generation ${generation} yet${observed === undefined ? '' : `; last saw ${observed}`})`
      : '';
  const capacity = (s?.replicas ?? 0) * spec.targetConnectionsPerNode;
  const lines = [
    `ChatCluster ${namespaceOf(c)}/${c.metadata.name}${stale}`,
    `Image:        ${spec.image}`,
    `Replicas:     ${s?.replicas ?? 0} exist, ${s?.readyReplicas ?? 0} ready; desired ${desiredText(c)} (min ${spec.minReplicas}, max ${spec.maxReplicas})`,
    `Connections:  ${s?.connections ?? 0} (${percent(s?.connections, capacity)} of ${s?.replicas ?? 0} × ${spec.targetConnectionsPerNode} target per node)`,
    `Age:          ${ageOf(c, now) ?? '-'}`,
    '',
    'Conditions:',
  ];
  const conditions = s?.conditions ?? [];
  if (conditions.length === 0) {
    lines.push(
      '  none yet: is the operator running? (kubectl get pods -A -l app.kubernetes.io/name=chat-operator)',
    );
  } else {
    const rows = conditions.map((x) => [
      x.type,
      x.status,
      x.reason,
      formatAge(now - Date.parse(x.lastTransitionTime)),
      x.message,
    ]);
    lines.push(...formatTable(['type', 'status', 'reason', 'since', 'message'], rows).map((l) => `  ${l}`));
  }
  lines.push('', 'Nodes:');
  const nodes = s?.nodes ?? [];
  if (nodes.length === 0) lines.push('  none reported');
  else lines.push(...formatNodeStatusTable(nodes, spec.targetConnectionsPerNode).map((l) => `  ${l}`));
  return lines;
}

/** What `chatctl scale` says after the API server took the new replicas. */
export function scaleSummary(c: ChatCluster, replicas: number): string[] {
  const ref = `${namespaceOf(c)}/${c.metadata.name}`;
  const autoscaled = c.spec.replicasManagedBy !== 'External';
  const before = `${c.spec.replicas}${autoscaled ? ' (autoscaled)' : ''}`;
  const lines = [`chatcluster ${ref} scaled: spec.replicas ${before} → ${replicas}`];
  if (autoscaled) {
    lines.push(
      `note: replicasManagedBy is now External: the autoscaler steps aside; hand the replicas back with: kubectl patch chatcluster ${c.metadata.name} -n ${namespaceOf(c)} --type=merge -p '{"spec":{"replicasManagedBy":"Operator"}}'`,
    );
  }
  const { minReplicas: min, maxReplicas: max } = c.spec;
  if (replicas < min || replicas > max) {
    const kept = Math.min(max, Math.max(min, replicas));
    lines.push(
      `note: the operator keeps the node count within minReplicas..maxReplicas (${min}..${max}), so it runs ${kept}; change those in the spec to go further`,
    );
  }
  lines.push(`watch it with: chatctl status ${c.metadata.name} -n ${namespaceOf(c)}`);
  return lines;
}
