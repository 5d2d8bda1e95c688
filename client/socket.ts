/**
 * The WebSocket the client needs: the WHATWG shape that both `ws` (Node) and browsers implement, a
 * URL rule for the node's socket, and the default constructor.
 */

/** The subset of a WHATWG WebSocket the client uses. Handlers take `never` so any socket's event types fit. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drops the connection without the closing handshake. */
  terminate?(): void;
}

/**
 * A WebSocket constructor: `ws`'s takes `{ headers }` for the Authorization header; a browser's ignores
 * it, so the client gets a one-use ticket for it instead (the `tickets` option).
 */
export type WebSocketConstructor = new (
  url: string,
  options?: { headers?: Record<string, string> },
) => SocketLike;

export const CONNECTING = 0;
export const OPEN = 1;

/**
 * The socket URL of a node: `url` as discovery or a `reconnect` frame gives it (an http/https base),
 * turned into ws/wss with `/v1/ws` appended. A ws/wss URL is taken as it is when it already ends in
 * `/v1/ws`, and gets the path otherwise.
 */
export function socketUrl(url: string, token?: string, param: 'token' | 'ticket' = 'token'): string {
  const u = new URL(url);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new TypeError(`not an http, https, ws or wss URL: ${url}`);
  }
  if (!u.pathname.endsWith('/v1/ws')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/ws`;
  if (token !== undefined) u.searchParams.set(param, token);
  return u.toString();
}

/**
 * True in a browser (or a worker): a global WebSocket and no Node.js. Node 22+ has a global
 * WebSocket too, but the client keeps `ws` there, for the Authorization header.
 */
export function inBrowser(): boolean {
  const g = globalThis as { WebSocket?: unknown; process?: { versions?: { node?: unknown } } };
  return typeof g.WebSocket === 'function' && typeof g.process?.versions?.node !== 'string';
}

/**
 * The browser's own WebSocket in a browser; else `ws`, loaded on first use (a caller that injects
 * its own WebSocket never needs it, and a bundle for the browser leaves it out).
 */
export async function defaultWebSocket(): Promise<WebSocketConstructor> {
  if (inBrowser()) return (globalThis as unknown as { WebSocket: WebSocketConstructor }).WebSocket;
  const ws = await import('ws');
  return ws.default as unknown as WebSocketConstructor;
}

/** The HTTP status of a refused handshake, when the socket's error names it (as `ws` does). */
export function handshakeStatus(error: unknown): number | undefined {
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  const m = /Unexpected server response: (\d{3})/.exec(message);
  return m ? Number(m[1]) : undefined;
}
