/** What a scenario needs from a target: its endpoint, its process, and accounts to connect with. */
import type { Account, Endpoint } from '../loadgen/protocols.ts';

export type TargetId = 'embedded' | 'durable' | 'durable-ha' | 'relay' | 'centrifugo';

export interface Target {
  id: TargetId;
  /** Human name for tables. */
  name: string;
  /** The event loops of a chat node (CHAT_WORKERS), reported as each row's `loops`. */
  workers?: number;
  endpoint: Endpoint;
  /** The server process (its RSS and CPU are measured). */
  pid: number;
  /** The inspector port of a Node target started with `--inspect` (the idle scenario's GC), if any. */
  inspectPort?: number;
  /** `n` accounts that exist on the target (messages can be addressed to them). */
  accounts(n: number): Promise<Account[]>;
  /** `n` connectable identities (tokens) that need not exist as accounts (idle connections). */
  identities(n: number): Promise<Account[]>;
  /** A group of these members (the first is the creator); its id. */
  group(members: readonly Account[]): Promise<string>;
  stop(): Promise<void>;
}
