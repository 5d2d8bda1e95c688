/**
 * PROTOCOL v1.1 on three chat-node processes on the real JetStream, Cassandra and Redis: every row
 * of test/helpers/v11-suite.ts with its users spread over the nodes (a read on node 2 lowers the
 * unread count on nodes 0 and 1, a member added through node 1 gets its event on node 2, …).
 */
import { startCluster } from '../helpers/cluster.ts';
import { describeV11 } from '../helpers/v11-suite.ts';

describeV11('a cluster of three nodes', async () => {
  const c = await startCluster(3);
  return {
    url: (i: number) => c.nodes[i]!.url,
    close: async () => {
      for (const n of c.nodes)
        for (const l of n?.logs ?? []) if (l.includes('"level":50')) console.log(l.slice(0, 1500));
      await c.close();
    },
  };
});
