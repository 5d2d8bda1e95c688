import { afterEach, describe, expect, it } from 'vitest';
import {
  ChatClient,
  type ChatClientError,
  type ChatClientOptions,
  type Message,
} from '../../client/index.ts';
import { syncSince } from '../../client/message-ids.ts';
import { Snowflake, snowflakeTime } from '../../common/snowflake.ts';
import { type Peer, ScriptedServer, until } from './scripted-server.ts';

const servers: ScriptedServer[] = [];
const clients: ChatClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(
  options: Parameters<typeof ScriptedServer.start>[0] = {},
): Promise<ScriptedServer> {
  const server = await ScriptedServer.start(options);
  servers.push(server);
  return server;
}

/** A client of `server` with quick retries, and everything it emits recorded. */
function clientOf(server: ScriptedServer, options: Partial<ChatClientOptions> = {}) {
  const client = new ChatClient({
    baseUrl: server.baseUrl,
    token: 'tok',
    discover: false,
    backoff: { initialMs: 10, maxMs: 20 },
    ...options,
  });
  clients.push(client);
  const seen = {
    messages: [] as Message[],
    errors: [] as ChatClientError[],
    synced: [] as { maxMessageId: string; messages: number }[],
    disconnected: [] as { code: number; reason: string; willReconnect: boolean }[],
    reconnects: 0,
  };
  client.on('message', (m) => seen.messages.push(m));
  client.on('error', (e) => seen.errors.push(e));
  client.on('synced', (s) => seen.synced.push(s));
  client.on('disconnected', (d) => seen.disconnected.push(d));
  client.on('reconnect', () => seen.reconnects++);
  return { client, seen };
}

/** Connects `client` through the next connection `server` accepts, and returns that connection. */
async function connectVia(client: ChatClient, server: ScriptedServer, heartbeatMs?: number): Promise<Peer> {
  const connected = client.connect();
  const peer = await server.nextPeer();
  peer.welcome(heartbeatMs === undefined ? {} : { heartbeatMs });
  await connected;
  return peer;
}

const ids = new Snowflake(3);
function message(text: string): Message {
  const id = ids.next();
  return {
    messageId: id.toString(),
    conversation: 'dm:u1:u2',
    from: 'u2',
    to: 'u1',
    text,
    ts: snowflakeTime(id),
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ChatClient', () => {
  it('connects with the token in the Authorization header and resolves connect() on welcome', async () => {
    const server = await startServer();
    const { client } = clientOf(server);
    const peer = await connectVia(client, server);
    expect(peer.request.headers.authorization).toBe('Bearer tok');
    expect(peer.request.url).toBe('/v1/ws');
    expect(client.state).toBe('open');
    expect(client.welcome).toMatchObject({ type: 'welcome', userId: 'u1' });
  });

  it('emits a message delivered live and again by the sync after a reconnect only once', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server);
    const first = await connectVia(client, server);
    const live = message('live');
    first.send({ type: 'message', ...live });
    await until(() => seen.messages.length === 1, 'the live message');

    first.terminate();
    const second = await server.nextPeer();
    second.welcome();
    const sync = await second.next('sync');
    expect(sync.since).toBe(syncSince(BigInt(live.messageId), 2000).toString());
    const missed = message('missed');
    second.send({ type: 'sync', messages: [live, missed], more: false });
    await until(() => seen.synced.length === 1, 'synced');

    expect(seen.messages.map((m) => m.text)).toEqual(['live', 'missed']);
    expect(seen.messages[0]).not.toHaveProperty('type');
    expect(seen.synced[0]).toEqual({ maxMessageId: missed.messageId, messages: 1 });
    expect(client.maxMessageId).toBe(missed.messageId);
    expect(first.received.map((f) => f.type)).not.toContain('sync');
  });

  it('starts the next sync where an unfinished one stopped, though live messages came since', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server, { maxMessageId: '0', syncPageLimit: 2 });
    const first = await connectVia(client, server);
    expect(await first.next('sync')).toMatchObject({ since: '0' });
    const [m1, m2] = [message('m1'), message('m2')];
    first.send({ type: 'sync', messages: [m1, m2], more: true });
    expect(await first.next('sync')).toMatchObject({ since: m2.messageId });
    // The second page does not come; a live message minted 10 s later does, then the socket goes.
    const later = new Snowflake(4, { clock: () => Date.now() + 10_000 }).next();
    const live: Message = { ...message('live'), messageId: later.toString(), ts: snowflakeTime(later) };
    first.send({ type: 'message', ...live });
    await until(() => seen.messages.length === 3, 'the live message');
    first.terminate();

    // From m2, where the first run stopped: from the live message less the overlap, a message
    // between m2 and it (its copy lost while the client moved) would never come.
    const second = await server.nextPeer();
    second.welcome();
    expect(await second.next('sync')).toMatchObject({ since: m2.messageId });
    const gap = message('gap');
    second.send({ type: 'sync', messages: [gap, live], more: false });
    await until(() => seen.synced.length === 1, 'synced');
    expect(seen.messages.map((m) => m.text)).toEqual(['m1', 'm2', 'live', 'gap']);

    // Once a sync has finished, the next starts from what was seen, less the overlap, as before.
    second.terminate();
    const third = await server.nextPeer();
    third.welcome();
    expect((await third.next('sync')).since).toBe(syncSince(later, 2000).toString());
  });

  it('pages the sync, each page from the highest id of the last, until more is false', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server, { maxMessageId: '0', syncPageLimit: 2 });
    const peer = await connectVia(client, server);
    const [m1, m2, m3] = [message('one'), message('two'), message('three')];

    expect(await peer.next('sync')).toEqual({ type: 'sync', id: 'sync.1', since: '0', limit: 2 });
    peer.send({ type: 'sync', messages: [m1, m2], more: true });
    expect(await peer.next('sync')).toMatchObject({ since: m2.messageId });
    peer.send({ type: 'sync', messages: [m3], more: true });
    expect(await peer.next('sync')).toMatchObject({ since: m3.messageId });
    peer.send({ type: 'sync', messages: [], more: false });
    await until(() => seen.synced.length === 1, 'synced');

    expect(seen.messages.map((m) => m.text)).toEqual(['one', 'two', 'three']);
    expect(seen.synced[0]).toEqual({ maxMessageId: m3.messageId, messages: 3 });
  });

  it('asks for a sync page again, on the same connection, when the node answers it with an error', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server, { maxMessageId: '0' });
    const peer = await connectVia(client, server);
    const first = await peer.next('sync');
    peer.send({ type: 'error', id: first.id, code: 'internal', message: 'store catching up' });
    const again = await peer.next('sync');
    expect(again).toMatchObject({ since: '0' });
    expect(again.id).not.toBe(first.id);
    const m = message('late');
    peer.send({ type: 'sync', messages: [m], more: false });
    await until(() => seen.synced.length === 1, 'synced');
    expect(seen.messages.map((x) => x.text)).toEqual(['late']);
    expect(seen.errors.map((e) => e.code)).toEqual(['internal']);
  });

  it('stops paging, with a protocol error, when the server says more without a newer message', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server, { maxMessageId: '0' });
    const peer = await connectVia(client, server);
    await peer.next('sync');
    peer.send({ type: 'sync', messages: [], more: true });
    await until(() => seen.synced.length === 1, 'synced');
    expect(seen.errors.map((e) => e.code)).toEqual(['protocol']);
    expect(peer.received.filter((f) => f.type === 'sync')).toHaveLength(1);
  });

  it('writes a pending send again with the same id after the server closes the socket', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server);
    const first = await connectVia(client, server);
    const sending = client.send({ to: 'u2', text: 'hi' });
    const original = await first.next('send');
    expect(original).toMatchObject({ to: 'u2', text: 'hi' });
    expect(typeof original.id).toBe('string');

    first.ws.close(1001, 'going away');
    const second = await server.nextPeer();
    second.welcome();
    const again = await second.next('send');
    expect(again).toEqual(original);
    second.send({ type: 'sent', id: again.id, messageId: '123', conversation: 'dm:u1:u2', ts: 1 });

    await expect(sending).resolves.toMatchObject({ id: original.id, messageId: '123' });
    expect(seen.disconnected).toEqual([{ code: 1001, reason: 'going away', willReconnect: true }]);
  });

  it('rejects a send with the code of the error frame that names its id', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server);
    const peer = await connectVia(client, server);
    const sending = client.send({ id: 'c1', group: 'g1', text: 'hi' });
    await peer.next('send');
    peer.send({ type: 'error', id: 'c1', code: 'not_member', message: 'not in that group' });
    await expect(sending).rejects.toMatchObject({
      name: 'ChatClientError',
      code: 'not_member',
      frameId: 'c1',
    });
    expect(seen.errors).toEqual([]);
  });

  it('writes a send again, with the same id, after the node answers it with a transient internal error', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server);
    const peer = await connectVia(client, server);
    const sending = client.send({ id: 'c1', to: 'u2', text: 'hi' });
    await peer.next('send');
    peer.send({ type: 'error', id: 'c1', code: 'internal', message: 'bus unavailable' });
    const again = await peer.next('send');
    expect(again).toMatchObject({ id: 'c1', to: 'u2', text: 'hi' });
    peer.send({ type: 'sent', id: 'c1', messageId: '9', conversation: 'dm:u1:u2', ts: 1 });
    await expect(sending).resolves.toMatchObject({ messageId: '9' });
    expect(seen.errors).toEqual([]);
  });

  it('emits its own sends as messages when their sent arrives, once even if the node sends a copy', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server);
    const peer = await connectVia(client, server);
    const sending = client.send({ id: 'c1', group: 'g1', text: 'to the group' });
    await peer.next('send');
    expect(seen.messages).toEqual([]);
    peer.send({ type: 'sent', id: 'c1', messageId: '9', conversation: 'g:g1', ts: 5 });
    await sending;
    const own = {
      messageId: '9',
      conversation: 'g:g1',
      from: 'u1',
      group: 'g1',
      text: 'to the group',
      ts: 5,
    };
    expect(seen.messages).toEqual([own]);
    // A node that still sends the sending device its copy: the app hears of it once.
    peer.send({ type: 'message', ...own });
    peer.send({ type: 'message', ...message('after') });
    await until(() => seen.messages.length === 2, 'the next message');
    expect(seen.messages.map((m) => m.text)).toEqual(['to the group', 'after']);
  });

  it('writes an unanswered send again after a rate_limited error that names no frame', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server, { rateLimitPauseMs: 30 });
    const peer = await connectVia(client, server);
    const sending = client.send({ id: 'c1', to: 'u2', text: 'hi' });
    await peer.next('send');
    peer.send({ type: 'error', code: 'rate_limited', message: 'slow down' });
    const again = await peer.next('send');
    expect(again.id).toBe('c1');
    peer.send({ type: 'sent', id: 'c1', messageId: '9', conversation: 'dm:u1:u2', ts: 1 });
    await expect(sending).resolves.toMatchObject({ messageId: '9' });
    expect(seen.errors.map((e) => e.code)).toEqual(['rate_limited']);
  });

  it('obeys a reconnect frame: stays until afterMs, then moves to the url it names and syncs', async () => {
    const [from, to] = [await startServer(), await startServer()];
    const { client, seen } = clientOf(from);
    const peer = await connectVia(client, from);
    peer.send({ type: 'reconnect', url: to.baseUrl, reason: 'rebalance', afterMs: 150 });

    await pause(50);
    expect(peer.closed).toBeUndefined();
    expect(to.upgrades).toBe(0);

    const moved = await to.nextPeer();
    expect((await peer.waitClosed()).code).toBe(1000);
    moved.welcome();
    await moved.next('sync');
    expect(seen.reconnects).toBe(1);
    expect(from.peers).toHaveLength(1);
  });

  it('obeys a reconnect frame without url by asking discovery where to go', async () => {
    const to = await startServer();
    let target: string | undefined;
    const from = await startServer({ discoveryUrl: () => target ?? from.baseUrl });
    const { client } = clientOf(from, { discover: true });
    const peer = await connectVia(client, from);
    target = to.baseUrl;
    peer.send({ type: 'reconnect', reason: 'drain', afterMs: 0 });

    const moved = await to.nextPeer();
    moved.welcome();
    await until(() => client.state === 'open', 'the client to open');
    expect(from.discoveries).toBe(2);
  });

  it('pings every heartbeatMs and reconnects once the server is silent for 3 heartbeats', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server);
    const first = await connectVia(client, server, 40);
    await first.next('ping');
    const second = await server.nextPeer(1000);
    expect(seen.disconnected[0]).toMatchObject({ code: 1006, willReconnect: true });
    expect(second).not.toBe(first);
  });

  it('keeps a connection whose pings are answered', async () => {
    const server = await startServer();
    const { client } = clientOf(server);
    const peer = await connectVia(client, server, 30);
    const answering = setInterval(() => {
      for (const f of peer.received.splice(0)) if (f.type === 'ping') peer.send({ type: 'pong' });
    }, 5);
    try {
      await pause(250);
    } finally {
      clearInterval(answering);
    }
    expect(server.peers).toHaveLength(1);
    expect(client.state).toBe('open');
  });

  it('subscribes to presence again, and sends read cursors made offline, after a reconnect', async () => {
    const server = await startServer();
    const { client } = clientOf(server);
    client.subscribePresence(['u2', 'u3']);
    const first = await connectVia(client, server);
    expect(await first.next('presence.subscribe')).toMatchObject({ users: ['u2', 'u3'] });

    first.terminate();
    await until(() => client.state !== 'open', 'the client to notice');
    client.read('dm:u1:u2', '5');
    client.read('dm:u1:u2', '7');
    const second = await server.nextPeer();
    second.welcome();
    expect(await second.next('presence.subscribe')).toMatchObject({ users: ['u2', 'u3'] });
    expect(await second.next('read')).toEqual({ type: 'read', conversation: 'dm:u1:u2', upTo: '7' });
  });

  it('gives up for good when the node refuses the token during the handshake', async () => {
    const server = await startServer({ refuseWith: 401 });
    const { client } = clientOf(server);
    await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.state).toBe('closed');
    await pause(60);
    expect(server.upgrades).toBe(1);
  });

  it('retries with backoff while the node refuses connections otherwise', async () => {
    const server = await startServer({ refuseWith: 503 });
    const { client, seen } = clientOf(server);
    const connecting = client.connect();
    await until(() => server.upgrades >= 3, 'three attempts');
    expect(seen.errors.every((e) => e.code === 'network')).toBe(true);
    client.close();
    await expect(connecting).rejects.toMatchObject({ code: 'closed' });
  });

  it('rejects connect() after one failure when autoReconnect is off', async () => {
    const server = await startServer({ refuseWith: 503 });
    const { client } = clientOf(server, { autoReconnect: false });
    await expect(client.connect()).rejects.toMatchObject({ code: 'network' });
    expect(client.state).toBe('idle');
  });

  it('closes for good on close(): waiting sends reject with closed and nothing reconnects', async () => {
    const server = await startServer();
    const { client, seen } = clientOf(server);
    const peer = await connectVia(client, server);
    const sending = client.send({ to: 'u2', text: 'never answered' });
    await peer.next('send');
    client.close();
    await expect(sending).rejects.toMatchObject({ code: 'closed' });
    expect((await peer.waitClosed()).code).toBe(1000);
    await pause(60);
    expect(server.upgrades).toBe(1);
    expect(seen.disconnected).toEqual([{ code: 1000, reason: 'client closed', willReconnect: false }]);
    await expect(client.send({ to: 'u2', text: 'late' })).rejects.toMatchObject({ code: 'closed' });
  });
});
