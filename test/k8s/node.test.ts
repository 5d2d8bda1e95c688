/**
 * Pods that really run, on the cluster KUBECONFIG names (else the node of `npm run k8s:up`), with the
 * images of `npm run images` loaded there: the node is Ready; a chat-node pod passes its kubelet
 * probes (/readyz, /healthz) and answers (the web app at / too) through a Service name that cluster DNS resolves; the
 * operator image runs; a pod reaches the API server through the `kubernetes` Service with its
 * service-account token; and the backends answer from a pod under the names crds/samples use
 * (nats:4222, redis:6379, cassandra:9042). Each suite works in a namespace of its own, deleted after.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chatNodeImage,
  isHomeCluster,
  kubeConfig,
  operatorImage,
  publishBackends,
  runPod,
  smallContainer,
  testNamespace,
  waitPodReady,
} from './cluster.ts';

const POD_TIMEOUT = 120_000;

describe('a node where pods run', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: Awaited<ReturnType<typeof testNamespace>>;

  beforeAll(async () => {
    kc = kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    ns = await testNamespace(core, 'k8s-node');
  });
  afterAll(async () => {
    await ns?.remove();
  });

  it('has a Ready node', async () => {
    const nodes = await core.listNode();
    const ready = nodes.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    expect(ready.length, JSON.stringify(nodes.items.map((n) => n.status?.conditions))).toBeGreaterThan(0);
  });

  it(
    'runs a chat-node pod that passes its probes and answers through a Service name',
    async () => {
      await core.createNamespacedPod({
        namespace: ns.name,
        body: {
          metadata: { name: 'chat', labels: { app: 'chat' } },
          spec: {
            terminationGracePeriodSeconds: 5,
            // Service links would set CHAT_PORT=tcp://… for the Service `chat` (the node's config).
            enableServiceLinks: false,
            containers: [
              {
                name: 'chat',
                image: chatNodeImage,
                ...smallContainer,
                ports: [{ name: 'http', containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1 },
                livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5 },
              },
            ],
          },
        },
      });
      await core.createNamespacedService({
        namespace: ns.name,
        body: {
          metadata: { name: 'chat' },
          spec: { selector: { app: 'chat' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
        },
      });
      const pod = await waitPodReady(core, ns.name, 'chat', POD_TIMEOUT);
      expect(pod.status?.containerStatuses?.[0]?.ready).toBe(true);

      // Another pod resolves the Service by its short and its full name through cluster DNS and
      // gets the node's /healthz and /readyz through it (kube-proxy's rules).
      // kube-proxy adds the new endpoint within a sync period: the first connections may be refused.
      const script = `
        const dns = require('node:dns/promises');
        const get = async (url) => {
          for (let i = 1; ; i++) {
            try { return await fetch(url); } catch (e) { if (i >= 15) throw e; }
            await new Promise((r) => setTimeout(r, 1000));
          }
        };
        (async () => {
          const full = 'chat.${ns.name}.svc.cluster.local';
          const [short, long] = [(await dns.lookup('chat')).address, (await dns.lookup(full)).address];
          const health = await get('http://chat/healthz');
          const ready = await get('http://' + full + '/readyz');
          // The image carries the web app, served at /.
          const page = await get('http://chat/');
          const app = /<title>/i.test(await page.text()) && page.headers.get('content-type');
          console.log(JSON.stringify({ short, long, health: health.status, ready: ready.status, app, uid: process.getuid() }));
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const result = await runPod(
        core,
        ns.name,
        'client',
        chatNodeImage,
        ['node', '-e', script],
        {},
        POD_TIMEOUT,
      );
      expect(result.phase, result.logs).toBe('Succeeded');
      const seen = JSON.parse(result.logs.trim().split('\n').pop()!);
      const service = await core.readNamespacedService({ name: 'chat', namespace: ns.name });
      expect(seen).toEqual({
        short: service.spec?.clusterIP,
        long: service.spec?.clusterIP,
        health: 200,
        ready: 200,
        app: expect.stringMatching(/^text\/html/),
        uid: 1000,
      });
    },
    POD_TIMEOUT * 2,
  );

  it(
    'runs the operator image as a non-root user',
    async () => {
      const result = await runPod(
        core,
        ns.name,
        'operator-help',
        operatorImage,
        ['sh', '-c', 'id -u && node operator/main.ts --help'],
        {},
        POD_TIMEOUT,
      );
      expect(result.phase, result.logs).toBe('Succeeded');
      expect(result.logs.split('\n')[0]).toBe('1000');
      expect(result.logs).toMatch(/Usage: chat-operator/);
    },
    POD_TIMEOUT,
  );

  it(
    'reaches the API server through the kubernetes Service with its service-account token',
    async () => {
      const script = `
        const { readFileSync } = require('node:fs');
        const token = readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/token', 'utf8');
        fetch('https://kubernetes.default.svc/version', { headers: { authorization: 'Bearer ' + token } })
          .then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })))
          .catch((e) => { console.error(e); process.exit(1); });`;
      const result = await runPod(core, ns.name, 'api-client', chatNodeImage, ['node', '-e', script], {
        env: [{ name: 'NODE_EXTRA_CA_CERTS', value: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt' }],
      });
      expect(result.phase, result.logs).toBe('Succeeded');
      const seen = JSON.parse(result.logs.trim().split('\n').pop()!);
      expect(seen.status).toBe(200);
      expect(seen.body.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    },
    POD_TIMEOUT,
  );

  it(
    'does not resolve or reach names outside the cluster (home node: nothing leaves the machine)',
    async () => {
      if (!isHomeCluster) return; // other clusters may well have egress
      const script = `
        const net = require('node:net');
        const dns = require('node:dns/promises');
        (async () => {
          const lookup = await dns.lookup('example.com').then((a) => a.address, (e) => e.code);
          const connect = await new Promise((done) => {
            const s = net.connect(443, '192.0.2.1');
            s.setTimeout(2000, () => { s.destroy(); done('timeout'); });
            s.on('connect', () => { s.destroy(); done('connected'); });
            s.on('error', (e) => done(e.code));
          });
          console.log(JSON.stringify({ lookup, connect }));
        })();`;
      const result = await runPod(core, ns.name, 'egress', chatNodeImage, ['node', '-e', script]);
      expect(result.phase, result.logs).toBe('Succeeded');
      expect(JSON.parse(result.logs.trim().split('\n').pop()!)).toEqual({
        lookup: 'ENOTFOUND',
        connect: 'timeout',
      });
    },
    POD_TIMEOUT,
  );
});

/**
 * The backends under the sample names. On the k8s:up node, scripts/k8s/backends.sh publishes the
 * backends of `npm run services:up` in the suite's namespace. On another cluster, set
 * CHAT_TEST_BACKENDS_NAMESPACE to a namespace where Services nats, redis and cassandra exist.
 */
const backendsNamespace = process.env.CHAT_TEST_BACKENDS_NAMESPACE;
describe.skipIf(!isHomeCluster && !backendsNamespace)(
  'the backends from a pod, under the sample names',
  () => {
    let core: CoreV1Api;
    let ns: Awaited<ReturnType<typeof testNamespace>> | undefined;
    let namespace: string;

    beforeAll(async () => {
      core = kubeConfig().makeApiClient(CoreV1Api);
      if (backendsNamespace) {
        namespace = backendsNamespace;
      } else {
        ns = await testNamespace(core, 'k8s-backends');
        namespace = ns.name;
        publishBackends(namespace);
      }
    });
    afterAll(async () => {
      await ns?.remove();
    });

    it(
      'answers NATS INFO on nats:4222, PONG on redis:6379 and a CQL query on cassandra:9042',
      async () => {
        const script = `
        const net = require('node:net');
        const cassandra = require('cassandra-driver');
        const once = (host, port, send) => new Promise((done, fail) => {
          const s = net.connect(port, host, () => send && s.write(send));
          s.setTimeout(10000, () => { s.destroy(); fail(new Error(host + ': timeout')); });
          s.once('data', (d) => { s.destroy(); done(d.toString().split('\\r\\n')[0]); });
          s.on('error', fail);
        });
        // A Service just created may take kube-proxy a moment: a few tries, 1 s apart.
        const first = async (host, port, send) => {
          for (let i = 1; ; i++) {
            try { return await once(host, port, send); } catch (e) { if (i >= 15) throw e; }
            await new Promise((r) => setTimeout(r, 1000));
          }
        };
        (async () => {
          const nats = (await first('nats', 4222)).slice(0, 4);
          const redis = await first('redis', 6379, 'PING\\r\\n');
          const client = new cassandra.Client({ contactPoints: ['cassandra:9042'], localDataCenter: 'datacenter1' });
          const rs = await client.execute('SELECT release_version FROM system.local');
          await client.shutdown();
          console.log(JSON.stringify({ nats, redis, cassandra: rs.first().release_version.split('.')[0] }));
        })().catch((e) => { console.error(e); process.exit(1); });`;
        const result = await runPod(core, namespace, 'backends', chatNodeImage, ['node', '-e', script]);
        expect(result.phase, result.logs).toBe('Succeeded');
        expect(JSON.parse(result.logs.trim().split('\n').pop()!)).toEqual({
          nats: 'INFO',
          redis: '+PONG',
          cassandra: '5',
        });
      },
      POD_TIMEOUT,
    );
  },
);
