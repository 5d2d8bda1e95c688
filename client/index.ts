/**
 * The client SDK of the chat platform: `ChatApi` for the HTTP API, `ChatClient` for the live
 * connection. Everything else in this folder is internal.
 */

export type { ErrorCode } from '../common/errors.ts';
export type {
  ClientId,
  GroupEventFrame,
  Message,
  PresenceInfo,
  PresenceStatus,
  ReadEventFrame,
  ReceiptFrame,
  ReconnectFrame,
  SentFrame,
  TypingEventFrame,
  Update,
  UpdatedFrame,
  WelcomeFrame,
} from '../common/protocol.ts';
export type { Contact, Conversation, GroupSummary, Profile, Receipt } from '../common/resources.ts';
export { Backoff, type BackoffOptions } from './backoff.ts';
export { ChatClient } from './chat-client.ts';
export type { ChatClientEvents, ClientState } from './client-events.ts';
export type { ChatClientOptions } from './client-options.ts';
export { ChatApiError, ChatClientError, type ClientErrorCode } from './errors.ts';
export {
  type ChangedMessage,
  ChatApi,
  type ChatApiOptions,
  type ConversationsOptions,
  type GroupInfo,
  type HistoryOptions,
  type NodeAddress,
  type PostedMessage,
  type PushProviderName,
  type PushSettings,
  type PushSubscriptionJson,
  type Session,
} from './http-api.ts';
export type { MessageTarget, OutgoingMessage } from './outgoing-message.ts';
export type { SocketLike, WebSocketConstructor } from './socket.ts';
