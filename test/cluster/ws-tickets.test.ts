/**
 * WebSocket tickets on a cluster: two chat-node processes on the real Redis (and JetStream and
 * Cassandra). A ticket issued by one node opens a socket on the other, once; racing handshakes on
 * both nodes get it once between them; the ticket's key expires by itself in Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisTickets } from '../../chat-node/backends/real/redis-tickets.ts';
import { TICKET_TTL_MS } from '../../chat-node/http/ws-tickets.ts';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { createUser, http, type TestUser } from '../helpers/users.ts';
import { firstFrame, handshakeAnswer } from '../helpers/ws.ts';

const wsOf = (url: string, ticket: string) =>
  `${url.replace(/^http/, 'ws')}/v1/ws?ticket=${encodeURIComponent(ticket)}`;

describe('tickets across two nodes', () => {
  let c: TestCluster;
  let alice: TestUser;
  let redis: Redis;

  beforeAll(async () => {
    c = await startCluster(2);
    alice = await createUser(c.nodes[0]!.url, 'ctk');
    redis = new Redis(c.env.CHAT_REDIS_URL!.split(',')[0]!, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
  });
  afterAll(async () => {
    redis?.disconnect();
    await c?.close();
  });

  const issue = async (node: number) => {
    const res = await http(c.nodes[node]!.url, 'POST', '/v1/ws-tickets', { token: alice.token });
    expect(res.status).toBe(200);
    return res.body.ticket as string;
  };

  it('a ticket of node 0 opens a socket on node 1, then neither node takes it (401)', async () => {
    const ticket = await issue(0);
    const key = RedisTickets.ticketKey(c.name, ticket);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TICKET_TTL_MS);
    const welcome = await firstFrame(wsOf(c.nodes[1]!.url, ticket));
    expect(welcome).toMatchObject({ type: 'welcome', userId: alice.userId, deviceId: alice.deviceId });
    expect(welcome.nodeId).toBe(c.nodes[1]!.nodeId);
    expect(await redis.exists(key)).toBe(0);
    for (const n of [0, 1]) expect((await handshakeAnswer(wsOf(c.nodes[n]!.url, ticket))).status).toBe(401);
  });

  it('handshakes racing on both nodes for one ticket: one gets it', async () => {
    const ticket = await issue(1);
    const answers = await Promise.all(
      [0, 1, 0, 1].map((n) => handshakeAnswer(wsOf(c.nodes[n]!.url, ticket))),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([101, 401, 401, 401]);
  });
});
