/** `chatctl clusters`, `chatctl status` and `chatctl scale`: ChatClusters through the Kubernetes API. */
import type { Command } from 'commander';
import { integer, kubeName, type OutputFormat, outputFormat } from '../args.ts';
import { formatClusterList, formatClusterStatus, scaleSummary } from '../clusters-view.ts';
import type { CliContext } from '../context.ts';
import { UsageError } from '../errors.ts';
import type { ClusterApi, KubeOptions } from '../kube.ts';

type KubeFlags = KubeOptions & { output: OutputFormat };

/** --kubeconfig, --context, -n and -o, shared by the three commands. */
function withKubeOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use (default: its current-context)')
    .option('-n, --namespace <ns>', "namespace (default: the context's namespace, else default)")
    .option('-o, --output <format>', 'table or json', outputFormat, 'table');
}

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
      if (o.output === 'json') return ctx.out(JSON.stringify(items, null, 2));
      if (items.length === 0) {
        ctx.err(
          `no ChatClusters ${namespace ? `in namespace ${namespace}` : 'in any namespace'}` +
            ' (create one: kubectl apply -f crds/samples/minimal.yaml)',
        );
        return;
      }
      for (const line of formatClusterList(items, ctx.now(), namespace === undefined)) ctx.out(line);
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
      if (o.output === 'json') return ctx.out(JSON.stringify(cluster, null, 2));
      for (const line of formatClusterStatus(cluster, ctx.now())) ctx.out(line);
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
}
