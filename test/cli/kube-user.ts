/**
 * Users with only some rights, for chatctl against the real API server: a ServiceAccount, its rules
 * (a Role and RoleBinding) or a role it is bound to, and a kubeconfig file that calls the API server
 * as it (a short-lived token), to pass to chatctl as --kubeconfig.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';

const dir = mkdtempSync(join(tmpdir(), 'chatctl-users-'));

/** Writes a kubeconfig for ServiceAccount `name` in `namespace` (made if missing); returns its path. */
export async function serviceAccountKubeconfig(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { expirationSeconds: 3600, audiences: [] } },
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const as = new KubeConfig();
  as.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token: token.status!.token }],
    contexts: [{ name, cluster: cluster.name, user: name, namespace }],
    currentContext: name,
  });
  const path = join(dir, `${namespace}-${name}.kubeconfig`);
  writeFileSync(path, as.exportConfig(), { mode: 0o600 });
  return path;
}

/** Binds ServiceAccount `name` to the Role or ClusterRole `role` in `namespace`. */
export async function bindRole(
  kc: KubeConfig,
  namespace: string,
  name: string,
  role: { kind: 'Role' | 'ClusterRole'; name: string },
): Promise<void> {
  await kc.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: `${name}-${role.name}`.slice(0, 63) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: role.kind, name: role.name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
}

/** A ServiceAccount allowed exactly `rules` in `namespace`; returns the path of its kubeconfig. */
export async function userWithRules(
  kc: KubeConfig,
  namespace: string,
  name: string,
  rules: V1PolicyRule[],
): Promise<string> {
  await kc
    .makeApiClient(RbacAuthorizationV1Api)
    .createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await bindRole(kc, namespace, name, { kind: 'Role', name });
  return serviceAccountKubeconfig(kc, namespace, name);
}
