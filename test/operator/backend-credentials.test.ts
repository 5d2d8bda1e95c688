/**
 * Backend credentials and TLS by Secret reference, as buildObjects renders them: names and paths in
 * the ConfigMap, passwords as env entries that reference their Secret keys, CAs and creds files as
 * read-only Secret volumes; and the node's configuration accepts what the pod will hold.
 */
import { describe, expect, it } from 'vitest';
import { loadNodeConfig } from '../../common/node-config.ts';
import { buildObjects } from '../../operator/objects.ts';
import { chatCluster } from '../helpers/chatcluster.ts';

const secured = chatCluster({
  spec: {
    nats: {
      url: 'tls://nats:4222',
      user: 'chat',
      passwordRef: { name: 'nats-auth', key: 'password' },
      tls: { caRef: { name: 'backend-ca', key: 'ca.crt' } },
    },
    redis: {
      url: 'rediss://redis:6379',
      username: 'chat',
      passwordRef: { name: 'redis-auth', key: 'password' },
      tls: { enabled: true, caRef: { name: 'backend-ca', key: 'ca.crt' } },
    },
    cassandra: {
      contactPoints: ['cassandra:9042'],
      keyspace: 'chat',
      localDataCenter: 'dc1',
      replication: 3,
      username: 'chat',
      passwordRef: { name: 'cassandra-auth', key: 'password' },
      tls: { enabled: true },
    },
  },
});

function parts(cluster = secured) {
  const objects = buildObjects(cluster, 2) as Record<string, any>[];
  const configMap = objects.find((o) => o.kind === 'ConfigMap')!;
  const sts = objects.find((o) => o.kind === 'StatefulSet')!;
  const pod = sts.spec.template.spec;
  const container = pod.containers[0];
  return { objects, data: configMap.data as Record<string, string>, pod, container };
}

describe('backend credentials by Secret reference', () => {
  it('puts names and paths in the ConfigMap and passwords in env entries that reference their Secrets', () => {
    const { data, container } = parts();
    expect(data).toMatchObject({
      CHAT_NATS_USER: 'chat',
      CHAT_NATS_TLS_CA_FILE: '/etc/chat/secrets/nats-ca/file',
      CHAT_REDIS_USERNAME: 'chat',
      CHAT_REDIS_TLS: 'true',
      CHAT_REDIS_TLS_CA_FILE: '/etc/chat/secrets/redis-ca/file',
      CHAT_CASSANDRA_USERNAME: 'chat',
      CHAT_CASSANDRA_TLS: 'true',
    });
    for (const k of Object.keys(data)) expect(k).not.toMatch(/PASSWORD|TOKEN/);
    const env = Object.fromEntries(
      (container.env as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [e.name, e]),
    );
    expect(env.CHAT_NATS_PASSWORD).toEqual({
      name: 'CHAT_NATS_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'nats-auth', key: 'password' } },
    });
    expect(env.CHAT_REDIS_PASSWORD?.valueFrom).toEqual({
      secretKeyRef: { name: 'redis-auth', key: 'password' },
    });
    expect(env.CHAT_CASSANDRA_PASSWORD?.valueFrom).toEqual({
      secretKeyRef: { name: 'cassandra-auth', key: 'password' },
    });
    // No env entry carries a plain value for a secret.
    for (const e of container.env as { name: string; value?: string }[])
      if (/PASSWORD|TOKEN|SECRET/.test(e.name)) expect(e.value).toBeUndefined();
  });

  it('mounts each CA from its Secret key, read-only, where the ConfigMap says', () => {
    const { pod, container, data } = parts();
    const volumes = Object.fromEntries((pod.volumes as { name: string }[]).map((v) => [v.name, v]));
    expect(volumes['nats-ca']).toEqual({
      name: 'nats-ca',
      secret: { secretName: 'backend-ca', items: [{ key: 'ca.crt', path: 'file' }] },
    });
    expect(volumes['redis-ca']).toBeDefined();
    expect(volumes['cassandra-ca']).toBeUndefined();
    const mounts = container.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
    const natsMount = mounts.find((m) => m.name === 'nats-ca')!;
    expect(natsMount.readOnly).toBe(true);
    expect(`${natsMount.mountPath}/file`).toBe(data.CHAT_NATS_TLS_CA_FILE);
  });

  it('renders nothing extra for backends without credentials', () => {
    const { data, container, pod } = parts(chatCluster());
    expect(Object.keys(data).filter((k) => /USER|TLS|PASSWORD/.test(k))).toEqual([]);
    expect((container.env as { name: string }[]).map((e) => e.name)).not.toContain('CHAT_REDIS_PASSWORD');
    expect((pod.volumes as { name: string }[]).map((v) => v.name)).toEqual(['data']);
  });

  it('gives the node settings its configuration accepts (with the Secret values the kubelet adds)', () => {
    const { data } = parts();
    const env = {
      ...data,
      CHAT_JWT_SECRET: 'x'.repeat(32),
      CHAT_NATS_PASSWORD: 'p1',
      CHAT_REDIS_PASSWORD: 'p2',
      CHAT_CASSANDRA_PASSWORD: 'p3',
    };
    const config = loadNodeConfig({ env });
    expect(config.natsUser).toBe('chat');
    expect(config.redisTls).toBe(true);
    expect(config.cassandraPassword).toBe('p3');
  });
});
