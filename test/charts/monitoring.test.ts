/**
 * The chart's monitoring (values monitoring.*): the prometheus-operator monitors of the operator and
 * of the chat nodes, checked against the objects they must find (the chart's Deployment and Service,
 * and the pods and Services operator/objects.ts builds for a ChatCluster), and the Grafana dashboard
 * ConfigMap. test/k8s/monitoring.test.ts installs them on a real API server with the real CRDs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PORT, buildObjects, nodeLabels } from '../../operator/objects.ts';
import { chartDir } from '../../scripts/gen-chart.ts';
import { chatCluster } from '../helpers/chatcluster.ts';
import { helm, helmBinary, type Obj, renderChart } from './helm.ts';

const RELEASE = 'chat-operator';
let helmPath: string;
const render = (set: readonly string[], namespace = 'chat-system') =>
  renderChart(helmPath, chartDir, RELEASE, namespace, set);
const kinds = (objects: Obj[], kind: string) => objects.filter((o) => o.kind === kind);
const named = (objects: Obj[], kind: string, name: string) => {
  const found = objects.filter((o) => o.kind === kind && o.metadata?.name === name);
  expect(found, `one ${kind} ${name}`).toHaveLength(1);
  return found[0]!;
};
/** True when every label of `selector` is on `labels`. */
const selects = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** What the operator builds for a ChatCluster `chat` in team-a. */
const cluster = chatCluster();
const owned = buildObjects(cluster, 2) as Obj[];
const statefulSet = owned.find((o) => o.kind === 'StatefulSet')!;
const nodeContainer = statefulSet.spec.template.spec.containers[0];

beforeAll(async () => {
  helmPath = await helmBinary();
}, 30 * 60_000);

describe('the chart’s monitors', () => {
  it('renders no monitor and no dashboard by default', async () => {
    const objects = await render([]);
    expect(objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1')).toEqual([]);
    expect(objects.filter((o) => o.metadata?.name === `${RELEASE}-dashboard`)).toEqual([]);
  });

  it('passes helm lint --strict with every monitoring value set', async () => {
    for (const kind of ['podMonitor', 'serviceMonitor']) {
      await helm(helmPath, [
        'lint',
        '--strict',
        chartDir,
        ...[
          `monitoring.${kind}.enabled=true`,
          'monitoring.labels.release=kps',
          'monitoring.interval=15s',
          'monitoring.dashboard.enabled=true',
          'monitoring.dashboard.labels.dashboards=chat',
          'monitoring.dashboard.annotations.grafana_folder=Chat',
        ].flatMap((s) => ['--set', s]),
      ]);
    }
  });

  describe('with monitoring.podMonitor.enabled', () => {
    let objects: Obj[];
    beforeAll(async () => {
      objects = await render(['monitoring.podMonitor.enabled=true']);
    });

    it('scrapes the operator pods on their http-metrics port', () => {
      const monitor = named(objects, 'PodMonitor', RELEASE);
      const deployment = kinds(objects, 'Deployment')[0]!;
      expect(monitor.metadata!.namespace).toBe('chat-system');
      expect(selects(monitor.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
      const [endpoint] = monitor.spec.podMetricsEndpoints;
      expect(endpoint).toMatchObject({
        port: 'http-metrics',
        path: '/metrics',
        interval: '30s',
        honorLabels: true,
      });
      expect(
        deployment.spec.template.spec.containers[0].ports.map((p: { name: string }) => p.name),
      ).toContain(endpoint.port);
    });

    it('scrapes the admin port of the chat-node pods of every ChatCluster in every namespace', () => {
      const monitor = named(objects, 'PodMonitor', `${RELEASE}-chat-nodes`);
      expect(monitor.spec.namespaceSelector).toEqual({ any: true });
      // The pods the operator makes for any ChatCluster: its labels but the ChatCluster's name.
      const { 'app.kubernetes.io/instance': _, ...common } = nodeLabels(cluster);
      expect(monitor.spec.selector.matchLabels).toEqual(common);
      expect(selects(monitor.spec.selector.matchLabels, statefulSet.spec.template.metadata.labels)).toBe(
        true,
      );
      const [endpoint] = monitor.spec.podMetricsEndpoints;
      expect(endpoint).toMatchObject({ path: '/metrics', interval: '30s' });
      expect(nodeContainer.ports).toContainEqual({ name: endpoint.port, containerPort: ADMIN_PORT });
      expect(endpoint.relabelings).toEqual([
        {
          sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_instance'],
          targetLabel: 'chatcluster',
          action: 'replace',
        },
      ]);
      expect(statefulSet.spec.template.metadata.labels['app.kubernetes.io/instance']).toBe('chat');
    });
  });

  describe('with monitoring.serviceMonitor.enabled', () => {
    let objects: Obj[];
    beforeAll(async () => {
      objects = await render(['monitoring.serviceMonitor.enabled=true']);
    });

    it('scrapes the operator’s metrics Service', () => {
      const monitor = named(objects, 'ServiceMonitor', RELEASE);
      const service = named(objects, 'Service', `${RELEASE}-metrics`);
      expect(selects(monitor.spec.selector.matchLabels, service.metadata!.labels)).toBe(true);
      const [endpoint] = monitor.spec.endpoints;
      expect(endpoint).toMatchObject({ port: 'http-metrics', honorLabels: true });
      expect(service.spec.ports.map((p: { name: string }) => p.name)).toEqual([endpoint.port]);
      expect(kinds(objects, 'PodMonitor')).toEqual([]);
    });

    it('scrapes the admin port of each ChatCluster’s headless Service, and no port of its client Services', () => {
      const monitor = named(objects, 'ServiceMonitor', `${RELEASE}-chat-nodes`);
      const [endpoint] = monitor.spec.endpoints;
      const services = owned.filter((o) => o.kind === 'Service');
      const scraped = services.filter(
        (s) =>
          selects(monitor.spec.selector.matchLabels, s.metadata!.labels) &&
          s.spec.ports.some((p: { name: string }) => p.name === endpoint.port),
      );
      expect(scraped.map((s) => s.metadata!.name)).toEqual(['chat-nodes']);
      expect(scraped[0]!.spec.ports).toContainEqual({
        name: endpoint.port,
        port: ADMIN_PORT,
        targetPort: 'admin',
      });
      expect(endpoint.relabelings[0].sourceLabels).toEqual([
        '__meta_kubernetes_service_label_app_kubernetes_io_instance',
      ]);
    });
  });

  it('looks for the nodes in watchNamespace only when it is set, with the labels and interval of the values', async () => {
    const objects = await render([
      'monitoring.podMonitor.enabled=true',
      'watchNamespace=team-chat',
      'monitoring.labels.release=kps',
      'monitoring.interval=15s',
    ]);
    const monitors = kinds(objects, 'PodMonitor');
    expect(monitors).toHaveLength(2);
    for (const m of monitors) {
      expect(m.metadata!.labels).toMatchObject({ release: 'kps', 'app.kubernetes.io/instance': RELEASE });
      expect(m.spec.podMetricsEndpoints[0].interval).toBe('15s');
    }
    expect(named(objects, 'PodMonitor', `${RELEASE}-chat-nodes`).spec.namespaceSelector).toEqual({
      matchNames: ['team-chat'],
    });
  });

  it('refuses both kinds at once, and a ServiceMonitor without the metrics Service, saying what to do', async () => {
    await expect(
      render(['monitoring.podMonitor.enabled=true', 'monitoring.serviceMonitor.enabled=true']),
    ).rejects.toThrow(/podMonitor.enabled and monitoring.serviceMonitor.enabled are both true: enable one/);
    await expect(
      render(['monitoring.serviceMonitor.enabled=true', 'metrics.service.enabled=false']),
    ).rejects.toThrow(/needs metrics.service.enabled/);
    await expect(render(['monitoring.interval=soon'])).rejects.toThrow(/monitoring.interval/);
  });
});

describe('the production sample’s monitoring', () => {
  it('sets only values the chart has, and gets the monitors and the dashboard', async () => {
    const sample = readFileSync(join(chartDir, '..', '..', 'crds', 'samples', 'production.yaml'), 'utf8');
    const set = [...sample.matchAll(/--set (\S+)=(\S+)/g)].map(
      ([, key, value]) => `${key}=${value!.startsWith('<') ? 'prometheus' : value}`,
    );
    expect(set.length).toBeGreaterThan(0);
    const objects = await render(set);
    expect(kinds(objects, 'PodMonitor')).toHaveLength(2);
    expect(objects.filter((o) => o.metadata?.name === `${RELEASE}-dashboard`)).toHaveLength(1);
  });
});

describe('the chart’s dashboard ConfigMap', () => {
  it('holds dashboards/chat.json under the label Grafana’s sidecar looks for', async () => {
    const objects = await render(['monitoring.dashboard.enabled=true']);
    const cm = named(objects, 'ConfigMap', `${RELEASE}-dashboard`);
    expect(cm.metadata!.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(cm.metadata!.annotations).toBeUndefined();
    const file = readFileSync(join(chartDir, 'dashboards', 'chat.json'), 'utf8');
    expect(JSON.parse(cm.data['chat-platform.json'])).toEqual(JSON.parse(file));
    // The dashboard alone needs no monitor of the chart (Prometheus may scrape the nodes otherwise).
    expect(objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1')).toEqual([]);
  });

  it('takes its labels and annotations from the values', async () => {
    const objects = await render([
      'monitoring.dashboard.enabled=true',
      'monitoring.dashboard.labels.grafana_dashboard=null',
      'monitoring.dashboard.labels.dashboards=chat',
      'monitoring.dashboard.annotations.grafana_folder=Chat',
    ]);
    const cm = named(objects, 'ConfigMap', `${RELEASE}-dashboard`);
    expect(cm.metadata!.labels?.dashboards).toBe('chat');
    expect(cm.metadata!.labels?.grafana_dashboard).toBeUndefined();
    expect(cm.metadata!.annotations).toEqual({ grafana_folder: 'Chat' });
  });
});
