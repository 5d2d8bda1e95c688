/**
 * The operator's RBAC: the union of the rules each module declares next to the code that needs them
 * (gather.ts reads, apply.ts writes, leader.ts the Lease, and listing ChatClusters here). Watching
 * every namespace, they go into one ClusterRole; watching one, into a Role there (`namespacedRules`)
 * and a Role for the Lease in its namespace (`leaseRules`). Secrets: `get` only, never list or watch.
 */
import { RBAC_RULES as APPLY } from './apply.ts';
import { GROUP, PLURAL } from './chatcluster-schema.ts';
import { RBAC_RULES as GATHER } from './gather.ts';
import { RBAC_RULES as LEADER } from './leader.ts';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** The reconciler lists ChatClusters (a periodic re-list, no watch) and reads one (reconcileOnce). */
const RECONCILER: PolicyRule[] = [{ apiGroups: [GROUP], resources: [PLURAL], verbs: ['get', 'list'] }];

/** Every rule, merged by (apiGroup, resource), verbs sorted: stable output for the Helm chart. */
export function operatorRules(): PolicyRule[] {
  return merged([...RECONCILER, ...GATHER, ...APPLY, ...LEADER]);
}

/** The rules on the watched namespace's objects: everything but the Lease. */
export function namespacedRules(): PolicyRule[] {
  return merged([...RECONCILER, ...GATHER, ...APPLY]);
}

/** The rules on the leader-election Lease, in its own namespace. */
export function leaseRules(): PolicyRule[] {
  return merged(LEADER);
}

/** What people who read ChatClusters may do (the chart's viewer role, aggregated into `view`). */
export function viewerRules(): PolicyRule[] {
  return merged([
    {
      apiGroups: [GROUP],
      resources: [PLURAL, `${PLURAL}/status`, `${PLURAL}/scale`],
      verbs: ['get', 'list', 'watch'],
    },
  ]);
}

/**
 * What people who edit ChatClusters may do (the chart's editor role, aggregated into `edit`): the
 * ChatClusters, and what `chatctl nodes/drain/undrain/shed <chatcluster>` needs to reach the nodes'
 * admin API through the API server: list their pods, read the admin token's Secret (`get` only, by
 * name when rbac.secretNames lists them), and call the admin port through `pods/proxy` (GET is
 * `get`, POST is `create`). An editor already controls the nodes (image, replicas, the token's
 * Secret reference); this lets them move sessions, no more.
 */
export function editorRules(): PolicyRule[] {
  return merged([
    {
      apiGroups: [GROUP],
      resources: [PLURAL],
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    },
    { apiGroups: [GROUP], resources: [`${PLURAL}/scale`], verbs: ['get', 'patch', 'update'] },
    { apiGroups: [GROUP], resources: [`${PLURAL}/status`], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['pods/proxy'], verbs: ['create', 'get'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
  ]);
}

function merged(rules: readonly PolicyRule[]): PolicyRule[] {
  const verbs = new Map<string, Set<string>>();
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        const key = `${group}|${resource}`;
        const set = verbs.get(key) ?? new Set<string>();
        for (const v of rule.verbs) set.add(v);
        verbs.set(key, set);
      }
    }
  }
  return [...verbs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, set]) => {
      const [group, resource] = key.split('|') as [string, string];
      return { apiGroups: [group], resources: [resource], verbs: [...set].sort() };
    });
}
