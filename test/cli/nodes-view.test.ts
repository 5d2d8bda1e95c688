import { describe, expect, it } from 'vitest';
import { waitForMoves } from '../../cli/moves.ts';
import {
  formatNodesTable,
  moveProgress,
  type NodeRow,
  nodesSummary,
  progressBar,
} from '../../cli/nodes-view.ts';
import type { LoadReport } from '../../common/admin-api.ts';

const NOW = 1_000_000_000;

describe('the nodes table', () => {
  const rows: NodeRow[] = [
    {
      url: 'http://b:8080',
      nodeId: 2,
      connections: 10,
      capacity: 100,
      draining: true,
      moving: 4,
      zone: 'eu-1',
    },
    {
      url: 'http://a:8080',
      nodeId: 1,
      connections: 30,
      capacity: 100,
      draining: false,
      startedAt: NOW - 90_000,
    },
    { url: 'http://gone:8080', error: 'cannot reach http://gone:8080' },
  ];

  it('lists nodes by id, with load as a share of capacity, and unreachable ones last', () => {
    expect(formatNodesTable(rows, NOW)).toEqual([
      'NODE ID   URL                CONNECTIONS   CAPACITY   LOAD   DRAINING   MOVING   ZONE   AGE   STATE',
      '1         http://a:8080      30            100        30%    no         -        -      90s   serving',
      '2         http://b:8080      10            100        10%    yes        4        eu-1   -     draining',
      '-         http://gone:8080   -             -          -      -          -        -      -     unreachable',
      '',
      '3 nodes (1 draining, 1 unreachable): 40 connections, 20% of capacity 200',
    ]);
  });

  it('sums a single healthy node without notes', () => {
    expect(nodesSummary([rows[1]!])).toBe('1 node: 30 connections, 30% of capacity 100');
  });
});

describe('move progress', () => {
  it('draws a bar of the sessions that have moved', () => {
    expect(progressBar(0, 40)).toBe(`[${'.'.repeat(20)}]`);
    expect(progressBar(20, 40)).toBe(`[${'#'.repeat(10)}${'.'.repeat(10)}]`);
    expect(progressBar(0, 0)).toBe(`[${'#'.repeat(20)}]`);
    expect(moveProgress(40, 24, 812, 3240)).toBe(
      `[########............] 16/40 moved, 24 still here, 812 connections, 3.2 s`,
    );
  });
});

describe('waitForMoves', () => {
  /**
   * A node whose `moving` (and `connections`, default moving + 5) follow the script, one value per
   * poll; time advances 1 s per sleep.
   */
  function scripted(moving: number[], connections?: number[]) {
    let t = 0;
    let i = 0;
    const lines: string[] = [];
    const admin = {
      label: 'http://n:9090',
      load: async (): Promise<LoadReport> => {
        const at = Math.min(i++, moving.length - 1);
        const m = moving[at]!;
        return {
          nodeId: 7,
          url: 'http://n:8080',
          connections: connections?.[at] ?? m + 5,
          capacity: 100,
          draining: false,
          moving: m,
        };
      },
    };
    const options = {
      timeoutMs: 10_000,
      quietReportMs: 3000,
      now: () => t,
      sleep: async (ms: number) => {
        t += ms;
      },
      report: (line: string) => lines.push(line),
      intervalMs: 1000,
      watch: 'chatctl nodes --url http://n:9090',
    };
    return { admin, options, lines };
  }

  it('reports each change and returns the load once nothing moves any more', async () => {
    const { admin, options, lines } = scripted([8, 8, 5, 0]);
    const load = await waitForMoves(admin, { moving: 8, connections: 13 }, options);
    expect(load.moving).toBe(0);
    expect(lines.map((l) => l.replace(/^\[[#.]+\] /, ''))).toEqual([
      '0/8 moved, 8 still here, 13 connections, 0.0 s',
      '3/8 moved, 5 still here, 10 connections, 2.0 s',
      '8/8 moved, 0 still here, 5 connections, 3.0 s',
    ]);
  });

  it('reports now and then while nothing changes', async () => {
    const { admin, options, lines } = scripted([3, 3, 3, 3, 3, 0]);
    await waitForMoves(admin, { moving: 3, connections: 8 }, options);
    expect(lines.map((l) => l.match(/, ([\d.]+) s$/)![1])).toEqual(['0.0', '3.0', '5.0']);
  });

  it('fails after the timeout, saying how to keep watching', async () => {
    const { admin, options } = scripted([2]);
    await expect(
      waitForMoves(admin, { moving: 2, connections: 7 }, { ...options, timeoutMs: 4000 }),
    ).rejects.toThrow(
      '2 sessions were still moving off http://n:9090 after 4 s; the node keeps asking them (and closes those ' +
        'that stay past their turn). Watch with: chatctl nodes --url http://n:9090, or wait longer with --wait <seconds>',
    );
  });

  it('waits for a drained node to be empty, not only for the asked sessions, when told to', async () => {
    const { admin, options, lines } = scripted([2, 0, 0, 0], [4, 2, 1, 0]);
    const load = await waitForMoves(admin, { moving: 2, connections: 4 }, { ...options, untilEmpty: true });
    expect(load).toMatchObject({ moving: 0, connections: 0 });
    expect(lines.at(-1)).toMatch(/2\/2 moved, 0 still here, 0 connections, 3\.0 s$/);

    const stuck = scripted([0], [3]);
    await expect(
      waitForMoves(
        stuck.admin,
        { moving: 0, connections: 3 },
        { ...stuck.options, untilEmpty: true, timeoutMs: 2000 },
      ),
    ).rejects.toThrow('3 connections were still on http://n:9090 after 2 s');
  });
});
