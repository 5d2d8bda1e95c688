/**
 * Where sessions should move: rebalancing after a scale-up, draining before a scale-down, and one
 * node at a time through a rollout. Pure decisions over the nodes' load reports (the admin API's
 * `GET /admin/v1/load`); the reconciler applies them with `POST /admin/v1/shed`, `/drain` and
 * `/undrain`, and by setting the StatefulSet's replicas or deleting a pod.
 *
 * The life of a node through a scale-down (planScaleDown) and a rollout (planRollout):
 *
 *            drain: ordinal >= desired,               seen draining with 0 connections
 *            or the rollout's next node
 *   [serving] ---------------------------> [draining] ----------------------------------> [drained]
 *     ^   ^                                    |                                            |   |
 *     |   +------- undrain: ordinal < desired again (the count went back up) ---------------+   |
 *     |                                                                                         |
 *     +---- recreated on the new revision <---- rollout: its pod deleted -----------------------+
 *                                                                                               |
 *            scale-down: replicas lowered past it, once every higher ordinal is gone too       |
 *                                                                                               v
 *                                                                                            [gone]
 */

/** One node as the operator sees it: its StatefulSet ordinal (= Snowflake node id) and load report. */
export interface NodeLoad {
  ordinal: number;
  connections: number;
  /** The pod is Ready (a pod that is starting, failing or terminating is not). */
  ready: boolean;
  /** The node takes no new sessions and is moving its sessions away. */
  draining: boolean;
}

/** The rebalance part of a ChatCluster spec. */
export interface RebalancePolicy {
  /** Sessions asked to move, across the cluster, in any minute. */
  maxSessionsMovedPerMinute: number;
  /** A node is overloaded above average × (1 + this); 0.2 = 20 % above the average. */
  imbalanceThreshold: number;
}

export interface Shed {
  ordinal: number;
  /** Sessions to ask to move (`POST /admin/v1/shed` `count`). */
  count: number;
}

export interface RebalancePlan {
  sheds: Shed[];
  reason: 'balanced' | 'rate-limited' | 'rebalancing' | 'not-ready';
  message: string;
}

const num = new Intl.NumberFormat('en-US');
const plural = (n: number, word: string) => `${num.format(n)} ${n === 1 ? word : `${word}s`}`;
const list = (ordinals: readonly number[]) => ordinals.join(', ');
/** "node 2" or "nodes 0, 1". */
const named = (ordinals: readonly number[]) =>
  `${ordinals.length === 1 ? 'node' : 'nodes'} ${list(ordinals)}`;

/**
 * Plans the sheds that bring overloaded nodes toward the average.
 *
 * The nodes that take part are those not draining (a draining node is leaving; its sessions already
 * move). If one of them is not ready, nothing moves: it is most likely a new node, and sessions moved
 * now would land on the old nodes again. A node is overloaded when its connections exceed
 * average × (1 + threshold); each is asked to shed down to ceil(average), most loaded first (lower
 * ordinal first on a tie), until the minute's budget (max − moved in the last minute) is spent.
 */
export function planRebalance(input: {
  nodes: readonly NodeLoad[];
  policy: RebalancePolicy;
  movedInLastMinute: number;
}): RebalancePlan {
  const { policy } = input;
  const taking = input.nodes.filter((n) => !n.draining);
  const notReady = taking.filter((n) => !n.ready).map((n) => n.ordinal);
  if (notReady.length > 0) {
    return {
      sheds: [],
      reason: 'not-ready',
      message: `waiting for ${named(notReady)} to be ready before moving sessions`,
    };
  }
  if (taking.length === 0) return { sheds: [], reason: 'balanced', message: 'no node takes sessions' };

  const total = taking.reduce((sum, n) => sum + n.connections, 0);
  const average = total / taking.length;
  const limit = average * (1 + policy.imbalanceThreshold);
  const level = Math.ceil(average);
  const over = taking
    .filter((n) => n.connections > limit && n.connections > level)
    .sort((a, b) => b.connections - a.connections || a.ordinal - b.ordinal);
  const spread = `${plural(total, 'connection')} over ${plural(taking.length, 'node')} (average ${num.format(level)})`;
  if (over.length === 0) {
    return {
      sheds: [],
      reason: 'balanced',
      message: `${spread}: no node is more than ${percent(policy.imbalanceThreshold)} above the average`,
    };
  }

  const budget = Math.max(0, policy.maxSessionsMovedPerMinute - Math.max(0, input.movedInLastMinute));
  if (budget === 0) {
    const overloaded = `${spread}: ${named(over.map((n) => n.ordinal))} overloaded`;
    const why =
      policy.maxSessionsMovedPerMinute > 0
        ? `${plural(input.movedInLastMinute, 'session')} moved in the last minute already reach the limit of ${num.format(policy.maxSessionsMovedPerMinute)}`
        : 'rebalancing is off (maxSessionsMovedPerMinute is 0)';
    return { sheds: [], reason: 'rate-limited', message: `${overloaded}, but ${why}` };
  }

  const sheds: Shed[] = [];
  let left = budget;
  for (const n of over) {
    if (left === 0) break;
    const count = Math.min(n.connections - level, left);
    sheds.push({ ordinal: n.ordinal, count });
    left -= count;
  }
  const asked = sheds.map((s) => `${num.format(s.count)} from node ${s.ordinal}`).join(', ');
  const capped = left === 0 ? " (all that is left of the minute's budget)" : '';
  return { sheds, reason: 'rebalancing', message: `${spread}: moving ${asked}${capped}` };
}

function percent(fraction: number): string {
  return `${num.format(Math.round(fraction * 1000) / 10)}%`;
}

export interface ScaleDownPlan {
  /** Ordinals to drain now (`POST /admin/v1/drain`), highest first. */
  drain: number[];
  /** Ordinals to take sessions again (`POST /admin/v1/undrain`): the count went back up. */
  undrain: number[];
  /** What the StatefulSet's replicas may be set to now. */
  replicas: number;
  message: string;
}

/**
 * Plans a change of the node count without dropping a session.
 *
 * Up: the StatefulSet may grow at once, and a node below the new count that is still draining from
 * an earlier scale-down takes sessions again (except the ordinals in `keepDraining`: a rollout's).
 * Down: every node at an ordinal ≥ desired is drained (highest first), and the StatefulSet shrinks
 * only past nodes that are gone or drained; drained means draining with 0 connections as observed,
 * so a node that was never told to drain (and could still be handed a session) is never deleted.
 * The gather step leaves out the pods it cannot find; a listed node counts as present.
 */
export function planScaleDown(input: {
  nodes: readonly NodeLoad[];
  currentReplicas: number;
  desiredReplicas: number;
  /** Ordinals drained for another reason (the rollout's node): never undrained here. */
  keepDraining?: readonly number[];
}): ScaleDownPlan {
  const current = Math.max(0, input.currentReplicas);
  const desired = Math.max(0, input.desiredReplicas);
  const byOrdinal = new Map(input.nodes.filter((n) => n.ordinal < current).map((n) => [n.ordinal, n]));
  const keep = new Set(input.keepDraining ?? []);
  const undrain = [...byOrdinal.values()]
    .filter((n) => n.draining && n.ordinal < desired && !keep.has(n.ordinal))
    .map((n) => n.ordinal)
    .sort((a, b) => a - b);
  const undrained = undrain.length > 0 ? `; undraining ${list(undrain)}` : '';

  if (desired >= current) {
    const outcome = desired === current ? `keeping ${current} replicas` : `scaling ${current} → ${desired}`;
    return { drain: [], undrain, replicas: desired, message: `${outcome}${undrained}` };
  }

  const leaving = [...byOrdinal.values()]
    .filter((n) => n.ordinal >= desired)
    .sort((a, b) => b.ordinal - a.ordinal);
  const drain = leaving.filter((n) => !n.draining).map((n) => n.ordinal);
  let replicas = current;
  while (replicas > desired && isGoneOrDrained(byOrdinal.get(replicas - 1))) replicas--;

  const parts = [`scaling ${current} → ${desired}`];
  if (drain.length > 0) parts.push(`draining ${list(drain)}`);
  const blocker = byOrdinal.get(replicas - 1);
  if (replicas > desired && blocker) parts.push(`node ${blocker.ordinal} ${stillThere(blocker)}`);
  parts.push(replicas === current ? `replicas stay ${replicas}` : `replicas ${current} → ${replicas}`);
  return { drain, undrain, replicas, message: `${parts.join('; ')}${undrained}` };
}

function isGoneOrDrained(n: NodeLoad | undefined): boolean {
  return n === undefined || (n.draining && n.connections === 0);
}

function stillThere(n: NodeLoad): string {
  return n.draining ? `still has ${plural(n.connections, 'session')}` : 'is not draining yet';
}

export interface RolloutStep {
  /** The ordinal to drain now. */
  drain?: number;
  /** The ordinal whose pod to delete now, so that the StatefulSet recreates it on the new revision. */
  restart?: number;
  message: string;
}

/**
 * Moves the cluster to `targetRevision` one node at a time, highest ordinal first (as a StatefulSet's
 * own rolling update does): drain it, and once it has no connection left, delete its pod. Nothing else
 * happens while a node is draining, not ready (the restarted one coming back) or missing from the list
 * (a pod being recreated: an ordinal below `replicas`, or below the highest listed one, not listed).
 */
export function planRollout(input: {
  nodes: readonly (NodeLoad & { revision: string })[];
  targetRevision: string;
  /** The StatefulSet's replicas: without it, a missing highest ordinal (the first one restarted) goes unseen. */
  replicas?: number;
  /**
   * Ordinals kept drained on request (the drain annotation): on the target revision they hold up
   * nothing; on an old one they are restarted once empty, like the rollout's own.
   */
  held?: readonly number[];
}): RolloutStep {
  const { targetRevision } = input;
  const held = new Set(input.held ?? []);
  const nodes = [...input.nodes].sort((a, b) => b.ordinal - a.ordinal);
  const draining = nodes.filter((n) => n.draining && !(held.has(n.ordinal) && n.revision === targetRevision));
  if (draining.length > 1) {
    return { message: `${named(draining.map((n) => n.ordinal))} are draining: waiting` };
  }
  const inProgress = draining[0];
  if (inProgress) {
    const o = inProgress.ordinal;
    if (inProgress.revision === targetRevision) {
      return { message: `node ${o} is draining for another reason: waiting` };
    }
    if (inProgress.connections > 0) {
      return { message: `node ${o} is draining, ${plural(inProgress.connections, 'session')} left: waiting` };
    }
    return { restart: o, message: `node ${o} is drained: restarting it on revision ${targetRevision}` };
  }
  const notReady = nodes.filter((n) => !n.ready).map((n) => n.ordinal);
  if (notReady.length > 0) return { message: `${named(notReady)} not ready: waiting` };
  const missing = missingOrdinals(nodes, input.replicas ?? 0);
  if (missing.length > 0) return { message: `${named(missing)} missing: waiting` };

  const old = nodes.filter((n) => n.revision !== targetRevision);
  const next = old[0];
  if (!next) return { message: `all ${plural(nodes.length, 'node')} run revision ${targetRevision}` };
  return {
    drain: next.ordinal,
    message: `${plural(old.length, 'node')} on an old revision: draining node ${next.ordinal} (revision ${next.revision} → ${targetRevision})`,
  };
}

/** Ordinals below `replicas` or below the highest listed one that are not listed. */
function missingOrdinals(nodes: readonly NodeLoad[], replicas: number): number[] {
  const present = new Set(nodes.map((n) => n.ordinal));
  const end = Math.max(replicas, ...[...present].map((o) => o + 1));
  const missing: number[] = [];
  for (let o = 0; o < end; o++) if (!present.has(o)) missing.push(o);
  return missing;
}
