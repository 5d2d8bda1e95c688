/** The node's admin API: load, shed and drain, behind its own token. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { TestSocket } from '../helpers/socket.ts';
import { createUsers, http } from '../helpers/users.ts';

const ADMIN = 'admin-token-for-tests-0123456789';

describe('admin API', () => {
  let t: TestNode;
  const sockets: TestSocket[] = [];
  beforeAll(async () => {
    t = await startTestNode({ adminToken: ADMIN });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  it('refuses calls without the admin token, and user tokens', async () => {
    const [u] = await createUsers(t.baseUrl, 1);
    expect((await http(t.baseUrl, 'GET', '/admin/v1/load')).status).toBe(401);
    expect((await http(t.baseUrl, 'GET', '/admin/v1/load', { token: u!.token })).status).toBe(401);
    expect((await http(t.baseUrl, 'GET', '/admin/v1/load', { token: ADMIN })).status).toBe(200);
  });

  it('is absent when no admin token is configured', async () => {
    const plain = await startTestNode();
    try {
      expect((await http(plain.baseUrl, 'GET', '/admin/v1/load', { token: ADMIN })).status).toBe(404);
    } finally {
      await plain.close();
    }
  });

  it('reports load and sheds exactly N sessions with reconnect frames spread in time', async () => {
    const users = await createUsers(t.baseUrl, 6);
    for (const u of users) sockets.push(await TestSocket.open(t.wsUrl, u.token));
    const load = await http(t.baseUrl, 'GET', '/admin/v1/load', { token: ADMIN });
    expect(load.body).toMatchObject({ connections: 6, draining: false, moving: 0 });
    const shed = await http(t.baseUrl, 'POST', '/admin/v1/shed', {
      token: ADMIN,
      body: { count: 4, ratePerSec: 10 },
    });
    expect(shed.status).toBe(202);
    expect(shed.body).toMatchObject({ asked: 4, moving: 4 });
    const frames = await Promise.all(
      sockets.map((s) => s.next('reconnect', () => true, 1000).catch(() => undefined)),
    );
    const asked = frames.filter((f) => f !== undefined);
    expect(asked).toHaveLength(4);
    for (const f of asked)
      expect(f).toMatchObject({ type: 'reconnect', reason: 'rebalance', afterMs: expect.any(Number) });
    // 4 moves at 10/s are spread over about 400 ms.
    expect(Math.max(...asked.map((f) => f!.afterMs))).toBeGreaterThanOrEqual(300);
  });

  it('drains: refuses new sessions, says not ready, asks everyone to move, then undrains', async () => {
    const [u] = await createUsers(t.baseUrl, 1);
    const s = await TestSocket.open(t.wsUrl, u!.token);
    sockets.push(s);
    const drain = await http(t.baseUrl, 'POST', '/admin/v1/drain', { token: ADMIN });
    expect(drain.status).toBe(202);
    expect(drain.body.draining).toBe(true);
    expect(await s.next('reconnect')).toMatchObject({ reason: 'drain' });
    expect(await TestSocket.handshakeStatus(t.wsUrl, { authorization: `Bearer ${u!.token}` })).toBe(503);
    expect((await http(t.baseUrl, 'GET', '/readyz')).status).toBe(503);
    await http(t.baseUrl, 'POST', '/admin/v1/undrain', { token: ADMIN });
    expect((await http(t.baseUrl, 'GET', '/readyz')).status).toBe(200);
    expect(await TestSocket.handshakeStatus(t.wsUrl, { authorization: `Bearer ${u!.token}` })).toBe(101);
  });
});
