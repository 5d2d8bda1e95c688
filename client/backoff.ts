/** Reconnect delays: exponential growth with full jitter, so that clients dropped together spread out. */

export interface BackoffOptions {
  /** Cap of the first delay, in ms. Default 250. */
  initialMs?: number;
  /** Largest cap any delay may reach, in ms. Default 10000. */
  maxMs?: number;
  /** Growth of the cap per failed attempt. Default 2. */
  factor?: number;
}

/**
 * Full jitter (each delay uniform in [0, cap], cap = min(maxMs, initialMs × factor^attempt)): a crowd
 * of clients that lost the same node does not come back in one wave.
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  private readonly random: () => number;
  private attempt = 0;

  /** `random` returns a number in [0, 1); tests pass a fixed one. Default `Math.random`. */
  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.initialMs = positive(options.initialMs, 250, 'initialMs');
    this.maxMs = Math.max(this.initialMs, positive(options.maxMs, 10_000, 'maxMs'));
    this.factor = Math.max(1, positive(options.factor, 2, 'factor'));
    this.random = random;
  }

  /** The cap of the next delay, without consuming an attempt. */
  get cap(): number {
    // Stop growing once the cap is reached so that the exponent never overflows to Infinity.
    return Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
  }

  /** The delay before the next attempt, in ms; each call grows the cap until `maxMs`. */
  next(): number {
    const cap = this.cap;
    if (cap < this.maxMs) this.attempt++;
    return Math.floor(this.random() * cap);
  }

  /** Back to the first delay, after a connection that worked. */
  reset(): void {
    this.attempt = 0;
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`backoff.${name} must be a positive number`);
  return value;
}
