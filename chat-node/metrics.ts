/**
 * The node's Prometheus metrics (prom-client), on a registry of its own so that tests and several
 * nodes in one process never share counters. No user ids in labels.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    connections: new Gauge({ name: 'chat_connections', help: 'Open WebSocket connections.', registers }),
    framesIn: new Counter({
      name: 'chat_frames_in_total',
      help: 'Frames received from clients, by type.',
      labelNames: ['type'] as const,
      registers,
    }),
    framesOut: new Counter({
      name: 'chat_frames_out_total',
      help: 'Frames sent to clients, by type.',
      labelNames: ['type'] as const,
      registers,
    }),
    messagesIn: new Counter({
      name: 'chat_messages_in_total',
      help: 'Messages accepted (durable).',
      registers,
    }),
    busReceived: new Counter({
      name: 'chat_bus_received_messages_total',
      help: 'Messages this node took from the bus to deliver to its devices (targeted to it, broadcast, or replayed).',
      registers,
    }),
    messagesOut: new Counter({
      name: 'chat_messages_out_total',
      help: 'message frames delivered to devices.',
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'chat_delivery_latency_seconds',
      help: 'From a message being accepted to its frame being written to a device on this node.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    errors: new Counter({
      name: 'chat_errors_total',
      help: 'Errors answered to clients, by code.',
      labelNames: ['code'] as const,
      registers,
    }),
    storeLatency: new Histogram({
      name: 'chat_store_latency_seconds',
      help: 'Latency of store and bus operations, by operation.',
      labelNames: ['op'] as const,
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    httpUnreadBytes: new Gauge({
      name: 'chat_http_unread_bytes',
      help: 'Bytes held for HTTP answers (message pages) not yet written out to their clients.',
      registers,
    }),
    disconnects: new Counter({
      name: 'chat_disconnects_total',
      help: 'Connections closed by the node, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    push: new Counter({
      name: 'chat_push_total',
      help: 'Push notifications, by outcome (sent, retried, dropped; removed: a device token its push service rejected).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    httpRequests: new Counter({
      name: 'chat_http_requests_total',
      help: 'HTTP API requests, by route and status.',
      labelNames: ['route', 'status'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Times an async operation into `storeLatency{op}`. */
export async function timed<T>(metrics: Metrics, op: string, fn: () => Promise<T>): Promise<T> {
  const end = metrics.storeLatency.startTimer({ op });
  try {
    return await fn();
  } finally {
    end();
  }
}
