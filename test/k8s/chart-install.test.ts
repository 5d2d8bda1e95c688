/**
 * The chart as a platform team installs and upgrades it, on the real cluster: a namespaced install
 * (watchNamespace) runs the operator with Roles only, reconciles a ChatCluster in its namespace, and
 * its ServiceAccount cannot read Secrets anywhere else nor list them; `helm upgrade` to a chart whose
 * CRD changed changes the CRD in the cluster (the pre-upgrade Job), and upgrading back restores it.
 */

import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { errorMessage } from '../../common/errors.ts';
import { type ChatCluster, CRD_NAME, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { helm, helmBinary } from '../charts/helm.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { until } from '../helpers/until.ts';
import { imageTag, kubeConfig, kubeconfigPath, testNamespace } from './cluster.ts';

const CHART = join(import.meta.dirname, '..', '..', 'charts', 'chat-operator');
const CRD_FILE = `crds/${CRD_NAME}.yaml`;

describe('the chart, installed for one namespace and upgraded', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let helmPath: string | undefined;
  let ops: Awaited<ReturnType<typeof testNamespace>>;
  let team: Awaited<ReturnType<typeof testNamespace>>;
  let other: Awaited<ReturnType<typeof testNamespace>>;
  const release = `ns-${randomBytes(2).toString('hex')}`;
  let changedChart: string | undefined;
  const install = (verb: 'install' | 'upgrade', chart: string) =>
    helm(helmPath!, [
      verb,
      release,
      chart,
      '--kubeconfig',
      kubeconfigPath,
      '--namespace',
      ops.name,
      '--set',
      `image.tag=${imageTag}`,
      '--set',
      `watchNamespace=${team.name}`,
      '--set',
      'resyncMs=1000',
      '--set',
      'replicas=1',
      '--wait',
      '--timeout',
      '3m',
    ]);

  /** A client that calls the API server as the operator's ServiceAccount (a short-lived token). */
  async function asOperator(): Promise<CoreV1Api> {
    const sa = `${release}-chat-operator`;
    const token = await core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: ops.name,
      body: { spec: { expirationSeconds: 600, audiences: [] } },
    });
    const as = new KubeConfig();
    const cluster = kc.getCurrentCluster()!;
    as.loadFromOptions({
      clusters: [cluster],
      users: [{ name: sa, token: token.status!.token }],
      contexts: [{ name: 'sa', cluster: cluster.name, user: sa }],
      currentContext: 'sa',
    });
    return as.makeApiClient(CoreV1Api);
  }
  const status = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (err: unknown) => (err instanceof ApiException ? err.code : Number.NaN),
    );

  beforeAll(async () => {
    kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ops = await testNamespace(core, 'ops');
    team = await testNamespace(core, 'team');
    other = await testNamespace(core, 'other');
    for (const ns of [team.name, other.name]) {
      await core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: 'chat-auth' }, stringData: { jwt: 'j'.repeat(40), admin: 'a'.repeat(40) } },
      });
    }
    helmPath = await helmBinary();
    await install('install', CHART);
  }, 400_000);

  afterAll(async () => {
    if (helmPath && ops) {
      // Back to the chart as it is, whatever the test left (the CRD is shared by every test).
      if (changedChart) await install('upgrade', CHART).catch(() => {});
      await helm(helmPath, [
        'uninstall',
        release,
        '--kubeconfig',
        kubeconfigPath,
        '--namespace',
        ops.name,
      ]).catch(() => {});
    }
    if (changedChart) rmSync(changedChart, { recursive: true, force: true });
    for (const ns of [ops, team, other]) await ns?.remove();
  }, 400_000);

  it('grants nothing cluster-wide to the operator', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const selector = `app.kubernetes.io/instance=${release}`;
    expect((await rbac.listClusterRole({ labelSelector: selector })).items).toEqual([]);
    expect((await rbac.listClusterRoleBinding({ labelSelector: selector })).items).toEqual([]);
    const roles = (await rbac.listNamespacedRole({ namespace: team.name, labelSelector: selector })).items;
    expect(roles.map((r) => r.metadata?.name).sort()).toEqual([
      `${release}-chat-operator`,
      `${release}-chat-operator-chatcluster-editor`,
      `${release}-chat-operator-chatcluster-viewer`,
    ]);
  });

  it('reconciles a ChatCluster in its namespace with its Roles only', async () => {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: team.name,
      // No nodes: what is checked is that the operator may do its work here, not that pods run.
      body: chatClusterBody('quiet', {
        replicasManagedBy: 'External',
        replicas: 0,
        minReplicas: 0,
        auth: {
          jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
          adminTokenRef: { name: 'chat-auth', key: 'admin' },
        },
      }),
    });
    const apps = kc.makeApiClient(AppsV1Api);
    await until(
      'the operator made the StatefulSet and wrote the status',
      async () => {
        const sts = await apps
          .readNamespacedStatefulSet({ name: 'quiet', namespace: team.name })
          .catch(() => undefined);
        const c = (await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace: team.name,
          name: 'quiet',
        })) as ChatCluster;
        return sts?.spec?.replicas === 0 && c.status?.observedGeneration === c.metadata.generation;
      },
      120_000,
    ).catch(async (err) => {
      const pods = await core.listNamespacedPod({ namespace: ops.name });
      let log = '';
      for (const p of pods.items) {
        log += await core
          .readNamespacedPodLog({ name: p.metadata!.name!, namespace: ops.name, tailLines: 20 })
          .catch((e) => errorMessage(e));
      }
      throw new Error(`${errorMessage(err)}; operator log: ${log}`);
    });
    // The degraded-free path read the admin token: the Secret get in its namespace worked.
    const c = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: team.name,
      name: 'quiet',
    })) as ChatCluster;
    expect(c.status?.conditions?.find((x) => x.type === 'Degraded')?.reason).not.toBe('NoAdminToken');
  }, 180_000);

  it('cannot read Secrets in another namespace, nor list them in its own', async () => {
    const op = await asOperator();
    expect(await status(op.readNamespacedSecret({ name: 'chat-auth', namespace: team.name }))).toBe(200);
    expect(await status(op.readNamespacedSecret({ name: 'chat-auth', namespace: other.name }))).toBe(403);
    expect(await status(op.readNamespacedSecret({ name: 'chat-auth', namespace: ops.name }))).toBe(403);
    expect(await status(op.listNamespacedSecret({ namespace: team.name }))).toBe(403);
    expect(await status(op.listSecretForAllNamespaces())).toBe(403);
  });

  it('changes the CRD in the cluster on helm upgrade to a chart whose CRD changed, and back', async () => {
    const crds = kc.makeApiClient(ApiextensionsV1Api);
    const description = async () =>
      (await crds.readCustomResourceDefinition({ name: CRD_NAME })).spec.versions[0]?.schema?.openAPIV3Schema
        ?.description;
    const before = await description();
    const marker = `upgraded ${randomBytes(3).toString('hex')}`;
    changedChart = mkdtempSync(join(tmpdir(), 'chart-'));
    cpSync(CHART, changedChart, { recursive: true });
    const crd = parse(readFileSync(join(CHART, CRD_FILE), 'utf8'));
    crd.spec.versions[0].schema.openAPIV3Schema.description = marker;
    writeFileSync(join(changedChart, CRD_FILE), stringify(crd, { lineWidth: 0 }));

    await install('upgrade', changedChart);
    expect(await description()).toBe(marker);
    // The ChatCluster CRD still serves the objects made before.
    expect(
      await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: team.name,
        name: 'quiet',
      }),
    ).toMatchObject({ metadata: { name: 'quiet' } });

    await install('upgrade', CHART);
    expect(await description()).toBe(before);
  }, 400_000);
});
