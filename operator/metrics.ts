/** The operator's Prometheus metrics, on a registry of their own. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createOperatorMetrics() {
  const registry = new Registry();
  return {
    registry,
    reconciles: new Counter({
      name: 'chat_operator_reconciles_total',
      help: 'ChatCluster reconciles by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'chat_operator_reconcile_duration_seconds',
      help: 'Time of one ChatCluster reconcile (gather, decide, apply).',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    nodeActions: new Counter({
      name: 'chat_operator_node_actions_total',
      help: 'Calls on nodes (shed, drain, undrain, restart) by result.',
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    desiredReplicas: new Gauge({
      name: 'chat_operator_desired_replicas',
      help: 'Chat nodes the operator wants for each ChatCluster.',
      labelNames: ['namespace', 'name'],
      registers: [registry],
    }),
    isLeader: new Gauge({
      name: 'chat_operator_is_leader',
      help: '1 while this replica holds the leader Lease.',
      registers: [registry],
    }),
  };
}
