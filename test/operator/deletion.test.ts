import { describe, expect, it } from 'vitest';
import type { ChatCluster, ChatClusterSpec, ChatClusterStatus } from '../../operator/chatcluster-schema.ts';
import {
  backoffMs,
  type DeletionObservation,
  decideDeletion,
  FINALIZER,
  finalizersFor,
  keyspaceUsers,
  type RemovalState,
} from '../../operator/deletion.ts';
import { chatCluster } from '../helpers/chatcluster.ts';

const NOW = Date.parse('2030-01-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function deleting(
  o: {
    policy?: 'Retain' | 'Delete';
    finalizers?: string[];
    status?: ChatClusterStatus;
    spec?: Partial<ChatClusterSpec>;
    name?: string;
    namespace?: string;
    deleted?: boolean;
  } = {},
): ChatCluster {
  const base = chatCluster({
    ...(o.name && { name: o.name }),
    ...(o.namespace && { namespace: o.namespace }),
    metadata: {
      finalizers: o.finalizers ?? [FINALIZER],
      ...((o.deleted ?? true) && { deletionTimestamp: iso(NOW - 60_000) }),
    },
    spec: { deletionPolicy: o.policy ?? 'Delete', ...o.spec },
    ...(o.status && { status: o.status }),
  });
  return base;
}

function observation(o: Partial<DeletionObservation> & { cluster?: ChatCluster } = {}): DeletionObservation {
  return {
    cluster: o.cluster ?? deleting(),
    statefulSetExists: o.statefulSetExists ?? false,
    pods: o.pods ?? 0,
    others: o.others ?? [],
    removal: o.removal ?? {},
  };
}

const attemptStatus = (deletion: NonNullable<ChatClusterStatus['deletion']>): ChatClusterStatus => ({
  deletion,
});

describe('finalizersFor', () => {
  const live = (policy: 'Retain' | 'Delete', finalizers?: string[]) =>
    chatCluster({ metadata: { ...(finalizers && { finalizers }) }, spec: { deletionPolicy: policy } });

  it.each([
    { name: 'adds ours with Delete', c: live('Delete'), want: [FINALIZER] },
    {
      name: 'keeps other finalizers when it adds ours',
      c: live('Delete', ['x/y']),
      want: ['x/y', FINALIZER],
    },
    { name: 'changes nothing with Delete and ours there', c: live('Delete', [FINALIZER]), want: undefined },
    { name: 'changes nothing with Retain and none', c: live('Retain'), want: undefined },
    {
      name: 'removes ours when the policy goes back to Retain',
      c: live('Retain', ['x/y', FINALIZER]),
      want: ['x/y'],
    },
  ])('$name', ({ c, want }) => {
    expect(finalizersFor(c)).toEqual(want);
  });
});

describe('keyspaceUsers', () => {
  const other = (name: string, keyspace: string, more: Parameters<typeof deleting>[0] = {}) =>
    deleting({
      name,
      deleted: false,
      policy: 'Retain',
      ...more,
      spec: { cassandra: { ...chatCluster().spec.cassandra, keyspace } },
    });

  it('names the other ChatClusters with the same keyspace, whatever their namespace', () => {
    const me = deleting({ name: 'me' });
    const users = keyspaceUsers(me, [
      other('b', 'chat', { namespace: 'team-b' }),
      other('c', 'elsewhere'),
      other('a', 'chat'),
    ]);
    expect(users).toEqual(['team-a/a', 'team-b/b']);
  });

  it('leaves out itself, and another that is being deleted with Delete too', () => {
    const me = deleting({ name: 'me' });
    expect(keyspaceUsers(me, [me, other('x', 'chat', { deleted: true, policy: 'Delete' })])).toEqual([]);
  });

  it('counts another that is being deleted but keeps its data', () => {
    const me = deleting({ name: 'me' });
    expect(keyspaceUsers(me, [other('x', 'chat', { deleted: true, policy: 'Retain' })])).toEqual([
      'team-a/x',
    ]);
  });
});

describe('decideDeletion', () => {
  it('does nothing for a ChatCluster without our finalizer', () => {
    const d = decideDeletion(observation({ cluster: deleting({ finalizers: ['x/y'] }) }), NOW);
    expect(d).toEqual({ deleteStatefulSet: false, events: [] });
  });

  it('lets a ChatCluster go at once, data kept, when the policy is Retain', () => {
    const d = decideDeletion(
      observation({
        cluster: deleting({ policy: 'Retain', finalizers: ['x/y', FINALIZER] }),
        statefulSetExists: true,
      }),
      NOW,
    );
    expect(d.finalizers).toEqual(['x/y']);
    expect(d.deleteStatefulSet).toBe(false);
    expect(d.startRemoval).toBeUndefined();
    expect(d.events.map((e) => e.reason)).toEqual(['DataRetained']);
  });

  it('deletes the StatefulSet first and removes nothing while it is there', () => {
    const d = decideDeletion(observation({ statefulSetExists: true, pods: 2 }), NOW);
    expect(d.deleteStatefulSet).toBe(true);
    expect(d.startRemoval).toBeUndefined();
    expect(d.finalizers).toBeUndefined();
    expect(d.status?.deletion?.phase).toBe('WaitingForPods');
    expect(d.status?.conditions?.find((c) => c.type === 'Deleting')).toMatchObject({
      status: 'True',
      reason: 'WaitingForPods',
    });
  });

  it('waits while a pod is still there, terminating ones too', () => {
    const d = decideDeletion(observation({ pods: 1 }), NOW);
    expect(d.deleteStatefulSet).toBe(false);
    expect(d.startRemoval).toBeUndefined();
    expect(d.status?.deletion?.message).toMatch(/1 pod to go/);
  });

  it('refuses, with a condition and a warning, while another ChatCluster names the keyspace', () => {
    const neighbour = deleting({ name: 'neighbour', deleted: false, policy: 'Retain' });
    const d = decideDeletion(observation({ others: [neighbour] }), NOW);
    expect(d.startRemoval).toBeUndefined();
    expect(d.finalizers).toBeUndefined();
    expect(d.status?.deletion?.phase).toBe('KeyspaceInUse');
    expect(d.status?.conditions?.find((c) => c.type === 'Deleting')?.reason).toBe('KeyspaceInUse');
    expect(d.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'KeyspaceInUse',
        message: expect.stringContaining('team-a/neighbour'),
      }),
    ]);
  });

  it('starts the first removal once the pods are gone, counting it in the status', () => {
    const d = decideDeletion(observation(), NOW);
    expect(d.startRemoval).toEqual({ attempt: 1 });
    expect(d.status?.deletion).toMatchObject({ phase: 'RemovingData', attempts: 1, lastAttemptAt: iso(NOW) });
  });

  it('waits for a removal that runs, starting no other', () => {
    const cluster = deleting({ status: attemptStatus({ phase: 'RemovingData', attempts: 1, message: '' }) });
    const d = decideDeletion(observation({ cluster, removal: { running: { attempt: 1 } } }), NOW);
    expect(d.startRemoval).toBeUndefined();
    expect(d.finalizers).toBeUndefined();
    expect(d.status?.deletion?.phase).toBe('RemovingData');
  });

  it('removes the finalizer once the current attempt succeeded', () => {
    const cluster = deleting({
      finalizers: [FINALIZER, 'x/y'],
      status: attemptStatus({ phase: 'RemovingData', attempts: 2, message: '' }),
    });
    const removal: RemovalState = {
      done: { attempt: 2, ok: true, at: NOW - 1000, message: 'data removed: …' },
    };
    const d = decideDeletion(observation({ cluster, removal }), NOW);
    expect(d.finalizers).toEqual(['x/y']);
    expect(d.events).toEqual([
      expect.objectContaining({ reason: 'DataRemoved', message: 'data removed: …' }),
    ]);
  });

  it('retries a failed removal only after its backoff, saying when and why', () => {
    const cluster = deleting({ status: attemptStatus({ phase: 'RemovingData', attempts: 2, message: '' }) });
    const failedAt = NOW - 1000;
    const removal: RemovalState = {
      done: { attempt: 2, ok: false, at: failedAt, message: 'NATS unreachable' },
    };
    const waiting = decideDeletion(observation({ cluster, removal }), NOW);
    expect(waiting.startRemoval).toBeUndefined();
    expect(waiting.status?.deletion).toMatchObject({
      phase: 'Retrying',
      attempts: 2,
      lastError: 'NATS unreachable',
      nextAttemptAt: iso(failedAt + backoffMs(2)),
    });
    expect(waiting.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'DataRemovalFailed']]);
    const later = decideDeletion(observation({ cluster, removal }), failedAt + backoffMs(2));
    expect(later.startRemoval).toEqual({ attempt: 3 });
    expect(later.status?.deletion).toMatchObject({ attempts: 3, lastError: 'NATS unreachable' });
  });

  it('goes on from the status after a change of leader: the next attempt, at the time it says', () => {
    const next = NOW + 30_000;
    const cluster = deleting({
      status: attemptStatus({
        phase: 'Retrying',
        attempts: 4,
        nextAttemptAt: iso(next),
        lastError: 'x',
        message: '',
      }),
    });
    expect(decideDeletion(observation({ cluster }), NOW).startRemoval).toBeUndefined();
    expect(decideDeletion(observation({ cluster }), next).startRemoval).toEqual({ attempt: 5 });
  });

  it('starts again at once when a leader died during an attempt (nothing known of it)', () => {
    const cluster = deleting({ status: attemptStatus({ phase: 'RemovingData', attempts: 1, message: '' }) });
    expect(decideDeletion(observation({ cluster }), NOW).startRemoval).toEqual({ attempt: 2 });
  });

  it('is the same decision when made twice (pure)', () => {
    const o = observation({ statefulSetExists: true, pods: 3 });
    expect(decideDeletion(o, NOW)).toEqual(decideDeletion(o, NOW));
  });
});

describe('backoffMs', () => {
  it.each([
    [1, 5000],
    [2, 10_000],
    [3, 20_000],
    [10, 300_000],
  ])('after attempt %i waits %i ms', (attempt, ms) => {
    expect(backoffMs(attempt)).toBe(ms);
  });
});
