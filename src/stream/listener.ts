/**
 * A layer 4 listener (`protocol: tcp` or `tls_passthrough`): a node:net server whose connections are piped
 * to upstream servers. Settings are read from the generation in force when a connection is accepted
 * (`resolve`): a reload applies to new connections, open ones keep going with theirs.
 */
import { createServer, isIP, type AddressInfo, type BlockList, type Server, type Socket } from 'node:net';
import { blockList } from '../core/addresses.js';
import { relay } from './connection.js';
import { proxyProtocolAccept } from './proxy-protocol.js';
import { DEFAULT_IDLE_TIMEOUT, type StreamListenerConfig } from './schema.js';
import { sniTable } from './sni.js';
import { STREAM_HWM, type StreamRuntime, type StreamUpstream } from './types.js';

/** Reads a ClientHello (tls/ provides it): undefined = more bytes needed, null = not a ClientHello. */
export type HelloReader = (buf: Buffer) => { servername: string | undefined } | null | undefined;

/** What the listener needs of the generation in force. */
export interface StreamGeneration {
  runtime: StreamRuntime;
  listener: StreamListenerConfig;
  upstream(name: string): StreamUpstream | undefined;
}

export interface StreamListenerOptions {
  /** The generation for a new connection. */
  resolve(): StreamGeneration;
  readHello: HelloReader;
}

export interface StreamListener {
  readonly server: Server;
  address(): string;
  /** Nothing to do for raw streams: they have no idle state a proxy can close safely. */
  closeIdle(): void;
  /** Closes every connection now (both sides). */
  closeAll(): void;
}

/** Bounds on the ClientHello read before a passthrough connection is routed. */
const HELLO_MAX = 16 * 1024;
const HELLO_TIMEOUT_MS = 10_000;

/** Reads the ClientHello (several reads if need be) without consuming it: the bytes are replayed upstream. */
function readSni(socket: Socket, read: HelloReader, done: (head: Buffer, servername: string | undefined) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const fail = (): void => { socket.destroy(); };
  const onData = (chunk: Buffer): void => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const hello = read(buf);
    if (hello === undefined && buf.length < HELLO_MAX) return;
    socket.off('data', onData);
    socket.off('error', fail);
    socket.setTimeout(0);
    socket.pause();
    // Not TLS, malformed or too large: no name to route by, the default upstream (if any) gets the bytes.
    done(buf, hello ? hello.servername : undefined);
  };
  socket.setTimeout(HELLO_TIMEOUT_MS, fail);
  socket.on('error', fail);
  socket.on('data', onData);
  socket.resume(); // a PROXY header reader may have paused it
}

/** Compiled IP rules per listener config (a reload brings a new config object, hence new rules). */
const rules = new WeakMap<StreamListenerConfig, { allow: BlockList | undefined; deny: BlockList | undefined }>();

function blockOf(cidrs: readonly string[] | undefined): BlockList | undefined {
  return cidrs?.length ? blockList(cidrs) : undefined;
}

/** The listener's `access` rules: deny first, then allow (as HTTP access rules). No rules: everyone. */
function allowed(l: StreamListenerConfig, address: string | undefined): boolean {
  if (!l.access) return true;
  let r = rules.get(l);
  if (!r) rules.set(l, (r = { allow: blockOf(l.access.allow), deny: blockOf(l.access.deny) }));
  const ip = (address ?? '').replace(/^::ffff:(?=\d+\.)/, '');
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (!isIP(ip)) return false;
  if (r.deny?.check(ip, family)) return false;
  return r.allow === undefined || r.allow.check(ip, family);
}

export async function openStreamListener(config: StreamListenerConfig, opts: StreamListenerOptions): Promise<StreamListener> {
  const sockets = new Set<Socket>();
  const onAccepted = (client: Socket, head: Buffer, servername: string | undefined, gen: StreamGeneration): void => {
    const l = gen.listener;
    const name = l.protocol === 'tls_passthrough' ? sniTable(l.sni, l.upstream)(servername) : l.upstream;
    const upstream = name === undefined ? undefined : gen.upstream(name);
    if (!upstream) {
      gen.runtime.log.info({ listener: l.name, client: client.remoteAddress, sni: servername }, 'stream: no upstream for the connection, closed');
      client.destroy();
      return;
    }
    const rt = gen.runtime;
    rt.inflight++;
    void relay({
      client, head, listener: l.name, upstream, runtime: rt, idleMs: l.idle_timeout ?? DEFAULT_IDLE_TIMEOUT, servername,
      track: (up) => sockets.add(up),
      onClose(up) {
        if (up) sockets.delete(up);
        if (--rt.inflight === 0 && rt.idleWaiters.length) for (const w of rt.idleWaiters.splice(0)) w();
      },
    }).catch((err: unknown) => { rt.log.error({ err }, 'stream: relay failed'); client.destroy(); });
  };
  const onSocket = (client: Socket): void => {
    const gen = opts.resolve();
    for (const f of gen.runtime.global.connectionFilter) {
      if (!f(client)) { client.destroy(); return; }
    }
    if (!allowed(gen.listener, client.remoteAddress)) {
      gen.runtime.log.info({ listener: gen.listener.name, client: client.remoteAddress }, 'stream: connection refused by access rules');
      client.destroy();
      return;
    }
    if (gen.listener.protocol !== 'tls_passthrough') {
      client.pause();
      return onAccepted(client, Buffer.alloc(0), undefined, gen);
    }
    readSni(client, opts.readHello, (head, sn) => onAccepted(client, head, sn, gen));
  };
  const accept = proxyProtocolAccept({ enabled: () => opts.resolve().listener.proxy_protocol, trusted: () => opts.resolve().runtime.trusted });
  const server = createServer({ allowHalfOpen: true, highWaterMark: STREAM_HWM }, (client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    accept(client, onSocket);
  });
  const { host, port } = splitAddress(config.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => { server.off('error', reject); resolve(); });
  });
  return {
    server,
    address() {
      const a = server.address() as AddressInfo | null;
      if (!a) return config.address;
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    },
    closeIdle() {},
    closeAll() { for (const s of sockets) s.destroy(); },
  };
}

function splitAddress(address: string): { host: string | undefined; port: number } {
  const i = address.lastIndexOf(':');
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host || undefined, port: Number(address.slice(i + 1)) };
}
