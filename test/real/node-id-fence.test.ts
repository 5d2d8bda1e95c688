/**
 * The node-id fence (chat-node/backends/real/node-id-lease.ts) on the real Redis of
 * `npm run services:up`: two live instances never may mint under one node id, even when Redis loses
 * every lease; and a holder that cannot confirm its lease stops minting.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { leaseNodeId, type NodeIdLease } from '../../chat-node/backends/real/node-id-lease.ts';
import { silentLogger } from '../../common/logger.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { until } from '../helpers/until.ts';

const TTL_MS = 600;
const url = servicesEnv().CHAT_REDIS_URL!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the Snowflake node-id fence', () => {
  let admin: Redis;
  let cluster: string;
  const leases: NodeIdLease[] = [];
  const lease = async (onLost: () => void = () => {}, redisUrl = url) => {
    const l = await leaseNodeId({ url: redisUrl, cluster, ttlMs: TTL_MS, log: silentLogger(), onLost });
    leases.push(l);
    return l;
  };
  /** What Redis losing every key of the cluster looks like (a restart without persistence). */
  const loseEverything = async () => {
    const keys = await admin.keys(`chat:{${cluster}}:node-id:*`);
    if (keys.length > 0) await admin.del(...keys);
  };

  beforeAll(() => {
    admin = new Redis(url);
  });
  afterAll(async () => {
    await admin.quit();
  });
  afterEach(async () => {
    for (const l of leases.splice(0)) await l.release();
  });

  it('waits one ttl on a fresh epoch before a leased id may mint', async () => {
    cluster = `f${randomBytes(4).toString('hex')}`;
    const started = Date.now();
    const a = await lease();
    expect(Date.now() - started).toBeGreaterThanOrEqual(TTL_MS - 20);
    expect(a.mayMint()).toBe(true);
    // A second instance under the same epoch needs no wait.
    const t = Date.now();
    const b = await lease();
    expect(Date.now() - t).toBeLessThan(TTL_MS / 2);
    expect(b.nodeId).not.toBe(a.nodeId);
  });

  it('never lets two live instances mint under one id, even after Redis loses every lease', async () => {
    // A's renewal may re-take its key before B's claim (then B gets another id): try until B
    // claims A's id, which is the case the fence is for.
    for (let attempt = 0; attempt < 10; attempt++) {
      cluster = `f${randomBytes(4).toString('hex')}`;
      let aLost = false;
      const a = await lease(() => {
        aLost = true;
      });
      expect(a.mayMint()).toBe(true);
      await loseEverything();
      let b: NodeIdLease | undefined;
      const bLeasing = lease().then((l) => {
        b = l;
      });
      let overlap = 0;
      const deadline = Date.now() + 4 * TTL_MS;
      while (Date.now() < deadline) {
        if (b && b.nodeId === a.nodeId && a.mayMint() && b.mayMint()) overlap++;
        await sleep(5);
      }
      await bLeasing;
      expect(overlap).toBe(0);
      expect(b!.mayMint()).toBe(true);
      if (b!.nodeId !== a.nodeId) {
        expect(a.mayMint()).toBe(true);
        continue;
      }
      expect(a.mayMint()).toBe(false);
      expect(aLost).toBe(true);
      return;
    }
    throw new Error('B never claimed the id A held');
  });

  it('stops minting when the lease cannot be confirmed, and mints again once it is', async () => {
    cluster = `f${randomBytes(4).toString('hex')}`;
    const a = await lease();
    expect(a.mayMint()).toBe(true);
    // Renewals fail while the key is held by nobody we can reach: simulate with a paused client.
    await admin.client('PAUSE', String(2 * TTL_MS), 'WRITE');
    await until('minting stops without a confirmation', () => !a.mayMint(), 3 * TTL_MS);
    await until('minting resumes after a renewal', () => a.mayMint(), 6 * TTL_MS);
  });
});
