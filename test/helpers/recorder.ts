/** ChatClients that record what the app sees, for cluster tests (and `until`, re-exported). */
export { until } from './until.ts';

import { ChatClient, type ChatClientOptions, type Message, type PresenceInfo } from '../../client/index.ts';

export interface Recorder {
  client: ChatClient;
  /** Every message the app saw (the SDK de-duplicates by messageId). */
  seen: Message[];
  presence: PresenceInfo[];
  /** Socket URLs the client connected to, in order. */
  connectedTo: string[];
}

/** A ChatClient with fast reconnects that records messages, presence and where it connected. */
export function recorder(baseUrl: string, token: string, more: Partial<ChatClientOptions> = {}): Recorder {
  const client = new ChatClient({ baseUrl, token, backoff: { initialMs: 100, maxMs: 1000 }, ...more });
  const r: Recorder = { client, seen: [], presence: [], connectedTo: [] };
  client.on('message', (m) => r.seen.push(m));
  client.on('presence', (p) => r.presence.push(p));
  client.on('connected', ({ url }) => r.connectedTo.push(url));
  return r;
}

/** The ids of `seen` from one sender, checked to hold no duplicate. */
export function idsFrom(seen: readonly Message[], from: string): Set<string> {
  const ids = seen.filter((m) => m.from === from).map((m) => m.messageId);
  const set = new Set(ids);
  if (set.size !== ids.length)
    throw new Error(`the app saw a message twice: ${ids.length - set.size} duplicates`);
  return set;
}
