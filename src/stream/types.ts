/** What the stream capability needs from the rest of the proxy, as structural types (no capability imports). */
import type { BlockList, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { PeerObserver, Selector } from '../core/services.js';

/** An upstream as a layer 4 listener uses it (the registry's UpstreamRuntime has these members). */
export interface StreamUpstream {
  readonly name: string;
  readonly selector: Selector;
  readonly observer: PeerObserver | undefined;
  readonly config: {
    readonly retries: number;
    readonly timeouts: { readonly connect: number };
    readonly proxy_protocol?: 'v1' | 'v2' | undefined;
  };
}

/** The config generation a connection is accepted under (the server's Runtime has these members). */
export interface StreamRuntime {
  inflight: number;
  readonly idleWaiters: (() => void)[];
  readonly log: Logger;
  readonly trusted: BlockList | undefined;
  readonly global: { readonly connectionFilter: readonly ((socket: Socket) => unknown)[] };
}

/** Socket buffer bound on both sides of a layer 4 relay: larger than the 16 KiB default, so a bulk transfer
 * pauses and resumes its sender a sixteenth as often (bench/l4.ts). */
export const STREAM_HWM = 256 * 1024;
