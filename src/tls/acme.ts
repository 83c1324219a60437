/**
 * Automatic certificates (RFC 8555) with acme-client: an account key and the certificate are kept in
 * `storage` and reused across restarts; a new order starts when no stored certificate is valid for more than
 * a third of its lifetime, and renewal is scheduled at that point (with jitter, and backoff after a failure).
 * While the first order is pending, a self-signed certificate for the names is served. http-01 challenges are
 * answered from `challenges`, which the tls plugin serves on every listener; tls-alpn-01 challenges from
 * `alpnChallenges` (one certificate per name), which every TLS listener answers (client-hello-intercept.ts). acme-client and @peculiar/x509
 * are loaded only when a listener uses ACME (they weigh some 20 MB of memory).
 */
import { performance } from 'node:perf_hooks';
import { webcrypto, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { durationText } from '../core/progress.js';
import type { CertStore } from './certs.js';
import type { TlsConfig } from './schema.js';

type AcmeConfig = NonNullable<TlsConfig['acme']>;

export interface AcmeManager {
  /** Resolves once a certificate is installed (the stored one, or the self-signed stand-in). */
  ready: Promise<void>;
  /** Lets the first order start (called once the listeners that answer challenges are bound). */
  begin(): void;
  /** Orders a certificate now (also what the renewal timer calls). */
  renew(): Promise<void>;
  close(): void;
}

type AcmeModule = typeof import('acme-client');
async function loadAcme(): Promise<AcmeModule> {
  const m = await import('acme-client');
  return ((m as { default?: AcmeModule }).default ?? m) as AcmeModule;
}

async function selfSigned(names: string[]): Promise<{ cert: string; key: string }> {
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Date.now().toString(16), name: `CN=${names[0] ?? 'gatehouse'}`, notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 7 * 86_400_000), keys: keys as CryptoKeyPair, signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: 'dns' as const, value: n })))],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', (keys as CryptoKeyPair).privateKey)).toString('base64');
  return { cert: cert.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n` };
}

/** When a certificate should be renewed: a third of its lifetime before it expires. */
function renewAt(certPem: string): number {
  const c = new X509Certificate(certPem);
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  return to - (to - from) / 3;
}

export function createAcme(opts: { cfg: AcmeConfig; names: string[]; baseDir: string; log: Logger; store: CertStore; challenges: Map<string, string>; alpnChallenges: Map<string, SecureContext> }): AcmeManager {
  const { cfg, names, log, store, challenges, alpnChallenges } = opts;
  const dir = isAbsolute(cfg.storage) ? cfg.storage : resolve(opts.baseDir, cfg.storage);
  const certDir = join(dir, names[0] ?? 'default');
  mkdirSync(certDir, { recursive: true });
  const caPem = cfg.ca ? readFileSync(isAbsolute(cfg.ca) ? cfg.ca : resolve(opts.baseDir, cfg.ca), 'utf8') : undefined;
  const acmeReady = loadAcme().then((acme) => {
    // acme-client talks through its own axios instance; a test directory (pebble) needs its CA trusted.
    if (caPem) (acme as unknown as { axios: { defaults: { httpsAgent?: Agent } } }).axios.defaults.httpsAgent = new Agent({ ca: caPem });
    return acme;
  });
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let failures = 0;

  const schedule = (at: number): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    const jitter = Math.random() * Math.min(3600_000, Math.max(0, at - Date.now()) * 0.05);
    timer = setTimeout(() => void renew(), Math.max(1000, Math.min(at - Date.now() + jitter, 2 ** 31 - 1)));
    timer.unref();
  };

  async function accountKey(acme: AcmeModule): Promise<Buffer> {
    const file = join(dir, 'account.pem');
    try {
      return readFileSync(file);
    } catch {
      const key = await acme.crypto.createPrivateKey();
      writeFileSync(file, key, { mode: 0o600 });
      return key;
    }
  }

  /** Progress lines of an order (`acme: order for a.example (2 names): …`): it may take a while at start. */
  const order = `acme: order for ${names[0]}${names.length > 1 ? ` (${names.length} names)` : ''}`;

  async function renew(): Promise<void> {
    const started = performance.now();
    let created = 0;
    let settled = 0;
    try {
      log.info({ names }, `${order}: placing the order with ${cfg.directory}`);
      const acme = await acmeReady;
      const client = new acme.Client({ directoryUrl: cfg.directory, accountKey: await accountKey(acme) });
      // ECDSA P-256, like the stand-in: Node adds an SNI context's certificate beside the default one rather
      // than replacing it, so a key type that differs from the default's could lose to it in the handshake.
      const [key, csr] = await acme.crypto.createCsr({ commonName: names[0]!, altNames: names }, await acme.crypto.createPrivateEcdsaKey('P-256'));
      const cert = await client.auto({
        csr, email: cfg.email, termsOfServiceAgreed: true, challengePriority: [cfg.challenge], skipChallengeVerification: true,
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          log.info({ names, name: authz.identifier.value }, `${order}: answering the ${challenge.type} challenge for ${authz.identifier.value} (authorization ${++created}/${names.length})`);
          if ((challenge.type as string) === 'tls-alpn-01') {
            const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
            alpnChallenges.set(authz.identifier.value.toLowerCase(), createSecureContext({ key: alpnKey, cert: alpnCert, minVersion: 'TLSv1.2' }));
          } else {
            challenges.set(challenge.token, keyAuthorization);
          }
        },
        challengeRemoveFn: async (authz, challenge) => {
          // Called once the CA has checked the challenge (valid or not: a failure fails the order below).
          log.info({ names, name: authz.identifier.value }, `${order}: authorizations ${++settled}/${names.length} checked by the CA`);
          if ((challenge.type as string) === 'tls-alpn-01') alpnChallenges.delete(authz.identifier.value.toLowerCase());
          else challenges.delete(challenge.token);
        },
      });
      store.setManaged(cert, key.toString());
      writeFileSync(join(certDir, 'cert.pem'), cert);
      writeFileSync(join(certDir, 'key.pem'), key, { mode: 0o600 });
      failures = 0;
      log.info({ names, durationMs: Math.round(performance.now() - started) }, `certificate obtained (${order.slice('acme: '.length)}, in ${durationText(performance.now() - started)})`);
      schedule(renewAt(cert));
    } catch (err) {
      failures++;
      const backoff = Math.min(3600_000, 60_000 * 2 ** (failures - 1));
      log.error({ names, err: (err as Error).message, retryInMs: backoff, durationMs: Math.round(performance.now() - started) }, 'certificate order failed');
      schedule(Date.now() + backoff);
      throw err;
    }
  }

  // Start: a stored certificate still good for more than a third of its life is reused; otherwise a
  // self-signed stand-in serves while the first order runs.
  let installed!: () => void;
  const ready = new Promise<void>((r) => { installed = r; });
  let begin!: () => void;
  const begun = new Promise<void>((r) => { begin = r; });
  void (async () => {
    try {
      const cert = readFileSync(join(certDir, 'cert.pem'), 'utf8');
      const key = readFileSync(join(certDir, 'key.pem'), 'utf8');
      if (renewAt(cert) > Date.now()) {
        store.setManaged(cert, key);
        installed();
        log.info({ names }, 'stored certificate reused');
        await begun;
        return schedule(renewAt(cert));
      }
    } catch { /* none stored yet */ }
    const stand = await selfSigned(names);
    store.setManaged(stand.cert, stand.key);
    installed();
    await begun;
    await renew().catch(() => undefined);
  })().catch((err: unknown) => {
    installed();
    log.error({ names, err: (err as Error).message }, 'ACME start failed');
  });

  return {
    ready,
    begin,
    renew,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}
