/**
 * The chat services of one node, built on its backends: tokens, message ids, accounts, groups,
 * messaging, push dispatch and the WebSocket gateway, with the bus's deliveries wired to the gateway.
 */
import { ChatError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { NodeConfig } from '../common/node-config.ts';
import { Snowflake } from '../common/snowflake.ts';
import type { Backends } from './backends/types.ts';
import { Accounts } from './chat/accounts.ts';
import { Contacts } from './chat/contacts.ts';
import { Conversations } from './chat/conversations.ts';
import { Groups } from './chat/groups.ts';
import { MessageChanges } from './chat/message-changes.ts';
import { Messaging } from './chat/messaging.ts';
import { Profiles } from './chat/profiles.ts';
import { PushDispatcher } from './chat/push-dispatcher.ts';
import { Receipts } from './chat/receipts.ts';
import { TokenValidity } from './chat/token-validity.ts';
import { loadOrCreateSecret, Tokens } from './chat/tokens.ts';
import { Typing } from './chat/typing.ts';
import { WsTickets } from './http/ws-tickets.ts';
import type { Metrics } from './metrics.ts';
import { FairTurns } from './ws/fair-turns.ts';
import { Gateway } from './ws/gateway.ts';

/**
 * Heavy requests (a sync page, a history page, a presence snapshot: up to a frame each) in progress
 * at once on a node; each starts in an event-loop turn of its own (fair-turns.ts). SQLite reads on
 * the event loop: two in progress would resume in one turn after their first await and stall it
 * twice as long, so one at a time. Cassandra's reads wait on the network, so a few overlap.
 */
const HEAVY_AT_ONCE = { sqlite: 1, other: 2 };

export interface Services {
  tokens: Tokens;
  validity: TokenValidity;
  accounts: Accounts;
  groups: Groups;
  messaging: Messaging;
  profiles: Profiles;
  contacts: Contacts;
  conversations: Conversations;
  changes: MessageChanges;
  push: PushDispatcher;
  gateway: Gateway;
  turns: FairTurns;
  tickets: WsTickets;
}

export async function createServices(
  config: NodeConfig,
  backends: Backends,
  deps: {
    log: Logger;
    metrics: Metrics;
    clock: () => number;
    /** This event loop's share of the node's Snowflake ids (a node of several loops). */
    lane?: { index: number; count: number };
  },
): Promise<Services> {
  const { store, bus, presence, nodeId } = backends;
  const { log, metrics, clock } = deps;
  const tokens = new Tokens(config.jwtSecret ?? loadOrCreateSecret(config.dataDir), config.tokenTtlSec);
  const ids = new Snowflake(nodeId, {
    clock,
    floor: await store.maxMessageId(nodeId),
    lane: deps.lane,
    // Never two live nodes minting under one node id (node-id-lease.ts): refuse while unconfirmed.
    guard: () => {
      if (!backends.mayMint())
        throw new ChatError(
          'unavailable',
          'this node cannot confirm its Snowflake node id; try again shortly',
        );
    },
  });
  const push = new PushDispatcher({
    provider: backends.push,
    devicePush: backends.devicePush,
    tokens: store,
    log,
    metrics,
    maxAttempts: config.pushMaxAttempts,
    queueSize: config.pushQueueSize,
  });
  const validity = new TokenValidity({ store, bus, cacheMs: config.authCacheMs, clock });
  const accounts = new Accounts({
    store,
    tokens,
    validity,
    loginFailuresPerAccount: config.loginFailuresPerAccount,
    clock,
  });
  const groups = new Groups({ store, clock, bus, ids });
  const messaging = new Messaging({
    store,
    bus,
    presence,
    ids,
    push,
    metrics,
    maxPendingSends: config.maxPendingSends,
  });
  const profiles = new Profiles({ store });
  const contacts = new Contacts({ store, bus, presence });
  const conversations = new Conversations({ store, bus });
  const changes = new MessageChanges({ store, bus, ids });
  const receipts = new Receipts({ store, bus, messaging });
  const typing = new Typing({ store, bus, clock });
  const tickets = new WsTickets({ store: backends.tickets, clock });
  const turns = new FairTurns(backends.kinds.store === 'sqlite' ? HEAVY_AT_ONCE.sqlite : HEAVY_AT_ONCE.other);
  const gateway = new Gateway({
    turns,
    nodeId,
    heartbeatMs: config.heartbeatMs,
    framesPerSecond: config.framesPerSecond,
    frameBurst: config.frameBurst,
    userFramesPerSecond: config.userFramesPerSecond ?? 4 * config.framesPerSecond,
    userFrameBurst: config.userFrameBurst ?? 4 * config.frameBurst,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    maxConnectionsPerDevice: config.maxConnectionsPerDevice,
    maxBufferedBytes: config.maxBufferedBytes,
    tokens,
    validity,
    tickets,
    messaging,
    receipts,
    typing,
    changes,
    contacts,
    presence,
    metrics,
    log,
    clock,
  });
  bus.onMessage((e) => {
    metrics.busReceived.inc();
    gateway.sessions.deliver(e);
  });
  // A shared presence sends this node the changes of the users its devices watch, and no others.
  gateway.sessions.onWatched = (userIds, watched) => {
    if (watched) void presence.watch?.(userIds);
    else presence.unwatch?.(userIds);
  };
  bus.onEvent((e) => {
    if (e.revoked) {
      for (const userId of e.userIds) {
        validity.forget(userId);
        gateway.revoke(userId, e.revoked);
      }
    }
    if (e.contacts) {
      for (const userId of e.userIds) {
        for (const c of gateway.sessions.ofUser(userId)) {
          if (e.contacts.removed) gateway.unwatchContacts(c, e.contacts.removed);
          if (e.contacts.added) void gateway.watchContacts(c, e.contacts.added).catch(() => {});
        }
      }
    }
    gateway.sessions.deliverEvent(e);
  });
  return {
    tokens,
    validity,
    accounts,
    groups,
    messaging,
    profiles,
    contacts,
    conversations,
    changes,
    push,
    gateway,
    turns,
    tickets,
  };
}
