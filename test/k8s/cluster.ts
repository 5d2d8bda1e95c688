/**
 * Helpers for tests that run real pods: the cluster that KUBECONFIG names (else the one of
 * `npm run k8s:up`, .services/kubeconfig), the images `npm run images` loaded into it, a throwaway
 * namespace per suite, and pods that run one command and report what it printed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CoreV1Api, type CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import cassandra from 'cassandra-driver';
import { GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { cassandraAuthOptions } from '../helpers/backend-auth.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { deleteStreams, streamOf } from '../helpers/streams.ts';
import { until } from '../helpers/until.ts';

const root = join(import.meta.dirname, '..', '..');
const homeKubeconfig = join(root, '.services', 'kubeconfig');

/** The kubeconfig the tests use: KUBECONFIG if set, else the one `npm run k8s:up` writes. */
export const kubeconfigPath = process.env.KUBECONFIG || homeKubeconfig;
/** True when the cluster is the one of `npm run k8s:up` (its scripts can publish the backends). */
export const isHomeCluster = resolve(kubeconfigPath) === resolve(homeKubeconfig);

/** The image tag `npm run images` builds by default (package.json's version), or CHAT_TEST_IMAGE_TAG. */
export const imageTag =
  process.env.CHAT_TEST_IMAGE_TAG ||
  (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string);
export const chatNodeImage = `chat-platform/chat-node:${imageTag}`;
export const operatorImage = `chat-platform/chat-operator:${imageTag}`;

export function kubeConfig(): KubeConfig {
  if (!existsSync(kubeconfigPath)) {
    throw new Error(`${kubeconfigPath} is missing: run npm run k8s:up (or set KUBECONFIG)`);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

/** A namespace of its own for a suite; `remove()` deletes it and with it everything in it. */
export async function testNamespace(
  core: CoreV1Api,
  prefix: string,
): Promise<{ name: string; remove(): Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'chat-platform.io/test': 'k8s' } } } });
  // Pods are refused until the service-account controller has made the namespace's `default` account.
  await until(
    `the default ServiceAccount exists in ${name}`,
    () =>
      core
        .readNamespacedServiceAccount({ name: 'default', namespace: name })
        .then(() => true)
        .catch(() => false),
    30_000,
  );
  return {
    name,
    async remove() {
      await core.deleteNamespace({ name, gracePeriodSeconds: 0 }).catch(() => undefined);
    },
  };
}

/**
 * Publishes the backends of `npm run services:up` in `namespace` (home cluster only); with `secure`,
 * those of `services:up -- --secure` (credentials and TLS) under the same names.
 */
export function publishBackends(namespace: string, options: { secure?: boolean } = {}): void {
  execFileSync(
    'bash',
    [join(root, 'scripts', 'k8s', 'backends.sh'), ...(options.secure ? ['--secure'] : []), namespace],
    { stdio: 'inherit' },
  );
}

/** Small CPU and memory requests (the test machine has two cores) and a non-root, locked-down container. */
export const smallContainer = {
  imagePullPolicy: 'IfNotPresent',
  resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '256Mi' } },
  securityContext: {
    allowPrivilegeEscalation: false,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  },
};

export interface PodResult {
  phase: string;
  exitCode: number | undefined;
  logs: string;
}

/**
 * Runs `command` once in a pod of `image` (working directory /app, so the image's node_modules
 * resolve) and returns its phase, exit code and output. Fails when it does not finish in time,
 * saying what the pod was doing.
 */
export async function runPod(
  core: CoreV1Api,
  namespace: string,
  name: string,
  image: string,
  command: string[],
  extra: Partial<NonNullable<V1Pod['spec']>['containers'][number]> = {},
  timeoutMs = 90_000,
): Promise<PodResult> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        enableServiceLinks: false, // a Service `chat` would set CHAT_PORT=tcp://… in the container

        containers: [{ name: 'main', image, command, workingDir: '/app', ...smallContainer, ...extra }],
      },
    },
  });
  let pod: V1Pod | undefined;
  try {
    await until(
      `pod ${namespace}/${name} has finished`,
      async () => {
        pod = await core.readNamespacedPod({ name, namespace });
        if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return true;
        await sleep(250); // one read every ~300 ms is enough, and spares the API server
        return false;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; its status: ${JSON.stringify(pod?.status)}`);
  }
  const logs = await core
    .readNamespacedPodLog({ name, namespace, container: 'main' })
    .catch((e) => `(no logs: ${e})`);
  const terminated = pod?.status?.containerStatuses?.[0]?.state?.terminated;
  return { phase: pod?.status?.phase ?? 'unknown', exitCode: terminated?.exitCode, logs: String(logs) };
}

/** Waits until pod `name` has the condition Ready=True; fails saying what it was doing. */
export async function waitPodReady(core: CoreV1Api, namespace: string, name: string, timeoutMs = 90_000) {
  let pod: V1Pod | undefined;
  try {
    await until(
      `pod ${namespace}/${name} is Ready`,
      async () => {
        pod = await core.readNamespacedPod({ name, namespace });
        if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return true;
        await sleep(250);
        return false;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; its status: ${JSON.stringify(pod?.status)}`);
  }
  return pod!;
}

/**
 * `helm install` of charts/chat-operator into `namespace`, watching that namespace only (its roles
 * are Roles there), with the operator image of `npm run images`, resyncing every second, one replica,
 * waited for; `sets` are more `--set` values. `remove()` uninstalls it.
 */
export async function installOperator(
  namespace: string,
  release: string,
  sets: readonly string[] = [],
): Promise<{ remove(): Promise<void> }> {
  const { helm, helmBinary } = await import('../charts/helm.ts');
  const binary = await helmBinary();
  const base = ['--kubeconfig', kubeconfigPath, '--namespace', namespace];
  const values = [
    `image.tag=${imageTag}`,
    `watchNamespace=${namespace}`,
    'resyncMs=1000',
    'replicas=1',
    ...sets,
  ];
  await helm(binary, [
    'install',
    release,
    join(root, 'charts', 'chat-operator'),
    ...base,
    ...values.flatMap((v) => ['--set', v]),
    '--wait',
    '--timeout',
    '3m',
  ]);
  return {
    async remove() {
      await helm(binary, ['uninstall', release, ...base]).catch(() => undefined);
    },
  };
}

/** The pods of ChatCluster `name` that are not being deleted; with `ready`, only the Ready ones. */
export async function chatNodePods(core: CoreV1Api, namespace: string, name: string, ready = false) {
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: `app.kubernetes.io/instance=${name}`,
  });
  return pods.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .filter((p) => !ready || p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}

/**
 * Starts the backends of `npm run services:up -- --secure` (idempotent: running ones are left alone)
 * and returns their CHAT_* lines (.services/env-secure): users, passwords and the CA of the backends
 * that `publishBackends(ns, { secure: true })` publishes in a namespace as nats, redis and cassandra.
 */
export function secureBackends(): Record<string, string> {
  execFileSync('bash', [join(root, 'scripts', 'services', 'up.sh'), '--secure'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600_000,
  });
  return servicesEnv('env-secure');
}

/**
 * Removes what the ChatClusters of `namespace` left on the backends that `env` describes (the CHAT_*
 * lines of a services topology, with its credentials): their JetStream streams and `keyspace`.
 */
export async function removeBackendData(
  env: Record<string, string>,
  namespace: string,
  keyspace: string,
): Promise<void> {
  await deleteStreams(env.CHAT_NATS_URL!, streamOf(namespace), env).catch(() => {});
  const client = new cassandra.Client({
    contactPoints: env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
    localDataCenter: env.CHAT_CASSANDRA_LOCAL_DC || 'datacenter1',
    ...cassandraAuthOptions(env),
  });
  await client
    .execute(`DROP KEYSPACE IF EXISTS ${keyspace}`)
    .catch(() => {})
    .finally(() => client.shutdown());
}

/**
 * Everything of `namespace` a user with read access sees: its ChatClusters, ConfigMaps and pods (the
 * pod specs), and the pods' logs, as one string, to look for secret values in.
 */
export async function readableState(
  core: CoreV1Api,
  custom: CustomObjectsApi,
  namespace: string,
): Promise<string> {
  const clusters = await custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
  });
  const configMaps = await core.listNamespacedConfigMap({ namespace });
  const pods = await core.listNamespacedPod({ namespace });
  const logs = await Promise.all(
    pods.items.map((p) => core.readNamespacedPodLog({ name: p.metadata!.name!, namespace }).catch(() => '')),
  );
  return JSON.stringify([clusters, configMaps.items, pods.items, logs]);
}
