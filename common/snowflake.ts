/**
 * Snowflake ids: 41-bit milliseconds since EPOCH_MS, 10-bit node id, 12-bit sequence.
 *
 * Ids from one generator are strictly increasing, even with more than 4096 ids in one millisecond
 * (the generator borrows the next millisecond) or with a clock that steps back (it keeps counting from
 * the last millisecond it used). Pass the highest id issued before a restart as `floor` to keep that
 * promise across restarts.
 */
export const EPOCH_MS = 1_704_067_200_000; // 2024-01-01T00:00:00Z
export const MAX_NODE_ID = 1023;
const SEQUENCE_BITS = 12n;
const NODE_BITS = 10n;
const MAX_SEQUENCE = 4095;

export interface SnowflakeOptions {
  /** Milliseconds since the Unix epoch; injected by tests. Default `Date.now`. */
  clock?: () => number;
  /** Every id issued will be greater than this one. Default 0. */
  floor?: bigint;
  /** Called before each id; throws when the node may not mint now (its node id is not confirmed). */
  guard?: () => void;
  /**
   * One of `count` generators under the same node id (the node's event loops): this one takes the
   * sequence numbers `index`, `index + count`, … of each millisecond, so no two of them mint one id.
   */
  lane?: { index: number; count: number };
}

export class Snowflake {
  readonly nodeId: number;
  private readonly clock: () => number;
  private lastMs: number;
  private sequence: number;
  private readonly guard: (() => void) | undefined;
  private readonly first: number;
  private readonly step: number;

  constructor(nodeId: number, options: SnowflakeOptions = {}) {
    if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > MAX_NODE_ID) {
      throw new RangeError(`Snowflake node id must be an integer from 0 to ${MAX_NODE_ID}, got ${nodeId}`);
    }
    this.nodeId = nodeId;
    this.clock = options.clock ?? Date.now;
    this.guard = options.guard;
    const lane = options.lane ?? { index: 0, count: 1 };
    if (!Number.isInteger(lane.count) || lane.count < 1 || lane.count > MAX_SEQUENCE + 1)
      throw new RangeError(`Snowflake lane count must be an integer from 1 to ${MAX_SEQUENCE + 1}`);
    if (!Number.isInteger(lane.index) || lane.index < 0 || lane.index >= lane.count)
      throw new RangeError(`Snowflake lane index must be an integer from 0 to ${lane.count - 1}`);
    this.first = lane.index;
    this.step = lane.count;
    const floor = options.floor ?? 0n;
    // Start at the floor's millisecond with a full sequence: the first id moves to the next millisecond
    // (or later), so it is greater than the floor whichever node issued it.
    this.lastMs = floor > 0n ? Number(floor >> (SEQUENCE_BITS + NODE_BITS)) : -1;
    this.sequence = MAX_SEQUENCE;
  }

  next(): bigint {
    this.guard?.();
    const now = this.clock() - EPOCH_MS;
    if (now > this.lastMs) {
      this.lastMs = now;
      this.sequence = this.first;
    } else if (this.sequence + this.step <= MAX_SEQUENCE) {
      this.sequence += this.step;
    } else {
      this.lastMs++;
      this.sequence = this.first;
    }
    return (
      (BigInt(this.lastMs) << (SEQUENCE_BITS + NODE_BITS)) |
      (BigInt(this.nodeId) << SEQUENCE_BITS) |
      BigInt(this.sequence)
    );
  }
}

/** The creation time (ms since the Unix epoch) inside a Snowflake id. */
export function snowflakeTime(id: bigint): number {
  return Number(id >> (SEQUENCE_BITS + NODE_BITS)) + EPOCH_MS;
}

/** The node id inside a Snowflake id. */
export function snowflakeNode(id: bigint): number {
  return Number((id >> SEQUENCE_BITS) & 0x3ffn);
}
