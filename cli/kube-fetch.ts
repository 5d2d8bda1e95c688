/**
 * A fetch that talks to the API server the way the Kubernetes client does: the kubeconfig's
 * credentials (token, client certificate, exec plugin, basic auth) and TLS (its CA, server name,
 * proxy), through the client's own HTTP library. chatctl gives it to the admin-API client
 * (common/admin-api.ts) to reach a node through the API server's pod proxy.
 */
import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  RequestContext,
} from '@kubernetes/client-node';

const METHODS = new Set<string>(Object.values(HttpMethod));

/** A fetch for URLs on the kubeconfig's current cluster; string bodies only (the admin API's JSON). */
export function kubeFetch(kc: KubeConfig): typeof fetch {
  const http = new IsomorphicFetchHttpLibrary();
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = (init.method ?? 'GET').toUpperCase();
    if (!METHODS.has(method)) throw new TypeError(`kubeFetch: unsupported method ${method}`);
    if (init.body != null && typeof init.body !== 'string') {
      throw new TypeError('kubeFetch: the body must be a string');
    }
    const request = new RequestContext(url, method as HttpMethod);
    new Headers(init.headers).forEach((value, name) => {
      request.setHeaderParam(name, value);
    });
    if (init.body != null) request.setBody(init.body);
    if (init.signal) request.setSignal(init.signal);
    // Sets Authorization (or the client certificate) and the TLS of the current context.
    await kc.applySecurityAuthentication(request);
    const answer = await http.send(request).toPromise();
    const text = await answer.body.text();
    const empty = answer.httpStatusCode === 204 || answer.httpStatusCode === 304;
    return new Response(empty ? null : text, { status: answer.httpStatusCode, headers: answer.headers });
  };
}
