/** The live nodes of a cluster from the Redis node registry the nodes announce themselves in. */
import type { NodeInfo } from '../chat-node/backends/types.ts';
import { silentLogger } from '../chat-node/logger.ts';
import { RedisRegistry } from '../chat-node/real/redis-registry.ts';
import { CliError, reason } from './errors.ts';

export async function registryNodes(redisUrl: string, cluster: string): Promise<NodeInfo[]> {
  let registry: RedisRegistry;
  try {
    // ttlMs only matters to nodes announcing themselves; chatctl only lists.
    registry = await RedisRegistry.open({ url: redisUrl, cluster, ttlMs: 1, log: silentLogger() });
  } catch (err) {
    throw new CliError(
      `cannot reach Redis at ${hidePassword(redisUrl)}: ${reason(err)}. Is Redis running? (locally: npm run services:up)`,
      { cause: err },
    );
  }
  try {
    return await registry.list();
  } catch (err) {
    throw new CliError(`cannot list the nodes in Redis at ${hidePassword(redisUrl)}: ${reason(err)}`, {
      cause: err,
    });
  } finally {
    await registry.close();
  }
}

/** The URL with its password replaced by `***`, for messages. */
export function hidePassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
