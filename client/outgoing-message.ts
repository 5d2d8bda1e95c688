/** What a client sends: a text to one user or to one group, with an optional id of its own. */
import type { ClientId, SendFrame } from '../common/protocol.ts';
import { ChatClientError } from './errors.ts';

/** Exactly one of `to` (a user id) or `group` (a group id). */
export type MessageTarget = { to: string; group?: undefined } | { group: string; to?: undefined };

/** A message to send; `id` is the client's own (unique per device), echoed in the answer. */
export type OutgoingMessage = MessageTarget & { id?: ClientId; text: string };

/**
 * The `send` frame for `message`, with `id` as given. Throws `bad_request` when both or neither of
 * `to` and `group` are set, which the server would refuse anyway, and a typed caller cannot express.
 */
export function sendFrame(message: OutgoingMessage, id: ClientId): SendFrame & { id: ClientId } {
  const { to, group, text } = message;
  if ((to === undefined) === (group === undefined)) {
    throw new ChatClientError('bad_request', 'exactly one of "to" or "group" is required');
  }
  return to === undefined ? { type: 'send', id, group, text } : { type: 'send', id, to, text };
}
