/**
 * Calls between the node's main thread and its event-loop threads over one MessagePort each way.
 * Each side serves named objects; a call names the object and the method and gets the result (or
 * the error, a ChatError keeping its code). Everything posted in one event-loop turn leaves in one
 * message (structured clone: bigints, Maps and Sets cross as they are), so a burst of sends costs
 * one wake-up of the other thread, not one per call.
 */
import { ChatError, type ErrorCode } from '../../common/errors.ts';

/** What both ends of a worker thread's channel offer (MessagePort, Worker, parentPort). */
export interface Channel {
  postMessage(value: unknown): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
}

/** [0 call, id, object, method, args] | [1 result, id, value] | [2 error, id, error] | [3 notice, 0, object, method, args] */
type Packet =
  | [0, number, string, string, unknown[]]
  | [1, number, unknown]
  | [2, number, { message: string; code?: ErrorCode; status?: number }]
  | [3, 0, string, string, unknown[]];

// biome-ignore lint/suspicious/noExplicitAny: served objects are called by method name
type Served = Record<string, any>;

export class Rpc {
  private readonly channel: Channel;
  private readonly served = new Map<string, Served>();
  private readonly waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void }
  >();
  private nextId = 1;
  private outbox: Packet[] = [];
  private closed = false;

  constructor(channel: Channel) {
    this.channel = channel;
    channel.on('message', (batch) => {
      for (const p of batch as Packet[]) this.receive(p);
    });
  }

  /** Makes `target`'s methods callable from the other side as `name`. */
  serve(name: string, target: object): this {
    this.served.set(name, target as Served);
    return this;
  }

  call<T = unknown>(name: string, method: string, args: unknown[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new ChatError('unavailable', 'this node is stopping'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.post([0, id, name, method, args]);
    });
  }

  /** A call without an answer (events, fire-and-forget). */
  notify(name: string, method: string, args: unknown[] = []): void {
    if (!this.closed) this.post([3, 0, name, method, args]);
  }

  /** Fails every call still waiting and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.values()) w.reject(new ChatError('unavailable', 'this node is stopping'));
    this.waiting.clear();
  }

  private post(p: Packet): void {
    this.outbox.push(p);
    if (this.outbox.length === 1) setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length > 0) this.channel.postMessage(batch);
  };

  private receive(p: Packet): void {
    if (p[0] === 1 || p[0] === 2) {
      const w = this.waiting.get(p[1]);
      if (!w) return;
      this.waiting.delete(p[1]);
      if (p[0] === 1) w.resolve(p[2]);
      else {
        const e = p[2];
        w.reject(e.code ? new ChatError(e.code, e.message, { status: e.status }) : new Error(e.message));
      }
      return;
    }
    const [kind, id, name, method, args] = p;
    const target = this.served.get(name);
    const run = async () => {
      const fn = target?.[method];
      if (typeof fn !== 'function') throw new Error(`no method ${name}.${method} across threads`);
      return fn.apply(target, args);
    };
    const answered = run();
    if (kind === 3) {
      answered.catch(() => {});
      return;
    }
    answered.then(
      (value) => this.post([1, id, value]),
      (err: unknown) =>
        this.post([
          2,
          id,
          err instanceof ChatError
            ? { message: err.message, code: err.code, status: err.status }
            : { message: err instanceof Error ? err.message : String(err) },
        ]),
    );
  }
}

/** The names of an object's methods, its prototypes' included (what a proxy of it offers). */
export function methodNames(target: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = target; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key !== 'constructor' && typeof (target as Served)[key] === 'function') names.add(key);
    }
  }
  return [...names];
}

/** An object whose methods `names` call `name` on the other side; `local` methods are its own. */
export function proxyOf<T>(rpc: Rpc, name: string, names: readonly string[], local: Partial<T> = {}): T {
  const proxy: Served = {};
  for (const m of names) proxy[m] = (...args: unknown[]) => rpc.call(name, m, args);
  return Object.assign(proxy, local) as T;
}
