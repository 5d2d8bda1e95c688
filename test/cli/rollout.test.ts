/**
 * The decision of `chatctl rollout status` (rolloutState: done or not, what is left, the progress
 * line) as a table of ChatClusters, and its waiting loop with a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { CliError } from '../../cli/errors.ts';
import { rolledOut, rolloutState, waitForRollout } from '../../cli/rollout.ts';
import type { ChatCluster, ChatClusterCondition } from '../../operator/chatcluster-schema.ts';
import { chatCluster } from '../helpers/chatcluster.ts';

const at = '2026-01-01T00:00:00Z';
const cond = (type: string, status: 'True' | 'False', reason: string, message = reason) =>
  ({ type, status, reason, message, lastTransitionTime: at }) as ChatClusterCondition;
const READY = cond('Ready', 'True', 'NodesReady', '2 of 2 nodes ready');
const CALM = [
  cond('Scaling', 'False', 'Steady'),
  cond('Rebalancing', 'False', 'Balanced'),
  cond('Degraded', 'False', 'AsExpected'),
];

/** `chat` at generation 2 with spec.replicas 2: done unless `status` says otherwise. */
function cluster(
  status: Partial<NonNullable<ChatCluster['status']>> | undefined,
  parts: { generation?: number; replicas?: number; deleting?: boolean } = {},
): ChatCluster {
  return chatCluster({
    metadata: {
      generation: parts.generation ?? 2,
      ...(parts.deleting ? { deletionTimestamp: at } : {}),
    },
    spec: { replicas: parts.replicas ?? 2 },
    ...(status
      ? {
          status: {
            replicas: 2,
            readyReplicas: 2,
            observedGeneration: 2,
            conditions: [READY, ...CALM],
            ...status,
          },
        }
      : {}),
  });
}

describe('rolloutState', () => {
  it.each([
    { name: 'all nodes ready on the current generation', c: cluster({}), done: true, pending: [] },
    {
      name: 'all nodes ready on the current pod template',
      c: cluster({ updatedReplicas: 2 }),
      done: true,
      pending: [],
    },
    {
      name: 'a node still on the old pod template',
      c: cluster({ updatedReplicas: 1 }),
      done: false,
      pending: ['1 of 2 nodes on the current pod template'],
    },
    {
      name: 'a StatefulSet that does not carry the new template yet (the first reconcile of a change)',
      c: cluster({ updatedReplicas: 0 }),
      done: false,
      pending: ['0 of 2 nodes on the current pod template'],
    },
    {
      name: 'no status yet',
      c: cluster(undefined),
      done: false,
      pending: ['the operator has written no status yet'],
      line: '[....................] 0/2 nodes ready (0 exist); no status yet',
    },
    {
      name: 'the operator has not seen the new generation',
      c: cluster({}, { generation: 3 }),
      done: false,
      pending: ['the operator has not seen generation 3 yet (it last saw 2)'],
      line: 'generation 3 not seen yet (last 2)',
    },
    {
      name: 'a node not ready',
      c: cluster({
        readyReplicas: 1,
        conditions: [cond('Ready', 'False', 'NodesNotReady', '1 of 2 nodes ready'), ...CALM],
      }),
      done: false,
      pending: ['1 of 2 nodes ready', 'Ready is False (NodesNotReady)'],
      line: '[##########..........] 1/2 nodes ready; Ready False (NodesNotReady: 1 of 2 nodes ready)',
    },
    {
      name: 'a scale-up: spec.replicas above the nodes that exist',
      c: cluster(
        { conditions: [READY, cond('Scaling', 'True', 'ScalingUp', 'to 3'), ...CALM.slice(1)] },
        { replicas: 3 },
      ),
      done: false,
      pending: ['2 nodes exist, 3 wanted', '2 of 3 nodes ready', 'still scaling (ScalingUp)'],
      line: '[#############.......] 2/3 nodes ready (2 exist); Ready True (NodesReady: 2 of 2 nodes ready); Scaling True (ScalingUp: to 3)',
    },
    {
      name: 'a rollout: every node ready, one still on the old template',
      c: cluster({
        conditions: [
          READY,
          CALM[0]!,
          cond('Rebalancing', 'True', 'RollingUpdate', '1 node on an old revision: draining node 1'),
          CALM[2]!,
        ],
      }),
      done: false,
      pending: ['nodes on an old template are still being replaced (Rebalancing RollingUpdate)'],
      line: 'Rebalancing True (RollingUpdate: 1 node on an old revision: draining node 1)',
    },
    {
      name: 'sessions moving between nodes (not a rollout) do not hold it up',
      c: cluster({
        conditions: [READY, CALM[0]!, cond('Rebalancing', 'True', 'Rebalancing', 'shedding'), CALM[2]!],
      }),
      done: true,
      pending: [],
      line: 'Rebalancing True (Rebalancing: shedding)',
    },
    {
      name: 'spec.replicas beyond maxReplicas: the operator runs maxReplicas',
      c: cluster({ replicas: 10, readyReplicas: 10 }, { replicas: 12 }),
      done: true,
      pending: [],
      line: '[####################] 10/10 nodes ready',
    },
    {
      name: 'spec.replicas below minReplicas: the operator runs minReplicas',
      c: cluster({}, { replicas: 0 }),
      done: true,
      pending: [],
    },
    {
      name: 'a drain and a rebalance asked for by annotation are shown',
      c: cluster({
        drainRequest: { pod: 'chat-1', state: 'Draining', startedAt: at, message: '12 sessions left' },
        rebalanceRequest: { request: 'r1', state: 'Pending', startedAt: at, message: 'waiting for scaling' },
      }),
      done: true,
      pending: [],
      line: 'drain chat-1 Draining: 12 sessions left; rebalance Pending: waiting for scaling',
    },
    {
      name: 'being deleted',
      c: cluster({}, { deleting: true }),
      done: false,
      pending: ['the ChatCluster is being deleted'],
    },
  ])('$name', ({ c, done, pending, line }) => {
    const state = rolloutState(c);
    expect(state.done).toBe(done);
    expect(state.pending).toHaveLength(pending.length);
    for (const [i, p] of pending.entries()) expect(state.pending[i]).toContain(p);
    if (line) expect(state.line).toContain(line);
  });

  it('with 0 nodes wanted, Ready False NoNodes is done', () => {
    const c = chatCluster({
      metadata: { generation: 1 },
      spec: { replicas: 0, minReplicas: 0 },
      status: {
        replicas: 0,
        readyReplicas: 0,
        observedGeneration: 1,
        conditions: [cond('Ready', 'False', 'NoNodes', 'scaled to 0 nodes'), ...CALM],
      },
    });
    expect(rolloutState(c)).toMatchObject({ done: true, desired: 0 });
  });

  it('says what it rolled out in its last line', () => {
    expect(rolledOut(cluster({}))).toBe(
      'chatcluster team-a/chat successfully rolled out: 2 of 2 nodes ready (generation 2)',
    );
  });
});

describe('waitForRollout', () => {
  /** A fake clock, and `get` answering the clusters of `script` in turn (the last one from then on). */
  function harness(script: ChatCluster[]) {
    let now = 0;
    let reads = 0;
    const lines: string[] = [];
    const get = async () => script[Math.min(reads++, script.length - 1)]!;
    const options = {
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
      },
      report: (line: string) => lines.push(line),
    };
    return { get, options, lines, reads: () => reads, now: () => now };
  }
  const notReady = cluster({
    readyReplicas: 1,
    conditions: [cond('Ready', 'False', 'NodesNotReady', '1 of 2 nodes ready'), ...CALM],
  });

  it('returns once done has held for settleMs, with a line per change', async () => {
    const h = harness([notReady, notReady, cluster({})]);
    const done = await waitForRollout(h.get, { ...h.options, timeoutMs: 60_000, settleMs: 3000 });
    expect(rolloutState(done).done).toBe(true);
    expect(h.lines).toEqual([
      '[##########..........] 1/2 nodes ready; Ready False (NodesNotReady: 1 of 2 nodes ready), 0.0 s',
      '[####################] 2/2 nodes ready; Ready True (NodesReady: 2 of 2 nodes ready); done, checking that it holds for 3.0 s, 2.0 s',
      '[####################] 2/2 nodes ready; Ready True (NodesReady: 2 of 2 nodes ready), 5.0 s',
    ]);
  });

  it('starts over when done does not hold (the rollout shows up a reconcile later)', async () => {
    const rolling = cluster({
      conditions: [
        READY,
        CALM[0]!,
        cond('Rebalancing', 'True', 'RollingUpdate', 'draining node 1'),
        CALM[2]!,
      ],
    });
    const h = harness([cluster({}), rolling, cluster({})]);
    await waitForRollout(h.get, { ...h.options, timeoutMs: 60_000, settleMs: 3000 });
    // Done at 0 s, rolling at 1 s, done again at 2 s: it holds from 2 s to 5 s.
    expect(h.now()).toBe(5000);
    expect(h.lines.some((l) => l.includes('RollingUpdate'))).toBe(true);
  });

  it('returns at the first done read when the status counts updatedReplicas (no settling)', async () => {
    const first = cluster({ updatedReplicas: 0 });
    const h = harness([first, cluster({ updatedReplicas: 1 }), cluster({ updatedReplicas: 2 })]);
    await waitForRollout(h.get, { ...h.options, timeoutMs: 60_000, settleMs: 3000 });
    expect(h.reads()).toBe(3);
    expect(h.now()).toBe(2000);
    expect(h.lines.at(-1)).not.toContain('checking that it holds');
  });

  it('reports at least every quietReportMs while nothing changes', async () => {
    const h = harness([notReady, notReady, notReady, notReady, notReady, cluster({})]);
    await waitForRollout(h.get, {
      ...h.options,
      timeoutMs: 60_000,
      settleMs: 0,
      quietReportMs: 2000,
    });
    expect(h.lines.map((l) => l.replace(/.*, /, ''))).toEqual(['0.0 s', '2.0 s', '4.0 s', '5.0 s']);
  });

  it('fails after timeoutMs saying what is not done and where to look', async () => {
    const h = harness([notReady]);
    const err = await waitForRollout(h.get, { ...h.options, timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(1);
    expect((err as CliError).message).toBe(
      'chatcluster team-a/chat has not rolled out after 3 s: 1 of 2 nodes ready; Ready is False (NodesNotReady). ' +
        "Look at its conditions and nodes with: chatctl status chat -n team-a, and at the operator's events with: " +
        'kubectl describe chatcluster chat -n team-a; or wait longer with --timeout <seconds>',
    );
    expect(h.now()).toBe(3000);
  });

  it('waits without a limit when timeoutMs is 0', async () => {
    const h = harness([...Array.from({ length: 2000 }, () => notReady), cluster({})]);
    await waitForRollout(h.get, { ...h.options, timeoutMs: 0, settleMs: 0 });
    expect(h.reads()).toBe(2001);
  });

  it('fails at once when the ChatCluster is being deleted', async () => {
    const h = harness([cluster({}, { deleting: true })]);
    await expect(waitForRollout(h.get, { ...h.options, timeoutMs: 60_000 })).rejects.toThrow(
      'chatcluster team-a/chat is being deleted: it will not roll out',
    );
  });
});
