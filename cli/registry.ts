/** The live nodes of a cluster from the Redis node registry the nodes announce themselves in. */
import { errorMessage } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { type NodeInfo, RegistryReader } from '../common/node-registry.ts';
import { redactUrl } from '../common/urls.ts';
import { CliError } from './errors.ts';

export async function registryNodes(redisUrl: string, cluster: string): Promise<NodeInfo[]> {
  let registry: RegistryReader;
  try {
    registry = await RegistryReader.open({ url: redisUrl, cluster, log: silentLogger() });
  } catch (err) {
    throw new CliError(
      `cannot reach Redis at ${redactUrl(redisUrl)}: ${errorMessage(err)}. Is Redis running, and is this the CHAT_REDIS_URL of the nodes?`,
      { cause: err },
    );
  }
  try {
    return await registry.list();
  } catch (err) {
    throw new CliError(`cannot list the nodes in Redis at ${redactUrl(redisUrl)}: ${errorMessage(err)}`, {
      cause: err,
    });
  } finally {
    await registry.close();
  }
}
