/**
 * The JetStream stream and the NATS subjects of one chat cluster (CHAT_CLUSTER), shared by the node's
 * bus (chat-node/backends/real/jetstream-bus.ts) and the operator, which deletes the stream when a
 * ChatCluster with `deletionPolicy: Delete` goes. Characters NATS does not allow in a stream name
 * become `_`.
 */
export interface JetStreamNames {
  /** The durable log of the cluster's messages, `CHAT_<cluster>`. */
  stream: string;
  /** The stream's one subject, `chat.<cluster>.msg`. */
  subject: string;
  /** Core subject of events (read cursors, receipts, typing). */
  eventSubject: string;
  /** Core subject prefix of one node's deliveries: add the node id. */
  nodePrefix: string;
  /** Core subject every node listens on. */
  allSubject: string;
}

export function jetStreamNames(cluster: string): JetStreamNames {
  const c = cluster.replace(/[^A-Za-z0-9_-]/g, '_');
  return {
    stream: `CHAT_${c}`,
    subject: `chat.${c}.msg`,
    eventSubject: `chat.${c}.event`,
    nodePrefix: `chat.${c}.node.`,
    allSubject: `chat.${c}.all`,
  };
}
