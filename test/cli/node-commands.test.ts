/**
 * `chatctl nodes`, `shed`, `drain` and `undrain` as processes against real chat nodes (admin API on),
 * with real WebSocket clients that leave when asked to move, as the SDK does.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesEnv } from '../helpers/cluster.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { TestSocket } from '../helpers/socket.ts';
import { createUsers, http } from '../helpers/users.ts';
import { chatctl } from './chatctl-process.ts';

const ADMIN = `cli-admin-${randomBytes(8).toString('hex')}`;
const env = { CHATCTL_ADMIN_TOKEN: ADMIN };

/** Opens `n` sessions; those with `leave` close as soon as the node asks them to move. */
async function sessions(t: TestNode, n: number, leave: boolean): Promise<TestSocket[]> {
  const users = await createUsers(t.baseUrl, n, 'cli');
  const sockets = await Promise.all(users.map((u) => TestSocket.open(t.wsUrl, u.token)));
  if (leave) {
    for (const s of sockets) {
      s.ws.on('message', (data) => {
        if (JSON.parse(data.toString()).type === 'reconnect') s.close();
      });
    }
  }
  return sockets;
}

describe('chatctl node commands', () => {
  let t: TestNode;
  let sockets: TestSocket[] = [];

  beforeAll(async () => {
    t = await startTestNode({ adminToken: ADMIN });
    sockets = await sessions(t, 6, true);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  it('nodes lists the node with its connections, capacity and state', async () => {
    const r = await chatctl(['nodes', '--url', t.baseUrl], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [header, row] = r.stdout.split('\n');
    expect(header).toMatch(/^NODE ID\s+URL\s+CONNECTIONS\s+CAPACITY\s+LOAD\s+DRAINING\s+MOVING/);
    expect(row).toMatch(new RegExp(`^0\\s+${t.baseUrl}\\s+6\\s+50000\\s+0%\\s+no\\s+0\\s.*serving$`));
    expect(r.stdout).toContain('1 node: 6 connections');
  });

  it('nodes -o json prints the load reports', async () => {
    const r = await chatctl(['nodes', '--url', t.baseUrl, '-o', 'json', '--admin-token', ADMIN]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ url: t.baseUrl, connections: 6, moving: 0 }),
    ]);
  });

  it('shed moves exactly N sessions, showing progress until they have gone', async () => {
    const r = await chatctl(['shed', t.baseUrl, '2', '--rate', '20', '--wait', '20'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`node 0 (${t.baseUrl}): asked 2 of 2 sessions to move`);
    expect(r.stderr).toContain('waiting for 2 sessions to reconnect elsewhere');
    expect(r.stderr).toMatch(/\[#{20}\] 2\/2 moved, 0 still here, 4 connections/);
    expect(r.stdout).toContain('done: node 0 now has 4 connections');
    expect(sockets.filter((s) => s.closed).length).toBe(2);
  });

  it('drain moves every session and leaves the node draining; undrain takes it back', async () => {
    const drain = await chatctl(['drain', t.baseUrl, '--rate', '50', '--wait', '20'], env);
    expect(drain.code, drain.stderr).toBe(0);
    expect(drain.stdout).toContain('asked 4 sessions to move');
    expect(drain.stderr).toMatch(/4\/4 moved, 0 still here, 0 connections/);
    expect(drain.stdout).toContain(
      `is draining with 0 connections left; undo with: chatctl undrain ${t.baseUrl}`,
    );
    expect((await http(t.baseUrl, 'GET', '/readyz')).status).toBe(503);

    const listed = await chatctl(['nodes', '--url', t.baseUrl], env);
    expect(listed.stdout).toMatch(/\s+yes\s+0\s.*draining\n/);

    const undrain = await chatctl(['undrain', t.baseUrl], env);
    expect(undrain.code).toBe(0);
    expect(undrain.stdout).toContain('takes sessions again');
    expect((await http(t.baseUrl, 'GET', '/readyz')).status).toBe(200);
  });

  it('fails with exit code 1 when the sessions do not go within --wait, saying how to watch them', async () => {
    const stubborn = await startTestNode({ adminToken: ADMIN });
    const stay = await sessions(stubborn, 2, false);
    try {
      const r = await chatctl(['shed', stubborn.baseUrl, '2', '--rate', '1000', '--wait', '1'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`chatctl: 2 sessions were still moving off ${stubborn.baseUrl} after 1 s`);
      expect(r.stderr).toContain(`chatctl nodes --url ${stubborn.baseUrl}`);
    } finally {
      for (const s of stay) s.close();
      await stubborn.close();
    }
  });

  it('says what to do when the token is missing (2), wrong (1), or the node is down (1)', async () => {
    const none = await chatctl(['drain', t.baseUrl]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('pass --admin-token <token> or set CHATCTL_ADMIN_TOKEN');

    const wrong = await chatctl(['nodes', '--url', t.baseUrl, '--admin-token', 'not-the-token']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`${t.baseUrl} refused the admin token`);

    const down = await chatctl(['undrain', 'http://127.0.0.1:9'], env);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /cannot reach http:\/\/127\.0\.0\.1:9: .*Is the node running\? \(npm start\)/,
    );
  });

  it('refuses bad arguments with exit code 2 and the usage hint', async () => {
    const r = await chatctl(['shed', t.baseUrl, 'many'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'many' is invalid for argument 'count'");
    expect(r.stderr).toContain('(add --help for usage)');
    expect((await chatctl(['nodes'], env)).stderr).toContain('say where the nodes are');
  });
});

describe('chatctl nodes --redis-url', () => {
  const cluster = `cli-${randomBytes(4).toString('hex')}`;
  let redisUrl: string;
  const nodes: TestNode[] = [];

  beforeAll(async () => {
    redisUrl = servicesEnv().CHAT_REDIS_URL!;
    for (let i = 0; i < 2; i++) nodes.push(await startTestNode({ adminToken: ADMIN, redisUrl, cluster }));
  });
  afterAll(async () => {
    for (const n of nodes) await n.close();
  });

  it('lists every live node of the cluster from the registry, with MOVING from each admin API', async () => {
    const r = await chatctl(['nodes', '--redis-url', redisUrl, '--cluster', cluster], env);
    expect(r.code, r.stderr).toBe(0);
    for (const n of nodes)
      expect(r.stdout).toMatch(new RegExp(`${n.baseUrl}\\s+0\\s+50000\\s+0%\\s+no\\s+0\\s`));
    expect(r.stdout).toContain('2 nodes: 0 connections');
  });

  it('works without an admin token (MOVING unknown), and says when the cluster has no nodes', async () => {
    const r = await chatctl(['nodes', '--redis-url', redisUrl, '--cluster', cluster]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\s+no\s+-\s/);
    const empty = await chatctl(['nodes', '--redis-url', redisUrl, '--cluster', `${cluster}-none`]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain(`no live nodes of cluster "${cluster}-none"`);
  });
});
