/** When the next connection attempt starts: after a backoff delay, or when a `reconnect` frame says. */
import type { Backoff } from './backoff.ts';

/** The longest `afterMs` of a `reconnect` frame that is obeyed as is; longer ones wait this long. */
export const MAX_SERVER_DELAY_MS = 600_000;

/** One timer at most: a move replaces a pending retry, and `cancel` leaves nothing behind. */
export class ReconnectTimer {
  private readonly backoff: Backoff;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private movingNow = false;

  constructor(backoff: Backoff) {
    this.backoff = backoff;
  }

  /** A server-asked move is waiting for its time. */
  get moving(): boolean {
    return this.movingNow;
  }

  /** Something failed: `attempt` runs after the next backoff delay (full jitter, growing). */
  retry(attempt: () => void): void {
    this.arm(this.backoff.next(), false, attempt);
  }

  /** The server asked to move: `attempt` runs after `afterMs`, clamped to 0..MAX_SERVER_DELAY_MS. */
  move(afterMs: unknown, attempt: () => void): void {
    const after = typeof afterMs === 'number' && afterMs > 0 ? Math.min(afterMs, MAX_SERVER_DELAY_MS) : 0;
    this.arm(after, true, attempt);
  }

  /** A connection worked: the next failure starts from the smallest delay again. */
  succeeded(): void {
    this.backoff.reset();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.movingNow = false;
  }

  private arm(delayMs: number, moving: boolean, attempt: () => void): void {
    this.cancel();
    this.movingNow = moving;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.movingNow = false;
      attempt();
    }, delayMs);
  }
}
