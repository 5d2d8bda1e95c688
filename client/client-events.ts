/** What ChatClient reports, and the states it goes through (see the diagram in chat-client.ts). */
import type {
  GroupEventFrame,
  Message,
  PresenceInfo,
  ReadEventFrame,
  ReceiptFrame,
  ReconnectFrame,
  TypingEventFrame,
  Update,
  WelcomeFrame,
} from '../common/protocol.ts';
import type { ChatClientError } from './errors.ts';

export type ClientState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

/** The events of ChatClient and what each carries. */
export interface ChatClientEvents {
  /** A node accepted the connection (after every reconnect too). */
  welcome: WelcomeFrame;
  /** A message, live or synced, once per messageId (within the dedupe's memory); this device's own sends too, when their `sent` arrives. */
  message: Message;
  /** A read cursor of the user moved on one of its devices. */
  read: ReadEventFrame;
  /** v1.1: an edit or delete of a message, live or synced, once per updateId (like messages). */
  update: Update;
  /** v1.1: another participant's read position moved forward. */
  receipt: ReceiptFrame;
  /** v1.1: another participant is typing (show it until `untilMs` or its next message). */
  typing: TypingEventFrame;
  /** v1.1: a group the user is in changed (after a reconnect, read `ChatApi.groups()`). */
  group: GroupEventFrame;
  /** A subscribed user's presence, right after subscribing and at every change. */
  presence: PresenceInfo;
  /** The node asked the client to move; the client does so by itself. */
  reconnect: ReconnectFrame;
  /** A socket opened (the handshake was accepted); `url` is the node's socket URL, without any token. */
  connected: { url: string };
  /** A socket that had opened is gone; `willReconnect` tells whether the client comes back by itself. */
  disconnected: { code: number; reason: string; willReconnect: boolean };
  /** The token was refreshed: this one is in use now, until `expiresAt` (keep it for the next start). */
  token: { token: string; expiresAt: number };
  /** The sync after a connection reached the end; `messages` counts the new messages and changes. */
  synced: { maxMessageId: string; messages: number };
  /**
   * Something went wrong that no returned promise reports: an `error` frame tied to no pending send, a
   * failed connection attempt (code `network`, or discovery's HTTP code), a protocol violation.
   */
  error: ChatClientError;
}
