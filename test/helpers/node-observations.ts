/**
 * Chat nodes as the operator's gather step observes them, for the tests of its pure decisions
 * (decide, requests, the drain pace): `chat-<ordinal>` pods, ready and reporting unless said.
 */
import type { NodeObservation } from '../../operator/types.ts';

/** One node: its connections, or more about it. Ready, reporting, not draining, revision r1 unless said. */
export type NodeSketch =
  | number
  | { c?: number; draining?: boolean; ready?: boolean; reported?: boolean; revision?: string };

/** The URL node `ordinal` advertises (in namespace team-a). */
export const nodeUrl = (ordinal: number) => `http://chat-${ordinal}.chat-nodes.team-a.svc:8080`;

export function nodeObservation(ordinal: number, n: NodeSketch): NodeObservation {
  const o = typeof n === 'number' ? { c: n } : n;
  const ready = o.ready ?? true;
  return {
    name: `chat-${ordinal}`,
    ordinal,
    ready,
    exists: true,
    revision: o.revision ?? 'r1',
    load:
      (o.reported ?? ready)
        ? {
            nodeId: ordinal,
            url: nodeUrl(ordinal),
            connections: o.c ?? 0,
            capacity: 20_000,
            draining: o.draining ?? false,
          }
        : undefined,
  };
}
