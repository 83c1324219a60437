/**
 * Reads a `node --cpu-prof` profile and attributes its self time, within a window of CLOCK_MONOTONIC µs
 * (the clock of V8's timestamps on Linux), to owners: Gatehouse's own code (files under one of `roots`, outside
 * node_modules), node:http (_http_*, http), the other node: internals, undici, other dependencies, GC, and V8/native
 * (builtins, the `(program)` bucket); idle time is left out. Figures are µs per request (self time / requests);
 * Gatehouse's functions also by inclusive time (what they call counted in: the access log's write with its syscalls).
 */
import { readFileSync } from 'node:fs';

interface Frame { functionName: string; url: string; lineNumber: number }
interface Node { id: number; callFrame: Frame; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; samples: number[]; timeDeltas: number[] }

function ownerOf(f: Frame, roots: string[]): string {
  const url = f.url.replace(/^file:\/\//, '');
  if (f.functionName === '(garbage collector)') return 'GC';
  if (f.functionName === '(idle)') return 'idle';
  if (!url) return 'V8/native';
  if (url.includes('/node_modules/undici/') || url.startsWith('wasm://')) return 'undici'; // llhttp is undici's only wasm
  if (url.includes('/node_modules/')) return 'other deps';
  if (roots.some((r) => url.startsWith(r))) return 'Gatehouse';
  if (/^node:(_http_|http$|https$)/.test(url)) return 'node:http';
  if (url.startsWith('node:')) return 'node: other';
  return 'other';
}

/** `focus`: also list the self time of what runs under the functions whose key contains it (BENCH_PROFILE_FOCUS). */
export function profileReport(file: string, opts: { window: [number, number]; requests: number; roots: string[]; top?: number; focus?: string }): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    // a sample's time is the gap to the next one
    const dt = p.timeDeltas[i + 1] ?? 0;
    if (t < opts.window[0] || t > opts.window[1]) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (f: Frame): string => {
    const short = f.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
    return `${f.functionName || '(anonymous)'} ${short}${short ? `:${f.lineNumber + 1}` : ''}`;
  };
  // Inclusive time of Gatehouse's functions: a sample counts once for each of them on its stack.
  const inclusive = new Map<string, number>();
  const focused = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const f = byId.get(n)!.callFrame;
      if (ownerOf(f, opts.roots) === 'Gatehouse') seen.add(keyOf(f));
    }
    for (const k of seen) inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    if (opts.focus && [...seen].some((k) => k.includes(opts.focus!))) {
      const k = keyOf(byId.get(id)!.callFrame);
      focused.set(k, (focused.get(k) ?? 0) + us);
    }
  }
  const owners = new Map<string, number>();
  const fns = new Map<string, { owner: string; us: number }>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const owner = ownerOf(f, opts.roots);
    if (owner === 'idle') continue;
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const key = keyOf(f);
    const e = fns.get(key) ?? { owner, us: 0 };
    e.us += us;
    fns.set(key, e);
  }
  const per = (us: number): string => (us / opts.requests).toFixed(2);
  const total = [...owners.values()].reduce((a, x) => a + x, 0);
  const out = [`Main thread busy (sampled): ${per(total)} µs/request`, '', '| owner | µs/request | share |', '|---|---|---|'];
  for (const [o, us] of [...owners].sort((a, b) => b[1] - a[1])) out.push(`| ${o} | ${per(us)} | ${((us / total) * 100).toFixed(0)}% |`);
  out.push('', `Top functions (self time):`, '', '| function | owner | µs/request |', '|---|---|---|');
  for (const [k, e] of [...fns].sort((a, b) => b[1].us - a[1].us).slice(0, opts.top ?? 25)) out.push(`| \`${k}\` | ${e.owner} | ${per(e.us)} |`);
  const own = [...fns].filter(([, e]) => e.owner === 'Gatehouse').sort((a, b) => b[1].us - a[1].us).slice(0, Number(process.env.BENCH_PROFILE_OWN ?? 15));
  out.push('', 'Top Gatehouse functions (self time):', '', '| function | µs/request |', '|---|---|');
  for (const [k, e] of own) out.push(`| \`${k}\` | ${per(e.us)} |`);
  out.push('', 'Gatehouse functions by inclusive time (with what they call; nested ones overlap):', '', '| function | µs/request |', '|---|---|');
  for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 30)) out.push(`| \`${k}\` | ${per(us)} |`);
  if (opts.focus) {
    out.push('', `Self time under \`${opts.focus}\`:`, '', '| function | µs/request |', '|---|---|');
    for (const [k, us] of [...focused].sort((a, b) => b[1] - a[1]).slice(0, 20)) out.push(`| \`${k}\` | ${per(us)} |`);
  }
  return `${out.join('\n')}\n`;
}
