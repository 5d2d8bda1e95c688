/**
 * What a node holds for HTTP answers that clients have not read yet (message pages, up to a frame
 * each): one such answer per connection at a time (a pipelining client waits for its earlier one),
 * a few per user, and a total in bytes. Past the total, requests answer 503 before reading anything;
 * an answer is released when it has been written out or its connection is gone.
 */
import type { Socket } from 'node:net';
import { ChatError } from '../../common/errors.ts';

/** Large answers one user may have in progress or unread at once, over all its connections. */
export const MAX_ANSWERS_PER_USER = 4;
/** Large requests that may wait behind the one in progress on one connection. */
const MAX_WAITING_PER_SOCKET = 4;

export type Release = () => void;

export class AnswerBudget {
  private readonly totalBytes: number;
  private held = 0;
  private readonly perUser = new Map<string, number>();
  /** The last answer admitted on a socket, and how many wait behind it. */
  private readonly sockets = new WeakMap<Socket, { last: Promise<void>; waiting: number }>();

  private readonly onChange: (heldBytes: number) => void;

  /** `onChange` is told the bytes held after every change (a gauge). */
  constructor(totalBytes: number, onChange: (heldBytes: number) => void = () => {}) {
    this.totalBytes = totalBytes;
    this.onChange = onChange;
  }

  /** Bytes reserved for answers now. */
  get heldBytes(): number {
    return this.held;
  }

  /**
   * Waits for the socket's earlier large answer, then reserves `bytes` for this one. Throws
   * `rate_limited` past the per-user or per-socket bound, `unavailable` past the total.
   */
  async admit(socket: Socket, userId: string, bytes: number): Promise<Release> {
    const users = this.perUser.get(userId) ?? 0;
    if (users >= MAX_ANSWERS_PER_USER) {
      throw new ChatError(
        'rate_limited',
        'too many large answers in progress for this user; read them first',
      );
    }
    const s = this.sockets.get(socket) ?? { last: Promise.resolve(), waiting: 0 };
    if (s.waiting >= MAX_WAITING_PER_SOCKET) {
      throw new ChatError(
        'rate_limited',
        'too many requests waiting on this connection; read the answers first',
      );
    }
    this.perUser.set(userId, users + 1);
    let done!: () => void;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const before = s.last;
    s.last = finished;
    s.waiting++;
    this.sockets.set(socket, s);
    let reserved = 0;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.held -= reserved;
      this.onChange(this.held);
      const n = (this.perUser.get(userId) ?? 1) - 1;
      if (n <= 0) this.perUser.delete(userId);
      else this.perUser.set(userId, n);
      done();
    };
    await before;
    s.waiting--;
    if (socket.destroyed) {
      release();
      throw new ChatError('unavailable', 'the connection is gone');
    }
    if (this.held + bytes > this.totalBytes) {
      release();
      throw new ChatError('unavailable', 'this node holds too many unread answers; try again shortly', {
        status: 503,
      });
    }
    reserved = bytes;
    this.held += bytes;
    this.onChange(this.held);
    return release;
  }
}
