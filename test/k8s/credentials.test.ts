/**
 * A ChatCluster on backends that require credentials and TLS, on pods that really run: NATS with a
 * user, Redis with an ACL user over TLS only, Cassandra with password authentication and client TLS
 * (the backends of `npm run services:up -- --secure`, published in the namespace as nats, redis and
 * cassandra). The passwords and the CA live in Secrets; the ChatCluster references them. The test
 * reads back everything it can (ChatClusters, ConfigMaps, pod specs, node and operator logs) and
 * finds no secret value in any of it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import cassandra from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../client/index.ts';
import { errorMessage } from '../../common/errors.ts';
import { type ChatCluster, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { cassandraAuthOptions } from '../helpers/backend-auth.ts';
import { chatClusterBody } from '../helpers/chatcluster.ts';
import { servicesEnv } from '../helpers/cluster.ts';
import { type Recorder, recorder, until } from '../helpers/recorder.ts';
import { deleteStreams, streamOf } from '../helpers/streams.ts';
import { createUser } from '../helpers/users.ts';
import {
  chatNodeImage,
  installOperator,
  isHomeCluster,
  kubeConfig,
  publishBackends,
  testNamespace,
} from './cluster.ts';
import { PodAddresses } from './pod-addresses.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NAME = 'secured';

describe.runIf(isHomeCluster)('a ChatCluster on backends that require credentials and TLS', () => {
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let operator: { remove(): Promise<void> } | undefined;
  let pods: PodAddresses;
  let env: Record<string, string>;
  let r: Recorder | undefined;
  const release = `cr-${randomBytes(2).toString('hex')}`;
  const jwt = randomBytes(32).toString('hex');
  const adminToken = randomBytes(24).toString('hex');

  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/services/up.sh'), '--secure'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 600_000,
    });
    env = servicesEnv('env-secure');
    const kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    ns = await testNamespace(core, 'creds');
    publishBackends(ns.name, { secure: true });
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'chat-auth' }, stringData: { jwt, admin: adminToken } },
    });
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: {
        metadata: { name: 'backend-auth' },
        stringData: {
          nats: env.CHAT_NATS_PASSWORD!,
          redis: env.CHAT_REDIS_PASSWORD!,
          cassandra: env.CHAT_CASSANDRA_PASSWORD!,
        },
      },
    });
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: {
        metadata: { name: 'backend-ca' },
        stringData: { 'ca.crt': readFileSync(env.CHAT_NATS_TLS_CA_FILE!, 'utf8') },
      },
    });
    pods = new PodAddresses(core, ns.name);
    await pods.start();
    operator = await installOperator(ns.name, release);
  }, 600_000);

  afterAll(async () => {
    r?.client.close();
    pods?.stop();
    await operator?.remove();
    await ns?.remove();
    if (!env) return;
    await deleteStreams(env.CHAT_NATS_URL!, streamOf(ns.name), env).catch(() => {});
    const client = new cassandra.Client({
      contactPoints: env.CHAT_CASSANDRA_CONTACT_POINTS!.split(','),
      localDataCenter: 'datacenter1',
      ...cassandraAuthOptions(env),
    });
    await client
      .execute(`DROP KEYSPACE IF EXISTS chat_${ns.name.replace(/-/g, '_')}`)
      .catch(() => {})
      .finally(() => client.shutdown());
  }, 120_000);

  it('becomes Ready and chats, and no secret value shows in what the API server or the logs hold', async () => {
    const ca = { name: 'backend-ca', key: 'ca.crt' };
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns.name,
      body: chatClusterBody(NAME, {
        image: chatNodeImage,
        minReplicas: 1,
        maxReplicas: 1,
        resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
        nats: {
          url: 'tls://nats:4222',
          user: 'chat',
          passwordRef: { name: 'backend-auth', key: 'nats' },
          tls: { caRef: ca },
        },
        redis: {
          url: 'rediss://redis:6379',
          username: 'chat',
          passwordRef: { name: 'backend-auth', key: 'redis' },
          tls: { caRef: ca },
        },
        cassandra: {
          contactPoints: ['cassandra:9042'],
          keyspace: `chat_${ns.name.replace(/-/g, '_')}`,
          replication: 1,
          username: 'chat',
          passwordRef: { name: 'backend-auth', key: 'cassandra' },
          tls: { caRef: ca },
        },
        auth: {
          jwtSecretRef: { name: 'chat-auth', key: 'jwt' },
          adminTokenRef: { name: 'chat-auth', key: 'admin' },
        },
      }),
    });
    const ready = async () => {
      const c = (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: ns.name,
        name: NAME,
      })) as ChatCluster;
      return c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;
    };
    await until('the ChatCluster is Ready', ready, 240_000).catch(async (err) => {
      const list = await core.listNamespacedPod({ namespace: ns.name });
      const logs = await Promise.all(
        list.items.map((p) =>
          core
            .readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns.name, tailLines: 10 })
            .catch((e) => `(no log: ${errorMessage(e)})`),
        ),
      );
      throw new Error(
        `${errorMessage(err)}; pods: ${list.items.map((p) => p.metadata?.name).join(', ')}; logs: ${logs.join('\n')}`,
      );
    });

    await pods.refresh();
    const base = pods.rewrite(`http://${NAME}-0.${NAME}-nodes.${ns.name}.svc:8080`);
    const alice = await createUser(base, 'alice');
    const bob = await createUser(base, 'bob');
    r = recorder(base, bob.token, { discover: false });
    await r.client.connect();
    const sent = await new ChatApi(base, { token: alice.token }).postMessage({
      to: bob.userId,
      text: 'over TLS',
    });
    await until('bob got the message', () => r!.seen.some((m) => m.messageId === sent.messageId));
    const history = await new ChatApi(base, { token: bob.token }).history(sent.conversation, { limit: 10 });
    expect(history.map((m) => m.messageId)).toContain(sent.messageId);

    // Everything the test can read back.
    const secrets = [
      env.CHAT_NATS_PASSWORD!,
      env.CHAT_REDIS_PASSWORD!,
      env.CHAT_CASSANDRA_PASSWORD!,
      jwt,
      adminToken,
    ];
    const clusters = await custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns.name,
    });
    const configMaps = await core.listNamespacedConfigMap({ namespace: ns.name });
    const podList = await core.listNamespacedPod({ namespace: ns.name });
    const logs = await Promise.all(
      podList.items.map((p) =>
        core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns.name }).catch(() => ''),
      ),
    );
    const readable = JSON.stringify([clusters, configMaps.items, podList.items, logs]);
    expect(readable).toContain('backend-auth'); // the references are there…
    for (const s of secrets)
      expect(readable.includes(s), 'a secret value in what the test can read').toBe(false);
  }, 600_000);
});
