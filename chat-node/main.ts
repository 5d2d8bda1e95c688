#!/usr/bin/env node
/**
 * The chat node's command line: every configuration key as a flag (and a CHAT_* variable), plus
 * `--check-config` and `--print-config`. The only place that reads process.env.
 */
import { Command, Option } from 'commander';
import { ConfigError, describeConfig, kebabCase, printableConfig } from '../common/config.ts';
import { defaultWorkers } from '../common/cpus.ts';
import { createLogger } from '../common/logger.ts';
import { loadNodeConfig, nodeConfigSpec } from '../common/node-config.ts';
import { startLoops } from './loops/loops.ts';
import { type ChatNode, startNode } from './node.ts';

const program = new Command('chat-node')
  .description(
    'A chat node: WebSocket and HTTP API of PROTOCOL.md. With no configuration it runs on embedded\n' +
      'backends and keeps everything in ./data. Every flag can also be set as the CHAT_* variable shown.',
  )
  .option('--config <file>', 'JSON file with configuration keys (camelCase), also CHAT_CONFIG')
  .option('--check-config', 'validate the configuration, print it (secrets masked) and exit')
  .option('--print-config', 'print the effective configuration (secrets masked) and start');
for (const d of describeConfig(nodeConfigSpec)) {
  const opt = new Option(`${d.flag} <value>`, `${d.doc} [${d.env}]`);
  if (d.default !== '') opt.default(undefined, d.default);
  program.addOption(opt);
}
program.parse();
const opts = program.opts<Record<string, unknown>>();

let config: ReturnType<typeof loadNodeConfig>;
try {
  const flags: Record<string, unknown> = {};
  for (const key of Object.keys(nodeConfigSpec)) {
    const camel = kebabCase(key).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (opts[camel] !== undefined) flags[key] = opts[camel];
  }
  config = loadNodeConfig({ env: process.env, flags, file: opts.config as string | undefined });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`chat-node: configuration error: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
if (opts.checkConfig || opts.printConfig) {
  console.log(JSON.stringify(printableConfig(nodeConfigSpec, config), null, 2));
  if (opts.checkConfig) process.exit(0);
}

const log = createLogger({ level: config.logLevel, pretty: config.logPretty, name: 'chat-node' });
// CHAT_WORKERS event loops; one serves everything on this thread, as a node in a test does.
const workers = config.workers ?? defaultWorkers();
let node: Pick<ChatNode, 'drain' | 'close'>;
try {
  node = workers > 1 ? await startLoops(config, { log, count: workers }) : await startNode(config, { log });
} catch (err) {
  if (err instanceof ConfigError) {
    log.fatal(`configuration error: ${err.message}`);
    process.exit(2);
  }
  log.fatal({ err }, 'chat node failed to start');
  process.exit(1);
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    log.warn(`${signal} again: exiting now`);
    process.exit(1);
  }
  stopping = true;
  log.info(`${signal}: draining connections, then stopping (send ${signal} again to exit at once)`);
  await node.drain({ timeoutMs: signal === 'SIGINT' ? 2000 : 15_000 });
  await node.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
