/**
 * spec.deletionPolicy against a real API server (npm run k8s:up) and the real NATS, Redis and
 * Cassandra on loopback (.services/env): the finalizer follows the policy; with Delete, deleting the
 * ChatCluster deletes its StatefulSet, waits for its pods, removes its stream, keyspace and Redis keys
 * (checked on the backends) and lets the object go; with Retain the object goes at once and the data
 * stays; a keyspace another ChatCluster names is not dropped until that one is gone. Each test makes
 * its own stream, keyspace and keys.
 */
import { randomBytes } from 'node:crypto';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import cassandra from 'cassandra-driver';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetStreamNames } from '../../common/jetstream-names.ts';
import { silentLogger } from '../../common/logger.ts';
import { clusterPrefix, shardPrefix } from '../../common/redis.ts';
import { Applier } from '../../operator/apply.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { DataRemover, deleteRedisKeys, removeDataWith } from '../../operator/data-removal.ts';
import { FINALIZER } from '../../operator/deletion.ts';
import { Gatherer } from '../../operator/gather.ts';
import { Reconciler } from '../../operator/reconciler.ts';
import { cassandraAuthOptions, natsAuthOptions } from '../helpers/backend-auth.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { installChatClusterCrd, testKubeConfig } from '../helpers/kube.ts';
import { until } from '../helpers/until.ts';

const env = servicesEnv();
const hex = () => randomBytes(3).toString('hex');
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('deletionPolicy against a real API server and real backends', () => {
  let kc: KubeConfig;
  let ns: string;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let remover: DataRemover;
  let reconciler: Reconciler;
  let cql: cassandra.Client;
  let redis: Redis;
  const keyspaces: string[] = [];
  const ref = (name: string) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name });
  const read = async (name: string) => (await custom.getNamespacedCustomObject(ref(name))) as ChatCluster;
  const gone = (name: string) =>
    read(name).then(
      () => false,
      (err: unknown) => err instanceof ApiException && err.code === 404,
    );

  /** Reconciles (waiting for a removal it started) until `done`, at most `timeoutMs`. */
  async function reconcileUntil(
    name: string,
    what: string,
    done: () => Promise<boolean>,
    timeoutMs = 120_000,
  ) {
    await until(
      what,
      async () => {
        await reconciler.reconcileOnce(ns, name);
        await remover.idle();
        if (await done()) return true;
        await new Promise((r) => setTimeout(r, 500));
        return false;
      },
      timeoutMs,
    );
  }

  async function create(name: string, policy: 'Retain' | 'Delete', keyspace: string) {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns,
      body: chatClusterBody(name, {
        deletionPolicy: policy,
        nats: { url: env.CHAT_NATS_URL! },
        redis: { url: env.CHAT_REDIS_URL! },
        cassandra: {
          contactPoints: env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
          localDataCenter: env.CHAT_CASSANDRA_LOCAL_DC!,
          keyspace,
          replication: 1,
        },
      }),
    });
  }

  /** What the nodes of `<ns>.<name>` would have left behind. */
  async function seed(name: string, keyspace: string): Promise<string[]> {
    const id = `${ns}.${name}`;
    const names = jetStreamNames(id);
    const nc = await connect({ servers: env.CHAT_NATS_URL!, ...natsAuthOptions(env) });
    try {
      await (await jetstreamManager(nc)).streams.add({
        name: names.stream,
        subjects: [names.subject],
        max_bytes: 1024 * 1024,
      });
      await jetstream(nc).publish(names.subject, 'hello');
    } finally {
      await nc.close();
    }
    await cql.execute(
      `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
    );
    await cql.execute(`CREATE TABLE IF NOT EXISTS ${keyspace}.messages (id int PRIMARY KEY, body text)`);
    await cql.execute(`INSERT INTO ${keyspace}.messages (id, body) VALUES (1, 'hello')`);
    const keys = [`${clusterPrefix(id)}nodes`, `${shardPrefix(id, 5)}presence:since`];
    await redis.mset(...keys.flatMap((k) => [k, '1']));
    return keys;
  }

  /** What is left of the data: [stream, keyspace, Redis keys]. */
  async function dataOf(name: string, keyspace: string, keys: string[]): Promise<[boolean, boolean, number]> {
    const nc = await connect({ servers: env.CHAT_NATS_URL!, ...natsAuthOptions(env) });
    let stream: boolean;
    try {
      const jsm = await jetstreamManager(nc);
      stream = await jsm.streams.info(jetStreamNames(`${ns}.${name}`).stream).then(
        () => true,
        () => false,
      );
    } finally {
      await nc.close();
    }
    const ks = await cql.execute(
      'SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?',
      [keyspace],
    );
    return [stream, ks.rowLength === 1, await redis.exists(...keys)];
  }

  const newKeyspace = () => {
    const ks = `optest_policy_${hex()}`;
    keyspaces.push(ks);
    return ks;
  };

  beforeAll(async () => {
    kc = testKubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ns = `del-${hex()}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'chat-auth' }, stringData: { jwt: 'j'.repeat(40) } },
    });
    await installChatClusterCrd(kc, ns);
    const log = silentLogger();
    remover = new DataRemover(removeDataWith(core, log), log);
    reconciler = new Reconciler({
      custom,
      gatherer: new Gatherer({ apps, core, loads: async () => [] }),
      applier: new Applier({ objects: KubernetesObjectApi.makeApiClient(kc), custom, core, log }),
      remover,
      log,
      namespace: ns,
    });
    cql = new cassandra.Client({
      contactPoints: env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
      localDataCenter: env.CHAT_CASSANDRA_LOCAL_DC!,
      ...cassandraAuthOptions(env),
    });
    await cql.connect();
    redis = new Redis(env.CHAT_REDIS_URL!);
  }, 90_000);

  afterAll(async () => {
    // Whatever a failed test left: the finalizers first, so that the namespace can go.
    const list = (await custom
      .listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns })
      .catch(() => ({ items: [] }))) as { items: ChatCluster[] };
    for (const c of list.items) {
      await custom
        .patchNamespacedCustomObject(
          { ...ref(c.metadata.name), body: { metadata: { finalizers: null } } },
          merge,
        )
        .catch(() => {});
    }
    await core?.deleteNamespace({ name: ns }).catch(() => {});
    const nc = await connect({ servers: env.CHAT_NATS_URL!, ...natsAuthOptions(env) }).catch(() => undefined);
    if (nc) {
      const jsm = await jetstreamManager(nc);
      for await (const name of jsm.streams.names()) {
        if (name.startsWith(jetStreamNames(`${ns}.`).stream))
          await jsm.streams.delete(name).catch(() => false);
      }
      await nc.close();
    }
    for (const ks of keyspaces) await cql?.execute(`DROP KEYSPACE IF EXISTS ${ks}`).catch(() => {});
    for (const name of ['doomed', 'kept', 'turning', 'first', 'second']) {
      if (redis) await deleteRedisKeys(redis, `${ns}.${name}`).catch(() => {});
    }
    await cql?.shutdown();
    redis?.disconnect();
  }, 120_000);

  it('with Delete: holds the deletion until the pods are gone, then removes the data and lets it go', async () => {
    const keyspace = newKeyspace();
    await create('doomed', 'Delete', keyspace);
    await reconciler.reconcileOnce(ns, 'doomed');
    expect((await read('doomed')).metadata.finalizers).toEqual([FINALIZER]);
    await apps.readNamespacedStatefulSet({ name: 'doomed', namespace: ns });
    const keys = await seed('doomed', keyspace);
    expect(await dataOf('doomed', keyspace, keys)).toEqual([true, true, keys.length]);

    await custom.deleteNamespacedCustomObject(ref('doomed'));
    await reconciler.reconcileOnce(ns, 'doomed');
    const holding = await read('doomed');
    expect(holding.metadata.deletionTimestamp).toBeDefined();
    expect(holding.status?.deletion?.phase).toBe('WaitingForPods');
    expect(holding.status?.conditions?.find((c) => c.type === 'Deleting')?.status).toBe('True');

    await reconcileUntil('doomed', 'the ChatCluster is gone', () => gone('doomed'));
    const pods = await core.listNamespacedPod({
      namespace: ns,
      labelSelector: 'app.kubernetes.io/instance=doomed',
    });
    expect(pods.items).toEqual([]);
    expect(await dataOf('doomed', keyspace, keys)).toEqual([false, false, 0]);
    const events = await core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'involvedObject.name=doomed',
    });
    expect(events.items.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['DeletingNodes', 'DataRemoved']),
    );
  }, 240_000);

  it('with Retain: adds no finalizer, the ChatCluster goes at once and the data stays', async () => {
    const keyspace = newKeyspace();
    await create('kept', 'Retain', keyspace);
    await reconciler.reconcileOnce(ns, 'kept');
    expect((await read('kept')).metadata.finalizers ?? []).toEqual([]);
    const keys = await seed('kept', keyspace);
    await custom.deleteNamespacedCustomObject(ref('kept'));
    await until('the ChatCluster is gone', () => gone('kept'), 30_000);
    await reconciler.reconcileAll();
    await remover.idle();
    expect(await dataOf('kept', keyspace, keys)).toEqual([true, true, keys.length]);
  }, 120_000);

  it('removes its finalizer when the policy changes to Retain, and adds it back for Delete', async () => {
    await create('turning', 'Delete', newKeyspace());
    await reconciler.reconcileOnce(ns, 'turning');
    expect((await read('turning')).metadata.finalizers).toEqual([FINALIZER]);
    await custom.patchNamespacedCustomObject(
      { ...ref('turning'), body: { spec: { deletionPolicy: 'Retain' } } },
      merge,
    );
    await reconciler.reconcileOnce(ns, 'turning');
    expect((await read('turning')).metadata.finalizers ?? []).toEqual([]);
    await custom.patchNamespacedCustomObject(
      { ...ref('turning'), body: { spec: { deletionPolicy: 'Delete' } } },
      merge,
    );
    await reconciler.reconcileOnce(ns, 'turning');
    expect((await read('turning')).metadata.finalizers).toEqual([FINALIZER]);
    // Changed to Retain while the deletion waits: it finishes, nothing removed.
    await custom.patchNamespacedCustomObject(
      { ...ref('turning'), body: { spec: { deletionPolicy: 'Retain' } } },
      merge,
    );
    await custom.deleteNamespacedCustomObject(ref('turning'));
    await reconcileUntil('turning', 'the ChatCluster is gone', () => gone('turning'), 30_000);
  }, 120_000);

  it('does not drop a keyspace another ChatCluster names, saying so, and goes on once that one is gone', async () => {
    const keyspace = newKeyspace();
    await create('first', 'Delete', keyspace);
    await create('second', 'Retain', keyspace);
    await reconciler.reconcileAll();
    const keys = await seed('first', keyspace);
    await custom.deleteNamespacedCustomObject(ref('first'));
    await reconcileUntil('first', 'the deletion is refused', async () => {
      return (await read('first')).status?.deletion?.phase === 'KeyspaceInUse';
    });
    const refused = await read('first');
    expect(refused.status?.conditions?.find((c) => c.type === 'Deleting')).toMatchObject({
      status: 'True',
      reason: 'KeyspaceInUse',
    });
    expect(refused.status?.deletion?.message).toContain(`${ns}/second`);
    const events = await core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'involvedObject.name=first',
    });
    expect(events.items.find((e) => e.reason === 'KeyspaceInUse')?.type).toBe('Warning');
    expect(await dataOf('first', keyspace, keys)).toEqual([true, true, keys.length]);

    await custom.deleteNamespacedCustomObject(ref('second'));
    await until('the other ChatCluster is gone', () => gone('second'), 30_000);
    await reconcileUntil('first', 'the ChatCluster is gone', () => gone('first'));
    expect(await dataOf('first', keyspace, keys)).toEqual([false, false, 0]);
  }, 240_000);
});
