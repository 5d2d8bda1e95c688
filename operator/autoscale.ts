/**
 * The autoscaling decision: how many chat nodes a ChatCluster should run, from its live connection
 * count. Pure: the reconciler gathers the inputs (and the clock), applies the answer and keeps the
 * returned history for the next call. The rules follow the HorizontalPodAutoscaler's, so that people
 * who know the HPA can predict it.
 */

/** The autoscaling part of a ChatCluster spec, in the terms this decision needs. */
export interface ScalePolicy {
  /** Never fewer nodes than this, whatever the load. */
  minReplicas: number;
  /** Never more nodes than this, whatever the load. */
  maxReplicas: number;
  /** Connections one node should carry; the desired count is ceil(connections ÷ this). */
  targetConnectionsPerNode: number;
  /**
   * `tolerance`: no scale-up while connections ÷ (nodes × target) ≤ 1 + tolerance (0.1 = 10 %).
   * `stabilizationWindowSeconds`: scale up only to the lowest recommendation of this window (0 = at once).
   */
  scaleUp: { stabilizationWindowSeconds: number; tolerance: number };
  /**
   * `tolerance`: no scale-down while connections ÷ (nodes × target) ≥ 1 − tolerance.
   * `stabilizationWindowSeconds`: scale down only to the highest recommendation of this window.
   */
  scaleDown: { stabilizationWindowSeconds: number; tolerance: number };
}

/** One past recommendation: what the load asked for at `at` (ms), before the min/max clamp. */
export interface Recommendation {
  at: number;
  replicas: number;
}

export type ScaleReason =
  | 'within-tolerance'
  | 'scale-up'
  | 'scale-down'
  | 'stabilizing'
  | 'clamped-min'
  | 'clamped-max'
  | 'steady';

export interface ScaleDecision {
  /** What the StatefulSet should be scaled to now; always within [minReplicas, maxReplicas]. */
  replicas: number;
  /** ceil(connections ÷ target): what the load alone asks for, before tolerance, windows and clamps. */
  raw: number;
  /** The history to pass to the next call: this recommendation added, stale and redundant ones dropped. */
  history: Recommendation[];
  reason: ScaleReason;
  /** A sentence for the Scaling condition and the event. */
  message: string;
}

/**
 * Decides the replica count.
 *
 * 1. raw = ceil(totalConnections ÷ target).
 * 2. The recommendation is the current count when the load ratio is within the tolerance of the
 *    direction it would move, raw otherwise (and raw when there are no nodes yet).
 * 3. Stabilization: the recommendation joins the history; the count rises only to the lowest
 *    recommendation of the scale-up window and falls only to the highest of the scale-down window.
 * 4. The result is clamped to [min, max]. The clamp comes last and the history keeps unclamped
 *    values, so a changed min or max takes effect at once (as in the HPA).
 *
 * Throws a RangeError naming the field when the policy cannot be used.
 */
export function decideReplicas(input: {
  policy: ScalePolicy;
  currentReplicas: number;
  totalConnections: number;
  history: readonly Recommendation[];
  now: number;
}): ScaleDecision {
  const { policy, now } = input;
  validatePolicy(policy);
  const current = Math.max(0, input.currentReplicas);
  const connections = Math.max(0, input.totalConnections);
  const target = policy.targetConnectionsPerNode;

  const raw = Math.ceil(connections / target);
  const withinTolerance = isWithinTolerance(policy, current, connections);
  const recommended = withinTolerance ? current : raw;

  const history = compact([...input.history, { at: now, replicas: recommended }], {
    after: now - longestWindowMs(policy),
    upTo: now,
  });
  const upCutoff = now - policy.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now - policy.scaleDown.stabilizationWindowSeconds * 1000;
  const lowestInUpWindow = extreme(history, upCutoff, recommended, Math.min);
  const highestInDownWindow = extreme(history, downCutoff, recommended, Math.max);
  // Move only as far as every recommendation of the window agrees on.
  const stabilized = Math.min(Math.max(current, lowestInUpWindow), highestInDownWindow);
  const replicas = Math.min(Math.max(stabilized, policy.minReplicas), policy.maxReplicas);

  const reason = reasonFor({ current, recommended, stabilized, replicas, withinTolerance });
  const message = describe({ policy, reason, current, connections, raw, recommended, stabilized, replicas });
  return { replicas, raw, history, reason, message };
}

function validatePolicy(p: ScalePolicy): void {
  const bad = (field: string, rule: string, value: number) => {
    throw new RangeError(`policy.${field} must be ${rule}, got ${value}`);
  };
  if (!(p.targetConnectionsPerNode > 0))
    bad('targetConnectionsPerNode', 'positive', p.targetConnectionsPerNode);
  if (!(Number.isInteger(p.minReplicas) && p.minReplicas >= 0))
    bad('minReplicas', 'a whole number ≥ 0', p.minReplicas);
  if (!(Number.isInteger(p.maxReplicas) && p.maxReplicas >= p.minReplicas))
    bad('maxReplicas', `a whole number ≥ minReplicas (${p.minReplicas})`, p.maxReplicas);
  for (const dir of ['scaleUp', 'scaleDown'] as const) {
    const { tolerance, stabilizationWindowSeconds: window } = p[dir];
    if (!(tolerance >= 0)) bad(`${dir}.tolerance`, '≥ 0', tolerance);
    if (!(window >= 0)) bad(`${dir}.stabilizationWindowSeconds`, '≥ 0', window);
  }
}

/** With no nodes there is no ratio to be tolerant about: the load decides alone. */
function isWithinTolerance(policy: ScalePolicy, current: number, connections: number): boolean {
  if (current === 0) return false;
  // |ratio − 1| ≤ tolerance, multiplied out so that a load exactly on the edge is not lost to rounding.
  const capacity = current * policy.targetConnectionsPerNode;
  if (connections > capacity) return connections - capacity <= policy.scaleUp.tolerance * capacity;
  return capacity - connections <= policy.scaleDown.tolerance * capacity;
}

function longestWindowMs(policy: ScalePolicy): number {
  return (
    Math.max(policy.scaleUp.stabilizationWindowSeconds, policy.scaleDown.stabilizationWindowSeconds) * 1000
  );
}

/** The lowest (or highest) recommendation made after `cutoff`; the new one always counts. */
function extreme(
  history: readonly Recommendation[],
  cutoff: number,
  recommended: number,
  pick: (a: number, b: number) => number,
): number {
  let value = recommended;
  for (const r of history) if (r.at > cutoff) value = pick(value, r.replicas);
  return value;
}

/**
 * Keeps the history bounded without changing any answer. Drops what is outside the longest window,
 * what claims to come from the future (an earlier leader's skewed clock), and every entry with both
 * a newer entry ≤ it and a newer entry ≥ it: any window that holds it holds those too, so it can
 * never be a window's lowest or highest. A steady load leaves one entry; any load, at most one per
 * distinct value.
 */
function compact(entries: Recommendation[], range: { after: number; upTo: number }): Recommendation[] {
  const inWindow = entries
    .filter((r) => r.at > range.after && r.at <= range.upTo)
    .sort((a, b) => a.at - b.at);
  const kept: Recommendation[] = [];
  let newerMin = Number.POSITIVE_INFINITY;
  let newerMax = Number.NEGATIVE_INFINITY;
  for (let i = inWindow.length - 1; i >= 0; i--) {
    const r = inWindow[i]!;
    if (r.replicas < newerMin || r.replicas > newerMax) kept.push({ at: r.at, replicas: r.replicas });
    newerMin = Math.min(newerMin, r.replicas);
    newerMax = Math.max(newerMax, r.replicas);
  }
  return kept.reverse();
}

function reasonFor(d: {
  current: number;
  recommended: number;
  stabilized: number;
  replicas: number;
  withinTolerance: boolean;
}): ScaleReason {
  if (d.replicas > d.stabilized) return 'clamped-min';
  if (d.replicas < d.stabilized) return 'clamped-max';
  if (d.replicas > d.current) return 'scale-up';
  if (d.replicas < d.current) return 'scale-down';
  if (d.withinTolerance) return 'within-tolerance';
  return d.recommended === d.current ? 'steady' : 'stabilizing';
}

const num = new Intl.NumberFormat('en-US');
const plural = (n: number, word: string) => `${num.format(n)} ${n === 1 ? word : `${word}s`}`;

function describe(d: {
  policy: ScalePolicy;
  reason: ScaleReason;
  current: number;
  connections: number;
  raw: number;
  recommended: number;
  stabilized: number;
  replicas: number;
}): string {
  const { policy: p, current, replicas, connections } = d;
  const one = connections === 1;
  const load = `${plural(connections, 'connection')} over ${plural(current, 'node')}`;
  const target = `the target ${num.format(p.targetConnectionsPerNode)} per node`;
  const outcome = replicas === current ? `keeping ${current}` : `scaling ${current} → ${replicas}`;
  const needs = `${plural(connections, 'connection')} ${one ? 'needs' : 'need'} ${plural(d.raw, 'node')} at ${num.format(p.targetConnectionsPerNode)} per node`;
  // A clamp applies to what the windows left, which is not always what the load alone asks for.
  const asks =
    d.stabilized === d.raw
      ? needs
      : `${load} and the stabilization windows ask for ${plural(d.stabilized, 'node')}`;
  switch (d.reason) {
    case 'clamped-min':
      return `${asks}, below the minimum ${p.minReplicas}: ${outcome}`;
    case 'clamped-max':
      return `${asks}, above the maximum ${p.maxReplicas}: ${outcome}`;
    case 'within-tolerance': {
      const up = connections > current * p.targetConnectionsPerNode;
      const tolerance = (up ? p.scaleUp : p.scaleDown).tolerance;
      return `${load} ${one ? 'is' : 'are'} within ${percent(tolerance)} of ${target}: ${outcome}`;
    }
    case 'stabilizing':
      return `${needs}, but ${window(d.recommended > current ? 'up' : 'down', p)} holds ${current}: ${outcome}`;
    case 'steady':
      return `${needs}: ${outcome}`;
    case 'scale-up':
      return `${load} ${one ? 'exceeds' : 'exceed'} ${target}: ${outcome}${held(d.recommended, replicas, 'up', p)}`;
    case 'scale-down':
      return `${load} ${one ? 'is' : 'are'} below ${target}: ${outcome}${held(d.recommended, replicas, 'down', p)}`;
  }
}

function window(direction: 'up' | 'down', p: ScalePolicy): string {
  const seconds = (direction === 'up' ? p.scaleUp : p.scaleDown).stabilizationWindowSeconds;
  return `the ${num.format(seconds)} s scale-${direction} stabilization window`;
}

/** Says so when the window let the count move only part of the way. */
function held(recommended: number, replicas: number, direction: 'up' | 'down', p: ScalePolicy): string {
  return recommended === replicas
    ? ''
    : ` (${window(direction, p)} holds it at ${replicas}, not ${recommended})`;
}

function percent(fraction: number): string {
  return `${num.format(Math.round(fraction * 1000) / 10)}%`;
}
