/**
 * Answers on a raw socket, for the moments before there is an HTTP response object or a WebSocket:
 * a refused upgrade, a request Node's parser rejected.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** Ends the socket with `status`, a JSON `{error: {code, message}}` body when given, and `Connection: close`. */
export function refuseHandshake(
  socket: Duplex,
  status: number,
  error?: { code: string; message: string },
): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = error ? JSON.stringify({ error }) : '';
  const type = error ? 'Content-Type: application/json\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${type}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
