/** Tables, ratios, target checks and the latency-vs-load plot of a bench run. */
import type { ResultRow } from './scenarios/result.ts';

export interface Ratio {
  what: string;
  value: number | null;
  detail: string;
}

export interface TargetCheck {
  target: string;
  goal: string;
  measured: string;
  met: boolean | null;
}

const find = (
  rows: ResultRow[],
  scenario: string,
  target: string,
  pred: (r: ResultRow) => boolean = () => true,
) => rows.filter((r) => r.scenario === scenario && r.target === target && pred(r));

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a !== undefined && b !== undefined && b > 0 ? Math.round((a / b) * 100) / 100 : null;
}

function maxOf(rows: ResultRow[], metric: string): number | undefined {
  const vals = rows.map((r) => num(r.metrics[metric])).filter((v): v is number => v !== undefined);
  return vals.length ? Math.max(...vals) : undefined;
}

function oneToOneMax(rows: ResultRow[], target: string): number | undefined {
  return maxOf(
    find(rows, '1:1', target, (r) => r.params.phase === 'max'),
    'deliveredPerSec',
  );
}

function idleAt(rows: ResultRow[], target: string, largest = false): ResultRow | undefined {
  const list = find(rows, 'idle', target).sort((x, y) => Number(x.metrics.held) - Number(y.metrics.held));
  return largest ? list.at(-1) : (list.find((r) => r.params.connections === 10_000) ?? list[0]);
}

export function ratios(rows: ResultRow[]): Ratio[] {
  const out: Ratio[] = [];
  const e = oneToOneMax(rows, 'embedded');
  for (const [peer, label] of [
    ['relay', 'raw ws relay'],
    ['centrifugo', 'Centrifugo'],
  ] as const) {
    const p = oneToOneMax(rows, peer);
    if (e !== undefined || p !== undefined)
      out.push({
        what: `1:1 delivered msgs/s, chat embedded ÷ ${label}`,
        value: ratio(e, p),
        detail: `${e ?? '–'} / ${p ?? '–'}`,
      });
  }
  const ei = num(idleAt(rows, 'embedded')?.metrics.bytesPerConn);
  for (const [peer, label] of [
    ['relay', 'raw ws relay'],
    ['centrifugo', 'Centrifugo'],
  ] as const) {
    const pi = num(idleAt(rows, peer)?.metrics.bytesPerConn);
    if (ei !== undefined || pi !== undefined)
      out.push({
        what: `RSS per idle connection (10k), chat embedded ÷ ${label}`,
        value: ratio(ei, pi),
        detail: `${ei ?? '–'} B / ${pi ?? '–'} B`,
      });
  }
  const storm = (t: string) => maxOf(find(rows, 'connect-storm', t), 'acceptedPerSec');
  const fan = (t: string) => maxOf(find(rows, 'fan-out', t), 'deliveriesPerSec');
  for (const [peer, label] of [
    ['relay', 'raw ws relay'],
    ['centrifugo', 'Centrifugo'],
  ] as const) {
    if (storm('embedded') !== undefined && storm(peer) !== undefined)
      out.push({
        what: `connect storm connections/s, chat embedded ÷ ${label}`,
        value: ratio(storm('embedded'), storm(peer)),
        detail: `${storm('embedded')} / ${storm(peer)}`,
      });
    if (fan('embedded') !== undefined && fan(peer) !== undefined)
      out.push({
        what: `fan-out deliveries/s (best step), chat embedded ÷ ${label}`,
        value: ratio(fan('embedded'), fan(peer)),
        detail: `${fan('embedded')} / ${fan(peer)}`,
      });
  }
  return out;
}

interface CheckNotes {
  maxConnectionsNote?: string;
  triedMax?: boolean;
}

function idleChecks(rows: ResultRow[], notes: CheckNotes): TargetCheck[] {
  const idle = idleAt(rows, 'embedded', true);
  if (!idle) return [];
  const b = num(idle.metrics.bytesPerConn);
  const held = num(idle.metrics.held) ?? 0;
  let met: boolean | null = null;
  if (held >= 50_000) met = true;
  else if (notes.triedMax) met = false;
  const note = notes.maxConnectionsNote ? ` (${notes.maxConnectionsNote})` : '';
  return [
    {
      target: 'node RSS per idle authenticated connection',
      goal: '≤ 5 KB',
      measured: `${b !== undefined ? (b / 1000).toFixed(1) : '–'} KB at ${idle.metrics.held}`,
      met: b !== undefined ? b <= 5000 : null,
    },
    {
      target: 'concurrent connections on one node process',
      goal: '≥ 50,000',
      measured: notes.triedMax ? `${held}${note}` : `${held} (not tried in this mode)`,
      met,
    },
  ];
}

function throughputChecks(rows: ResultRow[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  const e = oneToOneMax(rows, 'embedded');
  const r = oneToOneMax(rows, 'relay');
  const c = oneToOneMax(rows, 'centrifugo');
  if (e !== undefined && r !== undefined)
    out.push({
      target: 'embedded 1:1 delivered msgs/s vs raw ws relay',
      goal: '≥ 70%',
      measured: `${Math.round((e / r) * 100)}% (${e} vs ${r})`,
      met: e >= 0.7 * r,
    });
  const d = find(rows, '1:1', 'durable', (x) => x.params.rate === 5000)[0];
  if (d)
    out.push({
      target: 'durable p99 send→deliver at 5,000 msgs/s',
      goal: '≤ 25 ms',
      measured: `p99 ${d.metrics.p99Ms} ms (delivered ${d.metrics.deliveredPerSec}/s)`,
      met: (num(d.metrics.p99Ms) ?? Number.POSITIVE_INFINITY) <= 25,
    });
  else if (find(rows, '1:1', 'durable').length)
    out.push({
      target: 'durable p99 send→deliver at 5,000 msgs/s',
      goal: '≤ 25 ms',
      measured: `saturated below 5,000/s (best: ${maxOf(find(rows, '1:1', 'durable'), 'deliveredPerSec')}/s)`,
      met: false,
    });
  if (e !== undefined && c !== undefined)
    out.push({
      target: '1:1 delivered msgs/s vs Centrifugo',
      goal: '≥ 100%',
      measured: `${Math.round((e / c) * 100)}% (${e} vs ${c})`,
      met: e >= c,
    });
  return out;
}

function syncChecks(rows: ResultRow[]): TargetCheck[] {
  return (['embedded', 'durable'] as const).flatMap((t) => {
    const s = find(rows, 'sync', t)[0];
    if (!s) return [];
    return [
      {
        target: `sync of 10,000 messages (${t})`,
        goal: '≤ 1 s',
        measured: `${s.metrics.syncMs} ms (${s.metrics.syncedMessages} messages${
          s.metrics.retries ? `; ${s.metrics.retries} retries, read again: ${s.metrics.syncAgainMs} ms` : ''
        })`,
        met: (num(s.metrics.syncMs) ?? Number.POSITIVE_INFINITY) <= 1000,
      },
    ];
  });
}

export function checks(rows: ResultRow[], notes: CheckNotes = {}): TargetCheck[] {
  return [...idleChecks(rows, notes), ...throughputChecks(rows), ...syncChecks(rows)];
}

/** A plain-text table (also valid Markdown). */
export function table(headers: string[], body: (string | number | null | undefined)[][]): string {
  const cells = body.map((r) => r.map((v) => (v === null || v === undefined ? '–' : String(v))));
  return [
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...cells.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const COLUMNS: Record<string, { params: string[]; metrics: string[] }> = {
  '1:1': {
    params: ['loops', 'phase', 'connections', 'rate', 'window'],
    metrics: [
      'deliveredPerSec',
      'p50Ms',
      'p99Ms',
      'p999Ms',
      'lost',
      'targetCpuCores',
      'targetCpuUsPerMsg',
      'loadgenCpuCores',
      'targetRssMiB',
    ],
  },
  idle: {
    params: ['loops', 'connections'],
    metrics: [
      'held',
      'failed',
      'baseRssMiB',
      'rssMiB',
      'bytesPerConn',
      'gcRssPerConn',
      'heapPerConn',
      'connectSeconds',
      'idleCpuCores',
    ],
  },
  'connect-storm': {
    params: ['loops', 'connections', 'concurrency'],
    metrics: [
      'acceptedPerSec',
      'connected',
      'failed',
      'targetCpuCores',
      'targetCpuUsPerConn',
      'loadgenCpuCores',
    ],
  },
  sync: {
    params: ['messages'],
    metrics: ['syncedMessages', 'pages', 'syncMs', 'retries', 'syncAgainMs', 'storedPerSec'],
  },
  'fan-out': {
    params: ['loops', 'members', 'senders', 'rate'],
    metrics: ['deliveriesPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'lost', 'targetCpuCores', 'targetCpuUsPerMsg'],
  },
  'reconnect-wave': {
    params: ['connections', 'drainRatePerSec'],
    metrics: ['resynced', 'failed', 'waveSeconds', 'idealSeconds', 'reconnectsPerSec', 'p50Ms', 'p99Ms'],
  },
};

export function scenarioTables(rows: ResultRow[]): string {
  const parts: string[] = [];
  for (const scenario of [...new Set(rows.map((r) => r.scenario))]) {
    const list = rows.filter((r) => r.scenario === scenario);
    const cols = COLUMNS[scenario] ?? {
      params: Object.keys(list[0]!.params),
      metrics: Object.keys(list[0]!.metrics),
    };
    parts.push(
      `### ${scenario}\n\n${table(
        ['target', ...cols.params, ...cols.metrics, 'load1'],
        list.map((r) => [
          r.targetName,
          ...cols.params.map((p) => r.params[p]),
          ...cols.metrics.map((m) => r.metrics[m]),
          r.load1,
        ]),
      )}`,
    );
  }
  return parts.join('\n\n');
}

const COLORS: Record<string, string> = {
  embedded: '#1f77b4',
  durable: '#9467bd',
  'durable-ha': '#8c564b',
  relay: '#2ca02c',
  centrifugo: '#d62728',
};

/** An SVG plot of p50 (dashed) and p99 (solid) send→deliver latency against the offered 1:1 rate. */
export function latencySvg(rows: ResultRow[], title: string): string {
  const series = new Map<string, { name: string; pts: { x: number; p50: number; p99: number }[] }>();
  for (const r of rows) {
    if (r.scenario !== '1:1' || r.params.phase !== 'rate') continue;
    const x = num(r.params.rate);
    const p50 = num(r.metrics.p50Ms);
    const p99 = num(r.metrics.p99Ms);
    if (x === undefined || p50 === undefined || p99 === undefined) continue;
    const s = series.get(r.target) ?? { name: r.targetName, pts: [] };
    s.pts.push({ x, p50, p99 });
    series.set(r.target, s);
  }
  const W = 760;
  const H = 440;
  const m = { l: 90, r: 20, t: 40, b: 100 };
  const all = [...series.values()].flatMap((s) => s.pts);
  const xMax = Math.max(1000, ...all.map((p) => p.x)) * 1.05;
  const yVals = all.flatMap((p) => [p.p50, p.p99]).filter((v) => v > 0);
  const yMin = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(1, ...yVals))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(10, ...yVals)));
  const px = (x: number) => m.l + (x / xMax) * (W - m.l - m.r);
  const py = (y: number) =>
    m.t +
    (1 - (Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) *
      (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (let e = Math.log10(yMin); e <= Math.log10(yMax); e++) {
    const y = py(10 ** e);
    out.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)} ms</text>`,
    );
  }
  const step = niceStep(xMax / 6);
  for (let x = 0; x <= xMax; x += step) {
    out.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${x >= 1000 ? `${x / 1000}k` : x}</text>`,
    );
  }
  out.push(
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - m.b + 34}" text-anchor="middle">offered 1:1 msgs/s (open loop; a line ends where its target saturated)</text>`,
    `<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">send→deliver latency (log scale)</text>`,
  );
  let legendX = m.l;
  let legendY = H - 40;
  for (const [id, s] of series) {
    const color = COLORS[id] ?? '#555';
    const pts = [...s.pts].sort((a, b) => a.x - b.x);
    for (const [key, dash] of [
      ['p99', ''],
      ['p50', ' stroke-dasharray="5 4"'],
    ] as const) {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p[key]).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const p of pts)
        out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p[key]).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const width = 34 + s.name.length * 6.6;
    if (legendX + width > W - m.r) {
      legendX = m.l;
      legendY += 18;
    }
    out.push(
      `<line x1="${legendX}" x2="${legendX + 20}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${legendX + 24}" y="${legendY}">${escapeXml(s.name)}</text>`,
    );
    legendX += width;
  }
  out.push(
    `<text x="${W - m.r}" y="${m.t - 8}" text-anchor="end" fill="#555">solid: p99, dashed: p50</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= raw) return k * p;
  return 10 * p;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** The peers of the comparison, in its column order; the chat node's columns follow (one per loop count). */
const PEERS = [
  ['relay', 'raw ws relay'],
  ['centrifugo', 'Centrifugo'],
] as const;

/**
 * The comparison of `npm run bench:compare`: one line per measure, one column per target, and the
 * chat node's ratio to each peer (for latency, memory and CPU lower is better; for throughput higher).
 */
export function comparison(rows: ResultRow[]): string {
  // `bench:compare -- --workers 1,2`: a chat node column for each loop count, the ratios for the last.
  const loops = [...new Set(rows.filter((r) => r.target === 'embedded').map((r) => r.params.loops))].sort(
    (a, b) => Number(a) - Number(b),
  );
  const columns: [string, string, ResultRow[]][] = [
    ...PEERS.map(([id, label]): [string, string, ResultRow[]] => [id, label, rows]),
    ...(loops.length === 0 ? [undefined] : loops).map((l): [string, string, ResultRow[]] => [
      'embedded',
      l === undefined || loops.length === 1 ? 'chat node' : `chat node, ${l} loop${l === 1 ? '' : 's'}`,
      rows.filter((r) => r.target !== 'embedded' || r.params.loops === l),
    ]),
  ];
  const at = (
    rows: ResultRow[],
    scenario: string,
    target: string,
    metric: string,
    pred: (r: ResultRow) => boolean,
  ) => num(find(rows, scenario, target, pred)[0]?.metrics[metric]);
  const maxPhase = (r: ResultRow) => r.params.phase === 'max';
  const measures: [string, string, (rows: ResultRow[], t: string) => number | undefined][] = [
    ['1:1 delivered msgs/s (closed loop, best)', '', (rows, t) => oneToOneMax(rows, t)],
    ['CPU per delivered 1:1 message', 'µs', (rows, t) => at(rows, '1:1', t, 'targetCpuUsPerMsg', maxPhase)],
    ['idle connection, RSS at 10,000', 'B', (rows, t) => num(idleAt(rows, t)?.metrics.bytesPerConn)],
    ['idle connection, RSS after a GC', 'B', (rows, t) => num(idleAt(rows, t)?.metrics.gcRssPerConn)],
    [
      'fan-out of 1,600 group msgs/s to 100 members, p99',
      'ms',
      (rows, t) => at(rows, 'fan-out', t, 'p99Ms', (r) => r.params.rate === 1600),
    ],
    [
      'CPU per fan-out delivery at 1,600 group msgs/s',
      'µs',
      (rows, t) => at(rows, 'fan-out', t, 'targetCpuUsPerMsg', (r) => r.params.rate === 1600),
    ],
    [
      '1:1 at 1,000 msgs/s, p99',
      'ms',
      (rows, t) => at(rows, '1:1', t, 'p99Ms', (r) => r.params.phase === 'rate' && r.params.rate === 1000),
    ],
  ];
  const body = measures
    .map(([what, unit, get]) => {
      const values = columns.map(([id, , rows]) => get(rows, id));
      if (values.every((v) => v === undefined)) return undefined;
      const chat = values.at(-1);
      return [
        unit ? `${what} (${unit})` : what,
        ...values,
        ratio(chat, values[0]) ?? undefined,
        ratio(chat, values[1]) ?? undefined,
      ];
    })
    .filter((r) => r !== undefined);
  return table(['measure', ...columns.map(([, label]) => label), 'chat ÷ relay', 'chat ÷ Centrifugo'], body);
}
