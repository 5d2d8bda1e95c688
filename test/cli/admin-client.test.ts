/**
 * chatctl's admin-API client: a failed call through the API server's pod proxy says whether the API
 * server refused (which grant is missing, or why it could not reach the pod) or the node did.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PodRoute, proxyFailure } from '../../cli/admin-client.ts';
import { ADMIN_TOKEN_HEADER, AdminApiError, AdminClient } from '../../common/admin-api.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';

const route: PodRoute = {
  namespace: 'chat',
  pod: 'chat-1',
  state: 'Running, not Ready',
  tokenSource: 'Secret chat/chat-auth, key admin',
};
const status = (code: number, message: string) =>
  new AdminApiError(code === 401 ? 'unauthorized' : code === 404 ? 'disabled' : 'failed', `HTTP ${code}`, {
    status: code,
    answer: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code },
  });

describe('proxyFailure', () => {
  it('names the verb on pods/proxy that is missing: get for a read, create for a drain', () => {
    const forbidden = status(
      403,
      'pods "chat-1" is forbidden: User "system:serviceaccount:chat:ops" cannot create resource "pods/proxy" in API group "" in the namespace "chat"',
    );
    expect(proxyFailure(forbidden, 'POST', route).message).toBe(
      'not allowed to reach the admin API of pod chat/chat-1 through the API server: pods "chat-1" is forbidden: ' +
        'User "system:serviceaccount:chat:ops" cannot create resource "pods/proxy" in API group "" in the namespace "chat". ' +
        "Ask for `create` on pods/proxy in namespace chat (chatctl needs get and create; the chat-operator chart's " +
        'chatcluster-editor role grants both)',
    );
    expect(proxyFailure(forbidden, 'GET', route).message).toContain(
      'Ask for `get` on pods/proxy in namespace chat',
    );
  });

  it('says the API server could not reach the pod, with its state and how to see why', () => {
    const e = proxyFailure(
      status(503, 'error trying to reach service: dial tcp 10.244.0.9:9090: connect: connection refused'),
      'GET',
      route,
    );
    expect(e.message).toBe(
      'the API server could not reach the admin port of pod chat/chat-1 (503: error trying to reach service: dial tcp ' +
        '10.244.0.9:9090: connect: connection refused); the pod was Running, not Ready. See why with: kubectl describe pod chat-1 -n chat',
    );
  });

  it('tells the API server’s 401 and 404 from the node’s', () => {
    expect(proxyFailure(status(401, 'Unauthorized'), 'GET', route).message).toBe(
      'the API server did not accept your credentials: Unauthorized',
    );
    expect(proxyFailure(status(404, 'pods "chat-1" not found'), 'GET', route).message).toContain(
      'pod chat/chat-1 is gone (pods "chat-1" not found)',
    );
    const node401 = new AdminApiError('unauthorized', 'HTTP 401', {
      status: 401,
      answer: { error: { code: 'unauthorized', message: 'missing or wrong admin token' } },
    });
    expect(proxyFailure(node401, 'POST', route).message).toBe(
      'pod chat/chat-1 refused the admin token of Secret chat/chat-auth, key admin: does it hold the token the pod started ' +
        'with? (a node reads CHAT_ADMIN_TOKEN when it starts; restart the pods after changing the Secret)',
    );
    const node404 = new AdminApiError('disabled', 'HTTP 404', {
      status: 404,
      detail: 'the admin API is disabled',
    });
    expect(proxyFailure(node404, 'GET', route).message).toContain(
      'pod chat/chat-1 has no admin API (the admin API is disabled): is spec.auth.adminTokenRef of its ChatCluster set?',
    );
  });

  it('says the API server did not answer when the call never got there', () => {
    const e = new AdminApiError(
      'unreachable',
      'cannot reach https://127.0.0.1:9/api/v1/…/proxy: fetch failed',
      {
        cause: new TypeError('fetch failed'),
      },
    );
    expect(proxyFailure(e, 'GET', route).message).toBe(
      'cannot reach the Kubernetes API server for pod chat/chat-1: fetch failed. Is the cluster up, and is this the ' +
        'right kubeconfig and context (--kubeconfig, KUBECONFIG, --context)?',
    );
  });
});

describe('the admin token in X-Chat-Admin-Token (the pod proxy’s way), on a real node', () => {
  const token = 'admin-token-for-the-header-0123456789';
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ adminToken: token });
  });
  afterAll(async () => {
    await node?.close();
  });

  it('is accepted as Authorization: Bearer is, and a wrong one is refused', async () => {
    const by = (t: string) => new AdminClient(node.baseUrl, { token: t, tokenHeader: ADMIN_TOKEN_HEADER });
    expect((await by(token).load()).nodeId).toBe(0);
    await expect(by('not-the-token').load()).rejects.toMatchObject({ failure: 'unauthorized', status: 401 });
    expect((await new AdminClient(node.baseUrl, { token }).undrain()).draining).toBe(false);
  });
});
