/**
 * One `sync` page of messages and changes together: both ordered by id, within one limit and one
 * frame. A client syncs next from the highest id it saw, message or update, so the page must not
 * skip ids: past the last item of a source that was cut short, the other source's items wait for
 * the next page.
 */
import type { Message, Update } from '../../common/protocol.ts';
import { wireBytes } from '../backends/page.ts';
import { updateBytes } from '../backends/update-page.ts';

export interface SyncPage {
  messages: Message[];
  updates: Update[];
  more: boolean;
}

type Item = { id: bigint; bytes: number; message?: Message; update?: Update };

export function mergeSync(
  m: { messages: Message[]; more: boolean },
  u: { updates: Update[]; more: boolean },
  limit: number,
  maxBytes: number,
): SyncPage {
  let bound: bigint | undefined;
  const lower = (id: bigint) => {
    if (bound === undefined || id < bound) bound = id;
  };
  if (m.more && m.messages.length > 0) lower(BigInt(m.messages.at(-1)!.messageId));
  if (u.more && u.updates.length > 0) lower(BigInt(u.updates.at(-1)!.updateId));
  const items: Item[] = [
    ...m.messages.map((message) => ({ id: BigInt(message.messageId), bytes: wireBytes(message), message })),
    ...u.updates.map((update) => ({ id: BigInt(update.updateId), bytes: updateBytes(update), update })),
  ].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out: SyncPage = { messages: [], updates: [], more: m.more || u.more };
  let bytes = 0;
  let taken = 0;
  for (const item of items) {
    const over = taken >= limit || (taken > 0 && bytes + item.bytes > maxBytes);
    if ((bound !== undefined && item.id > bound) || over) {
      out.more = true;
      break;
    }
    taken++;
    bytes += item.bytes;
    if (item.message) out.messages.push(item.message);
    else if (item.update) out.updates.push(item.update);
  }
  return out;
}
