/**
 * The reconciler against a real API server (npm run k8s:up): a new ChatCluster yields its owned
 * objects, reconciling again changes nothing, the scale subresource drives the StatefulSet, events
 * are recorded, and deleting the ChatCluster garbage-collects what it owned. Node loads come from an
 * injected source here (the end-to-end test uses real nodes and the Redis registry).
 */
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger.ts';
import { Applier } from '../../operator/apply.ts';
import {
  type ChatCluster,
  type ChatClusterSpecInput,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
} from '../../operator/chatcluster-schema.ts';
import { DataRemover, removeDataWith } from '../../operator/data-removal.ts';
import { Gatherer, type LoadSource, RegistryLoads } from '../../operator/gather.ts';
import { operatorRules } from '../../operator/rbac.ts';
import { Reconciler } from '../../operator/reconciler.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { installChatClusterCrd, testKubeConfig } from '../helpers/kube.ts';
import { until } from '../helpers/recorder.ts';

describe('the reconciler against a real API server', () => {
  let kc: KubeConfig;
  let ns: string;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let reconciler: Reconciler;
  /** Status writes the reconciler sent (its CustomObjectsApi counts them). */
  let statusWrites = 0;
  const ref = (name: string) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name });
  const read = async (name: string) => (await custom.getNamespacedCustomObject(ref(name))) as ChatCluster;
  const reconcile = async (name: string) => reconciler.reconcileOnce(ns, name);
  const reconcilerWith = (loads: LoadSource = async () => []) => {
    const log = silentLogger();
    const counting = Object.create(custom) as CustomObjectsApi;
    counting.patchNamespacedCustomObjectStatus = (...args) => {
      statusWrites++;
      return custom.patchNamespacedCustomObjectStatus(...args);
    };
    return new Reconciler({
      custom: counting,
      gatherer: new Gatherer({ apps, core, loads }),
      applier: new Applier({ objects: KubernetesObjectApi.makeApiClient(kc), custom: counting, core, log }),
      remover: new DataRemover(removeDataWith(core, log), log),
      log,
      namespace: ns,
    });
  };

  beforeAll(async () => {
    kc = testKubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ns = `rec-${randomBytes(3).toString('hex')}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'chat-auth' }, stringData: { jwt: 'j'.repeat(40), admin: 'a'.repeat(40) } },
    });
    reconciler = reconcilerWith();
    await installChatClusterCrd(kc, ns);
  }, 60_000);
  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  async function create(name: string, more: Record<string, unknown> = {}): Promise<void> {
    const { redis, ...rest } = more;
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns,
      body: chatClusterBody(name, {
        minReplicas: 2,
        redis: (redis as ChatClusterSpecInput['redis'] | undefined) ?? { url: 'redis://redis:6379' },
        cassandra: { contactPoints: ['cassandra-0.cassandra:9042'] },
        auth: {
          jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
          adminTokenRef: { name: 'chat-auth', key: 'admin' },
        },
        ...rest,
      }),
    });
  }

  it('creates the owned objects with owner references and the nodes’ settings', async () => {
    await create('alpha');
    await reconcile('alpha');
    const cluster = await read('alpha');
    const sts = await apps.readNamespacedStatefulSet({ name: 'alpha', namespace: ns });
    expect(sts.spec?.replicas).toBe(2);
    expect(sts.spec?.serviceName).toBe('alpha-nodes');
    expect(sts.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: KIND,
      name: 'alpha',
      uid: cluster.metadata.uid,
      controller: true,
    });
    const container = sts.spec?.template.spec?.containers[0];
    expect(container?.image).toBe('chat-platform/chat-node:test');
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e]));
    expect(env.CHAT_JWT_SECRET?.valueFrom?.secretKeyRef).toEqual({ name: 'chat-auth', key: 'jwt' });
    expect(env.CHAT_ADMIN_TOKEN?.valueFrom?.secretKeyRef).toEqual({ name: 'chat-auth', key: 'admin' });
    expect(env.CHAT_NODE_ID?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.labels['apps.kubernetes.io/pod-index']",
    );
    const config = await core.readNamespacedConfigMap({ name: 'alpha-config', namespace: ns });
    expect(config.data).toMatchObject({
      CHAT_CLUSTER: `${ns}.alpha`,
      CHAT_NATS_URL: 'nats://nats:4222',
      CHAT_REDIS_URL: 'redis://redis:6379',
      CHAT_CASSANDRA_CONTACT_POINTS: 'cassandra-0.cassandra:9042',
    });
    const headless = await core.readNamespacedService({ name: 'alpha-nodes', namespace: ns });
    expect(headless.spec?.clusterIP).toBe('None');
    await core.readNamespacedService({ name: 'alpha', namespace: ns });
    await core.readNamespacedServiceAccount({ name: 'alpha-node', namespace: ns });
    const pdb = await kc
      .makeApiClient(PolicyV1Api)
      .readNamespacedPodDisruptionBudget({ name: 'alpha', namespace: ns });
    expect(pdb.spec?.maxUnavailable).toBe(1);
    expect(cluster.status).toMatchObject({
      replicas: 0,
      selector:
        'app.kubernetes.io/name=chat-node,app.kubernetes.io/instance=alpha,app.kubernetes.io/managed-by=chatplatform-operator',
      observedGeneration: cluster.metadata.generation,
    });
    expect(cluster.status?.conditions?.map((c) => c.type)).toEqual([
      'Ready',
      'Scaling',
      'Rebalancing',
      'Degraded',
    ]);
  });

  it('changes nothing when it reconciles again', async () => {
    await reconcile('alpha'); // the status now sees the StatefulSet
    const versions = async () => {
      const owned = await Promise.all([
        apps.readNamespacedStatefulSet({ name: 'alpha', namespace: ns }),
        core.readNamespacedConfigMap({ name: 'alpha-config', namespace: ns }),
        core.readNamespacedService({ name: 'alpha', namespace: ns }),
        core.readNamespacedService({ name: 'alpha-nodes', namespace: ns }),
        core.readNamespacedServiceAccount({ name: 'alpha-node', namespace: ns }),
        kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'alpha', namespace: ns }),
      ]);
      return [
        ...owned.map((o) => o.metadata?.resourceVersion),
        (await read('alpha')).metadata.resourceVersion,
      ];
    };
    const before = await versions();
    statusWrites = 0;
    await reconcile('alpha');
    await reconcile('alpha');
    expect(await versions()).toEqual(before);
    expect(statusWrites).toBe(0);
    // A fresh operator (a new leader, nothing cached) sends every object again: still no change.
    await reconcilerWith().reconcileOnce(ns, 'alpha');
    expect(await versions()).toEqual(before);
    expect(statusWrites).toBe(0);
  });

  it('reconciles within seconds when the node registry cannot be reached', async () => {
    // Nothing listens on port 1: without a bound the registry's connect timeout (10 s) would hold
    // every reconcile of this cluster.
    await create('beta', { redis: { url: 'redis://127.0.0.1:1' } });
    const loads = new RegistryLoads(silentLogger());
    try {
      const started = Date.now();
      await reconcilerWith(loads.loads).reconcileOnce(ns, 'beta');
      expect(Date.now() - started).toBeLessThan(5000);
      const sts = await apps.readNamespacedStatefulSet({ name: 'beta', namespace: ns });
      expect(sts.spec?.replicas).toBe(2);
    } finally {
      await loads.close();
      await custom.deleteNamespacedCustomObject(ref('beta'));
    }
  });

  it('needs no more than the ClusterRole that rbac.ts declares', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = `chat-operator-${ns}`;
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'operator' } } });
    await rbac.createClusterRole({ body: { metadata: { name: role }, rules: operatorRules() } });
    try {
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: role },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
          subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: ns }],
        },
      });
      const token = await core.createNamespacedServiceAccountToken({
        namespace: ns,
        name: 'operator',
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
      const server = kc.getCurrentCluster();
      if (!server || !token.status?.token) throw new Error('no cluster or no token');
      const limited = new KubeConfig();
      limited.loadFromOptions({
        clusters: [server],
        users: [{ name: 'operator', token: token.status.token }],
        contexts: [{ name: 'operator', cluster: server.name, user: 'operator' }],
        currentContext: 'operator',
      });
      await create('gamma');
      const results: string[] = [];
      const log = silentLogger();
      const asOperator = new Reconciler({
        custom: limited.makeApiClient(CustomObjectsApi),
        gatherer: new Gatherer({
          apps: limited.makeApiClient(AppsV1Api),
          core: limited.makeApiClient(CoreV1Api),
          loads: async () => [],
        }),
        applier: new Applier({
          objects: KubernetesObjectApi.makeApiClient(limited),
          custom: limited.makeApiClient(CustomObjectsApi),
          core: limited.makeApiClient(CoreV1Api),
          log,
        }),
        remover: new DataRemover(removeDataWith(limited.makeApiClient(CoreV1Api), log), log),
        log,
        namespace: ns,
        onReconciled: (c, result) => results.push(`${c.metadata.name} ${result}`),
      });
      // RBAC reaches the authorizer's cache shortly after the binding is made.
      await until(
        'the operator’s identity reconciles',
        async () => {
          results.length = 0;
          await asOperator.reconcileAll();
          return results.length > 0 && results.every((r) => r.endsWith(' ok'));
        },
        20_000,
      );
      expect(results).toContain('gamma ok');
      expect((await apps.readNamespacedStatefulSet({ name: 'gamma', namespace: ns })).spec?.replicas).toBe(2);
      // The autoscaler's target went into spec.replicas through the scale subresource (generation 2).
      const gamma = await read('gamma');
      expect(gamma.spec.replicas).toBe(2);
      expect(gamma.metadata.generation).toBe(2);
      expect(gamma.status?.observedGeneration).toBe(2);
      const events = await core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: 'involvedObject.name=gamma',
      });
      expect(events.items.map((e) => e.reason)).toContain('ScaledUp');
    } finally {
      await rbac.deleteClusterRoleBinding({ name: role }).catch(() => {});
      await rbac.deleteClusterRole({ name: role }).catch(() => {});
      await custom.deleteNamespacedCustomObject(ref('gamma')).catch(() => {});
    }
  }, 40_000);

  it('writes its autoscaler’s target into the scale, and wins over an outside write while it decides', async () => {
    const scaleOf = async () =>
      ((await custom.getNamespacedCustomObjectScale(ref('alpha'))) as { spec: { replicas: number } }).spec
        .replicas;
    expect(await scaleOf()).toBe(2);
    await custom.patchNamespacedCustomObjectScale(
      { ...ref('alpha'), body: { spec: { replicas: 5 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await reconcile('alpha');
    expect(await scaleOf()).toBe(2);
    expect((await apps.readNamespacedStatefulSet({ name: 'alpha', namespace: ns })).spec?.replicas).toBe(2);
    const cluster = await read('alpha');
    expect(cluster.status?.observedGeneration).toBe(cluster.metadata.generation);
  });

  it('follows the scale subresource once replicasManagedBy is External, as kubectl scale and an HPA use it', async () => {
    await custom.patchNamespacedCustomObject(
      { ...ref('alpha'), body: { spec: { replicasManagedBy: 'External' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await custom.patchNamespacedCustomObjectScale(
      { ...ref('alpha'), body: { spec: { replicas: 4 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await reconcile('alpha');
    expect((await apps.readNamespacedStatefulSet({ name: 'alpha', namespace: ns })).spec?.replicas).toBe(4);
    const scale = (await custom.getNamespacedCustomObjectScale(ref('alpha'))) as {
      spec: { replicas: number };
    };
    expect(scale.spec.replicas).toBe(4);
  });

  it('records what it decided as events on the ChatCluster', async () => {
    const events = await core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'involvedObject.name=alpha',
    });
    expect(events.items.map((e) => e.reason)).toContain('ScaledUp');
  });

  it('leaves the deletion of owned objects to the garbage collector', async () => {
    await custom.deleteNamespacedCustomObject(ref('alpha'));
    await until(
      'the StatefulSet and the ConfigMap are garbage-collected',
      async () => {
        const gone = async (p: Promise<unknown>) => p.then(() => false).catch(() => true);
        return (
          (await gone(apps.readNamespacedStatefulSet({ name: 'alpha', namespace: ns }))) &&
          (await gone(core.readNamespacedConfigMap({ name: 'alpha-config', namespace: ns })))
        );
      },
      90_000,
    );
  }, 120_000);
});
