/**
 * Waiting for a ChatCluster's rollout (or scaling) to finish, as `kubectl rollout status` does for a
 * Deployment: `rolloutState` decides from the ChatCluster alone whether the operator reports the
 * current spec done (pure), and `waitForRollout` polls until it does, reporting progress.
 *
 *   spec changed ──▶ operator sees the generation ──▶ nodes replaced / added / removed ──▶ all ready
 *        │                                                                                    │
 *        └──────────── not done: progress line on change (and every few seconds) ◀──────────┤
 *                                                                                             ▼
 *                         done, and still done after settleMs ──▶ return · timeout ──▶ CliError (exit 1)
 *
 * status.updatedReplicas counts the nodes on the current pod template, and only once the StatefulSet
 * carries that template (the reconcile that first sees a new generation observed the StatefulSet
 * before it applied the new one, and reports 0): done needs it at the node count. An operator from
 * before that field reports a rollout only as its Rebalancing condition with reason RollingUpdate,
 * from the reconcile after it changed the StatefulSet: with such a status, done must hold for a while
 * (settleMs, longer than the operator's reconcile interval) to count.
 */
import type { ChatCluster, ChatClusterCondition } from '../operator/chatcluster-schema.ts';
import { namespaceOf } from '../operator/chatcluster-schema.ts';
import { CliError } from './errors.ts';
import { progressBar } from './nodes-view.ts';

/** The operator's reason on the Rebalancing condition while it replaces nodes on an old template. */
export const ROLLING_UPDATE = 'RollingUpdate';

/** Where a ChatCluster stands against its spec, decided from the object alone. */
export interface RolloutState {
  /** The operator reports the current spec done. */
  done: boolean;
  /** The ChatCluster is being deleted: it will not get there. */
  deleting: boolean;
  /** What is still not done, for people (empty when done). */
  pending: string[];
  /** The node count the operator runs: spec.replicas within minReplicas..maxReplicas. */
  desired: number;
  ready: number;
  /** One progress line, without the elapsed time: the bar, the counts and what the operator says. */
  line: string;
}

const conditionOf = (c: ChatCluster, type: string): ChatClusterCondition | undefined =>
  c.status?.conditions?.find((x) => x.type === type);

const said = (x: ChatClusterCondition) => `${x.type} ${x.status} (${x.reason}: ${x.message})`;

const nodes = (n: number) => `${n} ${n === 1 ? 'node' : 'nodes'}`;

/** The node count the operator runs: it keeps spec.replicas within minReplicas..maxReplicas. */
export function desiredReplicas(c: ChatCluster): number {
  const { replicas, minReplicas, maxReplicas } = c.spec;
  return Math.min(maxReplicas, Math.max(minReplicas, replicas));
}

/**
 * Done: the operator has seen the current generation (status.observedGeneration ≥
 * metadata.generation), as many nodes exist and are ready as it runs (status.replicas and
 * status.readyReplicas equal spec.replicas, within minReplicas..maxReplicas), Ready is True (with 0
 * nodes: reason NoNodes), and neither Scaling nor a rollout (Rebalancing, reason RollingUpdate) is
 * True.
 */
export function rolloutState(c: ChatCluster): RolloutState {
  const desired = desiredReplicas(c);
  const ready = c.status?.readyReplicas ?? 0;
  const pending = pendingOf(c, desired, ready);
  const deleting = c.metadata.deletionTimestamp !== undefined;
  return {
    done: pending.length === 0,
    deleting,
    pending,
    desired,
    ready,
    line: progressLine(c, desired, ready),
  };
}

/** What is still not done, for people. */
function pendingOf(c: ChatCluster, desired: number, ready: number): string[] {
  const s = c.status;
  const pending: string[] = [];
  if (c.metadata.deletionTimestamp !== undefined) pending.push('the ChatCluster is being deleted');
  if (s?.observedGeneration === undefined) {
    pending.push(
      'the operator has written no status yet (is it running? kubectl get pods -A -l app.kubernetes.io/name=chat-operator)',
    );
    return pending;
  }
  const generation = c.metadata.generation ?? 0;
  if (s.observedGeneration < generation) {
    pending.push(
      `the operator has not seen generation ${generation} yet (it last saw ${s.observedGeneration})`,
    );
  }
  const existing = s.replicas ?? 0;
  if (existing !== desired) pending.push(`${nodes(existing)} exist, ${desired} wanted`);
  if (ready < desired) pending.push(`${ready} of ${nodes(desired)} ready`);
  const updated = s.updatedReplicas;
  if (updated !== undefined && updated !== desired) {
    pending.push(`${updated} of ${nodes(desired)} on the current pod template`);
  }
  const readyCondition = conditionOf(c, 'Ready');
  const readyOk =
    readyCondition?.status === 'True' || (desired === 0 && readyCondition?.reason === 'NoNodes');
  if (!readyOk) {
    pending.push(
      readyCondition
        ? `Ready is ${readyCondition.status} (${readyCondition.reason})`
        : 'no Ready condition yet',
    );
  }
  const scaling = conditionOf(c, 'Scaling');
  if (scaling?.status === 'True') pending.push(`still scaling (${scaling.reason})`);
  const moving = conditionOf(c, 'Rebalancing');
  if (moving?.status === 'True' && moving.reason === ROLLING_UPDATE) {
    pending.push('nodes on an old template are still being replaced (Rebalancing RollingUpdate)');
  }
  return pending;
}

/** `[##########..........] 1/2 nodes ready; Ready False (NodesNotReady: 1 of 2 nodes ready); …` */
function progressLine(c: ChatCluster, desired: number, ready: number): string {
  const s = c.status;
  const existing = s?.replicas ?? 0;
  const counts = `${progressBar(ready, desired)} ${ready}/${nodes(desired)} ready`;
  const parts = [existing === desired ? counts : `${counts} (${existing} exist)`];
  if (!s) parts.push('no status yet');
  const generation = c.metadata.generation ?? 0;
  const observed = s?.observedGeneration;
  if (observed !== undefined && observed < generation) {
    parts.push(`generation ${generation} not seen yet (last ${observed})`);
  }
  const readyCondition = conditionOf(c, 'Ready');
  if (readyCondition) parts.push(said(readyCondition));
  for (const type of ['Scaling', 'Rebalancing', 'Degraded']) {
    const x = conditionOf(c, type);
    if (x?.status === 'True') parts.push(said(x));
  }
  const drain = s?.drainRequest;
  if (drain) parts.push(`drain ${drain.pod} ${drain.state}: ${drain.message}`);
  const rebalance = s?.rebalanceRequest;
  if (rebalance && rebalance.state !== 'Done') {
    parts.push(`rebalance ${rebalance.state}: ${rebalance.message}`);
  }
  return parts.join('; ');
}

export interface RolloutWaitOptions {
  /** Give up after this long, in ms; 0: never. */
  timeoutMs: number;
  /**
   * With a status that has no updatedReplicas (an older operator), done counts once it has held
   * this long, in ms (see the top of this file). Default 6000.
   */
  settleMs?: number;
  /** Poll interval, in ms. Default 1000. */
  intervalMs?: number;
  /** Report at least this often while nothing changes, in ms. Default 5000. */
  quietReportMs?: number;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Receives each progress line. */
  report(line: string): void;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Polls `get` until the ChatCluster is done (and stays so for settleMs); returns the last one read. */
export async function waitForRollout(
  get: () => Promise<ChatCluster>,
  o: RolloutWaitOptions,
): Promise<ChatCluster> {
  const begin = o.now();
  let lastLine: string | undefined;
  let lastReport = begin;
  let doneSince: number | undefined;
  for (;;) {
    const cluster = await get();
    const now = o.now();
    const state = rolloutState(cluster);
    const settleMs = settleOf(cluster, o.settleMs);
    if (state.deleting) {
      const ref = `${namespaceOf(cluster)}/${cluster.metadata.name}`;
      throw new CliError(
        `chatcluster ${ref} is being deleted: it will not roll out. chatctl status ${cluster.metadata.name} -n ${namespaceOf(cluster)} shows how far the deletion is`,
      );
    }
    doneSince = state.done ? (doneSince ?? now) : undefined;
    const settled = doneSince !== undefined && now - doneSince >= settleMs;
    const line =
      state.done && !settled
        ? `${state.line}; done, checking that it holds for ${seconds(settleMs)}`
        : state.line;
    if (line !== lastLine || now - lastReport >= (o.quietReportMs ?? 5000) || settled) {
      o.report(`${line}, ${seconds(now - begin)}`);
      lastLine = line;
      lastReport = now;
    }
    if (settled) return cluster;
    const left = o.timeoutMs === 0 ? Number.POSITIVE_INFINITY : begin + o.timeoutMs - now;
    if (left <= 0) throw timedOut(cluster, state, o.timeoutMs, settleMs);
    const wait = o.intervalMs ?? 1000;
    await o.sleep(Math.min(wait, left, doneSince === undefined ? wait : doneSince + settleMs - now));
  }
}

/** How long done must hold: settleMs (default 6 s) against a status without updatedReplicas, else 0. */
const settleOf = (c: ChatCluster, settleMs = 6000) =>
  c.status?.updatedReplicas === undefined ? settleMs : 0;

function timedOut(c: ChatCluster, state: RolloutState, timeoutMs: number, settleMs: number): CliError {
  const name = c.metadata.name;
  const ns = namespaceOf(c);
  const what = state.done
    ? [`it is done only since just now, less than the ${seconds(settleMs)} it must hold`]
    : state.pending;
  return new CliError(
    `chatcluster ${ns}/${name} has not rolled out after ${Math.round(timeoutMs / 1000)} s: ${what.join('; ')}. ` +
      `Look at its conditions and nodes with: chatctl status ${name} -n ${ns}, and at the operator's events with: ` +
      `kubectl describe chatcluster ${name} -n ${ns}; or wait longer with --timeout <seconds>`,
  );
}

/** The last line of a rollout that is done: `chatcluster team-a/chat successfully rolled out: …`. */
export function rolledOut(c: ChatCluster): string {
  const state = rolloutState(c);
  return `chatcluster ${namespaceOf(c)}/${c.metadata.name} successfully rolled out: ${state.ready} of ${nodes(state.desired)} ready (generation ${c.metadata.generation ?? '-'})`;
}
