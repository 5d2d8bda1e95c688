/** `chatctl clusters`, `chatctl status` and `chatctl scale`: ChatClusters through the Kubernetes API. */
import type { Command } from 'commander';
import { type ChatCluster, GROUP, KIND } from '../../operator/chatcluster-schema.ts';
import { integer, kubeName, type OutputFormat, outputFormat } from '../args.ts';
import { formatClusterList, formatClusterStatus, scaleSummary } from '../clusters-view.ts';
import type { CliContext } from '../context.ts';
import { UsageError } from '../errors.ts';
import type { ClusterApi, KubeOptions } from '../kube.ts';
import { OUTPUT_FORMATS, render } from '../output.ts';

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
}
