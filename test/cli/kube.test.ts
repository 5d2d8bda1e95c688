import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { kubeError } from '../../cli/kube.ts';

describe('kubeError', () => {
  const api = (code: number, message: string) =>
    new ApiException(code, 'x', JSON.stringify({ kind: 'Status', message }), {});

  it('says how to reach the API server when the call never got an answer', () => {
    const e = kubeError(new TypeError('fetch failed'), 'ChatClusters', 'https://127.0.0.1:6443');
    expect(e.message).toContain('cannot reach the Kubernetes API server at https://127.0.0.1:6443');
    expect(e.message).toContain('--kubeconfig');
    expect(e.exitCode).toBe(1);
  });

  it('tells a missing CRD from a missing ChatCluster', () => {
    expect(
      kubeError(api(404, 'the server could not find the requested resource'), 'x', 's').message,
    ).toContain('install the chat-operator Helm chart, which brings the CRD');
    expect(
      kubeError(api(404, 'chatclusters.chatplatform.io "a" not found'), 'ChatCluster n/a', 's').message,
    ).toBe(
      'ChatCluster n/a not found (chatclusters.chatplatform.io "a" not found); list them with: chatctl clusters -A',
    );
  });

  it('names the permission a 403 lacks', () => {
    expect(kubeError(api(403, 'forbidden'), 'ChatCluster n/a', 's').message).toContain('chatclusters/scale');
  });
});
