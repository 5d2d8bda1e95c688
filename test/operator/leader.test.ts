/** Leader election on a real Lease (npm run k8s:up): one leader of two, handover on stop and on death. */
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger.ts';
import { LeaderElector } from '../../operator/leader.ts';
import { testKubeConfig } from '../helpers/kube.ts';
import { until } from '../helpers/recorder.ts';

describe('leader election on a Lease', () => {
  let kc: KubeConfig;
  let ns: string;
  const electors: LeaderElector[] = [];
  const elector = (identity: string, name: string) => {
    const e = new LeaderElector({
      api: kc.makeApiClient(CoordinationV1Api),
      namespace: ns,
      name,
      leaseSeconds: 2,
      identity,
      log: silentLogger(),
    });
    electors.push(e);
    e.start();
    return e;
  };

  beforeAll(async () => {
    kc = testKubeConfig();
    ns = `lease-${randomBytes(3).toString('hex')}`;
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  });
  afterAll(async () => {
    for (const e of electors) await e.stop();
    await kc
      ?.makeApiClient(CoreV1Api)
      .deleteNamespace({ name: ns })
      .catch(() => {});
  });

  it('lets exactly one of two lead, and hands over at once when the leader stops', async () => {
    const a = elector('a', 'one');
    const b = elector('b', 'one');
    await until('someone leads', () => a.isLeader || b.isLeader, 10_000);
    // Over three renewals, never both at once.
    const until1500 = Date.now() + 1500;
    while (Date.now() < until1500) {
      expect(a.isLeader && b.isLeader).toBe(false);
      await new Promise((r) => setTimeout(r, 20));
    }
    await until('one leads', () => a.isLeader !== b.isLeader, 5000);
    const [leader, follower] = a.isLeader ? [a, b] : [b, a];
    const stoppedAt = Date.now();
    await leader.stop();
    await until('the follower leads', () => follower.isLeader, 10_000);
    expect(Date.now() - stoppedAt).toBeLessThan(3000);
    expect(leader.isLeader).toBe(false);
  });

  it('hands over after the lease expires when the leader dies without handing it back', async () => {
    const a = elector('c', 'two');
    await until('c leads', () => a.isLeader, 10_000);
    const b = elector('d', 'two');
    await new Promise((r) => setTimeout(r, 700));
    expect(b.isLeader).toBe(false);
    // "Dies": stops renewing, without the hand-back that stop() does.
    clearInterval((a as unknown as { timer: NodeJS.Timeout }).timer);
    await until('d leads after the lease expired', () => b.isLeader, 15_000);
  });
});
