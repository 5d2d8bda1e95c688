/**
 * The operator's decision for one ChatCluster: a pure function of what gather.ts observed, what the
 * operator remembers, and the time. It composes the autoscaler (autoscale.ts) and the session moves
 * (rebalance.ts) into the objects to apply, the admin-API actions, the status and the events.
 *
 *   desired replicas ─▶ grow: StatefulSet up at once ──▶ new nodes ready ──▶ shed from the loaded ones
 *                     └ shrink: drain the leaving (highest) ordinals ──▶ drained and empty ──▶ replicas down
 *   rollout (a pod on an old revision): drain one node ──▶ empty ──▶ delete its pod ──▶ next node
 *
 * Nothing moves sessions while another move is still settling (the node registry refreshes every
 * few seconds), and never more than the policy's sessions per minute.
 */
import { decideReplicas } from './autoscale.ts';
import type { ChatClusterCondition, ChatClusterConditionType } from './chatcluster-schema.ts';
import { buildObjects, podName, selectorString } from './objects.ts';
import { type NodeLoad, planRebalance, planRollout, planScaleDown } from './rebalance.ts';
import type { ClusterEvent, Decision, Memory, NodeAction, NodeObservation, Observation } from './types.ts';

/** Moves younger than this are still settling: their nodes' loads are not yet reported anew. */
export const SETTLE_MS = 10_000;
const MINUTE_MS = 60_000;

interface Plan {
  replicas: number;
  actions: NodeAction[];
  events: ClusterEvent[];
  memory: Memory;
  scaling: { active: boolean; reason: string; message: string };
  moving: { active: boolean; reason: string; message: string };
}

export function decide(observation: Observation, memory: Memory, now: number): Decision {
  const { cluster } = observation;
  const plan = planNodes(observation, memory, now);
  return {
    objects: buildObjects(cluster, plan.replicas),
    replicas: plan.replicas,
    actions: plan.actions,
    status: status(observation, plan, now),
    events: plan.events,
    memory: plan.memory,
  };
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

function loadsOf(nodes: readonly NodeObservation[]): (NodeLoad & { revision: string })[] {
  return nodes
    .filter((n) => n.exists)
    .map((n) => ({
      ordinal: n.ordinal,
      connections: n.load?.connections ?? 0,
      // A node that does not report its load cannot take part in moves yet.
      ready: n.ready && n.load !== undefined,
      draining: n.load?.draining ?? false,
      revision: n.revision ?? '',
    }));
}

/** Desired replicas: the scale subresource's when set, else the autoscaler's. */
function desiredReplicas(
  o: Observation,
  memory: Memory,
  now: number,
): { desired: number; recommendations: Memory['recommendations']; message: string } {
  const { spec } = o.cluster;
  const current = o.statefulSet?.replicas;
  const keep = { recommendations: memory.recommendations };
  if (spec.replicas !== undefined) {
    const desired = clamp(spec.replicas, spec.minReplicas, spec.maxReplicas);
    return { ...keep, desired, message: `spec.replicas asks for ${spec.replicas} nodes` };
  }
  if (current === undefined) {
    return { ...keep, desired: spec.minReplicas, message: `new cluster: ${spec.minReplicas} nodes` };
  }
  const reporting = o.nodes.filter((n) => n.exists && n.load);
  if (reporting.length === 0) {
    const desired = clamp(current, spec.minReplicas, spec.maxReplicas);
    return { ...keep, desired, message: 'no node reports its load yet' };
  }
  const d = decideReplicas({
    policy: spec,
    currentReplicas: current,
    totalConnections: reporting.reduce((sum, n) => sum + n.load!.connections, 0),
    history: memory.recommendations,
    now,
  });
  return { desired: d.replicas, recommendations: d.history, message: d.message };
}

function urlOf(o: Observation, ordinal: number): string | undefined {
  return o.nodes.find((n) => n.ordinal === ordinal)?.load?.url;
}

interface Step {
  actions: NodeAction[];
  events: ClusterEvent[];
}

function planNodes(o: Observation, memory: Memory, now: number): Plan {
  const { spec } = o.cluster;
  const current = o.statefulSet?.replicas ?? 0;
  const { desired, recommendations, message } = desiredReplicas(o, memory, now);
  const moves = memory.moves.filter((m) => now - m.at < MINUTE_MS);
  const loads = loadsOf(o.nodes);
  const ratePerSec = Math.max(1, Math.round(spec.rebalance.maxSessionsMovedPerMinute / 60));

  // A rollout: some pod runs an old revision of the template.
  const target = o.statefulSet?.updateRevision;
  const outdated = target !== undefined && loads.some((n) => n.revision !== '' && n.revision !== target);
  const rollout =
    outdated && o.canMoveSessions
      ? planRollout({ nodes: loads, targetRevision: target, replicas: current })
      : undefined;

  // The rollout's node stays draining until it is restarted, whatever the scaling says.
  const scale = planScale(o, loads, desired, message, ratePerSec, rollout?.drain ?? rollout?.restart);
  const step: Step = { actions: [...scale.actions], events: [...scale.events] };
  let moving: Plan['moving'];
  if (rollout) {
    moving = { active: true, reason: 'RollingUpdate', message: rollout.message };
    rolloutActions(o, rollout, ratePerSec, step);
  } else if (!o.canMoveSessions) {
    moving = {
      active: false,
      reason: 'NoAdminToken',
      message: 'no admin token (spec.auth.adminTokenRef): sessions are not rebalanced',
    };
  } else if (scale.replicas === current && desired === current) {
    moving = rebalance(o, loads, moves, ratePerSec, now, step);
  } else {
    moving = { active: false, reason: 'Scaling', message: 'sessions move once scaling is done' };
  }
  return {
    replicas: scale.replicas,
    actions: step.actions,
    events: step.events,
    memory: { recommendations, moves },
    scaling: {
      active: scale.replicas !== current || desired !== current,
      reason: desired > current ? 'ScalingUp' : desired < current ? 'ScalingDown' : 'Steady',
      message: scale.message,
    },
    moving,
  };
}

/** The StatefulSet's replicas now, and the drains a scale-down needs first. */
function planScale(
  o: Observation,
  loads: readonly NodeLoad[],
  desired: number,
  why: string,
  ratePerSec: number,
  rolloutDrain: number | undefined,
): Step & { replicas: number; message: string } {
  const current = o.statefulSet?.replicas ?? 0;
  const step: Step = { actions: [], events: [] };
  let replicas = desired;
  let message = why;
  // Without the admin API (or before the StatefulSet exists) nodes cannot be drained first: the
  // StatefulSet follows the desired count and pods drain themselves on SIGTERM.
  if (o.canMoveSessions && o.statefulSet) {
    const keepDraining = rolloutDrain !== undefined ? [rolloutDrain] : [];
    const p = planScaleDown({
      nodes: loads,
      currentReplicas: current,
      desiredReplicas: desired,
      keepDraining,
    });
    replicas = p.replicas;
    message = `${why}: ${p.message}`;
    for (const ordinal of p.drain) {
      const url = urlOf(o, ordinal);
      if (url) step.actions.push({ kind: 'drain', ordinal, url, ratePerSec });
    }
    for (const ordinal of p.undrain) {
      const url = urlOf(o, ordinal);
      if (url) step.actions.push({ kind: 'undrain', ordinal, url });
    }
    if (p.drain.length > 0) {
      const pods = p.drain.map((n) => podName(o.cluster, n)).join(', ');
      step.events.push({
        type: 'Normal',
        reason: 'ScalingDown',
        message: `draining ${pods} before removing them`,
      });
    }
  }
  if (o.statefulSet && replicas !== current) {
    const reason = replicas > current ? 'ScaledUp' : 'ScaledDown';
    step.events.push({ type: 'Normal', reason, message: `${current} → ${replicas} nodes: ${why}` });
  }
  return { ...step, replicas, message };
}

function rolloutActions(
  o: Observation,
  rollout: { drain?: number; restart?: number; message: string },
  ratePerSec: number,
  step: Step,
): void {
  const drain = rollout.drain;
  if (drain !== undefined) {
    const url = urlOf(o, drain);
    // A scale-down may be draining the same node already.
    const asked = step.actions.some((a) => a.kind === 'drain' && a.ordinal === drain);
    if (url && !asked) step.actions.push({ kind: 'drain', ordinal: drain, url, ratePerSec });
    step.events.push({ type: 'Normal', reason: 'RollingNode', message: rollout.message });
  }
  if (rollout.restart !== undefined) {
    step.actions.push({
      kind: 'restart',
      ordinal: rollout.restart,
      podName: podName(o.cluster, rollout.restart),
    });
    step.events.push({ type: 'Normal', reason: 'RollingNode', message: rollout.message });
  }
}

/** Sheds toward the average, within the minute's budget, once earlier moves have settled. */
function rebalance(
  o: Observation,
  loads: readonly NodeLoad[],
  moves: Memory['moves'],
  ratePerSec: number,
  now: number,
  step: Step,
): Plan['moving'] {
  if (moves.some((m) => now - m.at < SETTLE_MS)) {
    return { active: true, reason: 'Settling', message: 'waiting for the last moves to settle' };
  }
  const plan = planRebalance({
    nodes: loads,
    policy: o.cluster.spec.rebalance,
    movedInLastMinute: moves.reduce((sum, m) => sum + m.count, 0),
  });
  for (const shed of plan.sheds) {
    const url = urlOf(o, shed.ordinal);
    if (!url) continue;
    step.actions.push({ kind: 'shed', ordinal: shed.ordinal, url, count: shed.count, ratePerSec });
    moves.push({ at: now, count: shed.count, ordinal: shed.ordinal });
  }
  if (plan.sheds.length > 0) {
    step.events.push({ type: 'Normal', reason: 'Rebalancing', message: plan.message });
    return { active: true, reason: 'Rebalancing', message: plan.message };
  }
  return {
    active: false,
    reason: plan.reason === 'balanced' ? 'Balanced' : 'Waiting',
    message: plan.message,
  };
}

function condition(
  previous: readonly ChatClusterCondition[] | undefined,
  type: ChatClusterConditionType,
  active: boolean,
  reason: string,
  message: string,
  generation: number | undefined,
  now: number,
): ChatClusterCondition {
  const status = active ? 'True' : 'False';
  const before = previous?.find((c) => c.type === type);
  const c: ChatClusterCondition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime:
      before && before.status === status ? before.lastTransitionTime : new Date(now).toISOString(),
  };
  if (generation !== undefined) c.observedGeneration = generation;
  return c;
}

function status(o: Observation, plan: Plan, now: number): Decision['status'] {
  const { cluster } = o;
  const generation = cluster.metadata.generation;
  const prev = cluster.status?.conditions;
  const existing = o.nodes.filter((n) => n.exists);
  const reporting = existing.filter((n) => n.load);
  const ready = o.statefulSet?.readyReplicas ?? 0;
  const silent = existing.filter((n) => n.ready && !n.load).map((n) => n.name);
  const degraded = silent.length > 0 || !o.canMoveSessions;
  const degradedMessage =
    silent.length > 0
      ? `${silent.join(', ')} ready but not in the node registry`
      : !o.canMoveSessions
        ? 'no admin token: nodes cannot be drained or rebalanced'
        : 'every node reports its load';
  const allReady = ready >= 1 && ready >= (o.statefulSet?.replicas ?? 0);
  return {
    replicas: o.statefulSet?.replicas ?? 0,
    readyReplicas: ready,
    connections: reporting.reduce((sum, n) => sum + n.load!.connections, 0),
    nodes: reporting.map((n) => ({
      name: n.name,
      ordinal: n.ordinal,
      nodeId: n.load!.nodeId,
      url: n.load!.url,
      connections: n.load!.connections,
      draining: n.load!.draining,
    })),
    selector: selectorString(cluster),
    observedGeneration: generation ?? 0,
    conditions: [
      condition(
        prev,
        'Ready',
        allReady,
        allReady ? 'NodesReady' : 'NodesNotReady',
        `${ready} of ${o.statefulSet?.replicas ?? 0} nodes ready`,
        generation,
        now,
      ),
      condition(
        prev,
        'Scaling',
        plan.scaling.active,
        plan.scaling.reason,
        plan.scaling.message,
        generation,
        now,
      ),
      condition(
        prev,
        'Rebalancing',
        plan.moving.active,
        plan.moving.reason,
        plan.moving.message,
        generation,
        now,
      ),
      condition(
        prev,
        'Degraded',
        degraded,
        silent.length > 0 ? 'NodesNotReporting' : !o.canMoveSessions ? 'NoAdminToken' : 'AsExpected',
        degradedMessage,
        generation,
        now,
      ),
    ],
  };
}
