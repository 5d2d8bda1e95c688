/**
 * `chatctl nodes`, `drain`, `undrain` and `shed`: the live chat nodes and their load, and moving
 * sessions between them through each node's admin API (chat-node/http/admin.ts).
 */

import type { Command } from 'commander';
import { errorMessage } from '../../common/errors.ts';
import { redactUrl } from '../../common/urls.ts';
import { AdminClient, adminToken, type LoadReport } from '../admin-client.ts';
import { httpUrl, integer, type OutputFormat, outputFormat, positive, redisUrl, urlList } from '../args.ts';
import type { CliContext } from '../context.ts';
import { CliError, UsageError } from '../errors.ts';
import { waitForMoves } from '../moves.ts';
import { formatNodesTable, type NodeRow } from '../nodes-view.ts';
import { OUTPUT_FORMATS, render } from '../output.ts';

const example = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
const TOKEN_HELP = "the nodes' admin token, CHAT_ADMIN_TOKEN (default: CHATCTL_ADMIN_TOKEN)";

interface NodesFlags {
  url?: string[];
  redisUrl?: string;
  cluster: string;
  adminToken?: string;
  output: OutputFormat;
}

interface MoveFlags {
  adminToken?: string;
  rate?: number;
  wait: number;
}

const rowOf = (load: LoadReport): NodeRow => ({ ...load });

/** Rows for the nodes named by --url: each one's admin API. */
async function nodesByUrl(urls: string[], token: string): Promise<NodeRow[]> {
  return Promise.all(
    urls.map((url) =>
      new AdminClient(url, { token })
        .load()
        .then(rowOf)
        .catch((err: unknown): NodeRow => ({ url, error: errorMessage(err) })),
    ),
  );
}

/** Rows for the nodes in the Redis registry; with a token, `moving` from each node's admin API too. */
async function nodesByRegistry(o: NodesFlags, url: string, ctx: CliContext): Promise<NodeRow[]> {
  // ioredis and the registry load only for this command.
  const { registryNodes } = await import('../registry.ts');
  const infos = await registryNodes(url, o.cluster);
  if (infos.length === 0) {
    throw new CliError(
      `no live nodes of cluster "${o.cluster}" in Redis at ${redactUrl(url)}: are the nodes running with ` +
        `CHAT_REDIS_URL set to it and CHAT_CLUSTER=${o.cluster}? (--cluster picks another)`,
    );
  }
  const token = o.adminToken ?? ctx.env.CHATCTL_ADMIN_TOKEN;
  return Promise.all(
    infos.map(async (info): Promise<NodeRow> => {
      // The admin URL (the node's admin port, CHAT_ADMIN_PORT), which drain, undrain and shed take.
      const row: NodeRow = { ...info, url: info.adminUrl ?? info.url };
      if (!token) return row;
      try {
        row.moving = (await new AdminClient(row.url, { token }).load()).moving;
      } catch (err) {
        ctx.err(`warning: node ${info.nodeId}: ${errorMessage(err)}`);
      }
      return row;
    }),
  );
}

/** Prints what a drain or shed asked, then waits (with progress) until those sessions have gone. */
async function followMoves(
  ctx: CliContext,
  admin: AdminClient,
  answer: { asked: number; moving: number; connections: number },
  waitSeconds: number,
): Promise<LoadReport | undefined> {
  if (waitSeconds === 0 || answer.moving === 0) return undefined;
  ctx.err(`waiting for ${answer.moving} sessions to reconnect elsewhere (at most ${waitSeconds} s; --wait)`);
  return waitForMoves(admin, answer, {
    timeoutMs: waitSeconds * 1000,
    now: ctx.now,
    sleep: ctx.sleep,
    report: (line) => ctx.err(line),
  });
}

function moveOptions(cmd: Command): Command {
  return cmd
    .option('--admin-token <token>', TOKEN_HELP)
    .option(
      '--rate <n>',
      'sessions asked to reconnect per second (default: the node’s, 200)',
      positive(100_000),
    )
    .option(
      '--wait <seconds>',
      'wait this long for the sessions to go, showing progress (0: do not wait)',
      integer(0),
      300,
    );
}

export function registerNodeCommands(program: Command, ctx: CliContext): void {
  program
    .command('nodes')
    .summary('live chat nodes and their load')
    .description(
      'List live chat nodes with their load (connections, capacity, draining, sessions still moving): the nodes ' +
        "you name with --url (each one's admin API), or every node of a cluster from the Redis registry",
    )
    .option('--url <url>', 'a node’s URL; repeat it (or separate with commas) for more nodes', urlList)
    .option('--redis-url <url>', 'Redis of the node registry (CHAT_REDIS_URL of the nodes)', redisUrl)
    .option('--cluster <id>', 'the cluster in that registry (CHAT_CLUSTER of the nodes)', 'default')
    .option('--admin-token <token>', `${TOKEN_HELP}; with --redis-url it only adds MOVING`)
    .option('-o, --output <format>', OUTPUT_FORMATS.join(', '), outputFormat, 'table')
    .addHelpText(
      'after',
      example(
        'chatctl nodes --url http://localhost:8081 --url http://localhost:8082 --admin-token "$CHAT_ADMIN_TOKEN"',
        'chatctl nodes --redis-url redis://127.0.0.1:16379 --cluster default',
      ),
    )
    .action(async (o: NodesFlags) => {
      if (o.url && o.redisUrl) throw new UsageError('pass either --url or --redis-url, not both');
      let rows: NodeRow[];
      if (o.url) rows = await nodesByUrl(o.url, adminToken(o.adminToken, ctx.env));
      else if (o.redisUrl) rows = await nodesByRegistry(o, o.redisUrl, ctx);
      else {
        throw new UsageError(
          'say where the nodes are: --url <node url> (repeatable) or --redis-url <url> [--cluster <id>]',
        );
      }
      const view = {
        table: (r: readonly NodeRow[], wide: boolean) => formatNodesTable(r, ctx.now(), wide),
        name: (r: NodeRow) => (r.nodeId === undefined ? r.url : `node/${r.nodeId}`),
      };
      for (const line of render(o.output, rows, view)) ctx.out(line);
      const failed = rows.filter((r) => r.error !== undefined);
      if (failed.length > 0) {
        for (const r of failed) ctx.err(`error: ${r.error}`);
        throw new CliError(`${failed.length} of ${rows.length} nodes could not be read`);
      }
    });

  moveOptions(
    program
      .command('drain')
      .summary('move every session off a node and keep new ones away')
      .argument('<node-url>', 'the node to drain', httpUrl)
      .description(
        'Drain a node: it stops taking sessions (its /readyz fails) and asks every connected client to ' +
          'reconnect elsewhere at --rate per second; shows progress until none is left',
      ),
  )
    .addHelpText('after', example('chatctl drain http://10.0.0.7:8080 --rate 100 --admin-token "$TOKEN"'))
    .action(async (url: string, o: MoveFlags) => {
      const admin = new AdminClient(url, { token: adminToken(o.adminToken, ctx.env) });
      const answer = await admin.drain(o.rate);
      ctx.out(`draining node ${answer.nodeId} (${url}): asked ${answer.asked} sessions to move`);
      const after = await followMoves(ctx, admin, answer, o.wait);
      const load = after ?? answer;
      ctx.out(
        `node ${load.nodeId} is draining with ${load.connections} connections left; undo with: chatctl undrain ${url}`,
      );
    });

  program
    .command('undrain')
    .summary('let a drained node take sessions again')
    .argument('<node-url>', 'the node to take sessions again', httpUrl)
    .description('Undo a drain: the node takes new sessions again and discovery sends clients to it')
    .option('--admin-token <token>', TOKEN_HELP)
    .addHelpText('after', example('chatctl undrain http://10.0.0.7:8080 --admin-token "$TOKEN"'))
    .action(async (url: string, o: { adminToken?: string }) => {
      const load = await new AdminClient(url, { token: adminToken(o.adminToken, ctx.env) }).undrain();
      ctx.out(`node ${load.nodeId} (${url}) takes sessions again: ${load.connections} connections`);
    });

  moveOptions(
    program
      .command('shed')
      .summary('move some sessions off a node')
      .argument('<node-url>', 'the node to take sessions from', httpUrl)
      .argument('<count>', 'how many sessions to move', integer(1, 10_000_000))
      .description(
        'Move <count> sessions off a node: their clients get a reconnect frame (spread at --rate per ' +
          'second) and reconnect through discovery, or to --to; shows progress until they have gone',
      )
      .option('--to <url>', 'send the clients to this node instead of through discovery', httpUrl),
  )
    .addHelpText('after', example('chatctl shed http://10.0.0.7:8080 500 --rate 50 --admin-token "$TOKEN"'))
    .action(async (url: string, count: number, o: MoveFlags & { to?: string }) => {
      const admin = new AdminClient(url, { token: adminToken(o.adminToken, ctx.env) });
      const answer = await admin.shed(count, o.rate, o.to);
      const short = answer.asked < count ? ` (it had only ${answer.asked} sessions not already moving)` : '';
      ctx.out(`node ${answer.nodeId} (${url}): asked ${answer.asked} of ${count} sessions to move${short}`);
      const after = await followMoves(ctx, admin, answer, o.wait);
      if (after) ctx.out(`done: node ${after.nodeId} now has ${after.connections} connections`);
    });
}
