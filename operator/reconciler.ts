/**
 * The reconcile loop: every `resyncMs` list the ChatClusters and, for each, gather → decide → apply,
 * `concurrency` clusters at a time (a slow one does not hold up the rest). A periodic re-list rather
 * than a watch: informers can stop silently, and a list every few seconds is cheap at the number of
 * ChatClusters one operator runs. Errors are per cluster: logged, counted, retried at the next pass;
 * the loop itself never stops until its signal aborts.
 */
import { ApiException, type CustomObjectsApi } from '@kubernetes/client-node';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Applier } from './apply.ts';
import { type ChatCluster, GROUP, namespaceOf, PLURAL, VERSION } from './chatcluster-schema.ts';
import type { DataRemover } from './data-removal.ts';
import { decide } from './decide.ts';
import { decideDeletion, FINALIZER } from './deletion.ts';
import type { Gatherer } from './gather.ts';
import { emptyMemory, type Memory } from './types.ts';

export interface ReconcilerDeps {
  custom: CustomObjectsApi;
  gatherer: Gatherer;
  applier: Applier;
  /** Removes the data of a ChatCluster deleted with deletionPolicy Delete, in the background. */
  remover: DataRemover;
  log: Logger;
  /** Only this namespace; all when unset. */
  namespace?: string;
  /** Default 5000. */
  resyncMs?: number;
  /** Clusters reconciled at the same time. Default 4. */
  concurrency?: number;
  clock?: () => number;
  /** Called after each cluster's reconcile (metrics). */
  onReconciled?: (cluster: ChatCluster, result: 'ok' | 'error', seconds: number, replicas?: number) => void;
  /** Reconcile only while this says so (leader election). */
  active?: () => boolean;
}

export class Reconciler {
  private readonly custom: CustomObjectsApi;
  private readonly gatherer: Gatherer;
  private readonly applier: Applier;
  private readonly remover: DataRemover;
  private readonly log: Logger;
  private readonly namespace: string | undefined;
  private readonly resyncMs: number;
  private readonly concurrency: number;
  private readonly clock: () => number;
  private readonly onReconciled: ReconcilerDeps['onReconciled'];
  private readonly active: (() => boolean) | undefined;
  private readonly memory = new Map<string, Memory>();

  constructor(deps: ReconcilerDeps) {
    this.custom = deps.custom;
    this.gatherer = deps.gatherer;
    this.applier = deps.applier;
    this.remover = deps.remover;
    this.log = deps.log;
    this.namespace = deps.namespace;
    this.resyncMs = deps.resyncMs ?? 5000;
    this.concurrency = deps.concurrency ?? 4;
    this.clock = deps.clock ?? Date.now;
    this.onReconciled = deps.onReconciled;
    this.active = deps.active;
  }

  async list(): Promise<ChatCluster[]> {
    const common = { group: GROUP, version: VERSION, plural: PLURAL };
    const res = (
      this.namespace
        ? await this.custom.listNamespacedCustomObject({ ...common, namespace: this.namespace })
        : await this.custom.listClusterCustomObject(common)
    ) as { items: ChatCluster[] };
    return res.items;
  }

  /** One pass over every ChatCluster; the memory of clusters that are gone is dropped. */
  async reconcileAll(): Promise<void> {
    const clusters = await this.list();
    const queue = [...clusters];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        if (this.active && !this.active()) return;
        await this.reconcile(c, clusters);
      }
    };
    const workers = Math.max(1, Math.min(this.concurrency, clusters.length));
    await Promise.all(Array.from({ length: workers }, worker));
    const seen = new Set(clusters.map(keyOf));
    for (const key of this.memory.keys()) if (!seen.has(key)) this.forget(key);
  }

  /** Reads one ChatCluster and reconciles it; one that is gone only has its memory dropped. */
  async reconcileOnce(namespace: string, name: string): Promise<void> {
    let cluster: ChatCluster;
    try {
      cluster = (await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name,
      })) as ChatCluster;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return this.forget(`${namespace}/${name}`);
      throw err;
    }
    await this.reconcile(cluster);
  }

  private forget(key: string): void {
    this.memory.delete(key);
    const [ns, name] = key.split('/') as [string, string];
    this.applier.forget(ns, name);
    this.remover.forget(ns, name);
  }

  /**
   * Gather → decide → apply for one ChatCluster as read; errors are logged and counted, not thrown.
   * `all`: every ChatCluster as just listed (a deletion checks who else names its keyspace).
   */
  async reconcile(cluster: ChatCluster, all?: ChatCluster[]): Promise<void> {
    const started = performance.now();
    const key = keyOf(cluster);
    try {
      if (cluster.metadata.deletionTimestamp) {
        await this.reconcileDeletion(cluster, all ?? (await this.list()));
        this.onReconciled?.(cluster, 'ok', (performance.now() - started) / 1000);
        return;
      }
      const observation = await this.gatherer.observe(cluster);
      const decision = decide(observation, this.memory.get(key) ?? emptyMemory(), this.clock());
      this.memory.set(key, decision.memory);
      await this.applier.apply(cluster, decision);
      for (const e of decision.events) this.log.info({ cluster: key, reason: e.reason }, e.message);
      this.onReconciled?.(cluster, 'ok', (performance.now() - started) / 1000, decision.replicas);
    } catch (err) {
      this.log.warn({ cluster: key, err: errorMessage(err) }, 'reconcile failed; retrying next pass');
      this.onReconciled?.(cluster, 'error', (performance.now() - started) / 1000);
    }
  }

  /**
   * A ChatCluster being deleted: nothing is applied any more (that would recreate what goes); with
   * our finalizer, deletion.ts decides the next step, and the data removal runs in the background.
   */
  private async reconcileDeletion(cluster: ChatCluster, all: ChatCluster[]): Promise<void> {
    if (!cluster.metadata.finalizers?.includes(FINALIZER)) return;
    const key = keyOf(cluster);
    const seen = await this.gatherer.observeDeletion(cluster);
    const decision = decideDeletion(
      { cluster, ...seen, others: all.filter((c) => keyOf(c) !== key), removal: this.remover.state(cluster) },
      this.clock(),
    );
    await this.applier.applyDeletion(cluster, decision, this.remover);
    for (const e of decision.events) this.log.info({ cluster: key, reason: e.reason }, e.message);
  }

  /** Reconciles every resyncMs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const every = this.resyncMs;
    while (!signal.aborted) {
      const started = this.clock();
      if (!this.active || this.active()) {
        await this.reconcileAll().catch((err: Error) =>
          this.log.warn({ err: err.message }, 'listing ChatClusters failed; retrying'),
        );
      }
      const wait = Math.max(50, every - (this.clock() - started));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
    }
  }
}

const keyOf = (c: ChatCluster) => `${namespaceOf(c)}/${c.metadata.name}`;
