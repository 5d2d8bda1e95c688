/**
 * The chat-operator Helm chart: helm lint --strict, the manifests helm template renders, checked as
 * parsed objects (Deployment, RBAC equal to operator/rbac.ts, every value documented and used), the
 * generated files without drift, and a server-side dry-run apply of every object against the real
 * Kubernetes API server (npm run k8s:up), which validates them as a real install would.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMap, type Pair, parse, parseDocument, type YAMLMap } from 'yaml';
import { editorRules, leaseRules, namespacedRules, operatorRules, viewerRules } from '../../operator/rbac.ts';
import { chartDir, renderChartFiles } from '../../scripts/gen-chart.ts';
import { helm, helmBinary, type Obj, renderChart } from './helm.ts';

const KUBECONFIG = join(import.meta.dirname, '..', '..', '.services', 'kubeconfig');
const RELEASE = 'chat-operator';

/** Values that change every default, to check each one reaches the manifests. */
const CUSTOM = [
  'replicas=3',
  'watchNamespace=team-chat',
  'leaseNamespace=chat-leases',
  'resyncMs=2000',
  'leaseSeconds=20',
  'logLevel=debug',
  'image.repository=registry.example/chat-operator',
  'image.tag=1.2.3',
  'image.pullPolicy=Always',
  'imagePullSecrets[0].name=pull',
  'metrics.port=9090',
  'metrics.service.port=9100',
  'metrics.service.type=NodePort',
  'metrics.service.annotations.prometheus\\.io/scrape=true',
  'serviceAccount.name=chat-op',
  'serviceAccount.annotations.team=chat',
  'podAnnotations.owner=chat',
  'nodeSelector.pool=system',
  'tolerations[0].key=dedicated',
  'tolerations[0].operator=Exists',
  'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool',
  'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
  'resources.limits.cpu=1',
  'tests.image=busybox:1.36',
];

let helmPath: string;

const render = (namespace: string, set: readonly string[] = [], ...flags: string[]): Promise<Obj[]> =>
  renderChart(helmPath, chartDir, RELEASE, namespace, set, flags);

const one = (objects: Obj[], kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  expect(found, `one ${kind} ${name ?? ''} among ${objects.map((o) => o.kind).join(', ')}`).toHaveLength(1);
  return found[0]!;
};
/** The objects that are not hooks (helm template renders both). */
const released = (objects: Obj[]) =>
  objects.filter((o) => !['pre-upgrade', 'test'].includes(o.metadata?.annotations?.['helm.sh/hook'] ?? ''));

beforeAll(async () => {
  helmPath = await helmBinary();
}, 30 * 60_000);

describe('the chat-operator chart', () => {
  it('passes helm lint --strict, with the defaults and with every value changed', async () => {
    await helm(helmPath, ['lint', '--strict', chartDir]);
    await helm(helmPath, ['lint', '--strict', chartDir, ...CUSTOM.flatMap((s) => ['--set', s])]);
  });

  it('renders the operator, its RBAC, the viewer and editor roles, a PodDisruptionBudget, the CRD upgrade hook and a test pod', async () => {
    const objects = await render('chat-system');
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual([
      'ClusterRole/chat-operator',
      'ClusterRole/chat-operator-chatcluster-editor',
      'ClusterRole/chat-operator-chatcluster-viewer',
      'ClusterRole/chat-operator-crds',
      'ClusterRoleBinding/chat-operator',
      'ClusterRoleBinding/chat-operator-crds',
      'ConfigMap/chat-operator-crds',
      'Deployment/chat-operator',
      'Job/chat-operator-crds',
      'Pod/chat-operator-test-healthz',
      'PodDisruptionBudget/chat-operator',
      'Service/chat-operator-metrics',
      'ServiceAccount/chat-operator',
      'ServiceAccount/chat-operator-crds',
    ]);
    for (const o of objects) {
      expect(o.metadata?.labels).toMatchObject({
        'app.kubernetes.io/name': 'chat-operator',
        'app.kubernetes.io/instance': RELEASE,
        'app.kubernetes.io/managed-by': 'Helm',
      });
      if (!o.kind?.startsWith('Cluster')) expect(o.metadata?.namespace).toBe('chat-system');
    }
  });

  it('runs the operator in a Deployment: 2 leader-elected replicas, flags from the values, probes on 8081', async () => {
    const d = one(await render('chat-system'), 'Deployment');
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'chat-operator',
      'app.kubernetes.io/instance': RELEASE,
    });
    const pod = d.spec.template.spec;
    expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
    expect(pod.serviceAccountName).toBe('chat-operator');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(one(await render('chat-system'), 'PodDisruptionBudget').spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: d.spec.selector.matchLabels },
    });
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    const [c] = pod.containers;
    expect(c.image).toBe('chat-platform/chat-operator:0.1.0');
    expect(c.args).toEqual([
      '--http-port=8081',
      '--resync-ms=5000',
      '--lease-namespace=chat-system',
      '--lease-seconds=15',
      '--log-level=info',
    ]);
    expect(c.env).toContainEqual({
      name: 'POD_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    expect(c.ports).toEqual([{ name: 'http-metrics', containerPort: 8081, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-metrics' });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
    });
    expect(c.resources.requests).toEqual({ cpu: '50m', memory: '96Mi' });
  });

  it('grants exactly the rules of operator/rbac.ts to the operator’s ServiceAccount', async () => {
    const objects = released(await render('chat-system'));
    expect(one(objects, 'ClusterRole', 'chat-operator').rules).toEqual(operatorRules());
    const binding = one(objects, 'ClusterRoleBinding');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'chat-operator',
    });
    expect(binding.subjects).toEqual([
      {
        kind: 'ServiceAccount',
        name: one(objects, 'ServiceAccount').metadata!.name,
        namespace: 'chat-system',
      },
    ]);
  });

  it('serves metrics on a Service whose selector finds the operator pods, and tests /healthz through it', async () => {
    const objects = await render('chat-system');
    const svc = one(objects, 'Service');
    const d = one(objects, 'Deployment');
    expect(svc.spec.selector).toEqual(d.spec.selector.matchLabels);
    expect(svc.spec.ports).toEqual([
      { name: 'http-metrics', port: 8081, targetPort: 'http-metrics', protocol: 'TCP' },
    ]);
    const test = one(objects, 'Pod');
    expect(test.metadata!.annotations).toMatchObject({ 'helm.sh/hook': 'test' });
    expect(test.spec.restartPolicy).toBe('Never');
    expect(test.spec.containers[0].command.at(-1)).toBe(
      'http://chat-operator-metrics.chat-system.svc:8081/healthz',
    );
  });

  it('carries every value into the manifests', async () => {
    const objects = await render('ops', CUSTOM);
    const d = one(objects, 'Deployment');
    const pod = d.spec.template.spec;
    const [c] = pod.containers;
    expect(d.spec.replicas).toBe(3);
    expect(c.image).toBe('registry.example/chat-operator:1.2.3');
    expect(c.imagePullPolicy).toBe('Always');
    expect(pod.imagePullSecrets).toEqual([{ name: 'pull' }]);
    expect(c.args).toEqual([
      '--http-port=9090',
      '--resync-ms=2000',
      '--lease-namespace=chat-leases',
      '--lease-seconds=20',
      '--log-level=debug',
      '--namespace=team-chat',
    ]);
    expect(c.ports[0].containerPort).toBe(9090);
    expect(c.resources.limits).toEqual({ cpu: 1, memory: '256Mi' });
    expect(pod.serviceAccountName).toBe('chat-op');
    expect(d.spec.template.metadata.annotations).toEqual({ owner: 'chat' });
    expect(pod.nodeSelector).toEqual({ pool: 'system' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists' }]);
    expect(pod.affinity.podAntiAffinity).toBeUndefined();
    expect(pod.affinity.nodeAffinity).toBeDefined();
    const svc = one(objects, 'Service');
    expect(svc.spec).toMatchObject({ type: 'NodePort', ports: [{ port: 9100 }] });
    expect(svc.metadata!.annotations).toEqual({ 'prometheus.io/scrape': 'true' });
    expect(one(objects, 'ServiceAccount', 'chat-op').metadata!.annotations).toEqual({ team: 'chat' });
    expect(one(objects, 'Pod').spec.containers[0].image).toBe('busybox:1.36');
  });

  it('leaves out the ServiceAccount, the RBAC, the roles, the Service, the PodDisruptionBudget and the CRD upgrade when told to', async () => {
    const objects = await render('chat-system', [
      'serviceAccount.create=false',
      'rbac.create=false',
      'rbac.userRoles=false',
      'metrics.service.enabled=false',
      'podDisruptionBudget.enabled=false',
      'crds.upgrade=false',
    ]);
    expect(objects.map((o) => o.kind)).toEqual(['Deployment']);
    expect(objects[0]!.spec.template.spec.serviceAccountName).toBe('default');
  });

  it('with one watched namespace grants Roles there and for the Lease, and nothing cluster-wide', async () => {
    const objects = released(await render('chat-system', ['watchNamespace=team-chat']));
    expect(objects.filter((o) => o.kind?.startsWith('Cluster')).map((o) => o.metadata?.name)).toEqual([]);
    expect(one(objects, 'Role', 'chat-operator')).toMatchObject({
      metadata: { namespace: 'team-chat' },
      rules: namespacedRules(),
    });
    expect(one(objects, 'Role', 'chat-operator-leader')).toMatchObject({
      metadata: { namespace: 'chat-system' },
      rules: leaseRules(),
    });
    for (const [name, namespace] of [
      ['chat-operator', 'team-chat'],
      ['chat-operator-leader', 'chat-system'],
    ] as const) {
      expect(one(objects, 'RoleBinding', name)).toMatchObject({
        metadata: { namespace },
        roleRef: { kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name: 'chat-operator', namespace: 'chat-system' }],
      });
    }
    expect(one(objects, 'Role', 'chat-operator-chatcluster-viewer').metadata?.namespace).toBe('team-chat');
    // The CRD upgrade hook is the only cluster-wide grant, on the ChatCluster CRD alone; crds.upgrade=false drops it.
    const hook = await render('chat-system', ['watchNamespace=team-chat']);
    expect(hook.filter((o) => o.kind === 'ClusterRole').map((o) => o.metadata?.name)).toEqual([
      'chat-operator-crds',
    ]);
    const none = await render('chat-system', ['watchNamespace=team-chat', 'crds.upgrade=false']);
    expect(none.filter((o) => o.kind?.startsWith('Cluster'))).toEqual([]);
  });

  it('lets the operator get Secrets only (never list or watch), by name when rbac.secretNames says', async () => {
    const rules = (objects: Obj[]) =>
      (
        one(objects, 'Role', 'chat-operator').rules as {
          resources: string[];
          verbs: string[];
          resourceNames?: string[];
        }[]
      ).filter((r) => r.resources.includes('secrets'));
    expect(rules(await render('x', ['watchNamespace=w']))).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
    ]);
    expect(rules(await render('x', ['watchNamespace=w', 'rbac.secretNames[0]=chat-auth']))).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['chat-auth'] },
    ]);
  });

  it('has viewer and editor roles for ChatClusters, aggregated into view and edit', async () => {
    const objects = await render('chat-system');
    const viewer = one(objects, 'ClusterRole', 'chat-operator-chatcluster-viewer');
    const editor = one(objects, 'ClusterRole', 'chat-operator-chatcluster-editor');
    expect(viewer.rules).toEqual(viewerRules());
    expect(editor.rules).toEqual(editorRules());
    expect(viewer.metadata?.labels?.['rbac.authorization.k8s.io/aggregate-to-view']).toBe('true');
    expect(editor.metadata?.labels?.['rbac.authorization.k8s.io/aggregate-to-edit']).toBe('true');
  });

  it('applies the chart’s crds/ on every upgrade, in a pre-upgrade Job of the operator image', async () => {
    const objects = await render('chat-system');
    const cm = one(objects, 'ConfigMap', 'chat-operator-crds');
    const file = 'chatclusters.chatplatform.io.yaml';
    expect(parse(cm.data[file])).toEqual(parse(readFileSync(join(chartDir, 'crds', file), 'utf8')));
    const job = one(objects, 'Job', 'chat-operator-crds');
    for (const o of [cm, job]) expect(o.metadata?.annotations?.['helm.sh/hook']).toBe('pre-upgrade');
    const pod = job.spec.template.spec;
    expect(pod.serviceAccountName).toBe('chat-operator-crds');
    expect(pod.containers[0]).toMatchObject({
      image: 'chat-platform/chat-operator:0.1.0',
      command: ['node', 'operator/apply-crds.ts', '/crds'],
      volumeMounts: [{ name: 'crds', mountPath: '/crds', readOnly: true }],
    });
    expect(one(objects, 'ClusterRole', 'chat-operator-crds').rules[1].resourceNames).toEqual([
      'chatclusters.chatplatform.io',
    ]);
  });

  it('refuses values that break the schema, naming them', async () => {
    await expect(render('x', ['replicas=-1'])).rejects.toThrow(/replicas/);
    await expect(render('x', ['logLevel=loud'])).rejects.toThrow(/logLevel/);
    await expect(render('x', ['unknownKey=1'])).rejects.toThrow(/unknownKey/);
  });

  it('installs the ChatCluster CRD from crds/ (helm template --include-crds)', async () => {
    const objects = await render('chat-system', [], '--include-crds');
    const crd = one(objects, 'CustomResourceDefinition');
    expect(crd).toEqual(
      parse(readFileSync(join(chartDir, '..', '..', 'crds', 'chatclusters.chatplatform.io.yaml'), 'utf8')),
    );
  });
});

describe('values.yaml', () => {
  const text = readFileSync(join(chartDir, 'values.yaml'), 'utf8');
  const templates = readdirSync(join(chartDir, 'templates'), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ya?ml|tpl|txt)$/.test(f))
    .map((f) => readFileSync(join(chartDir, 'templates', f), 'utf8'))
    .join('\n');
  const used = new Set([...templates.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)].map((m) => m[1]!));

  /** Every key path, with its `# --` doc comment if it has one. */
  function keys(): { path: string; leaf: boolean; doc?: string }[] {
    const out: { path: string; leaf: boolean; doc?: string }[] = [];
    const walk = (map: YAMLMap & { commentBefore?: string | null }, prefix: string) => {
      for (const [i, pair] of (
        map.items as Pair<{ value: string; commentBefore?: string | null }>[]
      ).entries()) {
        const path = prefix + pair.key.value;
        const nested = isMap(pair.value) && pair.value.items.length > 0;
        // The comment above the first key of a nested map belongs to the map, for the yaml package.
        const doc = pair.key.commentBefore ?? (i === 0 && prefix !== '' ? map.commentBefore : undefined);
        out.push({ path, leaf: !nested, doc: doc ?? undefined });
        if (nested) walk(pair.value as YAMLMap, `${path}.`);
      }
    };
    walk(parseDocument(text).contents as YAMLMap, '');
    return out;
  }
  const all = keys();
  /** The value a template reads that holds this key: the key itself or a map it reads whole (toYaml). */
  const reader = (path: string) => [...used].find((u) => path === u || path.startsWith(`${u}.`));

  it('has every key read by some template (itself or the map around it)', () => {
    const unused = all.filter((k) => k.leaf && reader(k.path) === undefined).map((k) => k.path);
    expect(unused, 'values.yaml keys no template reads').toEqual([]);
  });

  it('has every value a template reads', () => {
    const paths = new Set(all.map((k) => k.path));
    expect(
      [...used].filter((u) => !paths.has(u)),
      'templates read values that values.yaml lacks',
    ).toEqual([]);
  });

  it('documents every value a template reads with a "# --" comment', () => {
    const undocumented = [...used].filter(
      (u) =>
        !all
          .find((k) => k.path === u)
          ?.doc?.trim()
          .startsWith('--'),
    );
    expect(undocumented).toEqual([]);
  });
});

describe('generated chart files', () => {
  for (const [file, expected] of renderChartFiles()) {
    it(`holds ${file} as npm run chart writes it now`, () => {
      const path = join(chartDir, file);
      const onDisk = existsSync(path) ? readFileSync(path, 'utf8') : '';
      expect(onDisk, `charts/chat-operator/${file} is out of date: run npm run chart`).toBe(expected);
    });
  }
});

describe('the rendered chart on the real API server (server-side dry-run apply)', () => {
  const ns = `chart-test-${randomUUID().slice(0, 8)}`;
  let kc: KubeConfig;
  let core: CoreV1Api;

  beforeAll(async () => {
    if (!existsSync(KUBECONFIG)) throw new Error(`${KUBECONFIG} is missing: run npm run k8s:up`);
    kc = new KubeConfig();
    kc.loadFromFile(KUBECONFIG);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    // The test pod runs as the namespace's default ServiceAccount, which the controller manager creates.
    const deadline = Date.now() + 30_000;
    while (
      !(await core.listNamespacedServiceAccount({ namespace: ns })).items.some(
        (s) => s.metadata?.name === 'default',
      )
    ) {
      if (Date.now() > deadline)
        throw new Error(
          `no default ServiceAccount in ${ns} after 30 s: is kube-controller-manager up? (npm run k8s:up)`,
        );
      await sleep(200);
    }
  }, 60_000);

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns });
  });

  it('prints NOTES that say how to check the install (helm install --dry-run)', async () => {
    const text = await helm(helmPath, [
      'install',
      RELEASE,
      chartDir,
      '--namespace',
      ns,
      '--dry-run=client',
      '--kubeconfig',
      KUBECONFIG,
    ]);
    const notes = text.slice(text.indexOf('NOTES:'));
    expect(notes).toContain(`kubectl -n ${ns} rollout status deployment/chat-operator`);
    expect(notes).toContain(`helm test ${RELEASE} -n ${ns}`);
    expect(notes).toContain(`http://chat-operator-metrics.${ns}.svc:8081/metrics`);
  });

  const variants: [string, string[]][] = [
    ['the defaults', []],
    // The Roles of a namespaced install go into namespaces that must exist: the test's own.
    ['every value changed', [...CUSTOM, `watchNamespace=${ns}`, `leaseNamespace=${ns}`]],
  ];
  for (const [name, set] of variants) {
    it(`accepts every object of ${name}, CRD included`, async () => {
      const objects = await render(ns, set, '--include-crds');
      const api = KubernetesObjectApi.makeApiClient(kc);
      const refused: string[] = [];
      for (const o of objects) {
        try {
          await api.patch(o, undefined, 'All', 'chart-tests', true, PatchStrategy.ServerSideApply);
        } catch (err) {
          const body = err instanceof ApiException ? err.body : err;
          refused.push(
            `${o.kind}/${o.metadata?.name}: ${typeof body === 'string' ? body : JSON.stringify(body)}`,
          );
        }
      }
      expect(refused).toEqual([]);
      // Dry run: nothing was created.
      expect(
        (await core.listNamespacedServiceAccount({ namespace: ns })).items.map((s) => s.metadata?.name),
      ).toEqual(['default']);
    });
  }
});
