/**
 * Layer 4: `protocol: tcp` listeners piping every connection to an upstream of tcp:// servers, and
 * `protocol: tls_passthrough` ones routing still-encrypted TLS by the ClientHello's SNI; the PROXY protocol
 * (v1, v2) read on any listener from trusted peers and sent to tcp upstreams. No phases hooked: a stream
 * listener runs the global connectionFilter hooks, then balances with the upstream's Selector (core/services.ts).
 */
export { openStreamListener, type StreamListener, type StreamListenerOptions, type StreamGeneration, type HelloReader } from './listener.js';
export { proxyProtocolAccept, readProxyHeader, encodeProxyHeader, type ProxiedAddress, type ProxyHeader, type ProxyAcceptOptions } from './proxy-protocol.js';
export { sniTable, type SniTable } from './sni.js';
export { streamIssues, type StreamIssue } from './check.js';
export type { StreamRuntime, StreamUpstream } from './types.js';
export * from './schema.js';
