/**
 * `chatctl nodes`, `drain`, `undrain` and `shed`: the chat nodes and their load, and moving sessions
 * between them through each node's admin API (chat-node/http/admin.ts). The nodes are a ChatCluster's
 * pods, reached through the Kubernetes API server with the kubeconfig alone (cluster-nodes.ts), or
 * nodes named by their admin URL (`--url`), or found in the Redis registry (`--redis-url`).
 */

import type { Command } from 'commander';
import { errorMessage } from '../../common/errors.ts';
import { redactUrl } from '../../common/urls.ts';
import { AdminClient, adminToken, type LoadReport } from '../admin-client.ts';
import {
  httpUrl,
  integer,
  kubeName,
  type OutputFormat,
  outputFormat,
  positive,
  redisUrl,
  urlList,
} from '../args.ts';
import type { ChatClusterNodes } from '../cluster-nodes.ts';
import type { CliContext } from '../context.ts';
import { CliError, UsageError } from '../errors.ts';
import type { KubeOptions } from '../kube.ts';
import { waitForMoves } from '../moves.ts';
import { type NodeTarget, nodeTarget, shedTarget } from '../node-target.ts';
import { formatNodesTable, type NodeRow } from '../nodes-view.ts';
import { OUTPUT_FORMATS, render } from '../output.ts';

const example = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
const TOKEN_HELP =
  "the nodes' admin token, CHAT_ADMIN_TOKEN (default: CHATCTL_ADMIN_TOKEN; with a ChatCluster, read from the Secret of its spec.auth.adminTokenRef)";
const TARGET_HELP =
  'a ChatCluster (then <node> names its pod or node id), or a node’s admin URL (http://<pod IP>:9090, CHAT_ADMIN_PORT)';
const NODE_HELP = 'with a ChatCluster: the node’s pod name (chat-1) or node id (1)';

interface NodesFlags extends KubeOptions {
  url?: string[];
  redisUrl?: string;
  cluster: string;
  adminToken?: string;
  output: OutputFormat;
}

interface MoveFlags extends KubeOptions {
  adminToken?: string;
  rate?: number;
  wait: number;
}

/** A node to act on: its admin client, and how to name it again on a command line. */
interface Node {
  admin: AdminClient;
  /** The arguments of `drain`/`undrain` that name it again: `<url>` or `<chatcluster> <pod> -n <ns>`. */
  again: string;
  /** The command that shows its load. */
  watch: string;
  /** What to know after a drain: the operator undoes it unless its drain annotation names the pod. */
  afterDrain?: string;
  /** What to know after an undrain: the operator drains the pod again while the annotation names it. */
  afterUndrain?: string;
}

/** --kubeconfig, --context and -n: the ChatCluster forms. */
function withKubeOptions(cmd: Command): Command {
  return cmd
    .option(
      '--kubeconfig <file>',
      'with a ChatCluster: kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)',
    )
    .option(
      '--context <name>',
      'with a ChatCluster: kubeconfig context to use (default: its current-context)',
    )
    .option(
      '-n, --namespace <ns>',
      "with a ChatCluster: its namespace (default: the context's, else default)",
    );
}

/** The Kubernetes client takes most of a second to load: only the ChatCluster forms load it. */
async function openChatCluster(name: string, o: KubeOptions, ctx: CliContext): Promise<ChatClusterNodes> {
  const [{ ClusterApi }, { ChatClusterNodes }] = await Promise.all([
    import('../kube.ts'),
    import('../cluster-nodes.ts'),
  ]);
  return ChatClusterNodes.open(ClusterApi.open(o, ctx.env), name);
}

/** The node a drain, undrain or shed acts on. */
async function resolveNode(target: NodeTarget, o: MoveFlags, ctx: CliContext): Promise<Node> {
  if (target.kind === 'url') {
    if (o.kubeconfig || o.context || o.namespace) {
      throw new UsageError('--kubeconfig, --context and -n go with a ChatCluster, not with a node URL');
    }
    return {
      admin: new AdminClient(target.url, { token: adminToken(o.adminToken, ctx.env) }),
      again: target.url,
      watch: `chatctl nodes --url ${target.url}`,
    };
  }
  const nodes = await openChatCluster(target.chatcluster, o, ctx);
  const pod = await nodes.pod(target.node);
  const { DRAIN_ANNOTATION } = await import('../cluster-nodes.ts');
  const annotate = `kubectl annotate chatcluster ${nodes.name} -n ${nodes.namespace} ${DRAIN_ANNOTATION}`;
  const held = nodes.drainRequested === pod.name;
  return {
    admin: await nodes.admin(pod, o.adminToken),
    again: `${nodes.name} ${pod.name} -n ${nodes.namespace}`,
    watch: `chatctl nodes ${nodes.args}`,
    afterDrain: held
      ? undefined
      : `note: the operator undrains a node it keeps at its next reconcile; to keep ${pod.name} drained: ${annotate}=${pod.name}`,
    afterUndrain: held
      ? `note: the ChatCluster's ${DRAIN_ANNOTATION} annotation names ${pod.name}, so the operator drains it again; remove it with: ${annotate}-`
      : undefined,
  };
}

const rowOf = (load: LoadReport): NodeRow => ({ ...load });
/** A CliError's message says it all (its cause is what it was made from); others get their cause. */
const rowError = (err: unknown) => (err instanceof CliError ? err.message : errorMessage(err));

/** Rows for the nodes named by --url: each one's admin API. */
async function nodesByUrl(urls: string[], token: string): Promise<NodeRow[]> {
  return Promise.all(
    urls.map((url) =>
      new AdminClient(url, { token })
        .load()
        .then(rowOf)
        .catch((err: unknown): NodeRow => ({ url, error: rowError(err) })),
    ),
  );
}

/** Rows for the pods of a ChatCluster: each one's admin API through the API server. */
async function nodesByChatCluster(name: string, o: NodesFlags, ctx: CliContext): Promise<NodeRow[]> {
  const nodes = await openChatCluster(name, o, ctx);
  const pods = await nodes.pods();
  // A missing or forbidden Secret fails the command once, not each row.
  if (!o.adminToken) await nodes.adminToken();
  return Promise.all(
    pods.map(async (pod): Promise<NodeRow> => {
      const base = { pod: pod.name, nodeId: pod.ordinal, ready: pod.ready, startedAt: pod.startedAt };
      try {
        const load = await (await nodes.admin(pod, o.adminToken)).load();
        return { ...base, ...load };
      } catch (err) {
        return { ...base, url: '', error: rowError(err) };
      }
    }),
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

/** The rows of `chatctl nodes`, from wherever the flags say the nodes are. */
function nodeRows(chatcluster: string | undefined, o: NodesFlags, ctx: CliContext): Promise<NodeRow[]> {
  const given = [chatcluster && 'a ChatCluster', o.url && '--url', o.redisUrl && '--redis-url'].filter(
    Boolean,
  );
  if (given.length > 1)
    throw new UsageError(`pass one of a ChatCluster, --url or --redis-url, not ${given.join(' and ')}`);
  if (chatcluster) return nodesByChatCluster(chatcluster, o, ctx);
  if (o.kubeconfig || o.context || o.namespace) {
    throw new UsageError(
      '--kubeconfig, --context and -n go with a ChatCluster: chatctl nodes <chatcluster> -n <ns>',
    );
  }
  if (o.url) return nodesByUrl(o.url, adminToken(o.adminToken, ctx.env));
  if (o.redisUrl) return nodesByRegistry(o, o.redisUrl, ctx);
  throw new UsageError(
    'say where the nodes are: a ChatCluster (chatctl nodes <chatcluster> -n <ns>), --url <node url> (repeatable) or --redis-url <url> [--cluster <id>]',
  );
}

/** Prints what a drain or shed asked, then waits (with progress) until those sessions have gone. */
async function followMoves(
  ctx: CliContext,
  node: Node,
  answer: { asked: number; moving: number; connections: number },
  waitSeconds: number,
  untilEmpty = false,
): Promise<LoadReport | undefined> {
  if (waitSeconds === 0 || (answer.moving === 0 && (!untilEmpty || answer.connections === 0))) {
    return undefined;
  }
  ctx.err(`waiting for ${answer.moving} sessions to reconnect elsewhere (at most ${waitSeconds} s; --wait)`);
  return waitForMoves(node.admin, answer, {
    timeoutMs: waitSeconds * 1000,
    now: ctx.now,
    sleep: ctx.sleep,
    report: (line) => ctx.err(line),
    watch: node.watch,
    untilEmpty,
  });
}

function moveOptions(cmd: Command): Command {
  return withKubeOptions(cmd)
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
  withKubeOptions(
    program
      .command('nodes')
      .summary('chat nodes and their load')
      .argument('[chatcluster]', 'the ChatCluster whose pods to list', kubeName)
      .description(
        'List chat nodes with their load (connections, capacity, draining, sessions still moving): the pods of a ' +
          "ChatCluster (each one's admin API through the Kubernetes API server: a kubeconfig is all it needs), the " +
          'nodes you name with --url, or every node of a cluster from the Redis registry',
      ),
  )
    .option('--url <url>', 'a node’s admin URL; repeat it (or separate with commas) for more nodes', urlList)
    .option('--redis-url <url>', 'Redis of the node registry (CHAT_REDIS_URL of the nodes)', redisUrl)
    .option('--cluster <id>', 'the cluster in that registry (CHAT_CLUSTER of the nodes)', 'default')
    .option('--admin-token <token>', `${TOKEN_HELP}; with --redis-url it only adds MOVING`)
    .option('-o, --output <format>', OUTPUT_FORMATS.join(', '), outputFormat, 'table')
    .addHelpText(
      'after',
      example(
        'chatctl nodes chat -n chat',
        'chatctl nodes --url http://10.0.0.7:9090 --url http://10.0.0.8:9090 --admin-token "$CHAT_ADMIN_TOKEN"',
        'chatctl nodes --redis-url redis://127.0.0.1:16379 --cluster default',
      ) +
        '\nWith a ChatCluster you need: get on chatclusters, list on pods, get on the admin token’s Secret and\n' +
        'get and create on pods/proxy (the chat-operator chart’s chatcluster-editor role grants them).\n',
    )
    .action(async (chatcluster: string | undefined, o: NodesFlags) => {
      const rows = await nodeRows(chatcluster, o, ctx);
      const view = {
        table: (r: readonly NodeRow[], wide: boolean) => formatNodesTable(r, ctx.now(), wide),
        name: (r: NodeRow) => (r.pod ? `pod/${r.pod}` : r.nodeId === undefined ? r.url : `node/${r.nodeId}`),
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
      .usage('<chatcluster> <node> | <node-url>  [options]')
      .argument('<target>', TARGET_HELP)
      .argument('[node]', NODE_HELP)
      .description(
        'Drain a node: it stops taking sessions (its /readyz fails) and asks every connected client to ' +
          'reconnect elsewhere at --rate per second; shows progress until the node is empty or --wait runs out',
      ),
  )
    .addHelpText(
      'after',
      example(
        'chatctl drain chat chat-1 -n chat',
        'chatctl drain chat 1 -n chat --rate 100',
        'chatctl drain http://10.0.0.7:9090 --admin-token "$TOKEN"',
      ),
    )
    .action(async (first: string, nodeArg: string | undefined, o: MoveFlags) => {
      const node = await resolveNode(nodeTarget(first, nodeArg), o, ctx);
      const answer = await node.admin.drain(o.rate);
      ctx.out(`draining node ${answer.nodeId} (${node.admin.label}): asked ${answer.asked} sessions to move`);
      const after = await followMoves(ctx, node, answer, o.wait, true);
      const load = after ?? answer;
      ctx.out(
        `node ${load.nodeId} is draining with ${load.connections} connections left; undo with: chatctl undrain ${node.again}`,
      );
      if (node.afterDrain) ctx.err(node.afterDrain);
    });

  withKubeOptions(
    program
      .command('undrain')
      .summary('let a drained node take sessions again')
      .usage('<chatcluster> <node> | <node-url>  [options]')
      .argument('<target>', TARGET_HELP)
      .argument('[node]', NODE_HELP)
      .description('Undo a drain: the node takes new sessions again and discovery sends clients to it'),
  )
    .option('--admin-token <token>', TOKEN_HELP)
    .addHelpText(
      'after',
      example(
        'chatctl undrain chat chat-1 -n chat',
        'chatctl undrain http://10.0.0.7:9090 --admin-token "$TOKEN"',
      ),
    )
    .action(async (first: string, nodeArg: string | undefined, o: MoveFlags) => {
      const node = await resolveNode(nodeTarget(first, nodeArg), o, ctx);
      const load = await node.admin.undrain();
      ctx.out(
        `node ${load.nodeId} (${node.admin.label}) takes sessions again: ${load.connections} connections`,
      );
      if (node.afterUndrain) ctx.err(node.afterUndrain);
    });

  moveOptions(
    program
      .command('shed')
      .summary('move some sessions off a node')
      .usage('<chatcluster> <node> <count> | <node-url> <count>  [options]')
      .argument('<target>', TARGET_HELP)
      .argument('<node|count>', `${NODE_HELP}; with a node URL: the count`)
      .argument('[count]', 'with a ChatCluster: how many sessions to move')
      .description(
        'Move <count> sessions off a node: their clients get a reconnect frame (spread at --rate per ' +
          'second) and reconnect to the least-loaded other node, or to --to; shows progress until they have gone',
      )
      .option('--to <url>', 'send the clients to this node (its public URL) instead', httpUrl),
  )
    .addHelpText(
      'after',
      example(
        'chatctl shed chat chat-0 500 -n chat --rate 50',
        'chatctl shed http://10.0.0.7:9090 500 --rate 50 --admin-token "$TOKEN"',
      ),
    )
    .action(
      async (first: string, second: string, third: string | undefined, o: MoveFlags & { to?: string }) => {
        const { target, count } = shedTarget(first, second, third);
        const node = await resolveNode(target, o, ctx);
        const answer = await node.admin.shed(count, o.rate, o.to);
        const short =
          answer.asked < count ? ` (it had only ${answer.asked} sessions not already moving)` : '';
        ctx.out(
          `node ${answer.nodeId} (${node.admin.label}): asked ${answer.asked} of ${count} sessions to move${short}`,
        );
        const after = await followMoves(ctx, node, answer, o.wait);
        if (after) ctx.out(`done: node ${after.nodeId} now has ${after.connections} connections`);
      },
    );
}
