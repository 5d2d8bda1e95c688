/** Opens the socket to a node: where (discovery, a `reconnect` frame's url, or the base URL) and how (token). */
import type { ChatApi } from './http-api.ts';
import { defaultWebSocket, type SocketLike, socketUrl, type WebSocketConstructor } from './socket.ts';

export interface DialOptions {
  /** A node's URL to go to, from a `reconnect` frame; else discovery or `baseUrl` decides. */
  url: string | undefined;
  discover: boolean;
  baseUrl: string;
  token: string;
  tokenInQuery: boolean;
  WebSocket: WebSocketConstructor | undefined;
  /** Asked after the awaits: true when the caller no longer wants this socket. */
  abandoned(): boolean;
}

/**
 * A socket on its way to open, and its URL without the token (safe to log and to show); undefined
 * when abandoned meanwhile, before any socket exists (closing one mid-handshake makes `ws` report an error).
 */
export async function dial(
  api: ChatApi,
  o: DialOptions,
): Promise<{ socket: SocketLike; url: string } | undefined> {
  const base = o.url ?? (o.discover ? (await api.discovery()).url : o.baseUrl);
  const WebSocket = o.WebSocket ?? (await defaultWebSocket());
  if (o.abandoned()) return undefined;
  const url = socketUrl(base);
  const socket = o.tokenInQuery
    ? new WebSocket(socketUrl(base, o.token))
    : new WebSocket(url, { headers: { authorization: `Bearer ${o.token}` } });
  return { socket, url };
}
