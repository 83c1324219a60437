/** HTTP listeners (node:http, node:http2, or the native engine: listen-native.ts): create, bind (with a clear error for a taken port), and close gracefully. */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer, type SecureContext } from 'node:tls';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Http2Server } from 'node:http2';
import type { CertificateExpiry, Engine } from '../core/services.js';
import { goAwayUpgrades, handleCheckContinue, handleRequest, type ListenerState, type Runtime } from './handler.js';
import { handleUpgrade } from './upgrade.js';
import { serveStreams } from './h2-stream.js';
import { nodeClasses, nodeClassesH1 } from './node-http.js';
import { nativeEngine, plainServer, serveSecure, serveSocket } from './listen-native.js';
import { onClientError, onConnect, onConnection, onStreamConnect } from './refusals.js';

export { goAwayUpgrades } from './handler.js';
import { keepSession, type H2Session, type SessionUpkeep } from './h2-session.js';
import { requestIds } from './request-id.js';
import type { ListenerConfig } from './schema.js';

/** What a TLS listener needs from the tls capability. */
export interface SecureOptions {
  options: Record<string, unknown>;
  sni(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void;
  h2: boolean;
  /** Sees each accepted socket before the TLS server does, and hands it on with `next` (or answers it itself);
   * `noSni` asks for the `noSniContext` for that connection. */
  intercept?: (socket: Socket, next: (socket: Socket, noSni?: boolean) => void) => void;
  /** The context for a client without SNI, when the server itself has no default certificate. */
  noSniContext?: () => SecureContext | undefined;
  /** Answers OCSPRequest events (stapling), when the certificates name a responder. */
  ocsp?: (cert: Buffer, issuer: Buffer, cb: (err: Error | null, resp?: Buffer) => void) => void;
  /** The certificates served and when they expire (metrics). */
  certificates?: () => readonly CertificateExpiry[];
  close(): void;
}

export interface Listener {
  readonly state: ListenerState;
  /** The HTTP/1.1 engine it was opened with, as configured (an h2c listener serves HTTP/2 whichever it is). */
  readonly engine?: Engine;
  readonly server: Server;
  /** The listener's config as last applied. */
  config: ListenerConfig;
  /**
   * Applies new TLS settings to this bound listener (a reload): certificates, versions, client certificates.
   * False when that cannot be done in place (TLS switched on or off, HTTP/2 switched): a restart applies it.
   */
  updateTls(config: ListenerConfig, next: SecureOptions | undefined): boolean;
  /** The bound address, e.g. `127.0.0.1:18080` (the real port when the config said :0). */
  address(): string;
  /** Closes idle connections (HTTP/1.1 keep-alive; HTTP/2 sessions get GOAWAY). */
  closeIdle(): void;
  /** Open connections (HTTP/1.1 and HTTP/2). */
  connections(): number;
  /** Open client connections, for metrics; undefined where they are not counted (layer 4 listeners). */
  open?(): number;
  /** The certificates a TLS listener serves now (metrics). */
  certificates?(): readonly CertificateExpiry[];
  /** HTTP/2 GOAWAY on every session (open streams finish); HTTP/1.1 connections are left as they are. */
  goAway(): void;
  /** Closes every connection now. */
  closeAll(): void;
}

export function parseAddress(address: string): { host: string | undefined; port: number } {
  const i = address.lastIndexOf(':');
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host || undefined, port: Number(address.slice(i + 1)) };
}

export class ListenError extends Error {}

/** Connection-level settings, from the config's `limits`. */
export interface ServerOptions {
  maxHeaderSize: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  maxRequestsPerSocket: number;
  maxHeadersCount: number;
  /** Sees each accepted socket first (the PROXY protocol header) and hands it on with `next`, or closes it. */
  accept?: ((socket: Socket, next: (socket: Socket) => void) => void) | undefined;
  /** The HTTP/1.1 engine (the config's `engine`; a listener's own `engine` overrides it). */
  engine?: Engine | undefined;
}

export async function openListener(config: ListenerConfig, runtime: Runtime, opts: ServerOptions, secure?: SecureOptions): Promise<Listener> {
  const state: ListenerState = { name: config.name, secure: secure !== undefined, runtime, requestId: requestIds() };
  const httpOptions = {
    // RFC 9112 3.2: a request without Host is a 400 (node:http enforces it).
    requireHostHeader: true,
    // llhttp strict whatever `--insecure-http-parser` says: the upstream client trusts its fields
    // (DownstreamRequest.fieldsChecked), and lenient parsing is how requests are smuggled (RFC 9112 11.2).
    insecureHTTPParser: false,
    // Request line + headers past this: 431 from node:http's parser itself.
    maxHeaderSize: opts.maxHeaderSize,
    keepAliveTimeout: opts.keepAliveTimeout,
    // Slowloris: the head must arrive within headersTimeout; checked every second, not every 30 s.
    headersTimeout: opts.headersTimeout,
    requestTimeout: 300_000,
    connectionsCheckingInterval: 1000,
    // TLS listeners: the handshake must be done as soon as a request head must have arrived (Node's own
    // default is 120 s, a slowloris' delight).
    handshakeTimeout: opts.headersTimeout,
  };
  let server: Server;
  // engine: native serves HTTP/1.1 itself (server/h1/); h2c listeners are HTTP/2 only.
  const h1 = (config.engine ?? opts.engine) === 'native' && !(secure === undefined && config.h2c)
    ? nativeEngine(state, opts) : undefined;
  // The TLS settings in force, which a reload replaces (wireTls); Node keeps the SNICallback it was given.
  const live = secure ? { current: secure } : undefined;
  const sniCallback: SecureOptions['sni'] = (name, cb) => live!.current.sni(name, cb);
  // RFC 8441 3: SETTINGS_ENABLE_CONNECT_PROTOCOL, so that clients may open WebSockets over HTTP/2.
  const h2Settings = { maxConcurrentStreams: 128, maxHeaderListSize: opts.maxHeaderSize, enableConnectProtocol: true };
  if (!secure && config.h2c) {
    const { createServer: createH2cServer } = await import('node:http2');
    server = createH2cServer({ settings: h2Settings, maxSessionInvalidFrames: 100, maxSessionRejectedStreams: 100 }) as unknown as Server;
  } else if (!secure) {
    server = h1 ? plainServer() : createServer({ ...httpOptions, ...nodeClasses }) as unknown as Server;
  } else if (secure.h2) {
    // node:http2 and node:https are loaded only for TLS listeners (some 8 MB of memory).
    const { createSecureServer } = await import('node:http2');
    // HTTP/2 by ALPN, HTTP/1.1 for the rest, through the same handler. Node bounds the streams and
    // refuses the rapid-reset pattern (CVE-2023-44487) itself; the limits below tighten the defaults.
    server = createSecureServer({
      ...httpOptions, ...secure.options, ...nodeClassesH1, SNICallback: sniCallback, allowHTTP1: true,
      settings: h2Settings,
      maxSessionInvalidFrames: 100, maxSessionRejectedStreams: 100,
    }) as unknown as Server;
  } else if (h1) {
    server = createTlsServer({ ...secure.options, SNICallback: sniCallback, handshakeTimeout: opts.headersTimeout }) as unknown as Server;
  } else {
    const { createServer: createHttpsServer } = await import('node:https');
    server = createHttpsServer({ ...httpOptions, ...secure.options, ...nodeClasses, SNICallback: sniCallback }) as unknown as Server;
  }
  // Before wireTls and wireAccept add their own 'secureConnection' listeners (listen-native.ts takes node:http2's).
  if (h1 && secure) serveSecure(server, h1, secure.h2);
  const tls = live ? wireTls(server, live, state) : undefined;
  // Every socket, so that HTTP/2 servers (which have no closeAllConnections) can be closed too.
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    state.runtime.meter?.connection(state.name);
  });
  const sessions = new Map<H2Session, SessionUpkeep>();
  server.on('session', (session: H2Session) => {
    sessions.set(session, keepSession(session, opts.keepAliveTimeout));
    session.once('close', () => sessions.delete(session));
  });
  if (!config.h2c) {
    server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    server.maxHeadersCount = opts.maxHeadersCount;
  }
  server.on('connection', onConnection.bind(state));
  if (h1 && !secure) server.on('connection', serveSocket(h1));
  const onRequest = handleRequest.bind(state);
  const onCheckContinue = handleCheckContinue.bind(state);
  server.on('request', onRequest);
  // HTTP/2 streams on node:http2's core API; 'request' serves HTTP/1.1 (and a TLS listener's HTTP/1.1 connections).
  if ((!secure && config.h2c) || secure?.h2) {
    serveStreams(server as unknown as Http2Server, { request: onRequest, checkContinue: onCheckContinue, connect: onStreamConnect.bind(state) });
  }
  server.on('checkContinue', onCheckContinue);
  server.on('connect', onConnect.bind(state));
  if (!config.h2c) server.on('clientError', onClientError.bind(state));
  server.on('upgrade', handleUpgrade.bind(state));
  if (opts.accept) wireAccept(server, opts.accept, secure === undefined);
  const { host, port } = parseAddress(config.address);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'is already in use'
        : err.code === 'EACCES' ? 'needs more privileges (ports below 1024)'
          : err.code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : `cannot be bound (${err.code ?? err.message})`;
      reject(new ListenError(`listener "${config.name}": address ${config.address} ${why}`));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const listener: Listener = {
    state, server, config, engine: config.engine ?? opts.engine ?? 'node',
    updateTls(next, nextSecure) {
      if (!tls || !nextSecure || nextSecure.h2 !== secure!.h2 || next.h2c !== config.h2c) return false;
      tls.update(nextSecure);
      listener.config = next;
      return true;
    },
    connections: () => sockets.size,
    open: () => sockets.size,
    certificates: () => live?.current.certificates?.() ?? [],
    goAway() {
      for (const [s, upkeep] of sessions) {
        if (s.closed) continue;
        upkeep.probe();
        s.close();
      }
    },
    closeIdle() {
      if (typeof server.closeIdleConnections === 'function') server.closeIdleConnections();
      h1?.closeIdle();
      for (const [s, upkeep] of sessions) {
        if (s.closed) continue;
        // A PING first (a closed session cannot send one): a connection that no longer answers is not waited for.
        upkeep.probe();
        s.close(); // HTTP/2 GOAWAY: open streams finish, no new ones
      }
    },
    closeAll() {
      if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
      h1?.close();
      for (const s of sockets) s.destroy();
    },
    address() {
      const a = server.address() as AddressInfo | null;
      if (!a) return config.address;
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    },
  };
  return listener;
}

/** Runs `accept` before every 'connection' listener (connection filters, the TLS or HTTP server). */
function wireAccept(server: Server, accept: NonNullable<ServerOptions['accept']>, plain: boolean): void {
  const handlers = server.listeners('connection') as ((s: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => accept(socket, (s) => {
    for (const f of handlers) f.call(server, s);
    // Bytes read past a PROXY header were put back (unshift); the TLS server reads them itself, the HTTP
    // parser once the socket flows again.
    if (plain && !s.destroyed && s.isPaused()) s.resume();
  }));
  if (plain) return;
  // A TLS socket reports the address of the connection it wraps, not what the accept step set on it.
  server.on('secureConnection', (tls: Socket & { _parent?: Socket | null }) => {
    const raw = tls._parent;
    if (!raw || !Object.hasOwn(raw, 'remoteAddress')) return;
    for (const k of ['remoteAddress', 'remotePort', 'remoteFamily'] as const) Object.defineProperty(tls, k, { value: raw[k], configurable: true });
  });
}

/**
 * The TLS side of a listener: the ClientHello interceptor, OCSP stapling and ticket keys rotated every 12
 * hours (a stolen key opens at most half a day of recorded sessions), all through `live.current`, which a
 * reload replaces (`update`): new connections get the new certificates; open ones keep theirs.
 */
function wireTls(server: Server, live: { current: SecureOptions }, state: ListenerState): { update(next: SecureOptions): void } {
  const tlsServer = server as unknown as {
    setTicketKeys(keys: Buffer): void; setSecureContext(o: Record<string, unknown>): void;
    requestCert: boolean; rejectUnauthorized: boolean; _sharedCreds: SecureContext;
  };
  // The TLS server wraps a socket on 'connection'; the interceptor (when the settings have one) sees it first.
  const wrap = server.listeners('connection') as ((s: Socket) => void)[];
  server.removeAllListeners('connection');
  const next = (s: Socket, noSni?: boolean): void => {
    const ctx = noSni ? live.current.noSniContext?.() : undefined;
    if (ctx === undefined) {
      for (const f of wrap) f.call(server, s);
      return;
    }
    // Node's TLS server builds the connection from its shared context, synchronously: this one connection
    // gets the default certificate's context instead (the server's own has no certificate).
    const own = tlsServer._sharedCreds;
    tlsServer._sharedCreds = ctx;
    try {
      for (const f of wrap) f.call(server, s);
    } finally {
      tlsServer._sharedCreds = own;
    }
  };
  server.on('connection', (s: Socket) => {
    const intercept = live.current.intercept;
    if (intercept) intercept(s, next);
    else next(s);
  });
  server.on('secureConnection', () => state.runtime.meter?.handshake(true));
  // A listener changes nothing: the TLS server destroys the socket either way.
  server.on('tlsClientError', () => state.runtime.meter?.handshake(false));
  server.on('OCSPRequest', (cert: Buffer, issuer: Buffer, cb: (err: Error | null, resp?: Buffer) => void) => {
    if (live.current.ocsp) live.current.ocsp(cert, issuer, cb);
    else cb(null);
  });
  const setKeys = (): void => {
    const keys = randomBytes(48);
    tlsServer.setTicketKeys(keys);
    (live.current.noSniContext?.() as { context?: { setTicketKeys(k: Buffer): void } } | undefined)?.context?.setTicketKeys(keys);
  };
  setKeys();
  const rotate = setInterval(setKeys, 12 * 3600_000);
  rotate.unref();
  server.once('close', () => { clearInterval(rotate); live.current.close(); });
  return {
    update(nextSecure) {
      const prev = live.current;
      live.current = nextSecure;
      const o = nextSecure.options as { requestCert?: boolean; rejectUnauthorized?: boolean };
      tlsServer.setSecureContext(nextSecure.options);
      tlsServer.requestCert = o.requestCert === true;
      tlsServer.rejectUnauthorized = o.rejectUnauthorized !== false;
      setKeys();
      prev.close();
    },
  };
}

/**
 * Stops accepting, lets in-flight requests finish up to `timeoutMs` (idle keep-alive connections are closed
 * as they become idle), then closes whatever is left.
 */
/** Stops accepting and leaves open connections alone. */
const netClose = NetServer.prototype.close as (this: Server, cb: () => void) => void;
/** Stops accepting; node:http also closes the idle connections at once. */
const httpClose = function (this: Server, cb: () => void): void { this.close(cb); };

export async function closeListeners(listeners: readonly Listener[], runtimes: readonly Runtime[], timeoutMs: number, lingerMs = 0): Promise<void> {
  for (const rt of runtimes) rt.draining = true;
  // Open WebSockets get a Close 1001 halfway through the drain: the rest is their close handshake.
  for (const rt of runtimes) goAwayUpgrades(rt, Math.floor(timeoutMs / 2));
  // With a linger, idle HTTP/1.1 connections stay open for it (net.Server's close: node:http's would close them
  // now): a client's next request on one is still served, with `Connection: close` (handler.ts), rather than
  // racing the close. Another process takes the new connections (a rolling restart of workers).
  const closed = listeners.map((l) => new Promise<void>((r) => (lingerMs > 0 ? netClose : httpClose).call(l.server, () => r())));
  const busy = (): boolean => runtimes.some((rt) => rt.inflight > 0);
  const deadline = Date.now() + timeoutMs;
  const lingerEnd = Date.now() + Math.min(lingerMs, timeoutMs);
  const lingering = (): boolean => Date.now() < lingerEnd && listeners.some((l) => l.connections() > 0);
  for (const l of listeners) l.goAway();
  while ((busy() || lingering()) && Date.now() < deadline) {
    if (!lingering()) for (const l of listeners) l.closeIdle();
    // Ref'd on purpose: a shutdown in progress keeps the process alive until it has finished (logs flushed).
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const l of listeners) l.closeAll();
  await Promise.all(closed);
}
