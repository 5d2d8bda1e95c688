/**
 * Chat nodes as chatctl prints them (pure): the load table of `chatctl nodes`, and the progress of
 * `drain` and `shed` while the sessions they asked to move go.
 */
import { type Cell, formatAge, formatTable, percent } from './table.ts';

/** One node's load: from its admin API, the Redis registry, or both. */
export interface NodeRow {
  /** The node's pod, when it was listed from a ChatCluster. */
  pod?: string;
  /** The pod's Ready condition, when it was listed from a ChatCluster. */
  ready?: boolean;
  url: string;
  nodeId?: number;
  connections?: number;
  capacity?: number;
  draining?: boolean;
  /** Sessions asked to move that are still there; undefined when the admin API was not asked. */
  moving?: number;
  zone?: string;
  /** When the node started (registry), ms since the epoch. */
  startedAt?: number;
  /** Why the node could not be read, if it could not. */
  error?: string;
}

/** What a node is doing: serving, draining, not ready (a pod that fails its readiness), unreachable. */
function state(n: NodeRow): string {
  if (n.error !== undefined) return 'unreachable';
  if (n.draining) return 'draining';
  return n.ready === false ? 'not ready' : 'serving';
}

/** The table of `chatctl nodes` (by node id), with a totals line; a POD column when rows are pods. */
export function formatNodesTable(nodes: readonly NodeRow[], now: number, wide = false): string[] {
  const sorted = [...nodes].sort(
    (a, b) => (a.nodeId ?? 1e9) - (b.nodeId ?? 1e9) || a.url.localeCompare(b.url),
  );
  const pods = nodes.some((n) => n.pod !== undefined);
  const rows = sorted.map((n) => [...(pods ? [n.pod] : []), ...columns(n, now, wide)]);
  const headers = [
    ...(pods ? ['pod'] : []),
    'node id',
    'url',
    'connections',
    'capacity',
    'load',
    'draining',
    'moving',
    'zone',
    'age',
    'state',
    ...(wide ? ['started', 'error'] : []),
  ];
  return [...formatTable(headers, rows), '', nodesSummary(nodes)];
}

function columns(n: NodeRow, now: number, wide: boolean): Cell[] {
  return n.error !== undefined
    ? [
        n.nodeId,
        n.url,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        n.zone,
        n.startedAt === undefined ? undefined : formatAge(now - n.startedAt),
        state(n),
        ...(wide ? [started(n), n.error] : []),
      ]
    : [
        n.nodeId,
        n.url,
        n.connections,
        n.capacity,
        percent(n.connections, n.capacity),
        n.draining,
        n.moving,
        n.zone,
        n.startedAt === undefined ? undefined : formatAge(now - n.startedAt),
        state(n),
        ...(wide ? [started(n), undefined] : []),
      ];
}

/** When the node started, as an ISO time (UTC, to the second). */
function started(n: NodeRow): string | undefined {
  return n.startedAt === undefined
    ? undefined
    : new Date(n.startedAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `3 nodes (1 draining, 1 unreachable): 1234 connections, 2% of capacity 150000` */
export function nodesSummary(nodes: readonly NodeRow[]): string {
  const ok = nodes.filter((n) => n.error === undefined);
  const connections = ok.reduce((sum, n) => sum + (n.connections ?? 0), 0);
  const capacity = ok.reduce((sum, n) => sum + (n.capacity ?? 0), 0);
  const draining = ok.filter((n) => n.draining).length;
  const failed = nodes.length - ok.length;
  const notes = [
    draining > 0 ? `${draining} draining` : '',
    failed > 0 ? `${failed} unreachable` : '',
  ].filter((x) => x !== '');
  const plural = nodes.length === 1 ? 'node' : 'nodes';
  const extra = notes.length > 0 ? ` (${notes.join(', ')})` : '';
  return `${nodes.length} ${plural}${extra}: ${connections} connections, ${percent(connections, capacity)} of capacity ${capacity}`;
}

/** A 20-character bar: `[#####...............]`. */
export function progressBar(done: number, total: number, width = 20): string {
  const filled = total <= 0 ? width : Math.min(width, Math.max(0, Math.round((done / total) * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** One progress line of a move: `[########............] 16/40 moved, 24 still here, 812 connections, 3.2 s` */
export function moveProgress(asked: number, moving: number, connections: number, elapsedMs: number): string {
  const moved = Math.max(0, asked - moving);
  return `${progressBar(moved, asked)} ${moved}/${asked} moved, ${moving} still here, ${connections} connections, ${(elapsedMs / 1000).toFixed(1)} s`;
}
