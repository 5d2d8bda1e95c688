/** The node registry of a single process: it knows only the nodes announced to it (itself). */
import type { NodeInfo } from '../../../common/node-registry.ts';
import type { NodeRegistry } from '../types.ts';

export class MemoryRegistry implements NodeRegistry {
  private readonly nodes = new Map<number, NodeInfo>();
  private closed = false;

  async announce(info: NodeInfo): Promise<void> {
    this.nodes.set(info.nodeId, { ...info });
  }

  async list(): Promise<NodeInfo[]> {
    return [...this.nodes.values()];
  }

  async withdraw(nodeId: number): Promise<void> {
    this.nodes.delete(nodeId);
  }

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
