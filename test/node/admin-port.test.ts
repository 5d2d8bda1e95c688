/**
 * CHAT_ADMIN_PORT: the admin API and /metrics on a port of their own, refused on the client port;
 * the node registry names the admin URL; CHAT_PUBLIC_PORT_BASE gives each node its own public port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advertisedUrl } from '../../chat-node/discovery.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { TestSocket } from '../helpers/socket.ts';
import { createUsers, http } from '../helpers/users.ts';

const ADMIN = 'admin-token-for-tests-0123456789';

describe('a node with its admin port apart', () => {
  let t: TestNode;
  let adminBase: string;
  beforeAll(async () => {
    t = await startTestNode({ adminToken: ADMIN, adminPort: 0, host: '127.0.0.1' });
    adminBase = `http://127.0.0.1:${t.node.adminPort}`;
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves the admin API and /metrics on the admin port only', async () => {
    expect(t.node.adminPort).not.toBe(t.node.port);
    expect((await http(adminBase, 'GET', '/admin/v1/load', { token: ADMIN })).status).toBe(200);
    expect((await fetch(`${adminBase}/metrics`)).status).toBe(200);
    const onClient = await http(t.baseUrl, 'GET', '/admin/v1/load', { token: ADMIN });
    expect(onClient.status).toBe(404);
    expect(onClient.body).toMatchObject({ error: { code: 'not_found' } });
    expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(404);
    // Both answer the probes.
    expect((await fetch(`${t.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${adminBase}/readyz`)).status).toBe(200);
  });

  it('serves the chat on the client port only', async () => {
    const [u] = await createUsers(t.baseUrl, 1);
    const socket = await TestSocket.open(t.wsUrl, u!.token);
    socket.close();
    expect((await http(adminBase, 'GET', '/v1/discovery', { token: u!.token })).status).toBe(404);
    await expect(TestSocket.open(`ws://127.0.0.1:${t.node.adminPort}/v1/ws`, u!.token)).rejects.toThrow();
  });

  it('puts its admin URL in the node registry', async () => {
    const [u] = await createUsers(t.baseUrl, 1);
    const entries = await t.node.backends.registry.list();
    expect(entries.find((e) => e.nodeId === t.node.nodeId)?.adminUrl).toBe(adminBase);
    // Discovery hands out the client URL, never the admin one.
    const d = await http(t.baseUrl, 'GET', '/v1/discovery', { token: u!.token });
    expect((d.body as { url: string }).url).toBe(t.node.url);
  });
});

describe('the URL a node advertises', () => {
  it.each([
    [
      'as configured without a port base',
      'https://chat.example.com',
      undefined,
      3,
      'https://chat.example.com',
    ],
    ['on port base + node id', 'http://203.0.113.7', 30100, 3, 'http://203.0.113.7:30103'],
    ['replacing a port of the URL, keeping its path', 'http://h:80/chat', 30100, 0, 'http://h:30100/chat'],
  ])('is %s', (_name, url, base, id, expected) => {
    expect(advertisedUrl(url, base, id)).toBe(expected);
  });

  it('refuses a port past 65535', () => {
    expect(() => advertisedUrl('http://h', 65_535, 1)).toThrow(/past 65535/);
  });
});
