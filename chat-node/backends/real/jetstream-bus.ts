/**
 * The production message bus: NATS JetStream for durability, core NATS for delivery.
 *
 *   send ──publish(msgID = dedup key or message id)──▶ stream CHAT_<cluster> ──ack──▶ `sent`
 *                                │                                     │
 *                                ▼                                     ▼ (after the ack, in ack order)
 *   durable pull consumer "store-writer"            locate the recipients' nodes (session registry),
 *   shared by all nodes: batch → Store,             one core publish per node: chat.<c>.node.<id>
 *   ack after the write (at least once,             (chat.<c>.all when the registry cannot answer)
 *   the Store is idempotent)                        → that node's local devices
 *
 * A message is durable once JetStream acks it (file storage); the stream is a buffer in front of the
 * store, bounded by age and bytes with `discard: new`, so a full stream refuses sends instead of
 * dropping unwritten messages. A node reads from NATS only the messages for its own devices (and those
 * broadcast while the registry cannot answer); after its connection to NATS comes back, it replays
 * from the stream what was stored while it was away (core messages sent meanwhile are lost).
 * Events (read cursors, receipts, typing) go on the core subject chat.<c>.event.
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import {
  type ConnectionOptions,
  connect,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { errorMessage } from '../../../common/errors.ts';
import { jetStreamNames } from '../../../common/jetstream-names.ts';
import type { Logger } from '../../../common/logger.ts';
import type { Message } from '../../../common/protocol.ts';
import type { DedupIndex, Envelope, LocateUsers, MessageBus, Store, UserEvent } from '../types.ts';

export interface JetStreamBusOptions {
  url: string;
  /** Credentials and TLS (backend-auth.ts), beyond what the URL says. */
  auth?: Partial<ConnectionOptions>;
  cluster: string;
  store: Store;
  log: Logger;
  /** How long JetStream remembers a msgID for de-duplication. Default 10 minutes. */
  duplicateWindowMs?: number;
  /** Stream limits: the stream is a buffer in front of the store. Defaults: 7 days, 1 GiB. */
  maxAgeMs?: number;
  maxBytes?: number;
  /** Messages the store writer takes per fetch. Default 256. */
  writerBatch?: number;
  /**
   * Replicas of the stream (its durable consumer follows). Default: 3 when the servers can hold
   * it (a JetStream cluster of 3 or more), else 1.
   */
  replicas?: number;
  /** This node's Snowflake node id: it receives the messages published to chat.<c>.node.<id>. Default 0. */
  nodeId?: number;
  /**
   * The session registry: the nodes where each recipient has devices. Without it (or when it cannot
   * answer for a recipient) a message goes to every node.
   */
  locate?: LocateUsers;
  /**
   * A fast index of dedup keys, asked before a send with a dedup key; without it, or when it cannot
   * tell, the store is read.
   */
  dedup?: DedupIndex;
}

const NS_PER_MS = 1_000_000;
/** The durable consumer that all nodes share to write the stream into the store. */
const WRITER = 'store-writer';
const WRITER_ACK_WAIT_MS = 5000;
/**
 * Pull settings of both loops: short expiries and heartbeats, so a consumer lost with its server is
 * noticed within about two seconds (the defaults take over half a minute).
 */
const PULL = { expires: 5000, idle_heartbeat: 1000 } as const;
/** Messages located and published to their nodes together. */
const FAN_OUT_BATCH = 256;
/** A stored original younger than the duplicate window less this is answered through the window. */
const WINDOW_MARGIN_MS = 60_000;
/** Longest a batch of sends waits for NATS to confirm their publishes to the recipients' nodes. */
const FLUSH_TIMEOUT_MS = 5000;
/** A replay after a reconnect starts this much before the disconnect (clocks of servers and nodes). */
const REPLAY_MARGIN_MS = 2000;
/** Most messages one replay hands over; past it the node's devices get the rest through sync. */
const REPLAY_MAX = 100_000;
/** A replay waits this long after the reconnect before it reads, and again between attempts. */
const REPLAY_DELAY_MS = 1000;
const REPLAY_ATTEMPTS = 30;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The event's own fields only: a caller that passes a richer object (a Connection as the
 * `exceptDevice`, which holds its socket) would otherwise make JSON.stringify throw or leak state.
 */
function wireEvent(e: UserEvent): UserEvent {
  const out: UserEvent = { userIds: e.userIds };
  if (e.frame) out.frame = e.frame;
  if (e.revoked) out.revoked = e.revoked;
  if (e.exceptDevice) out.exceptDevice = { userId: e.exceptDevice.userId, deviceId: e.exceptDevice.deviceId };
  if (e.contacts) out.contacts = e.contacts;
  return out;
}

export class JetStreamBus implements MessageBus {
  private readonly options: Required<
    Omit<JetStreamBusOptions, 'store' | 'log' | 'replicas' | 'locate' | 'dedup' | 'auth'>
  > &
    Pick<JetStreamBusOptions, 'store' | 'log' | 'replicas' | 'locate' | 'dedup' | 'auth'>;
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private readonly stream: string;
  private readonly subject: string;
  private readonly eventSubject: string;
  /** `chat.<c>.node.` + a node id: the messages for that node's devices. */
  private readonly nodePrefix: string;
  /** Messages for every node (the registry could not say where their recipients are). */
  private readonly allSubject: string;
  /** Acknowledged messages waiting to be published to their nodes, in ack order. */
  private fanOutQueue: { recipients: string[]; data: Uint8Array; done: () => void }[] = [];
  private fanningOut = false;
  private locateFailing = false;
  /** When the connection to NATS was lost (0 while connected): the next replay starts there. */
  private disconnectedAt = 0;
  private readonly deliverySubs: Subscription[] = [];
  private readonly messageHandlers: ((e: Envelope) => void)[] = [];
  private readonly eventHandlers: ((e: UserEvent) => void)[] = [];
  private readonly loops: Promise<void>[] = [];
  /** The consumers' current subscriptions; stopped (and so made again) after a reconnect. */
  private readonly iterators = new Set<ConsumerMessages>();
  private eventSub?: Subscription;
  private connected = false;
  private closed = false;
  /** The stream's replicas, once created. */
  replicas = 0;

  private constructor(options: JetStreamBusOptions) {
    this.options = {
      duplicateWindowMs: 10 * 60_000,
      maxAgeMs: 7 * 24 * 3600_000,
      maxBytes: 1024 ** 3,
      writerBatch: 256,
      nodeId: 0,
      ...options,
    };
    const names = jetStreamNames(options.cluster);
    this.stream = names.stream;
    this.subject = names.subject;
    this.eventSubject = names.eventSubject;
    this.nodePrefix = names.nodePrefix;
    this.allSubject = names.allSubject;
  }

  /** Connects, creates or updates the stream and the writer consumer, and starts consuming. */
  static async open(options: JetStreamBusOptions): Promise<JetStreamBus> {
    const bus = new JetStreamBus(options);
    await bus.start();
    return bus;
  }

  private async start(): Promise<void> {
    this.nc = await connect({
      // One URL, or the servers of a cluster comma-separated (the client learns the others too).
      servers: this.options.url.split(',').map((u) => u.trim()),
      name: `chat-node-${this.options.cluster}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 5000,
      // Otherwise every request (each publish awaits an ack) builds two Error objects with stack
      // traces up front, in case it fails: 10% of the node's CPU under load.
      noAsyncTraces: true,
      ...this.options.auth,
    });
    this.connected = true;
    void this.watchStatus();
    this.jsm = await jetstreamManager(this.nc);
    this.js = jetstream(this.nc);
    const config = {
      // Only the durable log: the delivery subjects are core NATS, outside the stream.
      subjects: [this.subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      max_age: this.options.maxAgeMs * NS_PER_MS,
      max_bytes: this.options.maxBytes,
      max_msg_size: 1024 * 1024,
      duplicate_window: this.options.duplicateWindowMs * NS_PER_MS,
    };
    await this.ensureStream(config);
    if (this.options.dedup) {
      // A stream that never held a message: the cluster has no dedup key anywhere yet.
      const { last_seq } = (await this.jsm.streams.info(this.stream)).state;
      await this.options.dedup.prepare(last_seq === 0);
    }
    // A message taken by a writer that died comes back after ack_wait; sync and history wait for
    // it (settled), so keep it short: a batch write takes milliseconds, a redelivery is harmless.
    const writer = { ack_wait: WRITER_ACK_WAIT_MS * NS_PER_MS, max_ack_pending: 10_000 };
    await this.jsm.consumers
      .add(this.stream, {
        durable_name: WRITER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ...writer,
      })
      .catch(async (err) => {
        // Already there (made by another node or an older version): bring its settings up to date.
        await this.jsm.consumers.update(this.stream, WRITER, writer).catch(() => Promise.reject(err));
      });
    this.loops.push(this.runWriter());
    // From here on, every message published for this node (or for all) reaches its handlers.
    for (const subject of [`${this.nodePrefix}${this.options.nodeId}`, this.allSubject]) {
      this.deliverySubs.push(
        this.nc.subscribe(subject, {
          callback: (err, msg) => {
            if (!err) this.received(msg.data);
          },
        }),
      );
    }
    this.eventSub = this.nc.subscribe(this.eventSubject, {
      callback: (err, msg) => {
        if (err) return;
        const event = JSON.parse(decoder.decode(msg.data)) as UserEvent;
        for (const h of this.eventHandlers) h(event);
      },
    });
    await this.nc.flush();
  }

  /** A message for this node's devices, from its node subject, the broadcast subject or a replay. */
  private received(data: Uint8Array): void {
    let env: Envelope;
    try {
      env = JSON.parse(decoder.decode(data)) as Envelope;
    } catch {
      return;
    }
    for (const h of this.messageHandlers) h(env);
  }

  /**
   * Creates the stream or brings it up to date. Without a configured number of replicas: 3 on a
   * JetStream cluster of 3 or more servers, else 1 (a single server accepts a replicas change it
   * cannot honour, so the servers are counted first, from what the server tells its clients).
   */
  private async ensureStream(config: Partial<StreamConfig>): Promise<void> {
    const info = this.nc.info;
    const servers = info?.cluster ? new Set(info.connect_urls ?? []).size : 1;
    const wanted = this.options.replicas ?? (servers >= 3 ? 3 : 1);
    const apply = async (num_replicas: number) => {
      const exists = await this.jsm.streams.info(this.stream).then(
        () => true,
        () => false,
      );
      if (exists) await this.jsm.streams.update(this.stream, { ...config, num_replicas });
      else await this.jsm.streams.add({ name: this.stream, ...config, num_replicas });
    };
    try {
      await apply(wanted);
      this.replicas = wanted;
    } catch (err) {
      if (this.options.replicas !== undefined || wanted === 1) throw err;
      this.options.log.info(
        { err: errorMessage(err) },
        'the NATS servers cannot hold 3 stream replicas; using 1 (set CHAT_NATS_STREAM_REPLICAS to insist)',
      );
      await apply(1);
      this.replicas = 1;
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'staleConnection') {
        this.connected = false;
        if (this.disconnectedAt === 0) this.disconnectedAt = Date.now();
      }
      if (s.type === 'reconnect') {
        this.connected = true;
        // Core messages for this node sent while it was away are lost: take them from the stream.
        const from = this.disconnectedAt;
        this.disconnectedAt = 0;
        if (from > 0) void this.replay(from - REPLAY_MARGIN_MS);
        // A restarted server has forgotten the pull requests;
        // the client would notice only after missed heartbeats. Start the writer again now, from its
        // ack floor.
        for (const it of this.iterators) it.stop();
      }
      if (s.type === 'disconnect' || s.type === 'reconnect')
        this.options.log.warn({ nats: s.type }, `NATS ${s.type}`);
    }
  }

  async publish(envelope: Envelope): Promise<Message> {
    const data = encoder.encode(JSON.stringify(envelope));
    const options = {
      msgID: envelope.dedupKey ?? envelope.message.messageId,
      expect: { streamName: this.stream },
      timeout: 10_000,
    };
    let ack: Awaited<ReturnType<JetStreamClient['publish']>>;
    for (let attempt = 0; ; attempt++) {
      try {
        ack = await this.js.publish(this.subject, data, options);
        break;
      } catch (err) {
        // A replicated stream refuses a msgID while an earlier publish of it is being replicated;
        // once that one is in, the same publish is answered as its duplicate.
        if (attempt >= 20 || !errorMessage(err).includes('duplicate message id is in process')) throw err;
        await new Promise((r) => setTimeout(r, 5 + 5 * attempt));
      }
    }
    if (!ack.duplicate) {
      await this.fanOut(envelope.recipients, data);
      return envelope.message;
    }
    // A resend of a dedup key inside the window: the ack names the original's sequence. Its publish
    // may have been stored without its sender hearing the ack (a server died), and so never sent to
    // its nodes: send it (again; devices de-duplicate).
    const original = await this.jsm.streams.getMessage(this.stream, { seq: ack.seq });
    if (!original) return envelope.message;
    const stored = JSON.parse(decoder.decode(original.data)) as Envelope;
    await this.fanOut(stored.recipients, original.data);
    return stored.message;
  }

  /**
   * The message already stored under a dedup key, if the key was sent before and is older than the
   * stream's de-duplication window. The index answers most sends alone ('new'); a key it has seen, or
   * one it cannot tell about (no index, index down or younger than its horizon), is read from the
   * store. A key seen but not stored yet (a resend racing its original, or an original whose publish
   * failed), or stored less than the window ago, goes on to the publish, which the window answers.
   */
  async earlier(dedupKey: string, messageId: string): Promise<Message | undefined> {
    const verdict = this.options.dedup
      ? await this.options.dedup.claim(dedupKey, messageId).catch((err: unknown) => {
          this.options.log.debug({ err: errorMessage(err) }, 'dedup index failed; reading the store');
          return 'unknown' as const;
        })
      : 'unknown';
    if (verdict === 'new') return undefined;
    const stored = await this.options.store.messageByDedupKey(dedupKey);
    // A recent original is left to the publish: the stream's window answers it as a duplicate and
    // sends it to its nodes again (its first publisher may have died before doing so).
    if (stored && Date.now() - stored.ts < this.options.duplicateWindowMs - WINDOW_MARGIN_MS)
      return undefined;
    return stored;
  }

  /**
   * Sends an acknowledged message to the nodes of its recipients' devices, once per node, in ack
   * order. Messages acknowledged while a lookup is in flight are located together in the next one.
   */
  private fanOut(recipients: string[], data: Uint8Array): Promise<void> {
    return new Promise((done) => {
      this.fanOutQueue.push({ recipients, data, done });
      if (this.fanningOut) return;
      this.fanningOut = true;
      void this.drainFanOut();
    });
  }

  /**
   * Publishes each batch and waits for NATS to have it (a flush) before the batch's sends are
   * answered: a node killed after a `sent` has handed that message to its nodes already. One killed
   * before leaves the send unanswered; the client's resend is answered as a duplicate by another node,
   * which publishes it to its nodes then.
   */
  private async drainFanOut(): Promise<void> {
    try {
      while (this.fanOutQueue.length > 0 && !this.closed) {
        const batch = this.fanOutQueue.splice(0, FAN_OUT_BATCH);
        const where = await this.locate(new Set(batch.flatMap((b) => b.recipients)));
        try {
          for (const { recipients, data } of batch) {
            const nodes = nodesOf(recipients, where);
            if (!nodes) this.nc.publish(this.allSubject, data);
            else for (const n of nodes) this.nc.publish(`${this.nodePrefix}${n}`, data);
          }
          await withTimeout(this.nc.flush(), FLUSH_TIMEOUT_MS);
        } catch (err) {
          // Closed, or NATS away: the recipients' devices get these through the replay or sync.
          this.options.log.warn({ err: errorMessage(err) }, 'could not publish messages to their nodes');
        }
        for (const b of batch) b.done();
      }
    } finally {
      this.fanningOut = false;
      for (const b of this.fanOutQueue.splice(0)) b.done();
    }
  }

  /** The recipients' nodes, or undefined (a failed lookup counts as "unknown": broadcast). */
  private async locate(users: Set<string>): Promise<Map<string, readonly number[] | undefined> | undefined> {
    if (!this.options.locate) return undefined;
    try {
      const where = await this.options.locate([...users]);
      this.locateFailing = false;
      return where;
    } catch (err) {
      if (!this.locateFailing)
        this.options.log.warn({ err: errorMessage(err) }, 'session registry lookup failed; broadcasting');
      this.locateFailing = true;
      return undefined;
    }
  }

  /**
   * Hands over what the stream stored from `fromMs` until now (bounded by REPLAY_MAX): the messages
   * published to this node while it was disconnected. Every message of that time goes to the
   * handlers (they deliver what concerns local devices); devices de-duplicate by message id.
   */
  private async replay(fromMs: number): Promise<void> {
    // Right after a reconnect the stream may still be electing a leader (its server died), and this
    // node's subscriptions take a moment to reach the other servers: wait, and try again until done.
    for (let attempt = 1; attempt <= REPLAY_ATTEMPTS && !this.closed; attempt++) {
      await new Promise((r) => setTimeout(r, REPLAY_DELAY_MS));
      try {
        await this.replayOnce(fromMs);
        return;
      } catch (err) {
        if (attempt === REPLAY_ATTEMPTS && !this.closed)
          this.options.log.warn({ err: errorMessage(err) }, 'replay after reconnect failed');
      }
    }
  }

  private async replayOnce(fromMs: number): Promise<void> {
    const last = (await this.jsm.streams.info(this.stream)).state.last_seq;
    const consumer = await this.js.consumers.get(this.stream, {
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(fromMs).toISOString(),
    });
    try {
      let handed = 0;
      while (handed < REPLAY_MAX && !this.closed) {
        const batch = await consumer.fetch({ max_messages: 256, expires: 2000 });
        let got = 0;
        let done = false;
        for await (const m of batch) {
          got++;
          if (m.seq > last) {
            done = true;
            continue;
          }
          handed++;
          this.received(m.data);
          if (m.seq === last) done = true;
        }
        if (done || got === 0) break;
      }
      if (handed >= REPLAY_MAX)
        this.options.log.warn({ handed }, 'replay after reconnect stopped at its bound');
    } finally {
      await consumer.delete().catch(() => {});
    }
  }

  /**
   * Waits until the store writer has acknowledged every message the stream held at the call: its
   * ack floor reaches the stream's last sequence as of now. One request per check; checks back off.
   */
  async settled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const target = (await this.jsm.streams.info(this.stream)).state.last_seq;
    for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
      const info = await this.jsm.consumers.info(this.stream, WRITER);
      if (info.ack_floor.stream_seq >= target) return;
      if (Date.now() + wait > deadline) {
        throw new Error(
          `the store writer is behind: ${target - info.ack_floor.stream_seq} messages not yet stored`,
        );
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /**
   * Writes every stream message into the store, acking each after its write; a failed write is
   * nak'ed and comes back later. Messages that arrive while a write is in flight wait and go in the
   * next write together (natural batching: one message alone is written at once, a burst in
   * batches of up to `writerBatch`). JetStream bounds what is waiting by `max_ack_pending`.
   */
  private async runWriter(): Promise<void> {
    type Item = { env: Envelope; ack: () => void; nak: () => void };
    let waiting: Item[] = [];
    let writing = false;
    const write = async (): Promise<void> => {
      while (waiting.length > 0) {
        const batch = waiting.splice(0, this.options.writerBatch);
        try {
          await this.options.store.saveMessages(batch.map((b) => b.env));
          for (const b of batch) b.ack();
        } catch (err) {
          this.options.log.warn(
            { err: errorMessage(err), n: batch.length },
            'store write failed; will retry',
          );
          for (const b of batch) b.nak();
        }
      }
      writing = false;
    };
    while (!this.closed) {
      let iter: ConsumerMessages | undefined;
      try {
        const consumer = await this.js.consumers.get(this.stream, WRITER);
        iter = await consumer.consume({ max_messages: this.options.writerBatch, ...PULL });
        this.iterators.add(iter);
        this.restartWhenStale(iter);
        for await (const m of iter) {
          waiting.push({ env: m.json<Envelope>(), ack: () => m.ack(), nak: () => m.nak(1000) });
          if (!writing) {
            writing = true;
            void write();
          }
        }
      } catch (err) {
        if (!this.closed) this.options.log.warn({ err: errorMessage(err) }, 'store writer restarting');
      }
      if (iter) this.iterators.delete(iter);
      // Messages not written yet were delivered on the old subscription: JetStream redelivers them.
      waiting = [];
      if (!this.closed) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * A consumer on a server that died (in a cluster, the connection itself may be fine) shows as
   * missed heartbeats, or as a consumer gone: stop the subscription, so its loop makes it again
   * (the writer from its ack floor).
   */
  private restartWhenStale(iter: ConsumerMessages): void {
    void (async () => {
      for await (const s of iter.status()) {
        if (
          s.type === 'heartbeats_missed' ||
          s.type === 'consumer_deleted' ||
          s.type === 'consumer_not_found'
        ) {
          this.options.log.warn({ nats: s.type }, 'JetStream consumer stale; making it again');
          iter.stop();
          return;
        }
      }
    })().catch(() => {});
  }

  onMessage(handler: (envelope: Envelope) => void): void {
    this.messageHandlers.push(handler);
  }

  async publishEvent(event: UserEvent): Promise<void> {
    this.nc.publish(this.eventSubject, encoder.encode(JSON.stringify(wireEvent(event))));
  }

  onEvent(handler: (event: UserEvent) => void): void {
    this.eventHandlers.push(handler);
  }

  isReady(): boolean {
    return this.connected && !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.eventSub?.unsubscribe();
    for (const sub of this.deliverySubs) sub.unsubscribe();
    for (const it of this.iterators) it.stop();
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/**
 * The nodes that have devices of these recipients, each once; undefined (every node) when the
 * registry could not answer for one of them.
 */
export function nodesOf(
  recipients: readonly string[],
  where: Map<string, readonly number[] | undefined> | undefined,
): Set<number> | undefined {
  if (!where) return undefined;
  const nodes = new Set<number>();
  for (const u of recipients) {
    const at = where.get(u);
    if (at === undefined) return undefined;
    for (const n of at) nodes.add(n);
  }
  return nodes;
}

/** `p`, or a rejection after `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from NATS in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
