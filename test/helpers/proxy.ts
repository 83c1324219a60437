/** Starts Gatehouse in-process through the library API, on 127.0.0.1:0 unless listeners are given. */
import { send } from './client.js';
import type { TestContext } from 'node:test';
import pino from 'pino';
import { createGatehouse, type Gatehouse, type GatehouseConfigInput, type GatehouseOptions } from '../../src/index.js';

export type ProxyConfig = Omit<GatehouseConfigInput, 'listeners'> & { listeners?: GatehouseConfigInput['listeners'] };

export interface StartedProxy { gh: Gatehouse; url: string; port: number }

/** `opts.plugins`: user plugins; `opts.logger`: another logger than the silent one. */
export async function startProxy(t: TestContext, config: ProxyConfig, opts: Pick<GatehouseOptions, 'plugins' | 'logger'> = {}): Promise<StartedProxy> {
  const full: GatehouseConfigInput = {
    access_log: { enabled: false },
    // Tests share one event loop with their origins and clients; shedding is tested on its own.
    overload: false,
    ...config,
    listeners: config.listeners ?? [{ name: 'public', address: '127.0.0.1:0' }],
  };
  const gh = createGatehouse(full, { logger: pino({ level: 'silent' }), ...opts });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  const url = gh.url();
  return { gh, url, port: Number(new URL(url).port) };
}

/** `count` GETs of `/limited/x` with `X-Api-Key: key`, sent to the proxies in turn: their statuses, in order. */
export async function statuses(proxies: StartedProxy[], key: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = await send(`${proxies[i % proxies.length]!.url}/limited/x`, { headers: { 'x-api-key': key } });
    out.push(r.status);
  }
  return out;
}
