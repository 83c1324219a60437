/** The figures of bench/side-by-side.ts: medians over the rounds, per-round ratios, the printed table and targets. */
import { median } from './util.js';

/** One proxy in one round. Latencies in ms, CPU in µs per request (user + system over the 50-connection run). */
export interface RoundFigures {
  rps: number; p50At50: number; p99At50: number; requests: number; cpuUs: number;
  p50At1: number; p99At1: number; addedP50: number; addedP99: number; mbps: number;
  /** Non-2xx responses and socket errors over the three measured runs. */
  errors: number;
  /** Bytes the proxy's access log grew by in this round (Gatehouse rows only). */
  accessLogBytes?: number;
}

export type Metric = 'rps' | 'cpuUs' | 'addedP50' | 'addedP99' | 'mbps';
/** A ratio taken within each round (the VM's speed drifts between rounds), and the median of those. */
export interface Ratio { median: number; rounds: number[] }
export interface ProxyFigures {
  name: string;
  rounds: RoundFigures[];
  median: RoundFigures;
  vs: Partial<Record<(typeof REFERENCES)[number], Record<Metric, Ratio>>>;
}

const METRICS: readonly Metric[] = ['rps', 'cpuUs', 'addedP50', 'addedP99', 'mbps'];
const REFERENCES = ['bare-node', 'nginx'] as const;

/** `a`'s metric over `b`'s, round by round. */
function paired(runs: Map<string, RoundFigures[]>, pair: [string, string], metric: Metric): Ratio | undefined {
  const [ra, rb] = [runs.get(pair[0]), runs.get(pair[1])];
  if (!ra?.length || !rb?.length) return undefined;
  const per = ra.map((r, i) => r[metric] / (rb[i]?.[metric] ?? NaN));
  return { median: median(per), rounds: per };
}

/** Medians over the rounds (errors and log bytes summed), and the per-round ratios to bare-node and nginx. */
export function summarize(runs: Map<string, RoundFigures[]>): ProxyFigures[] {
  const out: ProxyFigures[] = [];
  for (const [name, rounds] of runs) {
    if (!rounds.length) continue;
    const med = Object.fromEntries(Object.keys(rounds[0]!).map((k) => {
      const xs = rounds.map((r) => r[k as keyof RoundFigures] ?? NaN);
      return [k, k === 'errors' || k === 'accessLogBytes' ? xs.reduce((a, x) => a + x, 0) : median(xs)];
    })) as unknown as RoundFigures;
    const vs: ProxyFigures['vs'] = {};
    for (const ref of REFERENCES) {
      if (ref === name || name === 'direct' || !runs.get(ref)?.length) continue;
      vs[ref] = Object.fromEntries(METRICS.map((m) => [m, paired(runs, [name, ref], m)!])) as Record<Metric, Ratio>;
    }
    out.push({ name, rounds, median: med, vs });
  }
  return out;
}

const x = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a');

/** "value (÷ bare-node, ÷ nginx)" for one cell of the table. */
function cell(f: ProxyFigures, metric: Metric, value: string): string {
  const refs = REFERENCES.map((ref) => (ref === f.name ? '1' : x(f.vs[ref]?.[metric].median)));
  return f.name === 'direct' ? value : `${value} (${refs.join(', ')})`;
}

interface Goal { issue: string; op: '>=' | '<='; value: number }
interface Target { label: string; metric: Metric; ref: string; goals: Goal[] }
const TARGETS: Target[] = [
  { label: 'req/s @50', metric: 'rps', ref: 'bare-node', goals: [{ issue: '#16 goal', op: '>=', value: 2 }, { issue: '#3', op: '>=', value: 0.9 }] },
  { label: 'CPU/req', metric: 'cpuUs', ref: 'bare-node', goals: [{ issue: '#16 goal per core', op: '<=', value: 0.5 }] },
  { label: 'added p50 @1', metric: 'addedP50', ref: 'bare-node', goals: [{ issue: '#16 goal', op: '<=', value: 1 }] },
  { label: 'req/s @50', metric: 'rps', ref: 'http-proxy', goals: [{ issue: '#3', op: '>=', value: 1.5 }] },
  { label: 'req/s @50', metric: 'rps', ref: 'fastify-proxy', goals: [{ issue: '#3', op: '>=', value: 1.5 }] },
  { label: 'added p50 @1', metric: 'addedP50', ref: 'nginx', goals: [{ issue: '#3', op: '<=', value: 1.5 }] },
  { label: 'MB/s 1 MiB', metric: 'mbps', ref: 'bare-node', goals: [{ issue: '#3', op: '>=', value: 0.9 }] },
];

function targets(figures: ProxyFigures[]): string[] {
  const runs = new Map(figures.map((f) => [f.name, f.rounds]));
  const lines: string[] = [];
  for (const gh of figures.filter((f) => f.name.startsWith('gatehouse-'))) {
    for (const t of TARGETS) {
      const r = paired(runs, [gh.name, t.ref], t.metric);
      if (!r) continue;
      const verdicts = t.goals.map((g) => {
        const met = g.op === '>=' ? r.median >= g.value : r.median <= g.value;
        return `${g.issue} ${g.op} ${g.value}x: ${Number.isFinite(r.median) ? (met ? 'met' : 'NOT met') : 'n/a'}`;
      });
      lines.push(`- ${gh.name}: ${t.label} ÷ ${t.ref} = ${x(r.median)} [${r.rounds.map((v) => v.toFixed(2)).join(', ')}]; ${verdicts.join('; ')}`);
    }
  }
  return lines;
}

/** The markdown printed at the end of the side-by-side runs. */
export function report(figures: ProxyFigures[], meta: { rounds: number; durationS: number; loadGenerator: string }): string {
  const direct = figures.find((f) => f.name === 'direct')?.median;
  const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(3)} ms` : 'n/a');
  const lines = [
    '', `## Proxies side by side (medians of ${meta.rounds} interleaved rounds, ${meta.durationS} s per run; proxy on core 0, origin + ${meta.loadGenerator} on core 1)`, '',
    'Each cell: the median, then (÷ bare-node, ÷ nginx), the medians of the per-round ratios. Added latency: the',
    `proxy's p50 (p99) at 1 connection minus direct's in the same round (direct: p50 ${ms(direct?.p50At1 ?? NaN)}, p99 ${ms(direct?.p99At1 ?? NaN)}).`,
    'CPU/req: user + system time of the proxy process (nginx: master + worker) over the 50-connection run / requests.', '',
    '| proxy | req/s @50 | CPU/req | added p50 @1 | added p99 @1 | MB/s 1 MiB | errors |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const f of figures) {
    const m = f.median;
    const cpu = Number.isFinite(m.cpuUs) ? `${m.cpuUs.toFixed(1)} µs` : '-';
    const added = (v: number): string => (f.name === 'direct' ? '-' : ms(v));
    lines.push(`| ${f.name} | ${cell(f, 'rps', m.rps.toFixed(0))} | ${f.name === 'direct' ? '-' : cell(f, 'cpuUs', cpu)} | ` +
      `${cell(f, 'addedP50', added(m.addedP50))} | ${cell(f, 'addedP99', added(m.addedP99))} | ${cell(f, 'mbps', m.mbps.toFixed(0))} | ${m.errors} |`);
  }
  const t = targets(figures);
  if (t.length) lines.push('', 'Targets (median of the per-round ratios, rounds in brackets; per core: requests per CPU-second = 1e6 / CPU µs per request):', ...t);
  return `${lines.join('\n')}\n`;
}
