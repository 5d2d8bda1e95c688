/** The embedded backends against their interfaces' contract suites (the same suites run on the real ones). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBus } from '../../chat-node/backends/embedded/embedded-bus.ts';
import { MemoryPresence } from '../../chat-node/backends/embedded/memory-presence.ts';
import { MemoryRegistry } from '../../chat-node/backends/embedded/memory-registry.ts';
import { SqliteStore } from '../../chat-node/backends/embedded/sqlite-store.ts';
import { describeBusContract } from '../helpers/bus-contract.ts';
import { describePresenceContract } from '../helpers/presence-contract.ts';
import { describeRegistryContract } from '../helpers/registry-contract.ts';

describePresenceContract('MemoryPresence', async ({ expireMs }) => ({
  presence: new MemoryPresence({ expireMs }),
  cleanup: async () => {},
}));

describeRegistryContract('MemoryRegistry', async () => ({
  registry: new MemoryRegistry(),
  cleanup: async () => {},
}));

describeBusContract('EmbeddedBus', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-bus-'));
  const store = new SqliteStore(dir);
  return {
    bus: new EmbeddedBus(store),
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
