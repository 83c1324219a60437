/**
 * TLS termination: certificates chosen by SNI from the names in each certificate's SAN list (exact, then a
 * one-label wildcard), the first certificate as the default; TLS 1.2+ with Mozilla's "intermediate" cipher
 * list (forward secrecy only). Certificate and key files are watched: a renewed pair serves new handshakes
 * within seconds; a broken pair is refused with a log line and the old one stays.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { CertificateExpiry } from '../core/services.js';
import { checkPair, readCaBundle, readPair, type CheckedPair } from './pem.js';
import type { TlsConfig } from './schema.js';

/** Mozilla intermediate (TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults, all AEAD). */
export const INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-CHACHA20-POLY1305',
].join(':');

interface Pair { cert: string; key: string; names: string[]; keyType: string; context: SecureContext; expiry: CertificateExpiry }

export interface CertStore {
  /** Adds or replaces the managed (ACME) pair; its names take precedence. Throws on a broken pair. */
  setManaged(cert: string, key: string): void;
  /** The SNICallback for tls/https/http2 servers. */
  sni(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void;
  /**
   * Options for the server itself: the default certificate and the protocol settings. When the certificates
   * mix key types (ECDSA and RSA), the server gets no default certificate: Node adds an SNI context's
   * certificate beside the server's rather than in its place, and the client would be free to pick the
   * default one. Clients without SNI are then given `noSniContext()` (see server/listen.ts).
   */
  serverOptions(): { cert?: string; key?: string; minVersion: 'TLSv1.2' | 'TLSv1.3'; ciphers: string; ca?: string; requestCert: boolean; rejectUnauthorized: boolean };
  /** The context for clients without SNI when the server itself has no default certificate, else undefined. */
  noSniContext(): SecureContext | undefined;
  names(): string[][];
  /** Each certificate's names (its DNS SANs, else its subject CN) and notAfter, in unix seconds. */
  expiry(): CertificateExpiry[];
  close(): void;
}

export function createCertStore(cfg: TlsConfig, baseDir: string, log: Logger): CertStore {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const ca = cfg.client_auth ? readCaBundle(abs(cfg.client_auth.ca)) : undefined;
  const contextOptions = { minVersion: cfg.min_version, ciphers: INTERMEDIATE_CIPHERS, honorCipherOrder: true, ...(ca ? { ca } : {}) };

  const fromChecked = ({ cert, key, x509 }: CheckedPair): Pair => {
    const names = (x509.subjectAltName ?? '').split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4).toLowerCase());
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1];
    const expiry = { names: names.length || cn === undefined ? names : [cn.toLowerCase()], notAfter: Date.parse(x509.validTo) / 1000 };
    return { cert, key, names, keyType: x509.publicKey.asymmetricKeyType ?? 'unknown', context: createSecureContext({ cert, key, ...contextOptions }), expiry };
  };

  const load = (certPath: string, keyPath: string): Pair => fromChecked(readPair(certPath, keyPath));
  const paths = cfg.certificates.map((c) => ({ cert: abs(c.cert), key: abs(c.key) }));
  const pairs = paths.map((p) => load(p.cert, p.key));
  let managed: Pair | undefined;
  const allPairs = (): Pair[] => (managed ? [...pairs, managed] : pairs);
  let exact = new Map<string, SecureContext>();
  let wildcard = new Map<string, SecureContext>();
  const index = (): void => {
    const e = new Map<string, SecureContext>();
    const w = new Map<string, SecureContext>();
    // Earlier certificates win a name both carry.
    for (const p of [...allPairs()].reverse()) {
      for (const n of p.names) (n.startsWith('*.') ? w.set(n.slice(2), p.context) : e.set(n, p.context));
    }
    exact = e;
    wildcard = w;
    // Node adds an SNI context's certificate beside the default one instead of replacing it (SSL_use_certificate),
    // so a pair whose key type differs from a server default's can lose to it in the handshake. A listener
    // mixed from the start has no server default (see serverOptions); one that becomes mixed by a reload does.
    const mixed = mixedPair();
    if (mixed && !certless) log.warn({ names: mixed.names, keyType: mixed.keyType }, 'a reloaded certificate has another key type than the listener\'s first: reload the config (SIGHUP) to serve both correctly');
  };
  const mixedPair = (): Pair | undefined => {
    const all = allPairs();
    return all.find((p) => p.keyType !== all[0]!.keyType);
  };
  let certless = false;
  index();

  // Each store removes only its own listeners: `unwatchFile(f)` without one would also stop the watchers of the
  // store that replaced this one on a reload (same files), and renewed certificates would never be picked up.
  const watched: Array<[string, () => void]> = [];
  paths.forEach((p, i) => {
    const reload = (): void => {
      try {
        pairs[i] = load(p.cert, p.key);
        index();
        log.info({ cert: p.cert, names: pairs[i]!.names }, 'certificate reloaded');
      } catch (err) {
        log.error({ cert: p.cert, err: (err as Error).message }, 'certificate reload refused; the previous one stays');
      }
    };
    for (const f of [p.cert, p.key]) {
      watchFile(f, { interval: 1000, persistent: false }, reload);
      watched.push([f, reload]);
    }
  });

  const fallback = (): Pair | undefined => pairs[0] ?? managed;
  return {
    setManaged(cert, key) {
      managed = fromChecked(checkPair(cert, key, { cert: 'ACME certificate', key: 'ACME key' }));
      index();
    },
    sni(servername, cb) {
      const name = servername.toLowerCase();
      const hit = exact.get(name) ?? wildcard.get(name.slice(name.indexOf('.') + 1));
      cb(null, hit ?? fallback()?.context);
    },
    serverOptions() {
      certless = mixedPair() !== undefined;
      const first = certless ? undefined : fallback();
      return {
        ...(first ? { cert: first.cert, key: first.key } : {}), minVersion: cfg.min_version, ciphers: INTERMEDIATE_CIPHERS,
        ...(ca ? { ca } : {}),
        requestCert: cfg.client_auth !== undefined,
        rejectUnauthorized: cfg.client_auth?.required ?? false,
      };
    },
    noSniContext: () => (certless ? fallback()?.context : undefined),
    names: () => allPairs().map((p) => p.names),
    expiry: () => allPairs().map((p) => p.expiry),
    close() { for (const [f, fn] of watched) unwatchFile(f, fn); },
  };
}
