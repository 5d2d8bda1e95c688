/**
 * The operator's ClusterRole: the union of the rules each module declares next to the code that
 * needs them (gather.ts reads, apply.ts writes, leader.ts the Lease, and listing ChatClusters here).
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
  const verbs = new Map<string, Set<string>>();
  for (const rule of [...RECONCILER, ...GATHER, ...APPLY, ...LEADER]) {
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
