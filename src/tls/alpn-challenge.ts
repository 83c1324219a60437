/**
 * The tls-alpn-01 challenge (RFC 8737): a CA validates a name by a TLS handshake with SNI = the name and ALPN
 * = only "acme-tls/1", and expects a self-signed certificate that carries the key authorization. Node picks
 * the certificate (SNICallback) before ALPN, so while a challenge is pending the listener reads the
 * ClientHello first and answers the CA's handshake itself; every other connection goes on to the normal TLS
 * server with its bytes untouched. With no challenge pending, connections are handed over at once.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { readClientHello } from './client-hello.js';

export const ACME_TLS_ALPN = 'acme-tls/1';

/** How long a client may take to send its ClientHello while a challenge is pending. */
const HELLO_TIMEOUT_MS = 10_000;

export type ConnectionInterceptor = (socket: Socket, next: (socket: Socket) => void) => void;

export function alpnChallengeInterceptor(contexts: ReadonlyMap<string, SecureContext>): ConnectionInterceptor {
  return (socket, next) => {
    if (contexts.size === 0) return next(socket);
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
      const ctx = hello?.servername !== undefined && hello.alpn.includes(ACME_TLS_ALPN) ? contexts.get(hello.servername) : undefined;
      if (!ctx) return next(socket);
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
