/**
 * Reading the ClientHello before the TLS server does, for two cases Node's SNICallback cannot serve:
 * - The tls-alpn-01 challenge (RFC 8737): a CA validates a name by a TLS handshake with SNI = the name and
 *   ALPN = only "acme-tls/1", and expects a self-signed certificate that carries the key authorization. Node
 *   picks the certificate (SNICallback) before ALPN, so while a challenge is pending the listener answers
 *   the CA's handshake itself.
 * - A listener whose certificates mix key types has no server default certificate (certs.ts); a client
 *   without SNI is handed to the TLS server with the default context for that one connection.
 * Every other connection goes on to the normal TLS server with its bytes untouched. When neither case
 * applies (no challenge pending, one key type), connections are handed over at once, unread.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { readClientHello } from './client-hello.js';

export const ACME_TLS_ALPN = 'acme-tls/1';

/** How long a client may take to send its ClientHello while it is being read. */
const HELLO_TIMEOUT_MS = 10_000;

/** `next(socket, noSni)`: hand the socket to the TLS server; `noSni` asks for the no-SNI default context. */
export type ConnectionInterceptor = (socket: Socket, next: (socket: Socket, noSni?: boolean) => void) => void;

export interface HelloInterceptorOptions {
  /** Pending tls-alpn-01 challenges: name → challenge certificate. */
  challenges?: ReadonlyMap<string, SecureContext> | undefined;
  /** Read every ClientHello to tell clients without SNI apart. */
  routeNoSni?: boolean;
}

export function helloInterceptor(opts: HelloInterceptorOptions): ConnectionInterceptor {
  const { challenges, routeNoSni = false } = opts;
  return (socket, next) => {
    if (!routeNoSni && (challenges === undefined || challenges.size === 0)) return next(socket);
    let buf: Buffer | undefined;
    const fail = (): void => { socket.destroy(); };
    const onData = (chunk: Buffer): void => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      const hello = readClientHello(buf);
      if (hello === undefined) return;
      socket.off('data', onData);
      socket.off('error', fail);
      socket.pause();
      socket.setTimeout(0);
      socket.unshift(buf);
      const ctx = challenges !== undefined && hello?.servername !== undefined && hello.alpn.includes(ACME_TLS_ALPN)
        ? challenges.get(hello.servername) : undefined;
      if (!ctx) return next(socket, routeNoSni && hello !== null && hello.servername === undefined);
      // RFC 8737 3: the CA closes once the handshake is done; nothing else is exchanged.
      const tls = new TLSSocket(socket, { isServer: true, secureContext: ctx, ALPNProtocols: [ACME_TLS_ALPN] });
      tls.setTimeout(HELLO_TIMEOUT_MS, () => tls.destroy());
      tls.on('secure', () => tls.end());
      tls.on('error', () => tls.destroy());
    };
    socket.setTimeout(HELLO_TIMEOUT_MS, fail);
    socket.on('error', fail);
    socket.on('data', onData);
  };
}
