/**
 * The client SDK of the chat platform: `ChatApi` for the HTTP API, `ChatClient` for the live
 * connection. Everything else in this folder is internal.
 */

export type { ErrorCode } from '../common/errors.ts';
export type {
  ClientId,
  Message,
  PresenceInfo,
  PresenceStatus,
  ReadEventFrame,
  ReconnectFrame,
  SentFrame,
  WelcomeFrame,
} from '../common/protocol.ts';
export { Backoff, type BackoffOptions } from './backoff.ts';
export { ChatClient } from './chat-client.ts';
export type { ChatClientEvents, ClientState } from './client-events.ts';
export type { ChatClientOptions } from './client-options.ts';
export { ChatApiError, ChatClientError, type ClientErrorCode } from './errors.ts';
export {
  ChatApi,
  type ChatApiOptions,
  type GroupInfo,
  type HistoryOptions,
  type NodeAddress,
  type PostedMessage,
  type Session,
} from './http-api.ts';
export type { MessageTarget, OutgoingMessage } from './outgoing-message.ts';
export type { SocketLike, WebSocketConstructor } from './socket.ts';
