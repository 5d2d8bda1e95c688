/** PROTOCOL v1.1 on the embedded node, over real sockets (the rows: test/helpers/v11-suite.ts). */
import { startTestNode } from '../helpers/node.ts';
import { describeV11 } from '../helpers/v11-suite.ts';

describeV11('the embedded node', async () => {
  const t = await startTestNode();
  return { url: () => t.baseUrl, close: () => t.close() };
});
