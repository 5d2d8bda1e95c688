/**
 * Moving sessions between nodes with the admin API, as the operator does: a shed of N sessions
 * sends exactly N clients to the other node through discovery, and no message sent to them
 * meanwhile is lost or seen twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../client/index.ts';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { idsFrom, type Recorder, recorder, until } from '../helpers/recorder.ts';
import { createUsers, type TestUser } from '../helpers/users.ts';

describe('shedding sessions from a loaded node', () => {
  let c: TestCluster;
  const open: Recorder[] = [];

  async function admin(i: number, method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${c.nodes[i]!.url}/admin/v1/${path}`, {
      method,
      headers: { authorization: `Bearer ${c.adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`admin ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  }
  const connections = async (i: number) => (await admin(i, 'GET', 'load')).connections as number;

  beforeAll(async () => {
    c = await startCluster(2);
  }, 180_000);
  afterAll(async () => {
    for (const r of open) r.client.close();
    await c?.close();
  });

  it('moves exactly N sessions to the other node with no lost message', async () => {
    const [sender, ...users] = (await createUsers(c.nodes[0]!.url, 11)) as TestUser[];
    // Node 1 drains while the clients arrive, so discovery puts all ten on node 0.
    await admin(1, 'POST', 'drain', {});
    const rs = users.map((u) => recorder(c.nodes[0]!.url, u.token));
    open.push(...rs);
    await Promise.all(rs.map((r) => r.client.connect()));
    expect(await connections(0)).toBe(10);
    await admin(1, 'POST', 'undrain');
    // Let the registry see node 1 open again. Asked of node 1: a node counts the clients it sent
    // elsewhere until the registry catches up, and these probes never connect; counted by node 0, they
    // would make node 1 look loaded when the shed clients ask node 0.
    await until('discovery offers node 1', async () => {
      const api = new ChatApi(c.nodes[1]!.url, { token: sender!.token });
      const picks = await Promise.all([api.discovery(), api.discovery(), api.discovery()]);
      return picks.some((p) => p.nodeId === c.nodes[1]!.nodeId);
    });

    const api = new ChatApi(c.nodes[0]!.url, { token: sender!.token });
    const sentIds: string[][] = users.map(() => []);
    let sending = true;
    const traffic = (async () => {
      for (let round = 0; sending && round < 200; round++) {
        await Promise.all(
          users.map(async (u, i) => {
            const m = await api.postMessage({ to: u.userId, text: `round ${round}` });
            sentIds[i]!.push(m.messageId);
          }),
        );
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Awaited below; marked handled so that a failure before then is not also reported unhandled.
    traffic.catch(() => {});

    try {
      const shed = await admin(0, 'POST', 'shed', { count: 5, ratePerSec: 20 });
      expect(shed.asked).toBe(5);
      await until('five sessions moved to node 1', async () => (await connections(1)) === 5).catch(
        async (err: Error) => {
          const where = rs.map((r) => r.connectedTo.map((u) => new URL(u).port).join('>'));
          throw new Error(
            `${err.message}; node 1 has ${await connections(1)}, node 0 has ${await connections(0)}; clients went ${where.join(', ')}; node ports ${c.nodes.map((n) => n!.port)}`,
          );
        },
      );
      // A moved client closes its old socket before it dials, but node 0 may see that close after node
      // 1 has welcomed it.
      await until('node 0 keeps the other five', async () => (await connections(0)) === 5);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      // Stopped on a failure too: the rounds would otherwise go on against nodes being closed.
      sending = false;
    }
    await traffic;

    const moved = rs.filter((r) => r.connectedTo.length === 2);
    expect(moved).toHaveLength(5);
    for (const r of moved) expect(new URL(r.connectedTo[1]!).port).toBe(String(c.nodes[1]!.port));
    for (const [i, r] of rs.entries()) {
      await until(`user ${i} saw all ${sentIds[i]!.length} messages`, () =>
        sentIds[i]!.every((id) => r.seen.some((m) => m.messageId === id)),
      );
      expect(idsFrom(r.seen, sender!.userId)).toEqual(new Set(sentIds[i]));
    }
  }, 120_000);
});
