/**
 * Which node a new client should use, and the URL a node advertises for it. Clients reach a node at
 * the URL in its registry entry: its cluster address, or a public one (one NodePort per node, or
 * one Ingress host per node; docs/operator.md "Reaching the chat from outside").
 */
import type { NodeInfo } from '../common/node-registry.ts';

/**
 * The base URL a node advertises: `publicUrl` as configured, with the port `publicPortBase + nodeId`
 * when a port base is set (one NodePort per node: the StatefulSet template is the same for every
 * pod, so each node works out its own port from its id).
 */
export function advertisedUrl(publicUrl: string, publicPortBase: number | undefined, nodeId: number): string {
  if (publicPortBase === undefined) return publicUrl;
  const port = publicPortBase + nodeId;
  if (port > 65535) throw new RangeError(`CHAT_PUBLIC_PORT_BASE + node id ${nodeId} is past 65535`);
  const u = new URL(publicUrl);
  u.port = String(port);
  return u.toString().replace(/\/+$/, '');
}

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

/**
 * Discovery as one node answers it. Registry entries are refreshed every few seconds, so a burst of
 * clients would all be sent to the node that was least loaded at the last refresh; this counts the
 * clients this node sent to each node since that node's entry was last updated and adds them to its
 * load, so a burst spreads at once.
 */
export class Discovery {
  private readonly sent = new Map<number, { updatedAt: number; count: number }>();

  /**
   * The node for a new client, counted as sent there. `except`: a node not to choose (a node that
   * sheds names a target for each session it moves, never itself).
   */
  pick(nodes: readonly NodeInfo[], zone?: string, except?: number): NodeInfo | undefined {
    const seen = new Set<number>();
    const adjusted = nodes.map((n) => {
      seen.add(n.nodeId);
      const s = this.sent.get(n.nodeId);
      if (!s || s.updatedAt !== n.updatedAt) return n;
      return { ...n, connections: n.connections + s.count };
    });
    for (const id of this.sent.keys()) if (!seen.has(id)) this.sent.delete(id);
    const chosen = pickNode(
      except === undefined ? adjusted : adjusted.filter((n) => n.nodeId !== except),
      zone,
    );
    if (!chosen) return undefined;
    const s = this.sent.get(chosen.nodeId);
    if (s && s.updatedAt === chosen.updatedAt) s.count++;
    else this.sent.set(chosen.nodeId, { updatedAt: chosen.updatedAt, count: 1 });
    return nodes.find((n) => n.nodeId === chosen.nodeId);
  }
}
