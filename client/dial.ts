/**
 * Opens the socket to a node: where (discovery, a `reconnect` frame's url, or the base URL) and how
 * (the token in the Authorization header, a one-use ticket in the URL, or the token in the URL).
 */
import type { ChatApi } from './http-api.ts';
import { defaultWebSocket, type SocketLike, socketUrl, type WebSocketConstructor } from './socket.ts';

export interface DialOptions {
  /** A node's URL to go to, from a `reconnect` frame; else discovery or `baseUrl` decides. */
  url: string | undefined;
  discover: boolean;
  baseUrl: string;
  token: string;
  /** Ask `POST /v1/ws-tickets` for a ticket before each socket and put it in the URL (browsers). */
  tickets: boolean;
  tokenInQuery: boolean;
  WebSocket: WebSocketConstructor | undefined;
  /** Asked after the awaits: true when the caller no longer wants this socket. */
  abandoned(): boolean;
}

/**
 * A socket on its way to open, and its URL without the token or ticket (safe to log and to show);
 * undefined when abandoned meanwhile, before any socket exists (closing one mid-handshake makes `ws`
 * report an error).
 */
export async function dial(
  api: ChatApi,
  o: DialOptions,
): Promise<{ socket: SocketLike; url: string } | undefined> {
  const base = o.url ?? (o.discover ? (await api.discovery()).url : o.baseUrl);
  // Any node takes a ticket any node issued (they share it), so the API's node issues it.
  const ticket = o.tickets ? (await api.wsTicket()).ticket : undefined;
  const WebSocket = o.WebSocket ?? (await defaultWebSocket());
  if (o.abandoned()) return undefined;
  const url = socketUrl(base);
  let socket: SocketLike;
  if (ticket !== undefined) socket = new WebSocket(socketUrl(base, ticket, 'ticket'));
  else if (o.tokenInQuery) socket = new WebSocket(socketUrl(base, o.token));
  else socket = new WebSocket(url, { headers: { authorization: `Bearer ${o.token}` } });
  return { socket, url };
}
