/** Which node a new client should use: a pure function of the registry's view. */
import type { NodeInfo } from './backends/types.ts';

/**
 * The least-loaded node (connections ÷ capacity) that is not draining, preferring `zone` when some
 * node is in it; ties go to the lower node id. Undefined when every node is draining.
 */
export function pickNode(nodes: readonly NodeInfo[], zone?: string): NodeInfo | undefined {
  const open = nodes.filter((n) => !n.draining);
  const inZone = zone ? open.filter((n) => n.zone === zone) : [];
  const candidates = inZone.length > 0 ? inZone : open;
  let best: NodeInfo | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (const n of candidates) {
    const load = n.connections / Math.max(1, n.capacity);
    if (load < bestLoad || (load === bestLoad && best && n.nodeId < best.nodeId)) {
      best = n;
      bestLoad = load;
    }
  }
  return best;
}
