/** Reading `GET /metrics` in tests: samples by `name{k="v",…}` with the labels sorted, so order never matters. */
import assert from 'node:assert/strict';
import { send } from './client.js';

export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

/** Scrapes `admin`/metrics with `headers` (the token): 200 in the Prometheus text format, parsed. */
export async function scrape(admin: string, headers: Record<string, string>): Promise<Map<string, number>> {
  const r = await send(`${admin}/metrics`, { headers });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.text);
}

/** The key of one sample, as `parseMetrics` files it. */
export const sampleKey = (name: string, labels: Record<string, string> = {}): string =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;

/** Every sample of a metric (by exact name), for checking that nothing else was counted. */
export function samples(m: Map<string, number>, name: string): Map<string, number> {
  return new Map([...m].filter(([k]) => k.startsWith(`${name}{`)));
}
