/**
 * A scripted chat node for client tests: a real HTTP server on 127.0.0.1, port 0, with `/v1/ws` (a
 * real `ws` server) and `/v1/discovery`. The test plays the node: it waits for the client's frames and
 * answers them by hand. `close()` ends every connection and the server.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ServerFrame, WelcomeFrame } from '../../common/protocol.ts';

export type Frame = Record<string, any> & { type: string };

/** Resolves once `check()` holds, polling; fails with `what` after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One client connection as the node sees it. */
export class Peer {
  readonly ws: WebSocket;
  readonly request: IncomingMessage;
  /** Every frame received, in order. */
  readonly received: Frame[] = [];
  private unread: Frame[] = [];
  closed: { code: number; reason: string } | undefined;

  constructor(ws: WebSocket, request: IncomingMessage) {
    this.ws = ws;
    this.request = request;
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.received.push(frame);
      this.unread.push(frame);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on('error', () => {});
  }

  send(frame: ServerFrame | Frame): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends `welcome`; `heartbeatMs` defaults to a minute so that no ping gets in a test's way. */
  welcome(overrides: Partial<WelcomeFrame> = {}): void {
    this.send({
      type: 'welcome',
      userId: 'u1',
      deviceId: 'd1',
      nodeId: 1,
      heartbeatMs: 60_000,
      ...overrides,
    });
  }

  /** The next unread frame of `type` (others stay unread). */
  async next(type: string, timeoutMs = 3000): Promise<Frame> {
    let found: Frame | undefined;
    await until(
      () => {
        const i = this.unread.findIndex((f) => f.type === type);
        if (i < 0) return false;
        found = this.unread.splice(i, 1)[0];
        return true;
      },
      `a ${type} frame (got ${JSON.stringify(this.unread.map((f) => f.type))})`,
      timeoutMs,
    );
    return found!;
  }

  async waitClosed(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    await until(() => this.closed !== undefined, 'the client to close', timeoutMs);
    return this.closed!;
  }

  /** Drops the TCP connection without a closing handshake. */
  terminate(): void {
    this.ws.terminate();
  }
}

export interface ScriptedServerOptions {
  /** Answer every upgrade with this HTTP status instead of accepting it. */
  refuseWith?: number;
  /** The `url` `/v1/discovery` answers. Default this server's own base URL. */
  discoveryUrl?: () => string;
}

export class ScriptedServer {
  readonly baseUrl: string;
  /** Every accepted connection, oldest first. */
  readonly peers: Peer[] = [];
  /** How many times `/v1/discovery` was asked. */
  discoveries = 0;
  /** How many WebSocket handshakes were tried, refused ones included. */
  upgrades = 0;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private taken = 0;

  private constructor(http: Server, wss: WebSocketServer, baseUrl: string) {
    this.http = http;
    this.wss = wss;
    this.baseUrl = baseUrl;
  }

  static async start(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
    const wss = new WebSocketServer({ noServer: true });
    const http = createServer((req, res) => {
      if (req.url === '/v1/discovery') {
        server.discoveries++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ nodeId: 1, url: options.discoveryUrl?.() ?? server.baseUrl }));
        return;
      }
      res.writeHead(404).end();
    });
    http.on('upgrade', (req, socket, head) => {
      server.upgrades++;
      if (options.refuseWith !== undefined) {
        socket.end(
          `HTTP/1.1 ${options.refuseWith} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
        );
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => server.peers.push(new Peer(ws, req)));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    const server = new ScriptedServer(http, wss, `http://127.0.0.1:${port}`);
    return server;
  }

  /** The next connection not yet taken by a test, waiting for it if need be. */
  async nextPeer(timeoutMs = 3000): Promise<Peer> {
    await until(() => this.peers.length > this.taken, 'the client to connect', timeoutMs);
    return this.peers[this.taken++]!;
  }

  async close(): Promise<void> {
    for (const peer of this.peers) peer.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
