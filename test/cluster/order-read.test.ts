/**
 * Send order and read events on three chat-node processes over the single-server services of
 * `npm run services:up` (one NATS, one Redis, one Cassandra). The same suite runs on the clustered
 * backends in test/ha/.
 */
import { afterAll, beforeAll } from 'vitest';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { describeOrderAndRead } from '../helpers/order-read-suite.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await startCluster(3);
}, 180_000);
afterAll(async () => {
  await c?.close();
});

describeOrderAndRead('three nodes on one NATS, Redis and Cassandra', () => c.nodes.map((n) => n!.url));
