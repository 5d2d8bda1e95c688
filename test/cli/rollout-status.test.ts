/**
 * `chatctl rollout status` in process against the real API server (npm run k8s:up), in a namespace
 * of its own. No operator runs there: the test writes the ChatCluster's status through the status
 * subresource as the operator would, and checks that chatctl waits while it is not done, exits 0
 * once it is, and exits 1 with what is left when --timeout runs out.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChatCluster,
  type ChatClusterCondition,
  GROUP,
  PLURAL,
  VERSION,
} from '../../operator/chatcluster-schema.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { installChatClusterCrd, KUBECONFIG, testKubeConfig } from '../helpers/kube.ts';
import { until } from '../helpers/until.ts';
import { testNamespace } from '../k8s/cluster.ts';
import { chatctlInProcess } from './in-process.ts';
import { userWithRules } from './kube-user.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const condition = (type: string, status: 'True' | 'False', reason: string, message: string) =>
  ({ type, status, reason, message, lastTransitionTime: new Date().toISOString() }) as ChatClusterCondition;

/** The status the operator writes for `ready` of 2 nodes on `generation`. */
function operatorStatus(generation: number, ready: number): ChatCluster['status'] {
  const all = ready === 2;
  return {
    replicas: 2,
    readyReplicas: ready,
    observedGeneration: generation,
    conditions: [
      condition(
        'Ready',
        all ? 'True' : 'False',
        all ? 'NodesReady' : 'NodesNotReady',
        `${ready} of 2 nodes ready`,
      ),
      condition('Scaling', 'False', 'Steady', 'spec.replicas is 2'),
      condition('Rebalancing', 'False', 'NodesNotReady', 'waiting for every node to be ready'),
      condition('Degraded', 'False', 'AsExpected', 'every ready node reports its load'),
    ],
  };
}

describe('chatctl rollout status against the API server', () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  const ref = (name: string) => ({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: ns.name,
    name,
  });

  /** Creates a ChatCluster of 2 External replicas with the status of `ready` nodes; returns its generation. */
  async function cluster(name: string, ready: number): Promise<number> {
    const created = (await custom.createNamespacedCustomObject({
      ...ref(name),
      body: chatClusterBody(name, { replicas: 2, replicasManagedBy: 'External' }),
    })) as ChatCluster;
    const generation = created.metadata.generation ?? 1;
    await writeStatus(name, operatorStatus(generation, ready));
    return generation;
  }

  const writeStatus = (name: string, status: ChatCluster['status']) =>
    custom.patchNamespacedCustomObjectStatus({ ...ref(name), body: { status } }, mergePatch);

  const rollout = (name: string, more: string[] = [], kubeconfig = KUBECONFIG) => {
    const lines: string[] = [];
    const args = ['rollout', 'status', name, '-n', ns.name, '--kubeconfig', kubeconfig, ...more];
    let exited = false;
    const result = chatctlInProcess(args, {}, (line) => lines.push(line)).finally(() => {
      exited = true;
    });
    return { result, lines, exited: () => exited };
  };

  beforeAll(async () => {
    ns = await testNamespace(core, 'chatctl-rollout');
    await installChatClusterCrd(kc, ns.name);
  }, 60_000);

  afterAll(async () => {
    await ns?.remove();
  });

  it('shows progress while a node is not ready, and exits 0 once the operator reports it done', async () => {
    const generation = await cluster('rolling', 1);
    const run = rollout('rolling', ['--settle', '1']);
    await until('chatctl prints a progress line', () => run.lines.some((l) => l.includes('1/2 nodes ready')));
    expect(run.lines[0]).toBe(
      `waiting for chatcluster ${ns.name}/rolling to roll out (at most 600 s; --timeout)`,
    );
    expect(run.lines.find((l) => l.includes('1/2 nodes ready'))).toMatch(
      /^\[#{10}\.{10}\] 1\/2 nodes ready; Ready False \(NodesNotReady: 1 of 2 nodes ready\), \d+\.\d s$/,
    );
    expect(run.exited()).toBe(false);

    await writeStatus('rolling', operatorStatus(generation, 2));
    const r = await run.result;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `chatcluster ${ns.name}/rolling successfully rolled out: 2 of 2 nodes ready (generation ${generation})`,
    );
    expect(r.stderr).toMatch(
      /\[#{20}\] 2\/2 nodes ready; Ready True \(NodesReady: 2 of 2 nodes ready\), \d+\.\d s$/,
    );
  });

  it('exits 1 after --timeout, saying what is not done and where to look', async () => {
    await cluster('stuck', 1);
    const r = await rollout('stuck', ['--timeout', '2']).result;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `chatctl: chatcluster ${ns.name}/stuck has not rolled out after 2 s: 1 of 2 nodes ready; Ready is False (NodesNotReady). ` +
        `Look at its conditions and nodes with: chatctl status stuck -n ${ns.name}, and at the operator's events with: ` +
        `kubectl describe chatcluster stuck -n ${ns.name}; or wait longer with --timeout <seconds>`,
    );
  });

  it('says when there is no such ChatCluster, and how to list them', async () => {
    const r = await rollout('nosuch').result;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`chatctl: ChatCluster ${ns.name}/nosuch not found`);
    expect(r.stderr).toContain('list them with: chatctl clusters -A');
  });

  it('says when reading the ChatCluster is not allowed, and what to ask for', async () => {
    await cluster('guarded', 2);
    const podsOnly = await userWithRules(kc, ns.name, 'pods-only', [
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ]);
    const r = await rollout('guarded', [], podsOnly).result;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`chatctl: not allowed to read or change ChatCluster ${ns.name}/guarded`);
    expect(r.stderr).toContain('Ask for access to chatclusters.chatplatform.io (get');
  });
});
