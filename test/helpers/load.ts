/** A bounded load loop: N keep-alive connections sending GETs until stopped or `maxRequests` is reached. */
import { Agent } from 'node:http';
import type { TestContext } from 'node:test';
import { send, type Response } from './client.js';
import { waitFor, type Origin } from './origin.js';

export interface LoadResult { total: number; failures: string[]; byBody: Map<string, number>; log: { at: number; body: string }[] }

export interface Load { stop(): Promise<LoadResult>; readonly result: LoadResult }

export function startLoad(url: string, opts: { connections?: number; maxRequests?: number; maxMs?: number } = {}): Load {
  const connections = opts.connections ?? 20;
  const maxRequests = opts.maxRequests ?? 100_000;
  const deadline = Date.now() + (opts.maxMs ?? 30_000);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const result: LoadResult = { total: 0, failures: [], byBody: new Map(), log: [] };
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && result.total < maxRequests && Date.now() < deadline) {
      result.total++;
      try {
        const r = await send(url, { agent });
        if (r.status !== 200) result.failures.push(`${r.status} ${r.text.slice(0, 100)}`);
        else {
          result.byBody.set(r.text, (result.byBody.get(r.text) ?? 0) + 1);
          result.log.push({ at: Date.now(), body: r.text });
        }
      } catch (err) {
        result.failures.push((err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: connections }, worker);
  return {
    result,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return result;
    },
  };
}

/** Sends `/slow` requests (at most 40) until one is in flight on `o`; returns them all. */
export async function slowOn(url: string, o: Origin): Promise<Promise<Response>[]> {
  const sent = [];
  for (let i = 0; i < 40 && !o.requests.some((q) => q.url === '/slow'); i++) {
    sent.push(send(`${url}/slow`));
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor(() => o.requests.some((q) => q.url === '/slow'), 2000, 'a slow request on the server');
  return sent;
}

/** The request and failure counts of a load (and the answers by body), in the test output. */
export function report(t: TestContext, r: LoadResult): void {
  t.diagnostic(`${r.total} requests, ${r.failures.length} failed (${[...r.byBody].map(([b, n]) => `${b}: ${n}`).join(', ')})`);
}
