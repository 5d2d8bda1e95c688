/**
 * `chatctl clusters`, `status`, `scale` and `rollout status`: ChatClusters through the Kubernetes API.
 */
import type { Command } from 'commander';
import { type ChatCluster, GROUP, KIND } from '../../operator/chatcluster-schema.ts';
import { integer, kubeName, type OutputFormat, outputFormat } from '../args.ts';
import { formatClusterList, formatClusterStatus, scaleSummary } from '../clusters-view.ts';
import type { CliContext } from '../context.ts';
import { UsageError } from '../errors.ts';
import type { ClusterApi, KubeOptions } from '../kube.ts';
import { OUTPUT_FORMATS, render } from '../output.ts';
import { rolledOut, waitForRollout } from '../rollout.ts';

type KubeFlags = KubeOptions & { output: OutputFormat };

/** --kubeconfig, --context, -n and -o, shared by the three commands. */
function withKubeOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use (default: its current-context)')
    .option('-n, --namespace <ns>', "namespace (default: the context's namespace, else default)")
    .option('-o, --output <format>', `${OUTPUT_FORMATS.join(', ')}`, outputFormat, 'table');
}

/** `chatcluster.chatplatform.io/<name>`, as `kubectl get -o name` prints it. */
const clusterName = (c: ChatCluster) => `${KIND.toLowerCase()}.${GROUP}/${c.metadata.name}`;

/** The Kubernetes client takes most of a second to load: only the commands that use it load it. */
async function openApi(o: KubeOptions, ctx: CliContext): Promise<ClusterApi> {
  const { ClusterApi } = await import('../kube.ts');
  return ClusterApi.open(o, ctx.env);
}

const example = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

export function registerClusterCommands(program: Command, ctx: CliContext): void {
  withKubeOptions(
    program
      .command('clusters')
      .summary('list ChatClusters with nodes, connections and conditions')
      .description(
        'List ChatClusters: desired and existing nodes, ready nodes, connections, the per-node target, load and conditions',
      ),
  )
    .option('-A, --all-namespaces', 'list the ChatClusters of every namespace')
    .addHelpText('after', example('chatctl clusters -n chat', 'chatctl clusters -A -o json'))
    .action(async (o: KubeFlags & { allNamespaces?: boolean }) => {
      if (o.allNamespaces && o.namespace) throw new UsageError('pass either -n <ns> or -A, not both');
      const api = await openApi(o, ctx);
      const namespace = o.allNamespaces ? undefined : api.namespace;
      const items = await api.list(namespace);
      if (o.output !== 'table' && o.output !== 'wide') {
        for (const line of render(o.output, items, { table: () => [], name: clusterName })) ctx.out(line);
        return;
      }
      if (items.length === 0) {
        ctx.err(
          `no ChatClusters ${namespace ? `in namespace ${namespace}` : 'in any namespace'}` +
            ' (create one with kubectl apply -f <file> of kind ChatCluster; kubectl explain chatcluster.spec lists its fields)',
        );
        return;
      }
      for (const line of formatClusterList(items, ctx.now(), namespace === undefined, o.output === 'wide')) {
        ctx.out(line);
      }
    });

  withKubeOptions(
    program
      .command('status')
      .summary('one ChatCluster in detail, with its nodes')
      .argument('<name>', 'the ChatCluster', kubeName)
      .description(
        'Show one ChatCluster: nodes, connections against the target, its conditions (Ready, Scaling, Rebalancing, Degraded) and every node from status.nodes',
      ),
  )
    .addHelpText('after', example('chatctl status chat -n chat', 'chatctl status chat -o json'))
    .action(async (name: string, o: KubeFlags) => {
      const api = await openApi(o, ctx);
      const cluster = await api.get(api.namespace, name);
      const view = { table: () => formatClusterStatus(cluster, ctx.now()), name: clusterName };
      for (const line of render(o.output, cluster, view, true)) ctx.out(line);
    });

  program
    .command('scale')
    .summary('set the node count of a ChatCluster')
    .argument('<name>', 'the ChatCluster', kubeName)
    .argument('<replicas>', 'the node count to run', integer(0, 10_000))
    .description(
      "Set a ChatCluster's spec.replicas and take them over from the autoscaler (replicasManagedBy External; the operator keeps the count within minReplicas..maxReplicas). Hand them back by setting replicasManagedBy to Operator",
    )
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use (default: its current-context)')
    .option('-n, --namespace <ns>', "namespace (default: the context's namespace, else default)")
    .addHelpText('after', example('chatctl scale chat 5 -n chat'))
    .action(async (name: string, replicas: number, o: KubeOptions) => {
      const api = await openApi(o, ctx);
      const before = await api.get(api.namespace, name);
      const scale = await api.scale(api.namespace, name, replicas);
      for (const line of scaleSummary(before, scale.spec?.replicas ?? replicas)) ctx.out(line);
    });

  registerRolloutCommands(program, ctx);
}

const ROLLOUT_HELP = `
Done is what the operator reports in the ChatCluster's status: status.observedGeneration has reached
metadata.generation, status.replicas, status.readyReplicas and status.updatedReplicas (the nodes on
the current pod template) equal spec.replicas (within minReplicas..maxReplicas), Ready is True, and
neither Scaling nor a rollout (the Rebalancing condition with reason RollingUpdate) is True. Progress
goes to standard error, one line when something changes and at least every 5 s; the last line to
standard output.

The operator replaces the nodes on an old template one at a time (drained first); the bar counts
ready nodes. An operator older than status.updatedReplicas reports a rollout only from the reconcile
after it changed the StatefulSet: against such a status, done counts once it has held for --settle
seconds, longer than the operator's reconcile interval (5 s unless its --resync-ms says otherwise).
`;

function registerRolloutCommands(program: Command, ctx: CliContext): void {
  const rollout = program
    .command('rollout')
    .summary("follow a ChatCluster's rollout")
    .description('Follow the rollout of a ChatCluster, as kubectl rollout follows a Deployment')
    .addHelpText('after', example('chatctl rollout status chat -n chat'));
  rollout
    .command('status')
    .summary('wait until a rollout (or a scale) is done, with progress')
    .argument('<name>', 'the ChatCluster', kubeName)
    .description(
      'Wait until the operator reports the current spec of a ChatCluster done: every node ready on it, ' +
        'the rollout and any scaling over. Shows progress meanwhile; exits 0 when done, 1 on --timeout',
    )
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use (default: its current-context)')
    .option('-n, --namespace <ns>', "namespace (default: the context's namespace, else default)")
    .option('--timeout <seconds>', 'give up after this long (0: never)', integer(0), 600)
    .option(
      '--settle <seconds>',
      'with an older operator, done counts once it has held this long (see below)',
      integer(0, 3600),
      6,
    )
    .addHelpText(
      'after',
      example(
        'chatctl rollout status chat -n chat',
        'kubectl apply -f chat.yaml && chatctl rollout status chat -n chat --timeout 900',
        'chatctl scale chat 5 -n chat && kubectl chat rollout status chat -n chat',
      ) + ROLLOUT_HELP,
    )
    .action(async (name: string, o: KubeOptions & { timeout: number; settle: number }) => {
      const api = await openApi(o, ctx);
      const limit = o.timeout === 0 ? 'no time limit' : `at most ${o.timeout} s`;
      ctx.err(`waiting for chatcluster ${api.namespace}/${name} to roll out (${limit}; --timeout)`);
      const done = await waitForRollout(() => api.get(api.namespace, name), {
        timeoutMs: o.timeout * 1000,
        settleMs: o.settle * 1000,
        now: ctx.now,
        sleep: ctx.sleep,
        report: (line) => ctx.err(line),
      });
      ctx.out(rolledOut(done));
    });
}
