#!/usr/bin/env node
/**
 * The ChatCluster operator: `npm run operator -- --help`. Runs against the cluster that --kubeconfig,
 * KUBECONFIG or the in-cluster service account names. Only the leader (a Lease) reconciles; every
 * replica serves /metrics, /healthz and /readyz. The only place that reads process.env.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  VersionApi,
} from '@kubernetes/client-node';
import { Command, InvalidArgumentError } from 'commander';
import { errorMessage } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { Applier } from './apply.ts';
import { namespaceOf } from './chatcluster-schema.ts';
import { DataRemover, removeDataWith } from './data-removal.ts';
import { Gatherer, RegistryLoads, redisAuthFromSecrets } from './gather.ts';
import { LeaderElector } from './leader.ts';
import { createOperatorMetrics } from './metrics.ts';
import { Reconciler } from './reconciler.ts';

const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be an integer ≥ ${min}`);
  return n;
};

const program = new Command('chat-operator')
  .description(
    'Reconciles ChatCluster resources (chatplatform.io/v1alpha1): a StatefulSet of chat nodes sized by ' +
      'their live connections, sessions rebalanced onto new nodes, nodes drained before they go. ' +
      'Example: npm run operator -- --kubeconfig ~/.kube/config --namespace chat',
  )
  .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, ~/.kube/config, or in-cluster)')
  .option('--namespace <ns>', 'watch only this namespace (default: all)')
  .option(
    '--lease-namespace <ns>',
    'namespace of the leader-election Lease (default: POD_NAMESPACE or default)',
  )
  .option('--resync-ms <ms>', 'how often every ChatCluster is reconciled', int(50), 5000)
  .option('--lease-seconds <s>', 'leader lease duration', int(1), 15)
  .option('--http-port <port>', 'port of /metrics, /healthz and /readyz (0: any free port)', int(0), 8081)
  .option('--log-level <level>', 'trace, debug, info, warn or error', process.env.LOG_LEVEL ?? 'info');
program.parse();
const opts = program.opts<{
  kubeconfig?: string;
  namespace?: string;
  leaseNamespace?: string;
  resyncMs: number;
  leaseSeconds: number;
  httpPort: number;
  logLevel: string;
}>();

const log = createLogger({ level: opts.logLevel, name: 'chat-operator' });
const kc = new KubeConfig();
try {
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
} catch (err) {
  log.fatal(`cannot load a kubeconfig: ${errorMessage(err)}; pass --kubeconfig or set KUBECONFIG`);
  process.exit(2);
}

const metrics = createOperatorMetrics();
const custom = kc.makeApiClient(CustomObjectsApi);
const core = kc.makeApiClient(CoreV1Api);
const loads = new RegistryLoads(log, undefined, redisAuthFromSecrets(core));
const leader = new LeaderElector({
  api: kc.makeApiClient(CoordinationV1Api),
  namespace: opts.leaseNamespace ?? process.env.POD_NAMESPACE ?? 'default',
  leaseSeconds: opts.leaseSeconds,
  log,
  onStartedLeading: () => metrics.isLeader.set(1),
  onStoppedLeading: () => metrics.isLeader.set(0),
});
const reconciler = new Reconciler({
  custom,
  // Removals of deleted clusters' data left running at shutdown are safe to repeat: not awaited.
  remover: new DataRemover(removeDataWith(core, log), log),
  gatherer: new Gatherer({ apps: kc.makeApiClient(AppsV1Api), core, loads: loads.loads, log }),
  applier: new Applier({
    objects: KubernetesObjectApi.makeApiClient(kc),
    custom,
    core,
    log,
    onAction: (kind, ok) => metrics.nodeActions.inc({ kind, result: ok ? 'ok' : 'error' }),
  }),
  log,
  namespace: opts.namespace,
  resyncMs: opts.resyncMs,
  active: () => leader.isLeader,
  onReconciled: (cluster, result, seconds, replicas) => {
    metrics.reconciles.inc({ result });
    metrics.duration.observe(seconds);
    if (replicas !== undefined) {
      metrics.desiredReplicas.set({ namespace: namespaceOf(cluster), name: cluster.metadata.name }, replicas);
    }
  },
});

const version = kc.makeApiClient(VersionApi);
const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/metrics') {
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  } else if (path === '/healthz') {
    res.writeHead(200).end('ok\n');
  } else if (path === '/readyz') {
    version.getCode().then(
      () => res.writeHead(200).end('ok\n'),
      (err: Error) => res.writeHead(503).end(`the API server does not answer: ${err.message}\n`),
    );
  } else {
    res.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => server.listen(opts.httpPort, resolve));
log.info(
  {
    port: (server.address() as AddressInfo).port,
    namespace: opts.namespace ?? '(all)',
    identity: leader.identity,
  },
  'chat operator started; campaigning for leadership',
);

const stop = new AbortController();
leader.start();
const loop = reconciler.run(stop.signal);
let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) process.exit(1);
  stopping = true;
  log.info(`${signal}: stopping`);
  stop.abort();
  await loop;
  await leader.stop();
  await loads.close();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
