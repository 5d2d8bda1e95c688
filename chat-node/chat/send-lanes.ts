/**
 * One lane per device: its sends are handed to the bus in the order they arrived, whatever order
 * their lookups (dedup, recipient, group) finish in. A send takes its turn at arrival; `turn`
 * resolves once every earlier send of the lane has been handed over or has failed; `leave` hands
 * the turn on (idempotent, so a failure path can call it again).
 *
 *   arrive ──enter()──▶ waits for `turn` ──publish issued──▶ leave() ──▶ the next send's turn
 */
export interface LaneTurn {
  /** Resolves when every earlier send of the lane has left. */
  readonly turn: Promise<void>;
  leave(): void;
}

export class Lanes {
  /** Each lane's last turn: the next send waits for it. */
  private readonly tails = new Map<string, Promise<void>>();

  get size(): number {
    return this.tails.size;
  }

  enter(key: string): LaneTurn {
    const turn = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.tails.set(key, mine);
    let left = false;
    return {
      turn,
      leave: () => {
        if (left) return;
        left = true;
        // A send that failed leaves before its turn came: the next one still waits for the earlier
        // ones, and the lane is forgotten only once all of them have left.
        void turn.then(() => {
          release();
          if (this.tails.get(key) === mine) this.tails.delete(key);
        });
      },
    };
  }
}
