/**
 * Keeps this node's entry in the node registry fresh: announced at once, every `intervalMs`, and
 * whenever something discovery cares about changes (draining); withdrawn when the node stops.
 */
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { NodeInfo } from '../common/node-registry.ts';
import type { NodeRegistry } from './backends/types.ts';

export interface Announcer {
  /** Announces now; failures are logged, never thrown. */
  announce(): Promise<void>;
  /** Stops the refreshes and withdraws the entry. */
  stop(): Promise<void>;
}

export function startAnnouncer(options: {
  registry: NodeRegistry;
  info: () => NodeInfo | Promise<NodeInfo>;
  log: Logger;
  intervalMs: number;
}): Announcer {
  const { registry, info, log } = options;
  let nodeId: number | undefined;
  const announce = () =>
    Promise.resolve()
      .then(() => info())
      .then((i) => {
        nodeId = i.nodeId;
        return registry.announce(i);
      })
      .catch((err) => log.warn({ err: errorMessage(err) }, 'announce failed'));
  const timer = setInterval(announce, options.intervalMs);
  timer.unref();
  return {
    announce,
    async stop() {
      clearInterval(timer);
      await Promise.resolve()
        .then(async () => registry.withdraw(nodeId ?? (await info()).nodeId))
        .catch(() => {});
    },
  };
}
