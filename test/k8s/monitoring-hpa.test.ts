/**
 * The chart's monitoring and an outside autoscaler on the real cluster. With prometheus-operator's
 * real CRDs installed (test/helpers/prometheus-crds.ts), `helm install` with
 * monitoring.podMonitor.enabled and monitoring.dashboard.enabled succeeds and the API server keeps
 * every field of the monitors (a field its schema lacks would be pruned, silently); the
 * ServiceMonitor variant passes a server-side dry run. A real HorizontalPodAutoscaler
 * (autoscaling/v2, kube-controller-manager's HPA controller) on a fresh ChatCluster that sets no
 * replicas reads its scale (AbleToScale, never FailedGetScale) and, below its minReplicas, writes it;
 * the operator the chart runs follows (replicasManagedBy External), and the nodes' PodMonitor selects
 * the pods it made, on their admin port. There is no metrics server: the HPA's metric errors are expected.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type V2HorizontalPodAutoscalerCondition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage } from '../../common/errors.ts';
import { type ChatCluster, GROUP, KIND, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { ADMIN_PORT } from '../../operator/objects.ts';
import { helm, helmBinary, type Obj, renderChart } from '../charts/helm.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { installPrometheusCrds } from '../helpers/prometheus-crds.ts';
import { until } from '../helpers/until.ts';
import { imageTag, kubeConfig, kubeconfigPath, testNamespace } from './cluster.ts';

const CHART = join(import.meta.dirname, '..', '..', 'charts', 'chat-operator');
const MONITORING = { group: 'monitoring.coreos.com', version: 'v1' };

describe('the chart’s monitors and dashboard, and an HPA on a ChatCluster, on the real cluster', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let helmPath: string | undefined;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  const release = `mon-${randomBytes(2).toString('hex')}`;
  /** What `helm install` printed (its NOTES). */
  let installed = '';
  const values = (monitor: 'podMonitor' | 'serviceMonitor') => [
    `image.tag=${imageTag}`,
    `watchNamespace=${ns.name}`,
    'resyncMs=1000',
    'replicas=1',
    `monitoring.${monitor}.enabled=true`,
    'monitoring.labels.release=kube-prometheus-stack',
    'monitoring.interval=15s',
    'monitoring.dashboard.enabled=true',
  ];
  const monitorsOf = (objects: Obj[]) => objects.filter((o) => o.apiVersion === `${MONITORING.group}/v1`);
  const stored = (kind: 'podmonitors' | 'servicemonitors', name: string) =>
    custom.getNamespacedCustomObject({
      ...MONITORING,
      plural: kind,
      namespace: ns.name,
      name,
    }) as Promise<Obj>;

  async function operatorLog(): Promise<string> {
    const pods = await core.listNamespacedPod({
      namespace: ns.name,
      labelSelector: 'app.kubernetes.io/name=chat-operator',
    });
    let log = '';
    for (const p of pods.items) {
      log += await core
        .readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns.name, tailLines: 20 })
        .catch((e) => `(no log: ${errorMessage(e)})`);
    }
    return log;
  }

  beforeAll(async () => {
    kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await installPrometheusCrds(kc);
    ns = await testNamespace(core, 'mon');
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'chat-auth' }, stringData: { jwt: 'j'.repeat(40), admin: 'a'.repeat(40) } },
    });
    helmPath = await helmBinary();
    installed = await helm(helmPath, [
      'install',
      release,
      CHART,
      '--kubeconfig',
      kubeconfigPath,
      '--namespace',
      ns.name,
      ...values('podMonitor').flatMap((s) => ['--set', s]),
      '--wait',
      '--timeout',
      '3m',
    ]);
  }, 400_000);

  afterAll(async () => {
    if (helmPath && ns) {
      await helm(helmPath, [
        'uninstall',
        release,
        '--kubeconfig',
        kubeconfigPath,
        '--namespace',
        ns.name,
      ]).catch(() => {});
    }
    await ns?.remove();
  }, 120_000);

  it('installs the PodMonitors of the operator and the nodes, every field kept, and the dashboard', async () => {
    const rendered = monitorsOf(await renderChart(helmPath!, CHART, release, ns.name, values('podMonitor')));
    expect(rendered.map((o) => `${o.kind}/${o.metadata!.name}`).sort()).toEqual([
      `PodMonitor/${release}-chat-operator`,
      `PodMonitor/${release}-chat-operator-chat-nodes`,
    ]);
    for (const o of rendered) {
      const live = await stored('podmonitors', o.metadata!.name!);
      expect(live.spec, `${o.metadata!.name} as the API server stored it`).toEqual(o.spec);
      expect(live.metadata?.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    }
    const notes = installed.slice(installed.indexOf('NOTES:'));
    expect(notes).toContain(
      `kubectl -n ${ns.name} get podmonitors ${release}-chat-operator ${release}-chat-operator-chat-nodes`,
    );
    expect(notes).toContain(`ConfigMap ${release}-chat-operator-dashboard`);
    const cm = await core.readNamespacedConfigMap({
      name: `${release}-chat-operator-dashboard`,
      namespace: ns.name,
    });
    expect(cm.metadata?.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(JSON.parse(cm.data!['chat-platform.json']!)).toEqual(
      JSON.parse(readFileSync(join(CHART, 'dashboards', 'chat.json'), 'utf8')),
    );
  });

  it('has its ServiceMonitors accepted too, every field kept (server-side dry run)', async () => {
    const rendered = monitorsOf(
      await renderChart(helmPath!, CHART, release, ns.name, values('serviceMonitor')),
    );
    expect(rendered.map((o) => o.kind)).toEqual(['ServiceMonitor', 'ServiceMonitor']);
    const api = KubernetesObjectApi.makeApiClient(kc);
    for (const o of rendered) {
      const answer = (await api
        .patch(o, undefined, 'All', 'chat-platform-tests', true, PatchStrategy.ServerSideApply)
        .catch((err: unknown) => {
          throw new Error(
            `${o.kind}/${o.metadata!.name} refused: ${err instanceof ApiException ? err.body : errorMessage(err)}`,
          );
        })) as Obj;
      expect(answer.spec, `${o.metadata!.name} as the API server would store it`).toEqual(o.spec);
    }
    const list = await custom.listNamespacedCustomObject({
      ...MONITORING,
      plural: 'servicemonitors',
      namespace: ns.name,
    });
    expect((list as { items: unknown[] }).items).toEqual([]);
  });

  describe('a HorizontalPodAutoscaler on a fresh ChatCluster that sets no replicas', () => {
    const name = 'scaled';
    const ref = { group: GROUP, version: VERSION, plural: PLURAL, name };
    let conditions: V2HorizontalPodAutoscalerCondition[] = [];

    beforeAll(async () => {
      await custom.createNamespacedCustomObject({
        ...ref,
        namespace: ns.name,
        // No node needs to run for what is checked here (who writes the replicas, what the monitor
        // selects): an image that is never pulled keeps the pods from starting at all.
        body: chatClusterBody(name, {
          image: 'chat-platform/chat-node:never-pulled',
          podTemplate: { imagePullPolicy: 'Never' },
          replicasManagedBy: 'External',
          minReplicas: 1,
          maxReplicas: 3,
          auth: {
            jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
            adminTokenRef: { name: 'chat-auth', key: 'admin' },
          },
        }),
      });
    });

    it('has a scale that reads 200 before anything wrote spec.replicas', async () => {
      const scale = await custom.getNamespacedCustomObjectScale({ ...ref, namespace: ns.name });
      expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 1 } });
    });

    it('is able to scale it (AbleToScale True, no FailedGetScale), and raises it to its minReplicas', async () => {
      const hpas = kc.makeApiClient(AutoscalingV2Api);
      await hpas.createNamespacedHorizontalPodAutoscaler({
        namespace: ns.name,
        body: {
          metadata: { name },
          spec: {
            scaleTargetRef: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, name },
            minReplicas: 2,
            maxReplicas: 3,
            metrics: [
              {
                type: 'Resource',
                resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
              },
            ],
          },
        },
      });
      // The HPA controller looks every 15 s; below minReplicas it scales without reading a metric.
      await until(
        'the HPA reports AbleToScale True and has written spec.replicas 2',
        async () => {
          const hpa = await hpas.readNamespacedHorizontalPodAutoscaler({ name, namespace: ns.name });
          conditions = hpa.status?.conditions ?? [];
          const cluster = (await custom.getNamespacedCustomObject({
            ...ref,
            namespace: ns.name,
          })) as ChatCluster;
          if (
            conditions.some((c) => c.type === 'AbleToScale' && c.status === 'True') &&
            cluster.spec.replicas === 2
          )
            return true;
          await sleep(1000);
          return false;
        },
        90_000,
      ).catch((err) => {
        throw new Error(`${errorMessage(err)}; HPA conditions: ${JSON.stringify(conditions)}`);
      });
      expect(conditions.find((c) => c.type === 'AbleToScale')).toMatchObject({ status: 'True' });
      expect(
        conditions.filter((c) => c.reason === 'FailedGetScale'),
        JSON.stringify(conditions),
      ).toEqual([]);
      const events = await core.listNamespacedEvent({
        namespace: ns.name,
        fieldSelector: `involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=${name}`,
      });
      expect(events.items.filter((e) => e.reason === 'FailedGetScale').map((e) => e.message)).toEqual([]);
    }, 120_000);

    it('is followed by the operator: the StatefulSet gets the replicas the HPA wrote', async () => {
      const apps = kc.makeApiClient(AppsV1Api);
      await until(
        'the operator scaled the StatefulSet to 2',
        async () => {
          const sts = await apps
            .readNamespacedStatefulSet({ name, namespace: ns.name })
            .catch(() => undefined);
          if (sts?.spec?.replicas === 2) return true;
          await sleep(500);
          return false;
        },
        60_000,
      ).catch(async (err) => {
        throw new Error(`${errorMessage(err)}; operator log: ${await operatorLog()}`);
      });
    }, 90_000);

    it('has its pods selected by the nodes’ PodMonitor, on their admin port', async () => {
      const monitor = await stored('podmonitors', `${release}-chat-operator-chat-nodes`);
      expect(monitor.spec.namespaceSelector).toEqual({ matchNames: [ns.name] });
      const selector = Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      let pods: Awaited<ReturnType<CoreV1Api['listNamespacedPod']>>['items'] = [];
      await until(
        'the StatefulSet made two pods',
        async () => {
          pods = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: selector })).items;
          if (pods.length === 2) return true;
          await sleep(500);
          return false;
        },
        60_000,
      );
      const port = monitor.spec.podMetricsEndpoints[0].port;
      for (const p of pods) {
        expect(p.metadata?.labels?.['app.kubernetes.io/instance']).toBe(name);
        expect(p.spec?.containers[0]?.ports).toContainEqual(
          expect.objectContaining({ name: port, containerPort: ADMIN_PORT }),
        );
      }
      // The operator's PodMonitor selects the operator pod, which has its port.
      const operator = await stored('podmonitors', `${release}-chat-operator`);
      const opSelector = Object.entries(operator.spec.selector.matchLabels as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      const opPods = (
        await core.listNamespacedPod({ namespace: ns.name, labelSelector: opSelector })
      ).items.filter((p) => p.spec?.containers.some((c) => c.ports?.some((x) => x.name === 'http-metrics')));
      expect(opPods).toHaveLength(1);
    }, 90_000);
  });
});
