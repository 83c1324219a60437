/**
 * Wires layer 4 listeners (stream/) into the composition root: a stream listener looks like any other
 * `Listener` to gatehouse.ts (closed, drained and counted the same way), reads its settings and upstreams
 * from the generation it is handed each connection under, and reads ClientHellos with tls/'s reader. Also
 * the PROXY protocol accept step of HTTP listeners.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { GatehouseConfig } from './schema.js';
import type { ListenerState, Runtime } from './server/handler.js';
import type { Listener } from './server/listen.js';
import { requestIds } from './server/request-id.js';
import { openStreamListener, proxyProtocolAccept, type StreamUpstream } from './stream/index.js';
import { readClientHello } from './tls/index.js';
import type { UpstreamRuntime } from './upstream/index.js';

type ListenerConfig = GatehouseConfig['listeners'][number];

/** What a listener needs of a generation: its config, compiled runtime and upstreams. */
export interface GenerationView {
  config: GatehouseConfig;
  upstreams: ReadonlyMap<string, UpstreamRuntime>;
}

/** Finds the generation whose runtime this is. */
export type GenerationOf = (rt: Runtime) => GenerationView | undefined;

/** Opens a `protocol: tcp | tls_passthrough` listener. */
export async function openStream(l: ListenerConfig, runtime: Runtime, deps: { generationOf: GenerationOf }): Promise<Listener> {
  const state: ListenerState = { name: l.name, secure: false, runtime, requestId: requestIds() };
  const s = await openStreamListener(l, {
    readHello: readClientHello,
    resolve() {
      const rt = state.runtime;
      const g = deps.generationOf(rt);
      // A listener the generation no longer has is closing: it keeps the settings it was opened with.
      const current = g?.config.listeners.find((x) => x.name === l.name) ?? l;
      return { runtime: rt, listener: current, upstream: (name: string): StreamUpstream | undefined => g?.upstreams.get(name) };
    },
  });
  return {
    state, server: s.server as unknown as Server, config: l,
    // TLS is the backend's on these listeners: there is nothing of the proxy's own to update.
    updateTls: () => false,
    address: () => s.address(), closeIdle: () => s.closeIdle(), closeAll: () => s.closeAll(),
    // Streams have no requests to end them: they are waited for as in-flight work, not lingered on.
    connections: () => 0, goAway: () => undefined,
  };
}

/** The PROXY protocol step of an HTTP listener: reads the current generation's settings for each connection. */
export function httpProxyAccept(name: string, current: () => { config: GatehouseConfig; runtime: Runtime } | undefined): (socket: Socket, next: (socket: Socket) => void) => void {
  return proxyProtocolAccept({
    enabled: () => current()?.config.listeners.find((x) => x.name === name)?.proxy_protocol === true,
    trusted: () => current()?.runtime.trusted,
  });
}
