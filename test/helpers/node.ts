/**
 * Starts real chat nodes for tests: loopback, an ephemeral port, a fresh data dir, silent logs.
 * Everything a test starts is stopped by `close()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChatNode, startNode } from '../../chat-node/node.ts';
import { silentLogger } from '../../common/logger.ts';
import { loadNodeConfig, type NodeConfig } from '../../common/node-config.ts';

export interface TestNode {
  node: ChatNode;
  config: NodeConfig;
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  /** ws://127.0.0.1:<port>/v1/ws */
  wsUrl: string;
  dataDir: string;
  /** Stops the node; the data dir stays (for restart tests) until `cleanup()`. */
  stop(): Promise<void>;
  /** Starts a new node on the same data dir (and the same port when it is free). */
  restart(overrides?: Partial<NodeConfig>): Promise<TestNode>;
  /** Stops the node and removes its data dir. */
  close(): Promise<void>;
}

/**
 * Config for tests: generous account and connection limits so suites can create many users from
 * 127.0.0.1 and open many sockets with one token.
 */
export function testConfig(overrides: Partial<NodeConfig> = {}, dataDir?: string): NodeConfig {
  const base = loadNodeConfig({ env: {} });
  return {
    ...base,
    host: '127.0.0.1',
    port: 0,
    dataDir: dataDir ?? mkdtempSync(join(tmpdir(), 'chat-node-test-')),
    logLevel: 'silent',
    signupsPerMinute: 100_000,
    loginsPerMinute: 100_000,
    maxConnectionsPerUser: 10_000,
    maxConnectionsPerDevice: 10_000,
    ...overrides,
  };
}

export async function startTestNode(
  overrides: Partial<NodeConfig> = {},
  dataDir?: string,
): Promise<TestNode> {
  const config = testConfig(overrides, dataDir);
  const node = await startNode(config, { log: silentLogger() });
  const baseUrl = `http://127.0.0.1:${node.port}`;
  let stopped = false;
  const t: TestNode = {
    node,
    config,
    baseUrl,
    wsUrl: `ws://127.0.0.1:${node.port}/v1/ws`,
    dataDir: config.dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await node.close();
    },
    async restart(more = {}) {
      await t.stop();
      return startTestNode({ ...overrides, ...more }, config.dataDir);
    },
    async close() {
      await t.stop();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
  return t;
}
