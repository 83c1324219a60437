/**
 * Reading and checking the PEM files a config names (certificates, keys, CA bundles), with the words a user
 * needs: which file, and what is wrong with it (missing, not PEM, a key where a certificate belongs, a key
 * that is not the certificate's). One code path for a listener that loads them and `gatehouse validate`.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';

/** A problem with one file, by the config key that names it (`cert`, `key` or `ca`). */
export interface PemProblem { key: 'cert' | 'key' | 'ca'; message: string }

/** A TLS file or pair that cannot be used; `problems` says which file and why. */
export class TlsConfigError extends Error {
  constructor(readonly problems: readonly PemProblem[]) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'TlsConfigError';
  }
}

export interface CheckedPair { cert: string; key: string; x509: X509Certificate }

const REASONS: Record<string, string> = { ENOENT: 'file not found', EACCES: 'permission denied', EISDIR: 'is a directory' };
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const CERTIFICATE = '-----BEGIN CERTIFICATE-----';

/** The file's text, or the reason it cannot be read. */
function read(path: string, what: string): { text: string } | { problem: string } {
  try {
    return { text: readFileSync(path, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: `cannot read ${what} file ${path}: ${(code && REASONS[code]) ?? code ?? (err as Error).message}` };
  }
}

/** OpenSSL's reason without its error-code prefix ("error:1E08010C:DECODER routines::unsupported" → "unsupported"). */
const reason = (err: unknown): string => (err as Error).message.replace(/^error:[0-9A-F]+:[^:]*::?/, '');

function parseCertificate(pem: string, where: string): X509Certificate | string {
  if (!pem.includes(CERTIFICATE)) {
    return PRIVATE_KEY.test(pem)
      ? `${where} holds a private key, not a certificate: are cert and key swapped?`
      : `${where} is not a PEM certificate (no ${CERTIFICATE} line)`;
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    return `${where}: the certificate cannot be parsed (${reason(err)})`;
  }
}

function parsePrivateKey(pem: string, where: string): KeyObject | string {
  if (!PRIVATE_KEY.test(pem)) {
    return pem.includes(CERTIFICATE)
      ? `${where} holds a certificate, not a private key: are cert and key swapped?`
      : `${where} is not a PEM private key (no -----BEGIN PRIVATE KEY----- line)`;
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MISSING_PASSPHRASE') return `${where} is encrypted: give the key without a passphrase`;
    return `${where}: the private key cannot be parsed (${reason(err)})`;
  }
}

/**
 * Checks a certificate chain and its key as a TLS server would load them; every problem at once.
 * `where` names them in messages ("certificate file /etc/…", "ACME certificate").
 */
export function checkPair(cert: string, key: string, where: { cert: string; key: string }): CheckedPair {
  const x509 = parseCertificate(cert, where.cert);
  const privateKey = parsePrivateKey(key, where.key);
  const problems: PemProblem[] = [];
  if (typeof x509 === 'string') problems.push({ key: 'cert', message: x509 });
  if (typeof privateKey === 'string') problems.push({ key: 'key', message: privateKey });
  if (problems.length) throw new TlsConfigError(problems);
  const pair = { cert, key, x509: x509 as X509Certificate };
  if (!pair.x509.checkPrivateKey(privateKey as KeyObject)) {
    throw new TlsConfigError([{ key: 'key', message: `${where.key} does not belong to ${where.cert} (their public keys differ)` }]);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new TlsConfigError([{ key: 'cert', message: `${where.cert}: OpenSSL refuses the pair (${reason(err)})` }]);
  }
  return pair;
}

/** Reads a certificate file and its key file (paths already resolved) and checks them as a pair. */
export function readPair(certPath: string, keyPath: string): CheckedPair {
  const cert = read(certPath, 'certificate');
  const key = read(keyPath, 'key');
  const problems: PemProblem[] = [];
  if ('problem' in cert) problems.push({ key: 'cert', message: cert.problem });
  if ('problem' in key) problems.push({ key: 'key', message: key.problem });
  if ('problem' in cert || 'problem' in key) throw new TlsConfigError(problems);
  return checkPair(cert.text, key.text, { cert: `certificate file ${certPath}`, key: `key file ${keyPath}` });
}

/** Reads a bundle of CA certificates (a path already resolved). */
export function readCaBundle(path: string): string {
  const ca = read(path, 'CA bundle');
  if ('problem' in ca) throw new TlsConfigError([{ key: 'ca', message: ca.problem }]);
  const first = parseCertificate(ca.text, `CA bundle ${path}`);
  if (typeof first === 'string') throw new TlsConfigError([{ key: 'ca', message: first }]);
  return ca.text;
}

/**
 * The problems of the files a config names (`cert` and `key` as a pair when both are given, `ca` as a
 * bundle), without throwing: what `gatehouse validate` reports before anything runs.
 */
export function pemFileProblems(files: { cert?: string | undefined; key?: string | undefined; ca?: string | undefined }): PemProblem[] {
  const problems: PemProblem[] = [];
  const collect = (fn: () => unknown): void => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof TlsConfigError)) throw err;
      problems.push(...err.problems);
    }
  };
  if (files.cert !== undefined && files.key !== undefined) collect(() => readPair(files.cert!, files.key!));
  if (files.ca !== undefined) collect(() => readCaBundle(files.ca!));
  return problems;
}
