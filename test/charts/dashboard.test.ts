/**
 * The chart's Grafana dashboard (charts/chat-operator/dashboards/chat.json): every series it queries
 * is one the chat node or the operator registers (chat-node/metrics.ts, operator/metrics.ts), and it
 * has the panels an operator of the platform looks at first.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../chat-node/metrics.ts';
import { createOperatorMetrics } from '../../operator/metrics.ts';
import { chartDir } from '../../scripts/gen-chart.ts';
import { metricNames } from './promql-names.ts';

interface Target {
  expr: string;
}
interface Panel {
  title: string;
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
}
const dashboard = JSON.parse(readFileSync(join(chartDir, 'dashboards', 'chat.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
};

/** The series names Prometheus stores for each registered metric (a histogram's three). */
function registered(): Set<string> {
  const names = new Set<string>();
  const registries = [createMetrics().registry, createOperatorMetrics().registry];
  for (const metric of registries.flatMap((r) => r.getMetricsAsArray())) {
    // prom-client declares `type` as a numeric enum; at run time it is the exposition's type name.
    const type = String(metric.type);
    if (type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    } else if (type === 'summary') {
      for (const suffix of ['', '_sum', '_count']) names.add(metric.name + suffix);
    } else {
      names.add(metric.name);
    }
  }
  return names;
}
/** Series Prometheus makes itself for every target. */
const SCRAPE_SERIES = ['up'];

const queries = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, query: t.expr }))),
  ...dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({
      where: `variable ${v.name}`,
      query: typeof v.query === 'string' ? v.query : v.query!.query,
    })),
];

describe('metricNames', () => {
  it.each([
    [
      'a rate over a matcher',
      'sum by (code) (rate(chat_errors_total{code!="x"}[5m]))',
      ['chat_errors_total'],
    ],
    [
      'a quantile of a histogram',
      'histogram_quantile(0.99, sum by (le) (rate(chat_delivery_latency_seconds_bucket[$__rate_interval])))',
      ['chat_delivery_latency_seconds_bucket'],
    ],
    ['a comparison and a number', 'count(up{job="a"} == 1) > 1e3', ['up']],
    ['two series joined', 'a_total / on (pod) group_left (node) b_info', ['a_total', 'b_info']],
    [
      'a label_values query',
      'label_values(chat_connections{namespace=~"$ns"}, chatcluster)',
      ['chat_connections'],
    ],
  ])('finds the series of %s', (_, query, names) => {
    expect(metricNames(query)).toEqual(names);
  });
});

describe('the Grafana dashboard', () => {
  const known = new Set([...registered(), ...SCRAPE_SERIES]);

  it('queries something in every panel', () => {
    expect(dashboard.panels.length).toBeGreaterThan(0);
    for (const p of dashboard.panels) expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
  });

  it('queries only series the chat node or the operator registers', () => {
    const unknown = queries.flatMap(({ where, query }) =>
      metricNames(query)
        .filter((n) => !known.has(n))
        .map((n) => `${where}: ${n}`),
    );
    expect(unknown, 'not in chat-node/metrics.ts nor operator/metrics.ts').toEqual([]);
    // Every query names some series: a query the extraction cannot read would pass unchecked.
    for (const { where, query } of queries) expect(metricNames(query), where).not.toEqual([]);
  });

  it('would refuse a misspelled name', () => {
    expect(metricNames('sum(rate(chat_mesages_in_total[5m]))').filter((n) => !known.has(n))).toEqual([
      'chat_mesages_in_total',
    ]);
  });

  it.each([
    ['Connections', ['chat_connections']],
    ['Messages per second', ['chat_messages_in_total', 'chat_messages_out_total']],
    ['Delivery latency', ['chat_delivery_latency_seconds_bucket']],
    ['Errors by code', ['chat_errors_total']],
    ['Rebalances and drains', ['chat_operator_node_actions_total']],
    ['Sessions moved', ['chat_frames_out_total']],
  ])('has a panel %s on %j', (title, series) => {
    const panel = dashboard.panels.find((p) => p.title === title);
    expect(panel, `a panel titled ${title}`).toBeDefined();
    const read = panel!.targets!.flatMap((t) => metricNames(t.expr));
    expect([...new Set(read)].sort()).toEqual([...series].sort());
  });

  it('shows delivery latency as quantiles of the histogram, and errors by their code', () => {
    const exprs = (title: string) =>
      dashboard.panels.find((p) => p.title === title)!.targets!.map((t) => t.expr);
    const latency = exprs('Delivery latency');
    expect(latency.map((e) => /^histogram_quantile\((0\.\d+),/.exec(e)?.[1])).toEqual([
      '0.5',
      '0.95',
      '0.99',
    ]);
    for (const e of latency) expect(e).toContain('sum by (le)');
    expect(exprs('Errors by code')).toEqual([expect.stringContaining('sum by (code)')]);
  });
});
