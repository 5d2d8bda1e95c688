/**
 * Heavy requests (sync pages, presence snapshots) from every connection of the node, started one per
 * event-loop turn and round-robin by user: between two of them the node reads its sockets, so one
 * user's burst of heavy requests is served after other users' light ones, and a user with ten
 * connections gets one turn among users, not ten.
 */

type Start = () => void;

export class FairTurns {
  /** Waiting jobs by user, in the order users will be served (a served user moves to the back). */
  private readonly queues = new Map<string, Start[]>();
  private readonly maxRunning: number;
  private running = 0;
  private scheduled = false;

  /** `maxRunning`: heavy requests in progress at once (awaiting their store reads). */
  constructor(maxRunning: number) {
    this.maxRunning = maxRunning;
  }

  /** Runs `job` in its user's turn; resolves or rejects with it. */
  run<T>(key: string, job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        job()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.schedule();
          });
      };
      const q = this.queues.get(key);
      if (q) q.push(start);
      else this.queues.set(key, [start]);
      this.schedule();
    });
  }

  /** Jobs waiting for their turn. */
  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  private schedule(): void {
    if (this.scheduled || this.queues.size === 0 || this.running >= this.maxRunning) return;
    this.scheduled = true;
    // setImmediate runs after the poll phase: the sockets' input of this turn is handled first.
    setImmediate(() => {
      this.scheduled = false;
      const next = this.queues.entries().next();
      if (next.done || this.running >= this.maxRunning) return;
      const [key, q] = next.value;
      this.queues.delete(key);
      const start = q.shift()!;
      if (q.length > 0) this.queues.set(key, q);
      start();
      this.schedule();
    });
  }
}
