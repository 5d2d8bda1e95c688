/**
 * Drains and rebalances asked for declaratively, by annotations on the ChatCluster: pure decisions
 * over what the operator observed, with their progress for the status. decide.ts carries them out
 * with the same admin-API calls and the same move budget as its own decisions.
 *
 *   chatplatform.io/drain: <pod>        the pod stays drained while the annotation names it
 *     Pending (no load report yet) ─▶ Draining (sessionsLeft) ─▶ Drained;  removed ─▶ undrained
 *   chatplatform.io/rebalance: <value>  one rebalance per value, e.g. a date
 *     Pending (scaling, a rollout) ─▶ Running (rounds of sheds within the budget) ─▶ Done | Failed
 *
 * Both are idempotent: the operator never writes the annotations, and a value it has finished
 * stays finished in the status, so a GitOps tool that keeps the annotation in its manifest and the
 * operator never fight. A new rebalance is a new value (`kubectl annotate --overwrite`).
 */
import { type ChatCluster, type ChatClusterStatus, GROUP } from './chatcluster-schema.ts';
import { type NodeLoad, planRebalance, type RebalancePolicy, type Shed } from './rebalance.ts';

export const DRAIN_ANNOTATION = `${GROUP}/drain`;
export const REBALANCE_ANNOTATION = `${GROUP}/rebalance`;
/** A requested rebalance is done when no node is more than this above the average (or the spec's, if lower). */
export const REQUEST_THRESHOLD = 0.05;
/** Rounds of sheds a requested rebalance may take before it fails. */
export const MAX_REQUEST_ROUNDS = 30;

export type DrainRequestStatus = NonNullable<ChatClusterStatus['drainRequest']>;
export type RebalanceRequestStatus = NonNullable<ChatClusterStatus['rebalanceRequest']>;

const annotation = (cluster: ChatCluster, key: string): string | undefined => {
  const value = cluster.metadata.annotations?.[key]?.trim();
  return value ? value : undefined;
};

/** The pod the drain annotation names, and its ordinal when it is one of this cluster's pod names. */
export function requestedDrain(cluster: ChatCluster): { pod: string; ordinal?: number } | undefined {
  const pod = annotation(cluster, DRAIN_ANNOTATION);
  if (!pod) return undefined;
  const prefix = `${cluster.metadata.name}-`;
  const rest = pod.startsWith(prefix) ? pod.slice(prefix.length) : '';
  return /^(0|[1-9][0-9]{0,3})$/.test(rest) ? { pod, ordinal: Number(rest) } : { pod };
}

export interface DrainInput {
  cluster: ChatCluster;
  now: number;
  /** The StatefulSet's replicas. */
  replicas: number;
  canMoveSessions: boolean;
  /** The named node, when its pod exists. */
  node?: { reporting: boolean; draining: boolean; connections: number };
}

export interface DrainPlan {
  status?: DrainRequestStatus;
  /** The ordinal to keep drained: no scale-up or other decision undrains it. */
  hold?: number;
  /** Call drain on it now. */
  drain: boolean;
  /** Sessions that left it since the last status: they count against the move budget. */
  moved: number;
}

/** The drain request's next step and status. */
export function planDrainRequest(input: DrainInput): DrainPlan {
  const { cluster, now, node } = input;
  const asked = requestedDrain(cluster);
  if (!asked) return { drain: false, moved: 0 };
  const prev = cluster.status?.drainRequest;
  const same = prev?.pod === asked.pod ? prev : undefined;
  const at = new Date(now).toISOString();
  const base = { pod: asked.pod, startedAt: same?.startedAt ?? at };
  const finished = (state: DrainRequestStatus['state']) =>
    same?.state === state && same.finishedAt ? same.finishedAt : at;
  const ends = (state: 'Drained' | 'Failed', message: string, extra: Partial<DrainRequestStatus> = {}) => ({
    status: { ...base, ...extra, state, finishedAt: finished(state), message },
    drain: false,
    moved: 0,
  });
  if (asked.ordinal === undefined) {
    return ends(
      'Failed',
      `${asked.pod} is not a pod of this ChatCluster (its pods are ${cluster.metadata.name}-<ordinal>)`,
    );
  }
  const ordinal = asked.ordinal;
  if (!input.canMoveSessions) {
    return ends(
      'Failed',
      'no admin token (spec.auth.adminTokenRef unset, or its Secret key missing): the operator cannot drain a node',
      { ordinal },
    );
  }
  if (ordinal >= input.replicas) {
    return ends(
      'Drained',
      `${asked.pod} is not running (the StatefulSet has ${input.replicas} replicas): no session is on it`,
      { ordinal, sessionsLeft: 0 },
    );
  }
  if (!node?.reporting) {
    const status: DrainRequestStatus = {
      ...base,
      ordinal,
      state: 'Pending',
      message: `waiting for ${asked.pod} to report its load`,
    };
    return { status, hold: ordinal, drain: false, moved: 0 };
  }
  const left = node.connections;
  const before = same?.sessionsLeft;
  const moved = node.draining && before !== undefined && before > left ? before - left : 0;
  if (node.draining && left === 0) {
    return {
      ...ends('Drained', `${asked.pod} is drained; it takes no sessions while the annotation names it`, {
        ordinal,
        sessionsLeft: 0,
      }),
      hold: ordinal,
      moved,
    };
  }
  const status: DrainRequestStatus = {
    ...base,
    ordinal,
    state: 'Draining',
    sessionsLeft: left,
    message: `draining ${asked.pod}: ${left} ${left === 1 ? 'session' : 'sessions'} left`,
  };
  return { status, hold: ordinal, drain: !node.draining, moved };
}

export interface RebalanceInput {
  cluster: ChatCluster;
  now: number;
  canMoveSessions: boolean;
  /** Why it must wait (scaling, a rollout); undefined when it may go on. */
  blockedBy?: string;
  /** Earlier moves are still settling. */
  settling: boolean;
  nodes: readonly NodeLoad[];
  movedInLastMinute: number;
}

export interface RebalanceRequestPlan {
  status?: RebalanceRequestStatus;
  sheds: Shed[];
  /** The request is under way: it takes the place of the operator's own rebalancing. */
  active: boolean;
}

/** The rebalance request's next step and status. */
export function planRebalanceRequest(input: RebalanceInput): RebalanceRequestPlan {
  const { cluster, now } = input;
  const request = annotation(cluster, REBALANCE_ANNOTATION);
  if (!request) return { sheds: [], active: false };
  const prev = cluster.status?.rebalanceRequest;
  const at = new Date(now).toISOString();
  if (prev?.request === request && (prev.state === 'Done' || prev.state === 'Failed')) {
    return { status: prev, sheds: [], active: false };
  }
  const base: RebalanceRequestStatus =
    prev?.request === request
      ? prev
      : { request, state: 'Pending', sessionsMoved: 0, rounds: 0, startedAt: at, message: '' };
  const next = (
    state: RebalanceRequestStatus['state'],
    message: string,
    more: Partial<RebalanceRequestStatus> = {},
  ) => {
    const final = state === 'Done' || state === 'Failed';
    const status = { ...base, ...more, state, message, ...(final && { finishedAt: at }) };
    return { status, sheds: [], active: !final };
  };
  const policy = cluster.spec.rebalance;
  if (!input.canMoveSessions) {
    return next(
      'Failed',
      'no admin token (spec.auth.adminTokenRef unset, or its Secret key missing): sessions cannot be moved',
    );
  }
  if (policy.maxSessionsMovedPerMinute === 0) {
    return next('Failed', 'rebalance.maxSessionsMovedPerMinute is 0: rebalancing is off');
  }
  if (input.blockedBy) return next('Pending', `waiting until ${input.blockedBy} is done`);
  if (input.settling) return next(running(base), 'waiting for the last moves to settle');
  const strict: RebalancePolicy = {
    maxSessionsMovedPerMinute: policy.maxSessionsMovedPerMinute,
    imbalanceThreshold: Math.min(policy.imbalanceThreshold, REQUEST_THRESHOLD),
  };
  const plan = planRebalance({
    nodes: input.nodes,
    policy: strict,
    movedInLastMinute: input.movedInLastMinute,
  });
  const rounds = base.rounds ?? 0;
  switch (plan.reason) {
    case 'balanced':
      return next('Done', plan.message);
    case 'not-ready':
      return next(running(base), plan.message);
    case 'rate-limited':
      return next('Running', plan.message);
    case 'rebalancing': {
      if (rounds >= MAX_REQUEST_ROUNDS) {
        return next(
          'Failed',
          `not balanced after ${MAX_REQUEST_ROUNDS} rounds (${base.sessionsMoved ?? 0} sessions moved): ${plan.message}; request again with a new value, or raise rebalance.maxSessionsMovedPerMinute`,
        );
      }
      const moved = plan.sheds.reduce((sum, s) => sum + s.count, 0);
      const status: RebalanceRequestStatus = {
        ...base,
        state: 'Running',
        rounds: rounds + 1,
        sessionsMoved: (base.sessionsMoved ?? 0) + moved,
        message: `round ${rounds + 1}: ${plan.message}`,
      };
      return { status, sheds: plan.sheds, active: true };
    }
  }
}

/** Running once a round went out, else still Pending. */
const running = (s: RebalanceRequestStatus): 'Running' | 'Pending' =>
  (s.rounds ?? 0) > 0 ? 'Running' : 'Pending';
