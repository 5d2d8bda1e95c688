/**
 * The status part of decide(): status.nodes and the counts, and the conditions Ready, Scaling,
 * Rebalancing and Degraded (metav1.Condition: lastTransitionTime moves only when the status does).
 * Pure, like decide.ts, which passes its context in.
 */
import type {
  ChatClusterCondition,
  ChatClusterConditionType,
  ChatClusterStatus,
} from './chatcluster-schema.ts';
import { selectorString } from './objects.ts';
import type { Memory, NodeObservation, Observation } from './types.ts';

export const NO_ADMIN_TOKEN =
  'no admin token (spec.auth.adminTokenRef unset, or its Secret key missing): nodes are not drained before they go and sessions are not rebalanced';

/** One condition's state, before its type, time and generation are added. */
export interface Aspect {
  active: boolean;
  reason: string;
  message: string;
}

/** What the status is made of: the observation, the time, and the ready nodes that do not report. */
export interface StatusContext {
  o: Observation;
  now: number;
  silent: NodeObservation[];
}

const nodes = (n: number) => `${n} ${n === 1 ? 'node' : 'nodes'}`;

export function movesForStatus(moves: Memory['moves']): NonNullable<ChatClusterStatus['sessionMoves']> {
  return moves.map((m) => ({
    at: new Date(m.at).toISOString(),
    count: m.count,
    ...(m.ordinal === undefined ? {} : { ordinal: m.ordinal }),
  }));
}

export function silentMessage(ctx: StatusContext): string {
  const names = ctx.silent.map((n) => n.name).join(', ');
  const verb = ctx.silent.length === 1 ? 'is' : 'are';
  return `${names} ${verb} ready but not in the node registry: their load is unknown`;
}

function readyAspect(ctx: StatusContext): Aspect {
  const sts = ctx.o.statefulSet;
  if (!sts) return { active: false, reason: 'Creating', message: 'the StatefulSet does not exist yet' };
  if (sts.replicas === 0) return { active: false, reason: 'NoNodes', message: 'scaled to 0 nodes' };
  const message = `${sts.readyReplicas} of ${nodes(sts.replicas)} ready`;
  return sts.readyReplicas >= sts.replicas
    ? { active: true, reason: 'NodesReady', message }
    : { active: false, reason: 'NodesNotReady', message };
}

/**
 * Nodes on the pod template of this spec: those on the StatefulSet's update revision, once the
 * StatefulSet carries this spec's template and its controller has seen it; 0 until then. (The
 * reconcile that first sees a new template observed the StatefulSet before applying it, when every
 * node is still on its update revision.)
 */
export function updatedReplicas(o: Observation, renderedTemplateHash: string | undefined): number {
  const sts = o.statefulSet;
  if (!sts || sts.controllerCurrent === false || sts.templateHash !== renderedTemplateHash) return 0;
  return o.nodes.filter((n) => n.exists && n.revision !== undefined && n.revision === sts.updateRevision)
    .length;
}

function degradedAspect(ctx: StatusContext): Aspect {
  const noToken = !ctx.o.canMoveSessions;
  if (ctx.silent.length > 0) {
    const message = silentMessage(ctx) + (noToken ? `; ${NO_ADMIN_TOKEN}` : '');
    return { active: true, reason: 'NodesNotReporting', message };
  }
  if (noToken) return { active: true, reason: 'NoAdminToken', message: NO_ADMIN_TOKEN };
  return { active: false, reason: 'AsExpected', message: 'every ready node reports its load' };
}

/** metav1.Condition: lastTransitionTime moves only when the status does. */
function condition(
  ctx: StatusContext,
  type: ChatClusterConditionType,
  aspect: Aspect,
  generationsAhead: number,
): ChatClusterCondition {
  const status = aspect.active ? 'True' : 'False';
  const before = ctx.o.cluster.status?.conditions?.find((c) => c.type === type);
  const c: ChatClusterCondition = {
    type,
    status,
    reason: aspect.reason,
    message: aspect.message,
    lastTransitionTime:
      before?.status === status ? before.lastTransitionTime : new Date(ctx.now).toISOString(),
  };
  const generation = ctx.o.cluster.metadata.generation;
  if (generation !== undefined) c.observedGeneration = generation + generationsAhead;
  return c;
}

export function statusOf(
  ctx: StatusContext,
  scaling: Aspect,
  moving: Aspect,
  generationsAhead: number,
  /** The pod template's hash on the StatefulSet this decision applies (renderedTemplateHash). */
  templateHash: string | undefined,
): ChatClusterStatus {
  const { o } = ctx;
  const reporting = o.nodes
    .filter((n) => n.exists && n.load)
    .sort((a, b) => a.ordinal - b.ordinal)
    .map((n) => ({ node: n, load: n.load! }));
  return {
    replicas: o.statefulSet?.replicas ?? 0,
    readyReplicas: o.statefulSet?.readyReplicas ?? 0,
    updatedReplicas: updatedReplicas(o, templateHash),
    connections: reporting.reduce((sum, r) => sum + r.load.connections, 0),
    nodes: reporting.map(({ node, load }) => ({
      name: node.name,
      ordinal: node.ordinal,
      nodeId: load.nodeId,
      url: load.url,
      connections: load.connections,
      draining: load.draining,
    })),
    selector: selectorString(o.cluster),
    observedGeneration: (o.cluster.metadata.generation ?? 0) + generationsAhead,
    conditions: [
      condition(ctx, 'Ready', readyAspect(ctx), generationsAhead),
      condition(ctx, 'Scaling', scaling, generationsAhead),
      condition(ctx, 'Rebalancing', moving, generationsAhead),
      condition(ctx, 'Degraded', degradedAspect(ctx), generationsAhead),
    ],
  };
}
