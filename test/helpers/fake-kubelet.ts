/**
 * Plays the kubelet for the operator's end-to-end tests. The test API server has no kubelet: the
 * StatefulSet controller creates Pod objects that never run. This watches the pods of one
 * StatefulSet (by polling, bounded) and, for each pod, runs a real chat-node process on loopback with
 * CHAT_NODE_ID = the pod's ordinal, then marks the pod Ready as a kubelet would once /readyz passes;
 * a deleted pod's process is stopped with SIGTERM (the node drains, as in a real pod).
 */
import { CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { TestCluster } from './cluster.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class FakeKubelet {
  private readonly core: CoreV1Api;
  /** ordinal → the pod uid its process was started for. */
  private readonly running = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** What happened, for a test's failure message. */
  readonly log: string[] = [];

  private readonly o: { namespace: string; selector: string; nodes: TestCluster; pollMs?: number };

  constructor(
    kc: KubeConfig,
    options: { namespace: string; selector: string; nodes: TestCluster; pollMs?: number },
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.o = options;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.pollMs ?? 300);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 50));
  }

  /** Ordinals that have a running chat-node process. */
  get ordinals(): number[] {
    return [...this.running.keys()].sort((a, b) => a - b);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const pods = await this.core.listNamespacedPod({
        namespace: this.o.namespace,
        labelSelector: this.o.selector,
      });
      const live = new Map<number, { name: string; uid: string; ready: boolean }>();
      for (const p of pods.items) {
        if (p.metadata?.deletionTimestamp) continue;
        const ordinal = Number(p.metadata?.labels?.['apps.kubernetes.io/pod-index']);
        if (!Number.isInteger(ordinal)) continue;
        const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
        live.set(ordinal, { name: p.metadata!.name!, uid: p.metadata!.uid!, ready });
      }
      for (const [ordinal, uid] of this.running) {
        if (live.get(ordinal)?.uid !== uid) await this.kill(ordinal);
      }
      for (const [ordinal, pod] of live) {
        if (!this.running.has(ordinal)) await this.run(ordinal, pod.name, pod.uid);
        else if (!pod.ready) await this.markReady(pod.name);
      }
    } catch (err) {
      this.log.push(`tick failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  private async run(ordinal: number, podName: string, uid: string): Promise<void> {
    this.log.push(`start ${podName}`);
    const node = await this.o.nodes.start(ordinal, { CHAT_NODE_ID: String(ordinal) });
    this.running.set(ordinal, uid);
    this.log.push(`${podName} is node ${node.nodeId} at ${node.url}`);
    await this.markReady(podName);
  }

  private async markReady(podName: string): Promise<void> {
    const now = new Date().toISOString();
    const condition = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
    await this.core.patchNamespacedPodStatus(
      {
        name: podName,
        namespace: this.o.namespace,
        body: {
          status: {
            phase: 'Running',
            podIP: '127.0.0.1',
            startTime: now,
            conditions: [condition('Initialized'), condition('ContainersReady'), condition('Ready')],
          },
        },
      },
      mergePatch,
    );
  }

  private async kill(ordinal: number): Promise<void> {
    this.log.push(`stop ordinal ${ordinal}`);
    this.running.delete(ordinal);
    await this.o.nodes.stop(ordinal, 'SIGTERM');
  }
}
