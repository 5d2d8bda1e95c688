/**
 * The operator's decision for one ChatCluster: a pure function of what gather.ts observed, what the
 * operator remembers, and the time. It composes the autoscaler (autoscale.ts), the session moves
 * (rebalance.ts) and the drains and rebalances asked for by annotation (requests.ts) into the
 * objects to apply, the admin-API actions, the status (decide-status.ts) and the events.
 *
 *   desired replicas ─▶ grow: StatefulSet up at once (undrain kept nodes) ─▶ new nodes ready ─▶ shed
 *                     └ shrink: drain the leaving (highest) ordinals ─▶ drained and empty ─▶ replicas down
 *   steady, a pod on an old revision: drain one node ─▶ empty ─▶ delete its pod ─▶ ready again ─▶ next
 *   steady, same revision everywhere: shed from overloaded nodes within the minute's budget
 *
 * One thing at a time: scaling first, then the rollout, then rebalancing. Without an admin token
 * nothing is drained or shed: the StatefulSet follows the desired count and a rollout deletes pods
 * one at a time, since a node drains itself on SIGTERM.
 */
import { decideReplicas } from './autoscale.ts';
import type { ChatClusterStatus } from './chatcluster-schema.ts';
import { type Aspect, movesForStatus, NO_ADMIN_TOKEN, silentMessage, statusOf } from './decide-status.ts';
import { finalizersFor } from './deletion.ts';
import { buildObjects, podName, renderedTemplateHash } from './objects.ts';
import { type NodeLoad, planRebalance, planRollout, planScaleDown } from './rebalance.ts';
import { DRAIN_ANNOTATION, type DrainPlan, planDrainRequest, planRebalanceRequest } from './requests.ts';
import type { ClusterEvent, Decision, Memory, NodeAction, NodeObservation, Observation } from './types.ts';

/** Moves younger than this are still settling: the registry does not show their effect yet. */
export const SETTLE_MS = 10_000;
/** The window of the rebalance budget (`maxSessionsMovedPerMinute`). */
export const MINUTE_MS = 60_000;

type Load = NodeLoad & { revision: string };

/** The observation boiled down once, for every step below. */
interface Context {
  o: Observation;
  now: number;
  /** The StatefulSet's replicas, 0 when it does not exist yet. */
  current: number;
  /** Existing nodes, as rebalance.ts sees them; one that does not report is not ready. */
  loads: Load[];
  /** Pace of sheds: the policy's sessions per minute, per second, at least 1 (a shed's count keeps it in the budget). */
  ratePerSec: number;
  /**
   * Pace of all drains together, in sessions per second: the policy's sessions per minute ÷ 60, not
   * rounded up (a drain has no count, so its pace alone keeps it in the budget); 1 when the policy
   * is 0 (no rebalancing, but a leaving node must still empty).
   */
  drainPerSec: number;
  /** Existing nodes that are ready but do not report their load. */
  silent: NodeObservation[];
  /** Some existing pod runs an old revision of the template. */
  outdated: boolean;
  /** The drain asked for by annotation (requests.ts): its ordinal is kept drained. */
  drain: DrainPlan;
}

/** What the steps add up: actions, events and the moves made (memory.moves, pruned). */
interface Draft {
  actions: NodeAction[];
  events: ClusterEvent[];
  moves: Memory['moves'];
  /** Progress of the rebalance asked for by annotation. */
  rebalanceRequest?: ChatClusterStatus['rebalanceRequest'];
  /** Ordinals that share the drain pace besides those draining now (the leaving nodes of a scale-down). */
  sharing: Set<number>;
}

interface Want {
  desired: number;
  recommendations: Memory['recommendations'];
  message: string;
}

/**
 * Decides everything for one reconcile of one ChatCluster. Pure: never mutates its inputs, and
 * the same inputs give the same decision.
 */
export function decide(observation: Observation, memory: Memory, now: number): Decision {
  const ctx = contextOf(observation, now);
  // The budget's moves: this leader's memory, or after a change of leader what the status says.
  const known = memory.moves.length > 0 ? memory.moves : movesInStatus(observation);
  const draft: Draft = {
    actions: [],
    events: [],
    moves: known.filter((m) => now - m.at < MINUTE_MS && m.at <= now).map((m) => ({ ...m })),
    sharing: new Set(),
  };
  drainRequest(ctx, draft);
  const want = desiredReplicas(ctx, memory);
  const scale = planScale(ctx, want, draft);
  const moving = planMoves(ctx, scale.active, draft);
  paceDrains(ctx, draft);
  if (ctx.silent.length > 0) {
    draft.events.push({ type: 'Warning', reason: 'NodesNotReporting', message: silentMessage(ctx) });
  }
  const { spec } = observation.cluster;
  const mirror = spec.replicasManagedBy === 'Operator' && spec.replicas !== want.desired;
  const finalizers = finalizersFor(observation.cluster);
  const objects = buildObjects(observation.cluster, scale.replicas);
  return {
    objects,
    replicas: scale.replicas,
    ...(mirror ? { specReplicas: want.desired } : {}),
    actions: draft.actions,
    // Writing spec.replicas (before the status) makes the next generation, which this decision
    // already accounts for: spec.replicas is the autoscaler's own while it decides.
    status: {
      ...statusOf(ctx, scale, moving, mirror ? 1 : 0, renderedTemplateHash(objects)),
      sessionMoves: movesForStatus(draft.moves),
      ...(ctx.drain.status && { drainRequest: ctx.drain.status }),
      ...(draft.rebalanceRequest && { rebalanceRequest: draft.rebalanceRequest }),
    },
    events: draft.events,
    memory: { recommendations: want.recommendations, moves: draft.moves },
    ...(finalizers && { finalizers }),
  };
}

/** status.sessionMoves as Memory moves (entries that do not parse are left out). */
function movesInStatus(o: Observation): Memory['moves'] {
  return (o.cluster.status?.sessionMoves ?? []).flatMap((m) => {
    const at = Date.parse(m.at);
    if (!Number.isFinite(at)) return [];
    return [{ at, count: m.count, ...(m.ordinal === undefined ? {} : { ordinal: m.ordinal }) }];
  });
}

function contextOf(o: Observation, now: number): Context {
  const existing = o.nodes.filter((n) => n.exists);
  const target = o.statefulSet?.updateRevision;
  const loads = existing.map(
    (n): Load => ({
      ordinal: n.ordinal,
      connections: n.load?.connections ?? 0,
      ready: n.ready && n.load !== undefined,
      draining: n.load?.draining ?? false,
      revision: n.revision ?? '',
    }),
  );
  const current = o.statefulSet?.replicas ?? 0;
  const asked = requestedOrdinal(o);
  const named = existing.find((n) => n.ordinal === asked);
  const drain = planDrainRequest({
    cluster: o.cluster,
    now,
    replicas: current,
    canMoveSessions: o.canMoveSessions,
    ...(named && {
      node: {
        reporting: named.load !== undefined,
        draining: named.load?.draining ?? false,
        connections: named.load?.connections ?? 0,
      },
    }),
  });
  const perMinute = o.cluster.spec.rebalance.maxSessionsMovedPerMinute;
  return {
    o,
    now,
    current,
    loads,
    ratePerSec: Math.max(1, perMinute / 60),
    drainPerSec: perMinute > 0 ? perMinute / 60 : 1,
    silent: existing.filter((n) => n.ready && !n.load),
    outdated: target !== undefined && loads.some((n) => isOutdated(n, target)),
    drain,
  };
}

/** The ordinal of the pod the drain annotation names, if it names one of this cluster's. */
function requestedOrdinal(o: Observation): number | undefined {
  const pod = o.cluster.metadata.annotations?.[DRAIN_ANNOTATION]?.trim();
  return o.nodes.find((n) => n.name === pod)?.ordinal;
}

/**
 * The drain asked for by annotation: drain the node (sharing the pace with nodes that drain for a
 * scale-down), and count the sessions that left it since the last status against the budget.
 */
function drainRequest(ctx: Context, draft: Draft): void {
  const { hold, drain, moved } = ctx.drain;
  if (hold === undefined) return;
  if (moved > 0) draft.moves.push({ at: ctx.now, count: moved, ordinal: hold });
  const url = urlOf(ctx, hold);
  if (!drain || !url) return;
  // Its pace is set with the others' (paceDrains).
  draft.actions.push({ kind: 'drain', ordinal: hold, url, ratePerSec: ctx.drainPerSec });
  const pod = podName(ctx.o.cluster, hold);
  draft.events.push({
    type: 'Normal',
    reason: 'DrainRequested',
    message: `draining ${pod}, as its annotation asks`,
  });
}

/** A pod without a revision label is not counted as outdated: there is nothing to compare. */
const isOutdated = (n: Load, target: string | undefined) =>
  target !== undefined && n.revision !== '' && n.revision !== target;

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));
const nodes = (n: number) => `${n} ${n === 1 ? 'node' : 'nodes'}`;

// --- how many nodes -----------------------------------------------------------------------------

/**
 * replicasManagedBy External: spec.replicas (kubectl scale, an HPA or KEDA on the scale subresource;
 * the autoscaler steps aside). Operator: the autoscaler on the connections the nodes report. Nodes
 * that do not report are unknown, not empty: with none reporting the count stays, and with some
 * missing it does not go down.
 */
function desiredReplicas(ctx: Context, memory: Memory): Want {
  const { spec } = ctx.o.cluster;
  const { current } = ctx;
  const keep = memory.recommendations;
  if (spec.replicasManagedBy === 'External') {
    const desired = clamp(spec.replicas, spec.minReplicas, spec.maxReplicas);
    const clamped =
      desired === spec.replicas ? '' : ` (within ${spec.minReplicas}..${spec.maxReplicas}: ${desired})`;
    return {
      desired,
      recommendations: keep,
      message: `spec.replicas is ${spec.replicas}${clamped} (replicasManagedBy External: the autoscaler steps aside)`,
    };
  }
  if (!ctx.o.statefulSet) {
    return {
      desired: spec.minReplicas,
      recommendations: keep,
      message: `new cluster: starting ${nodes(spec.minReplicas)} (minReplicas)`,
    };
  }
  const reporting = ctx.o.nodes.filter((n) => n.exists && n.load);
  if (reporting.length === 0) {
    const desired = clamp(current, spec.minReplicas, spec.maxReplicas);
    return { desired, recommendations: keep, message: `no node reports its load: keeping ${desired}` };
  }
  const d = decideReplicas({
    policy: spec,
    currentReplicas: current,
    totalConnections: reporting.reduce((sum, n) => sum + n.load!.connections, 0),
    history: memory.recommendations,
    now: ctx.now,
  });
  const unreported = ctx.loads.length - reporting.length;
  const floor = Math.min(current, spec.maxReplicas);
  if (unreported > 0 && d.replicas < floor) {
    return {
      desired: floor,
      recommendations: d.history,
      message: `${d.message}; but ${nodes(unreported)} did not report: keeping ${floor}`,
    };
  }
  return { desired: d.replicas, recommendations: d.history, message: d.message };
}

/** Where the node actions call a node: its admin URL (the admin port), else the URL it advertises. */
function urlOf(ctx: Context, ordinal: number): string | undefined {
  const load = ctx.o.nodes.find((n) => n.exists && n.ordinal === ordinal)?.load;
  return load?.adminUrl ?? load?.url;
}

/**
 * The StatefulSet's replicas now. Up: at once, and nodes still draining from an earlier scale-down
 * take sessions again. Down: drain the leaving nodes first, and shrink only past drained, empty ones.
 * Without the admin API (or before the StatefulSet exists) the replicas follow the desired count.
 */
function planScale(ctx: Context, want: Want, draft: Draft): Aspect & { replicas: number } {
  const { current } = ctx;
  const direct = !ctx.o.canMoveSessions || !ctx.o.statefulSet;
  const plan = direct
    ? { replicas: want.desired, message: directMessage(ctx, want) }
    : drainFirst(ctx, want, draft);
  if (plan.replicas !== current) {
    const up = plan.replicas > current;
    draft.events.push({
      type: 'Normal',
      reason: up ? 'ScaledUp' : 'ScaledDown',
      message: `${current} → ${nodes(plan.replicas)}: ${want.message}`,
    });
  }
  const reason = want.desired > current ? 'ScalingUp' : want.desired < current ? 'ScalingDown' : 'Steady';
  return {
    active: plan.replicas !== current || want.desired !== current,
    reason,
    message: plan.message,
    replicas: plan.replicas,
  };
}

function directMessage(ctx: Context, want: Want): string {
  if (want.desired < ctx.current && ctx.o.statefulSet) {
    return `${want.message}; no admin token: replicas ${ctx.current} → ${want.desired} at once (the nodes drain themselves on SIGTERM)`;
  }
  return want.message;
}

function drainFirst(ctx: Context, want: Want, draft: Draft): { replicas: number; message: string } {
  const target = ctx.o.statefulSet?.updateRevision;
  // A draining node on an old revision is the rollout's (or will be restarted by it next): keep it.
  const keepDraining = ctx.loads.filter((n) => n.draining && isOutdated(n, target)).map((n) => n.ordinal);
  if (ctx.drain.hold !== undefined) keepDraining.push(ctx.drain.hold);
  const p = planScaleDown({
    nodes: ctx.loads,
    currentReplicas: ctx.current,
    desiredReplicas: want.desired,
    keepDraining,
  });
  // The leaving nodes drain in parallel and share the budget (paceDrains): each has its share from
  // the start, also one that cannot be called yet (no load report) and drains later.
  for (const n of ctx.loads) {
    if (n.ordinal >= want.desired && n.ordinal < ctx.current) draft.sharing.add(n.ordinal);
  }
  // A leaving node drained on request has had its drain call already (drainRequest).
  const asked = draft.actions.filter((a) => a.kind === 'drain').map((a) => a.ordinal);
  const toDrain = p.drain.filter((o) => !asked.includes(o));
  const drained = adminCalls(ctx, toDrain, draft, (ordinal, url) => ({
    kind: 'drain',
    ordinal,
    url,
    ratePerSec: ctx.drainPerSec,
  }));
  const unknown = toDrain.filter((o) => !drained.includes(o));
  const undrained = adminCalls(ctx, p.undrain, draft, (ordinal, url) => ({ kind: 'undrain', ordinal, url }));
  const pods = (ordinals: number[]) => ordinals.map((o) => podName(ctx.o.cluster, o)).join(', ');
  if (drained.length > 0) {
    const message = `draining ${pods(drained)} before removing them (${want.message})`;
    draft.events.push({ type: 'Normal', reason: 'ScalingDown', message });
  }
  if (undrained.length > 0) {
    const message = `${pods(undrained)} take sessions again: the node count went back up`;
    draft.events.push({ type: 'Normal', reason: 'Undraining', message });
  }
  const noUrl = unknown.length > 0 ? `; cannot drain ${pods(unknown)} yet: no load report (URL)` : '';
  return { replicas: p.replicas, message: `${want.message}: ${p.message}${noUrl}` };
}

/**
 * Sets the pace of this decision's drain calls so that all drains together move no more than the
 * budget: a drain has no count, only a pace, so the pace of the whole minute must fit in
 * maxSessionsMovedPerMinute. The budget per second is split evenly among every node that moves
 * sessions by draining: those called now, those still draining with sessions left, and the leaving
 * nodes of a scale-down not called yet. Not rounded up to 1 a second: the node takes fractional
 * rates (60 a minute over two nodes is 0.5 a second each, not 1 each, which would be 120 together).
 * A drain under way keeps the pace it was given.
 */
function paceDrains(ctx: Context, draft: Draft): void {
  const calls = draft.actions.filter((a) => a.kind === 'drain');
  if (calls.length === 0) return;
  const sharing = new Set(draft.sharing);
  for (const n of ctx.loads) if (n.draining && n.connections > 0) sharing.add(n.ordinal);
  for (const a of calls) sharing.add(a.ordinal);
  const ratePerSec = ctx.drainPerSec / sharing.size;
  draft.actions = draft.actions.map((a) => (a.kind === 'drain' ? { ...a, ratePerSec } : a));
}

/** Pushes one admin call per ordinal whose URL is known; returns those ordinals. */
function adminCalls(
  ctx: Context,
  ordinals: readonly number[],
  draft: Draft,
  action: (ordinal: number, url: string) => NodeAction,
): number[] {
  const done: number[] = [];
  for (const ordinal of ordinals) {
    const url = urlOf(ctx, ordinal);
    if (!url) continue;
    draft.actions.push(action(ordinal, url));
    done.push(ordinal);
  }
  return done;
}

// --- where sessions go --------------------------------------------------------------------------

/** The Rebalancing aspect: nothing while scaling, then the rollout, then sheds. */
function planMoves(ctx: Context, scaling: boolean, draft: Draft): Aspect {
  if (scaling) {
    requestedRebalance(ctx, draft, 'scaling');
    const what = ctx.outdated ? 'the rollout and session moves wait' : 'sessions move';
    return { active: false, reason: 'Scaling', message: `${what} until scaling is done` };
  }
  if (ctx.outdated) {
    requestedRebalance(ctx, draft, 'the rollout');
    return rollout(ctx, draft);
  }
  const asked = requestedRebalance(ctx, draft);
  if (!ctx.o.canMoveSessions) return { active: false, reason: 'NoAdminToken', message: NO_ADMIN_TOKEN };
  return asked ?? rebalance(ctx, draft);
}

/**
 * The rebalance asked for by annotation (requests.ts): while it runs it takes the place of the
 * operator's own, with a stricter threshold and the same budget. Undefined when none runs.
 */
function requestedRebalance(ctx: Context, draft: Draft, blockedBy?: string): Aspect | undefined {
  const { now } = ctx;
  const plan = planRebalanceRequest({
    cluster: ctx.o.cluster,
    now,
    canMoveSessions: ctx.o.canMoveSessions,
    ...(blockedBy && { blockedBy }),
    settling: draft.moves.some((m) => now - m.at < SETTLE_MS),
    nodes: ctx.loads,
    movedInLastMinute: draft.moves.reduce((sum, m) => sum + m.count, 0),
  });
  if (plan.status) draft.rebalanceRequest = plan.status;
  if (!plan.active || blockedBy) return undefined;
  for (const { ordinal, count } of plan.sheds) {
    const url = urlOf(ctx, ordinal);
    if (!url) continue;
    draft.actions.push({ kind: 'shed', ordinal, url, count, ratePerSec: ctx.ratePerSec });
    draft.moves.push({ at: now, count, ordinal });
  }
  const message = plan.status?.message ?? '';
  if (plan.sheds.length > 0) draft.events.push({ type: 'Normal', reason: 'RebalanceRequested', message });
  return { active: true, reason: 'RebalanceRequested', message };
}

/** One node at a time, highest ordinal first: drain it, then delete its pod once it is empty. */
function rollout(ctx: Context, draft: Draft): Aspect {
  const targetRevision = ctx.o.statefulSet!.updateRevision!;
  const step = planRollout({
    nodes: ctx.loads,
    targetRevision,
    replicas: ctx.current,
    ...(ctx.drain.hold !== undefined && { held: [ctx.drain.hold] }),
  });
  let message = step.message;
  let restart = step.restart;
  if (step.drain !== undefined && ctx.o.canMoveSessions) {
    const url = urlOf(ctx, step.drain);
    if (url) draft.actions.push({ kind: 'drain', ordinal: step.drain, url, ratePerSec: ctx.drainPerSec });
  } else if (step.drain !== undefined) {
    // No admin API: delete the pod at once; the node drains itself on SIGTERM.
    restart = step.drain;
    message = `node ${step.drain} runs an old revision: restarting it without draining it first (no admin token; it drains itself on SIGTERM)`;
  }
  if (restart !== undefined) {
    draft.actions.push({ kind: 'restart', ordinal: restart, podName: podName(ctx.o.cluster, restart) });
  }
  if (step.drain !== undefined || restart !== undefined) {
    draft.events.push({ type: 'Normal', reason: 'RollingNode', message });
  }
  return { active: true, reason: 'RollingUpdate', message };
}

/** Sheds toward the average, within what is left of the minute's budget, once earlier moves settled. */
function rebalance(ctx: Context, draft: Draft): Aspect {
  const { now } = ctx;
  const policy = ctx.o.cluster.spec.rebalance;
  if (draft.moves.some((m) => now - m.at < SETTLE_MS)) {
    return { active: true, reason: 'Settling', message: 'waiting for the last moves to settle' };
  }
  const plan = planRebalance({
    nodes: ctx.loads,
    policy,
    movedInLastMinute: draft.moves.reduce((sum, m) => sum + m.count, 0),
  });
  for (const shed of plan.sheds) {
    const url = urlOf(ctx, shed.ordinal);
    if (!url) continue;
    const { ordinal, count } = shed;
    draft.actions.push({ kind: 'shed', ordinal, url, count, ratePerSec: ctx.ratePerSec });
    draft.moves.push({ at: now, count, ordinal });
  }
  switch (plan.reason) {
    case 'rebalancing':
      draft.events.push({ type: 'Normal', reason: 'Rebalancing', message: plan.message });
      return { active: true, reason: 'Rebalancing', message: plan.message };
    case 'rate-limited':
      return policy.maxSessionsMovedPerMinute > 0
        ? { active: true, reason: 'RateLimited', message: plan.message }
        : { active: false, reason: 'Disabled', message: plan.message };
    case 'not-ready':
      return { active: false, reason: 'NodesNotReady', message: plan.message };
    case 'balanced':
      return { active: false, reason: 'Balanced', message: plan.message };
  }
}
