/**
 * The NodeRegistry contract (chat-node/backends/types.ts), run against every implementation: the
 * in-process MemoryRegistry and RedisRegistry on a real Redis. Each test opens its own registry on a
 * fresh cluster. Entries that expire when a node stops refreshing them are a property of the shared
 * registry only (a process's own registry goes when the process goes), tested beside RedisRegistry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeRegistry } from '../../chat-node/backends/types.ts';
import type { NodeInfo } from '../../common/node-registry.ts';

export type RegistryOpener = () => Promise<{ registry: NodeRegistry; cleanup: () => Promise<void> }>;

export function nodeInfo(nodeId: number, extra: Partial<NodeInfo> = {}): NodeInfo {
  return {
    nodeId,
    url: `http://127.0.0.1:${9000 + nodeId}`,
    connections: 10 * nodeId,
    capacity: 1000,
    draining: false,
    startedAt: 1_700_000_000_000,
    updatedAt: Date.now(),
    ...extra,
  };
}

export function describeRegistryContract(name: string, open: RegistryOpener): void {
  describe(`${name} (NodeRegistry contract)`, () => {
    const opened: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of opened.splice(0)) await cleanup();
    });
    async function registry(): Promise<NodeRegistry> {
      const { registry: r, cleanup } = await open();
      opened.push(async () => {
        await r.close();
        await cleanup();
      });
      return r;
    }

    it('lists nothing before any announcement', async () => {
      expect(await (await registry()).list()).toEqual([]);
    });

    it('lists every announced node and forgets a withdrawn one', async () => {
      const r = await registry();
      const [a, b, c] = [nodeInfo(1), nodeInfo(2), nodeInfo(3)];
      for (const n of [c, a, b]) await r.announce(n);
      expect((await r.list()).sort((x, y) => x.nodeId - y.nodeId)).toEqual([a, b, c]);
      await r.withdraw(2);
      expect((await r.list()).map((n) => n.nodeId).sort()).toEqual([1, 3]);
    });

    it('replaces a node entry when it announces again', async () => {
      const r = await registry();
      await r.announce(nodeInfo(4, { connections: 1 }));
      await r.announce(nodeInfo(4, { connections: 2, draining: true }));
      const list = await r.list();
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ nodeId: 4, connections: 2, draining: true });
    });

    it('round-trips the draining flag and the zone, and leaves an unset zone absent', async () => {
      const r = await registry();
      await r.announce(nodeInfo(5, { draining: true, zone: 'eu-1a' }));
      await r.announce(nodeInfo(6));
      const byId = new Map((await r.list()).map((n) => [n.nodeId, n]));
      expect(byId.get(5)).toMatchObject({ draining: true, zone: 'eu-1a' });
      expect(byId.get(6)).not.toHaveProperty('zone');
    });

    it('does not change what it listed when the caller changes an announced object', async () => {
      const r = await registry();
      const info = nodeInfo(7);
      await r.announce(info);
      info.connections = 999;
      expect((await r.list())[0]!.connections).toBe(70);
    });

    it('withdraws an unknown node without error', async () => {
      await expect((await registry()).withdraw(42)).resolves.toBeUndefined();
    });

    it('is ready while open and not after close', async () => {
      const { registry: r, cleanup } = await open();
      try {
        expect(r.isReady()).toBe(true);
        await r.close();
        expect(r.isReady()).toBe(false);
      } finally {
        await cleanup();
      }
    });
  });
}
