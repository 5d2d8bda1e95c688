/** Message id arithmetic: parsing wire ids, and the id a sync resumes from. */
import { MESSAGE_ID } from '../common/ids.ts';
import { EPOCH_MS, snowflakeTime } from '../common/snowflake.ts';

const MAX_ID = 0xffff_ffff_ffff_ffffn;
/** Bits below the timestamp in a Snowflake id (10-bit node, 12-bit sequence). */
const TIME_SHIFT = 22n;

/**
 * The id as a bigint, or undefined for anything that is not a wire message id. (`parseMessageId` of
 * common/ids.ts throws instead: right for a server refusing a frame, not for a client reading one.)
 */
export function parseId(value: unknown): bigint | undefined {
  if (typeof value !== 'string' || !MESSAGE_ID.test(value)) return undefined;
  const id = BigInt(value);
  return id <= MAX_ID ? id : undefined;
}

/**
 * The `since` of the first sync after a (re)connect: the smallest id whose timestamp is `overlapMs`
 * before `maxId`'s, minus one so that messages of that very millisecond are included.
 *
 * Ids of different nodes are not delivered in id order: a message with a smaller id may arrive after
 * `maxId`. Syncing from `maxId` itself would skip it; the overlap catches it, and the dedupe absorbs
 * the repeats. With `overlapMs` 0 the answer is `maxId` itself, the protocol's plain rule.
 */
export function syncSince(maxId: bigint, overlapMs: number): bigint {
  if (overlapMs <= 0 || maxId === 0n) return maxId;
  const ms = snowflakeTime(maxId) - Math.ceil(overlapMs) - EPOCH_MS;
  if (ms <= 0) return 0n;
  return (BigInt(ms) << TIME_SHIFT) - 1n;
}
