import { describe, expect, it } from 'vitest';
import { describeConfig } from '../../common/config.ts';
import { loadNodeConfig, nodeConfigSpec } from '../../common/node-config.ts';
import type { ChatCluster, ChatClusterSpec } from '../../operator/chatcluster-schema.ts';
import {
  buildObjects,
  CONFIG_HASH_ANNOTATION,
  clusterId,
  nodeLabels,
  podName,
  selectorString,
} from '../../operator/objects.ts';
import type { KubeObject } from '../../operator/types.ts';
import { chatCluster } from '../helpers/chatcluster.ts';

/** A ChatCluster as the API server returns it (defaults filled in), with some spec fields changed. */
function cluster(spec: Partial<ChatClusterSpec> = {}, name = 'chat', namespace = 'team-a'): ChatCluster {
  return chatCluster({
    name,
    namespace,
    metadata: { uid: 'uid-1234', generation: 3 },
    spec: {
      minReplicas: 1,
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
      nats: { url: 'nats://nats.chat.svc:4222' },
      redis: { url: 'redis://redis.chat.svc:6379' },
      cassandra: {
        contactPoints: ['cassandra-0.cassandra:9042', 'cassandra-1.cassandra:9042'],
        keyspace: 'chat_a',
        localDataCenter: 'dc1',
        replication: 3,
      },
      push: { webhookUrl: 'https://push.example.com/notify' },
      auth: {
        jwtSecretRef: { name: 'chat-auth', key: 'jwt-secret' },
        adminTokenRef: { name: 'chat-admin', key: 'token' },
      },
      ...spec,
    },
  });
}

const find = (objects: KubeObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in ${objects.map((x) => `${x.kind}/${x.metadata.name}`)}`);
  return o;
};

// The parts of the objects the tests read, typed loosely.
type Env = { name: string; value?: string; valueFrom?: Record<string, any> };
const statefulSet = (objects: KubeObject[], name = 'chat') => find(objects, 'StatefulSet', name) as any;
const container = (objects: KubeObject[]) => statefulSet(objects).spec.template.spec.containers[0];
const env = (objects: KubeObject[]): Env[] => container(objects).env;
const configData = (objects: KubeObject[], name = 'chat') =>
  (find(objects, 'ConfigMap', `${name}-config`) as any).data as Record<string, string>;
const templateHash = (objects: KubeObject[]) =>
  statefulSet(objects).spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION] as string;

/** What the kubelet gives the container: the ConfigMap, then env (secrets and fields resolved). */
function resolvedEnv(
  objects: KubeObject[],
  pod: { name: string; index: number },
  secrets: Record<string, string>,
) {
  const out: Record<string, string> = { ...configData(objects) };
  for (const e of env(objects)) {
    const from = e.valueFrom;
    if (e.value !== undefined) out[e.name] = e.value.replace(/\$\(([A-Z_]+)\)/g, (_, v) => out[v] ?? '');
    else if (from?.secretKeyRef) out[e.name] = secrets[`${from.secretKeyRef.name}/${from.secretKeyRef.key}`]!;
    else if (from?.fieldRef?.fieldPath === 'metadata.name') out[e.name] = pod.name;
    else if (from?.fieldRef?.fieldPath === 'status.podIP') out[e.name] = `10.0.0.${pod.index + 10}`;
    else if (from?.fieldRef?.fieldPath === "metadata.labels['apps.kubernetes.io/pod-index']")
      out[e.name] = String(pod.index);
  }
  return out;
}

describe('buildObjects', () => {
  const objects = buildObjects(cluster(), 3);

  it.each([
    { kind: 'ServiceAccount', name: 'chat-node', apiVersion: 'v1' },
    { kind: 'ConfigMap', name: 'chat-config', apiVersion: 'v1' },
    { kind: 'Service', name: 'chat-nodes', apiVersion: 'v1' },
    { kind: 'Service', name: 'chat', apiVersion: 'v1' },
    { kind: 'StatefulSet', name: 'chat', apiVersion: 'apps/v1' },
    { kind: 'PodDisruptionBudget', name: 'chat', apiVersion: 'policy/v1' },
  ])('has the $kind $name, owned by the ChatCluster and labelled', ({ kind, name, apiVersion }) => {
    const o = find(objects, kind, name);
    expect(o.apiVersion).toBe(apiVersion);
    expect(o.metadata.namespace).toBe('team-a');
    expect(o.metadata.labels).toEqual({
      'app.kubernetes.io/name': 'chat-node',
      'app.kubernetes.io/instance': 'chat',
      'app.kubernetes.io/managed-by': 'chatplatform-operator',
    });
    expect(o.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'chatplatform.io/v1alpha1',
        kind: 'ChatCluster',
        name: 'chat',
        uid: 'uid-1234',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it('has exactly those six objects', () => {
    expect(objects).toHaveLength(6);
  });

  it('gives the nodes a service account without an API token', () => {
    expect(find(objects, 'ServiceAccount', 'chat-node').automountServiceAccountToken).toBe(false);
    const pod = statefulSet(objects).spec.template.spec;
    expect(pod.serviceAccountName).toBe('chat-node');
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('puts the non-secret settings of the spec into the ConfigMap', () => {
    expect(configData(objects)).toEqual({
      CHAT_CLUSTER: 'team-a.chat',
      CHAT_PORT: '8080',
      CHAT_ADMIN_PORT: '9090',
      CHAT_DATA_DIR: '/data',
      CHAT_NATS_URL: 'nats://nats.chat.svc:4222',
      CHAT_REDIS_URL: 'redis://redis.chat.svc:6379',
      CHAT_CASSANDRA_CONTACT_POINTS: 'cassandra-0.cassandra:9042,cassandra-1.cassandra:9042',
      CHAT_CASSANDRA_KEYSPACE: 'chat_a',
      CHAT_CASSANDRA_LOCAL_DC: 'dc1',
      CHAT_CASSANDRA_REPLICATION: '3',
      CHAT_CAPACITY: '20000',
      CHAT_PUSH_WEBHOOK_URL: 'https://push.example.com/notify',
    });
  });

  it.each([
    {
      name: 'leaves CHAT_PUSH_WEBHOOK_URL out when no webhook is set',
      spec: { push: {} },
      check: (o: KubeObject[]) => expect(configData(o)).not.toHaveProperty('CHAT_PUSH_WEBHOOK_URL'),
    },
    {
      name: 'leaves CHAT_ADMIN_TOKEN out when no admin token is referenced',
      spec: { auth: { jwtSecretRef: { name: 'chat-auth', key: 'jwt-secret' } } },
      check: (o: KubeObject[]) => expect(env(o).map((e) => e.name)).not.toContain('CHAT_ADMIN_TOKEN'),
    },
    {
      name: 'sizes CHAT_CAPACITY at twice the target connections per node',
      spec: { targetConnectionsPerNode: 2_500 },
      check: (o: KubeObject[]) => expect(configData(o).CHAT_CAPACITY).toBe('5000'),
    },
  ])('$name', ({ spec, check }) => check(buildObjects(cluster(spec), 1)));

  it('sets only variables of the configuration contract, and every one a real cluster needs', () => {
    const contract = new Set(describeConfig(nodeConfigSpec).map((r) => r.env));
    const chat = [...Object.keys(configData(objects)), ...env(objects).map((e) => e.name)].filter((n) =>
      n.startsWith('CHAT_'),
    );
    expect(chat.filter((n) => !contract.has(n))).toEqual([]);
    expect(new Set(chat)).toEqual(
      new Set([
        'CHAT_CLUSTER',
        'CHAT_PORT',
        'CHAT_ADMIN_PORT',
        'CHAT_ADMIN_URL',
        'CHAT_PUBLIC_URL',
        'CHAT_DATA_DIR',
        'CHAT_NODE_ID',
        'CHAT_NATS_URL',
        'CHAT_REDIS_URL',
        'CHAT_CASSANDRA_CONTACT_POINTS',
        'CHAT_CASSANDRA_KEYSPACE',
        'CHAT_CASSANDRA_LOCAL_DC',
        'CHAT_CASSANDRA_REPLICATION',
        'CHAT_CAPACITY',
        'CHAT_PUSH_WEBHOOK_URL',
        'CHAT_JWT_SECRET',
        'CHAT_ADMIN_TOKEN',
      ]),
    );
  });

  it('gives a node an environment that the chat node loads as its configuration', () => {
    const secrets = { 'chat-auth/jwt-secret': 'j'.repeat(40), 'chat-admin/token': 'admin-token' };
    const config = loadNodeConfig({ env: resolvedEnv(objects, { name: 'chat-2', index: 2 }, secrets) });
    expect(config).toMatchObject({
      port: 8080,
      adminPort: 9090,
      adminUrl: 'http://10.0.0.12:9090',
      nodeId: 2,
      cluster: 'team-a.chat',
      publicUrl: 'http://chat-2.chat-nodes.team-a.svc:8080',
      dataDir: '/data',
      natsUrl: 'nats://nats.chat.svc:4222',
      redisUrl: 'redis://redis.chat.svc:6379',
      cassandraContactPoints: ['cassandra-0.cassandra:9042', 'cassandra-1.cassandra:9042'],
      cassandraKeyspace: 'chat_a',
      cassandraLocalDc: 'dc1',
      cassandraReplication: 3,
      jwtSecret: 'j'.repeat(40),
      adminToken: 'admin-token',
      pushWebhookUrl: 'https://push.example.com/notify',
      capacity: 20_000,
    });
  });

  it('passes secrets only by reference', () => {
    const secretEnv = env(objects).filter(
      (e) => e.name === 'CHAT_JWT_SECRET' || e.name === 'CHAT_ADMIN_TOKEN',
    );
    expect(secretEnv).toEqual([
      { name: 'CHAT_JWT_SECRET', valueFrom: { secretKeyRef: { name: 'chat-auth', key: 'jwt-secret' } } },
      { name: 'CHAT_ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: 'chat-admin', key: 'token' } } },
    ]);
    expect(Object.keys(configData(objects))).not.toContain('CHAT_JWT_SECRET');
    expect(Object.keys(configData(objects))).not.toContain('CHAT_ADMIN_TOKEN');
  });

  it('takes CHAT_NODE_ID from the pod-index label (the StatefulSet ordinal) and the URL from the pod name', () => {
    const byName = new Map(env(objects).map((e) => [e.name, e]));
    expect(byName.get('CHAT_NODE_ID')).toEqual({
      name: 'CHAT_NODE_ID',
      valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } },
    });
    expect(byName.get('POD_NAME')).toEqual({
      name: 'POD_NAME',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    // $(POD_NAME) expands only if POD_NAME comes first.
    const names = env(objects).map((e) => e.name);
    expect(names.indexOf('POD_NAME')).toBeLessThan(names.indexOf('CHAT_PUBLIC_URL'));
    expect(byName.get('CHAT_PUBLIC_URL')?.value).toBe('http://$(POD_NAME).chat-nodes.team-a.svc:8080');
  });

  it('runs the StatefulSet as the operator rolls it: parallel pods, OnDelete updates, the given replicas', () => {
    const spec = statefulSet(objects).spec;
    expect(spec).toMatchObject({
      replicas: 3,
      serviceName: 'chat-nodes',
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
    });
    expect(spec.template.spec.terminationGracePeriodSeconds).toBe(60);
    expect(statefulSet(buildObjects(cluster(), 7)).spec.replicas).toBe(7);
  });

  it('runs the container with probes, resources, the ConfigMap and a writable /data only', () => {
    const pod = statefulSet(objects).spec.template.spec;
    const c = container(objects);
    expect(c).toMatchObject({
      name: 'chat-node',
      image: 'chat-platform/chat-node:0.1.0',
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'admin', containerPort: 9090 },
      ],
      envFrom: [{ configMapRef: { name: 'chat-config' } }],
      readinessProbe: { httpGet: { path: '/readyz', port: 'http' } },
      livenessProbe: { httpGet: { path: '/healthz', port: 'http' } },
      startupProbe: { httpGet: { path: '/healthz', port: 'http' } },
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
    });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.volumes).toEqual([{ name: 'data', emptyDir: {} }]);
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('exposes the nodes through a headless Service (pod DNS, ready or not) and a client Service', () => {
    expect(find(objects, 'Service', 'chat-nodes').spec).toMatchObject({
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      ports: [
        { name: 'http', port: 8080, targetPort: 'http' },
        { name: 'admin', port: 9090, targetPort: 'admin' },
      ],
    });
    // The client Service carries the client port only, never the admin port.
    expect(find(objects, 'Service', 'chat').spec).toEqual({
      type: 'ClusterIP',
      selector: nodeLabels(cluster()),
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    });
  });

  it('lets at most one node be disrupted at a time', () => {
    expect(find(objects, 'PodDisruptionBudget', 'chat').spec).toMatchObject({ maxUnavailable: 1 });
  });

  it('selects the nodes with the same labels everywhere, and the selector string says the same', () => {
    const labels = nodeLabels(cluster());
    const parsed = Object.fromEntries(
      selectorString(cluster())
        .split(',')
        .map((kv) => kv.split('=')),
    );
    expect(parsed).toEqual(labels);
    const sts = statefulSet(objects).spec;
    expect(sts.selector).toEqual({ matchLabels: labels });
    expect(sts.template.metadata.labels).toEqual(labels);
    expect((find(objects, 'Service', 'chat-nodes') as any).spec.selector).toEqual(labels);
    expect((find(objects, 'Service', 'chat') as any).spec.selector).toEqual(labels);
    expect((find(objects, 'PodDisruptionBudget', 'chat') as any).spec.selector).toEqual({
      matchLabels: labels,
    });
  });

  it.each([
    { name: 'a new NATS URL', spec: { nats: { url: 'nats://other:4222' } }, changes: true },
    { name: 'a new target (CHAT_CAPACITY)', spec: { targetConnectionsPerNode: 5_000 }, changes: true },
    { name: 'a removed push webhook', spec: { push: {} }, changes: true },
    { name: 'a new replica range (not in the ConfigMap)', spec: { maxReplicas: 20 }, changes: false },
  ])('changes the pod-template hash for $name: $changes', ({ spec, changes }) => {
    const before = templateHash(objects);
    const after = templateHash(buildObjects(cluster(spec), 3));
    expect(before).toMatch(/^[0-9a-f]{16}$/);
    expect(after !== before).toBe(changes);
  });

  it('keeps the pod template when only the replicas change (scaling does not roll the nodes)', () => {
    const a = statefulSet(buildObjects(cluster(), 2)).spec.template;
    const b = statefulSet(buildObjects(cluster(), 9)).spec.template;
    expect(a).toEqual(b);
  });

  it('gives the same objects every time (applying twice changes nothing)', () => {
    expect(buildObjects(cluster(), 3)).toEqual(objects);
  });
});

describe('names', () => {
  it.each([
    {
      name: 'clusterId is <namespace>.<name>',
      got: clusterId(cluster({}, 'chat', 'team-a')),
      want: 'team-a.chat',
    },
    {
      name: 'clusterId uses the default namespace when none is set',
      got: clusterId({ ...cluster(), metadata: { name: 'x' } }),
      want: 'default.x',
    },
    { name: 'podName is <name>-<ordinal>', got: podName(cluster({}, 'chat-prod'), 4), want: 'chat-prod-4' },
    {
      name: 'the selector names the instance',
      got: selectorString(cluster({}, 'chat-prod')),
      want: 'app.kubernetes.io/name=chat-node,app.kubernetes.io/instance=chat-prod,app.kubernetes.io/managed-by=chatplatform-operator',
    },
  ])('$name', ({ got, want }) => expect(got).toBe(want));

  it.each([
    { kind: 'ServiceAccount', name: 'chat-prod-node' },
    { kind: 'ConfigMap', name: 'chat-prod-config' },
    { kind: 'Service', name: 'chat-prod-nodes' },
    { kind: 'Service', name: 'chat-prod' },
    { kind: 'StatefulSet', name: 'chat-prod' },
    { kind: 'PodDisruptionBudget', name: 'chat-prod' },
  ])('names the $kind $name after the ChatCluster', ({ kind, name }) => {
    expect(find(buildObjects(cluster({}, 'chat-prod'), 1), kind, name).metadata.namespace).toBe('team-a');
  });
});

describe('spec.expose: how clients reach the nodes', () => {
  const nodePort = cluster({
    maxReplicas: 3,
    expose: {
      service: { type: 'NodePort', nodePort: 30080, annotations: { 'example.com/lb': 'x' } },
      nodes: 'NodePort',
      host: 'chat.example.com',
      nodePortBase: 30100,
    },
  });
  const ingressed = cluster({
    maxReplicas: 2,
    expose: {
      service: { type: 'ClusterIP' },
      nodes: 'Ingress',
      ingress: {
        className: 'nginx',
        host: 'chat.example.com',
        tlsSecretName: 'chat-tls',
        annotations: { a: 'b' },
      },
    },
  });

  it('makes the client Service of the type asked, with its node port and annotations', () => {
    const svc = find(buildObjects(nodePort, 1), 'Service', 'chat') as any;
    expect(svc.metadata.annotations).toEqual({ 'example.com/lb': 'x' });
    expect(svc.spec).toMatchObject({
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }],
    });
  });

  it('gives every node up to maxReplicas a NodePort Service at nodePortBase + ordinal, selecting its pod only', () => {
    const objects = buildObjects(nodePort, 1);
    for (const ordinal of [0, 1, 2]) {
      const svc = find(objects, 'Service', `chat-node-${ordinal}`) as any;
      expect(svc.spec).toEqual({
        type: 'NodePort',
        selector: { ...nodeLabels(nodePort), 'statefulset.kubernetes.io/pod-name': `chat-${ordinal}` },
        ports: [{ name: 'http', port: 8080, targetPort: 'http', nodePort: 30100 + ordinal }],
      });
    }
    expect(objects.filter((o) => o.metadata.name.startsWith('chat-node-'))).toHaveLength(3);
  });

  it('makes each node advertise <host>:<nodePortBase + its id>', () => {
    const objects = buildObjects(nodePort, 3);
    const config = loadNodeConfig({
      env: resolvedEnv(
        objects,
        { name: 'chat-2', index: 2 },
        { 'chat-auth/jwt-secret': 'j'.repeat(40), 'chat-admin/token': 't' },
      ),
    });
    expect(config).toMatchObject({ publicUrl: 'http://chat.example.com', publicPortBase: 30100, nodeId: 2 });
  });

  it('routes the entry host to the client Service and each node host to its node, with TLS for both', () => {
    const objects = buildObjects(ingressed, 1);
    const ing = find(objects, 'Ingress', 'chat') as any;
    expect(ing.apiVersion).toBe('networking.k8s.io/v1');
    expect(ing.metadata.annotations).toEqual({ a: 'b' });
    expect(ing.spec.ingressClassName).toBe('nginx');
    expect(ing.spec.tls).toEqual([
      { hosts: ['chat.example.com', '*.chat.example.com'], secretName: 'chat-tls' },
    ]);
    const routes = ing.spec.rules.map((r: any) => [
      r.host,
      r.http.paths[0].backend.service.name,
      r.http.paths[0].backend.service.port.number,
    ]);
    expect(routes).toEqual([
      ['chat.example.com', 'chat', 80],
      ['chat-0.chat.example.com', 'chat-node-0', 8080],
      ['chat-1.chat.example.com', 'chat-node-1', 8080],
    ]);
    expect((find(objects, 'Service', 'chat-node-1') as any).spec.type).toBe('ClusterIP');
    const url = env(objects).find((e) => e.name === 'CHAT_PUBLIC_URL')?.value;
    expect(url).toBe('https://$(POD_NAME).chat.example.com');
  });

  it('never routes the admin port from outside', () => {
    for (const c of [nodePort, ingressed]) {
      for (const o of buildObjects(c, 2)) {
        // The headless Service is for inside the cluster only; the pods declare the port.
        if (!['Service', 'Ingress'].includes(o.kind) || o.metadata.name === 'chat-nodes') continue;
        expect(JSON.stringify(o.spec ?? {}), `${o.kind}/${o.metadata.name}`).not.toMatch(/9090|"admin"/);
      }
    }
  });

  it('makes no node Services and no Ingress by default', () => {
    const objects = buildObjects(cluster(), 3);
    expect(objects.some((o) => o.kind === 'Ingress' || o.metadata.name.startsWith('chat-node-'))).toBe(false);
  });
});

describe('spec.podTemplate', () => {
  const template = {
    labels: { team: 'chat', 'app.kubernetes.io/name': 'mine' },
    annotations: { 'mesh.example.com/inject': 'false' },
    imagePullSecrets: [{ name: 'registry' }],
    imagePullPolicy: 'Always' as const,
    nodeSelector: { pool: 'chat' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'chat', effect: 'NoSchedule' }],
    affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
    priorityClassName: 'chat-critical',
    env: [
      { name: 'NODE_OPTIONS', value: '--max-old-space-size=1536' },
      { name: 'CHAT_PORT', value: '1' },
    ],
  };
  const pod = statefulSet(buildObjects(cluster({ podTemplate: template }), 2)).spec.template;

  it('copies every field into the pod template', () => {
    expect(pod.metadata.labels).toEqual({ team: 'chat', ...nodeLabels(cluster()) });
    expect(pod.metadata.annotations).toMatchObject({ 'mesh.example.com/inject': 'false' });
    expect(pod.metadata.annotations[CONFIG_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
    expect(pod.spec).toMatchObject({
      imagePullSecrets: [{ name: 'registry' }],
      nodeSelector: { pool: 'chat' },
      tolerations: template.tolerations,
      affinity: template.affinity,
      priorityClassName: 'chat-critical',
    });
    expect(pod.spec.containers[0].imagePullPolicy).toBe('Always');
  });

  it('adds the extra env, leaving out the names the operator sets: its settings win', () => {
    const names = pod.spec.containers[0].env.map((e: Env) => e.name);
    expect(names[0]).toBe('NODE_OPTIONS');
    expect(names).not.toContain('CHAT_PORT');
    const resolved = resolvedEnv(
      buildObjects(cluster({ podTemplate: template }), 2),
      { name: 'chat-0', index: 0 },
      {},
    );
    expect(resolved.CHAT_PORT).toBe('8080');
  });

  it('spreads the nodes over zones and hosts by default, and takes constraints of its own', () => {
    const plain = statefulSet(buildObjects(cluster(), 2)).spec.template.spec;
    const labelSelector = { matchLabels: nodeLabels(cluster()) };
    expect(plain.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector,
      },
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector,
      },
    ]);
    const own = { maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule' };
    expect(
      statefulSet(buildObjects(cluster({ podTemplate: { topologySpreadConstraints: [own] } }), 2)).spec
        .template.spec.topologySpreadConstraints,
    ).toEqual([{ labelSelector, ...own }]);
    expect(
      statefulSet(buildObjects(cluster({ podTemplate: { topologySpreadConstraints: [] } }), 2)).spec.template
        .spec.topologySpreadConstraints,
    ).toEqual([]);
  });

  it('leaves the pod as it was when the template is empty', () => {
    const plain = statefulSet(buildObjects(cluster(), 2)).spec.template.spec;
    for (const k of ['imagePullSecrets', 'nodeSelector', 'tolerations', 'affinity', 'priorityClassName']) {
      expect(plain).not.toHaveProperty(k);
    }
  });
});
