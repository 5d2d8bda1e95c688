/**
 * A node of two event loops (CHAT_WORKERS=2), as `node chat-node/main.ts` runs it: connections land
 * on both loops (the admin API counts each), and whichever loop a device is on it gets every
 * message, group message and presence change of the others; ids stay unique and keep increasing
 * across a restart; /metrics and the admin API speak for the whole node; a drain reaches every loop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitShed } from '../../chat-node/loops/loops.ts';
import { type NodeProcess, spawnNode } from '../helpers/cluster.ts';
import { TestSocket } from '../helpers/socket.ts';
import { until } from '../helpers/until.ts';
import { createUsers, http, type TestUser } from '../helpers/users.ts';
import { createGroup, dmOf } from '../helpers/ws.ts';

const ADMIN = 'loops-admin-token-0123456789';
const USERS = 16;

describe('a node of two event loops', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-loops-'));
  const env = {
    ...process.env,
    CHAT_HOST: '127.0.0.1',
    CHAT_PORT: '0',
    CHAT_DATA_DIR: dataDir,
    CHAT_WORKERS: '2',
    CHAT_ADMIN_TOKEN: ADMIN,
    CHAT_LOG_LEVEL: 'warn',
    CHAT_LOGIN_FAILURES_PER_ACCOUNT: '4',
  };
  let node: NodeProcess;
  let users: TestUser[];
  let sockets: TestSocket[];
  const ws = () => `${node.url.replace('http', 'ws')}/v1/ws`;
  const load = async () => (await http(node.url, 'GET', '/admin/v1/load', { token: ADMIN })).body;

  beforeAll(async () => {
    // spawnNode waits for the line of the node's main thread, logged once every loop listens.
    env.CHAT_LOG_LEVEL = 'info';
    node = await spawnNode(0, env);
    users = await createUsers(node.url, USERS, 'loops');
    sockets = await Promise.all(users.map((u) => TestSocket.open(ws(), u.token)));
  });
  afterAll(() => {
    for (const s of sockets ?? []) s.close();
    node?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('spreads connections over both loops and counts them as one node', async () => {
    await until(
      'the admin API counts every connection',
      async () => (await load()).connections === USERS,
      5000,
    );
    const report = await load();
    expect(report.loops).toHaveLength(2);
    // With 16 connections from distinct source ports, both loops get some (else 2 × 2^-16).
    expect(Math.min(...report.loops)).toBeGreaterThan(0);
    expect(report.loops[0] + report.loops[1]).toBe(USERS);
    const metrics = await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(await metrics.text()).toMatch(new RegExp(`^chat_connections ${USERS}$`, 'm'));
  });

  it('delivers every 1:1 message whichever loops the two devices are on', async () => {
    // A ring: user i writes to user i+1, so the pairs cross between loops and stay within one.
    for (const [i, s] of sockets.entries())
      s.send({ type: 'send', id: `ring-${i}`, to: users[(i + 1) % USERS]!.userId, text: `ring ${i}` });
    const ids = new Set<string>();
    for (const [i, s] of sockets.entries()) {
      const sent = await s.next('sent', (f) => f.id === `ring-${i}`);
      ids.add(sent.messageId);
      const from = (i + USERS - 1) % USERS;
      const got = await s.next('message', (f) => f.text === `ring ${from}`);
      expect(got.conversation).toBe(dmOf(users[from]!.userId, users[i]!.userId));
    }
    expect(ids.size).toBe(USERS);
  });

  it('delivers a group message to every member on both loops, and presence changes across them', async () => {
    const groupId = await createGroup(
      node.url,
      users[0]!.token,
      users.slice(1).map((u) => u.userId),
      'both loops',
    );
    sockets[0]!.send({ type: 'send', id: 'g1', group: groupId, text: 'to everyone' });
    await sockets[0]!.next('sent', (f) => f.id === 'g1');
    for (const s of sockets.slice(1)) await s.next('message', (f) => f.text === 'to everyone');

    // Every device watches user 0; user 0 goes offline on its loop, every loop tells its devices.
    for (const s of sockets.slice(1)) s.send({ type: 'presence.subscribe', users: [users[0]!.userId] });
    for (const s of sockets.slice(1))
      await s.next('presence', (f) => f.userId === users[0]!.userId && f.status === 'online');
    sockets[0]!.close();
    for (const s of sockets.slice(1))
      await s.next('presence', (f) => f.userId === users[0]!.userId && f.status === 'offline', 10_000);
    sockets[0] = await TestSocket.open(ws(), users[0]!.token);
  });

  it('mints increasing ids across a restart and a burst on both loops', async () => {
    const before = await Promise.all(
      sockets.map(async (s, i) => {
        s.send({ type: 'send', id: `pre-${i}`, to: users[i]!.userId, text: 'note to self' });
        return BigInt((await s.next('sent', (f) => f.id === `pre-${i}`)).messageId);
      }),
    );
    let highest = 0n;
    for (const id of before) if (id > highest) highest = id;
    for (const s of sockets) s.close();
    node.child.kill('SIGTERM');
    await new Promise((r) => node.child.once('exit', r));
    node = await spawnNode(0, env);
    sockets = await Promise.all(users.map((u) => TestSocket.open(ws(), u.token)));
    // 50 sends per device at once: both loops mint in the same milliseconds.
    const all = new Set<string>();
    await Promise.all(
      sockets.map(async (s, i) => {
        for (let k = 0; k < 50; k++)
          s.send({ type: 'send', id: `burst-${i}-${k}`, to: users[(i + 3) % USERS]!.userId, text: `b${k}` });
        let last = 0n;
        for (let k = 0; k < 50; k++) {
          const id = BigInt((await s.next('sent', (f) => f.id === `burst-${i}-${k}`)).messageId);
          expect(id).toBeGreaterThan(highest);
          // One device's messages are committed in the order it sent them, with increasing ids.
          expect(id).toBeGreaterThan(last);
          last = id;
          all.add(id.toString());
        }
      }),
    );
    expect(all.size).toBe(USERS * 50);
    // And every one is in the store, read back through either loop.
    sockets[3]!.send({ type: 'sync', since: highest.toString(), limit: 1000 });
    const page = await sockets[3]!.next('sync');
    expect(page.more).toBe(false);
    const mine = page.messages.filter((m: { text: string }) => /^b\d+$/.test(m.text));
    expect(mine.length).toBe(100); // 50 received from user 0, 50 sent to user 6
  });

  it('allows no more failed logins per account on the node than configured, whichever loops they reach', async () => {
    // A new TCP connection per attempt, so the kernel spreads them over both loops.
    const attempt = () =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ username: users[5]!.username, password: 'not-the-password' });
        const req = request(
          `${node.url}/v1/sessions`,
          { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push(await attempt());
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(4);
    // The limit was reached: 12 attempts over two loops of 2 each. (Which attempt comes last is the
    // kernel's choice of loop, so the last one may still find budget on the other loop.)
    expect(statuses).toContain(429);
  });

  it('drains every loop through one admin call', async () => {
    await until(
      'the admin API counts every connection',
      async () => (await load()).connections === USERS,
      5000,
    );
    const drain = await http(node.url, 'POST', '/admin/v1/drain', {
      token: ADMIN,
      body: { ratePerSec: 1000 },
    });
    expect(drain.status).toBe(202);
    expect(drain.body.asked).toBe(USERS);
    expect(drain.body.draining).toBe(true);
    for (const s of sockets) await s.next('reconnect', () => true, 10_000);
    expect((await http(node.url, 'GET', '/readyz')).status).toBe(503);
    const undrain = await http(node.url, 'POST', '/admin/v1/undrain', { token: ADMIN });
    expect(undrain.body.draining).toBe(false);
    await until('ready again', async () => (await http(node.url, 'GET', '/readyz')).status === 200, 5000);
  });
});

describe('a shed split over the loops', () => {
  it('asks exactly N in all, in proportion to what each loop can move, never more than it holds', () => {
    for (const [n, free] of [
      [5, [6, 4]],
      [7, [1, 1, 9]],
      [1, [0, 5]],
      [3, [2, 2, 2]],
    ] as [number, number[]][]) {
      const counts = splitShed(n, free);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(n);
      for (const [i, c] of counts.entries()) expect(c).toBeLessThanOrEqual(free[i]!);
    }
    expect(splitShed(5, [6, 4])).toEqual([3, 2]);
    expect(splitShed(20, [3, 4])).toEqual([3, 4]);
  });
});

describe('a node of two event loops with its admin port apart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-loops-admin-'));
  let node: NodeProcess | undefined;
  afterAll(() => {
    node?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the admin API and /metrics of both loops on the admin port, and neither on the client port', async () => {
    const free = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => free.once('listening', r));
    const adminPort = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    node = await spawnNode(0, {
      ...process.env,
      CHAT_HOST: '127.0.0.1',
      CHAT_PORT: '0',
      CHAT_ADMIN_PORT: String(adminPort),
      CHAT_DATA_DIR: dataDir,
      CHAT_WORKERS: '2',
      CHAT_ADMIN_TOKEN: ADMIN,
    });
    const admin = `http://127.0.0.1:${adminPort}`;
    const users = await createUsers(node.url, 6, 'loops-admin');
    const sockets = await Promise.all(
      users.map((u) => TestSocket.open(`${node!.url.replace('http', 'ws')}/v1/ws`, u.token)),
    );
    await until(
      'the admin port counts every connection',
      async () => (await http(admin, 'GET', '/admin/v1/load', { token: ADMIN })).body?.connections === 6,
      5000,
    );
    expect((await http(admin, 'GET', '/admin/v1/load', { token: ADMIN })).body.loops).toHaveLength(2);
    const metrics = await fetch(`${admin}/metrics`);
    expect(await metrics.text()).toMatch(/^chat_connections 6$/m);
    expect((await fetch(`${node.url}/metrics`)).status).toBe(404);
    expect((await http(node.url, 'GET', '/admin/v1/load', { token: ADMIN })).status).toBe(404);
    for (const s of sockets) s.close();
  });
});
