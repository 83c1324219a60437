/**
 * TLS: certificate stores for TLS listeners (SNI from SAN lists, hot reload) and the plugin `tls`:
 * redirect_https (earlyRequestFilter), HSTS (responseFilter) and the client-certificate headers of mTLS
 * (upstreamRequestFilter). The server capability creates the sockets with the options given here.
 */
import { definePlugin, type Hooks, type Verdict } from '../core/plugin.js';
import { permanentRedirect, removeHeader, setHeader } from '../core/headers.js';
import type { TlsConfig } from './schema.js';

export { createCertStore, INTERMEDIATE_CIPHERS, type CertStore } from './certs.js';
export { checkPair, pemFileProblems, readCaBundle, readPair, TlsConfigError, type CheckedPair, type PemProblem } from './pem.js';
export { createAcme, type AcmeManager } from './acme.js';
export { helloInterceptor, ACME_TLS_ALPN, type ConnectionInterceptor } from './client-hello-intercept.js';
export { readClientHello, type ClientHello } from './client-hello.js';
export { ocspStapler, ocspRequest, type Stapler } from './ocsp.js';
export * from './schema.js';

export interface TlsListener { name: string; address: string; tls?: TlsConfig | undefined; redirect_https: boolean }

function portOf(address: string): string {
  return address.slice(address.lastIndexOf(':') + 1);
}

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export interface TlsPluginConfig {
  listeners: readonly TlsListener[];
  /** ACME http-01 tokens → key authorizations, answered on every listener. */
  challenges: ReadonlyMap<string, string>;
}

export const tls = definePlugin<TlsPluginConfig>({
  name: 'tls',
  create({ listeners, challenges }, app) {
    const hsts = new Map<string, string>();
    const redirect = new Set<string>();
    const forwardCerts = new Set<string>();
    for (const l of listeners) {
      if (l.tls?.hsts !== undefined) hsts.set(l.name, `max-age=${Math.floor(l.tls.hsts / 1000)}`);
      if (l.redirect_https) redirect.add(l.name);
      if (l.tls?.client_auth?.forward_headers) forwardCerts.add(l.name);
    }
    const httpsListener = listeners.find((l) => l.tls);
    const suffix = (): string => {
      if (!httpsListener) return '';
      const port = portOf(app.address(httpsListener.name) ?? httpsListener.address);
      return port === '443' ? '' : `:${port}`;
    };
    const hooks: Hooks = {};
    const acme = listeners.some((l) => l.tls?.acme);
    if (redirect.size || acme) {
      hooks.earlyRequestFilter = (ctx): Verdict => {
        // RFC 8555 8.3: the http-01 answer, before any redirect (the CA asks over plain HTTP).
        if (acme && ctx.path.startsWith(CHALLENGE_PREFIX)) {
          const answer = challenges.get(ctx.path.slice(CHALLENGE_PREFIX.length));
          if (answer !== undefined) return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: answer };
        }
        if (!redirect.has(ctx.listener)) return undefined;
        const host = ctx.host.includes(':') && !ctx.host.startsWith('[') ? `[${ctx.host}]` : ctx.host;
        return { status: permanentRedirect(ctx.req.method), headers: { location: `https://${host}${suffix()}${ctx.path}${ctx.query}` } };
      };
    }
    if (hsts.size) {
      hooks.responseFilter = (ctx, head) => {
        const v = hsts.get(ctx.listener);
        if (v !== undefined) head.headers.push('strict-transport-security', v);
      };
    }
    if (forwardCerts.size) {
      // These headers say what this proxy verified, so a client's own copies never pass: they are dropped on
      // every listener (the servers cannot tell which listener a request came in on), and set only from a
      // certificate this connection's handshake verified (with `required: false` a client may send none).
      hooks.upstreamRequestFilter = (ctx, req) => {
        removeHeader(req.headers, 'x-client-cert-subject');
        removeHeader(req.headers, 'x-client-cert-fingerprint');
        if (!forwardCerts.has(ctx.listener)) return;
        // Only a certificate this connection's handshake verified.
        const cert = ctx.req.peerCertificate();
        if (!cert) return;
        setHeader(req.headers, 'x-client-cert-subject', Object.entries(cert.subject).map(([k, v]) => `${k}=${String(v)}`).join(','));
        setHeader(req.headers, 'x-client-cert-fingerprint', cert.fingerprint256.replace(/:/g, '').toLowerCase());
      };
    }
    return { global: hooks };
  },
});
