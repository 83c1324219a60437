/**
 * OCSP stapling (RFC 6960, RFC 6066 8): for a certificate whose Authority Information Access names an OCSP
 * responder, the proxy asks the responder itself and staples the answer to handshakes that request it, so
 * clients need not ask (privacy, speed). Answers are cached for an hour; a responder that fails leaves the
 * handshake unstapled, never failed.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'undici';

/** A minimal DER writer: enough for an OCSPRequest. */
function der(tag: number, content: Buffer): Buffer {
  const len = content.length;
  const head = len < 0x80 ? Buffer.from([tag, len]) : len < 0x100 ? Buffer.from([tag, 0x81, len]) : Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([head, content]);
}
const seq = (...parts: Buffer[]): Buffer => der(0x30, Buffer.concat(parts));

/** Reads one DER element at `offset`: its tag, where its content starts and ends. */
function readTlv(buf: Buffer, offset: number): { tag: number; start: number; end: number } {
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[start + i]!;
    start += n;
  }
  return { tag, start, end: start + len };
}

/** The subject Name and the public-key BIT STRING content of a certificate, as DER. */
function subjectAndKey(certDer: Buffer): { subject: Buffer; key: Buffer } {
  const cert = readTlv(certDer, 0);
  const tbs = readTlv(certDer, cert.start);
  let p = tbs.start;
  const fields: { start: number; end: number; tag: number; at: number }[] = [];
  while (p < tbs.end) {
    const f = readTlv(certDer, p);
    fields.push({ ...f, at: p });
    p = f.end;
  }
  // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, …
  const i = fields[0]!.tag === 0xa0 ? 1 : 0;
  const subject = fields[i + 4]!;
  const spki = fields[i + 5]!;
  const alg = readTlv(certDer, spki.start);
  const bits = readTlv(certDer, alg.end);
  return { subject: certDer.subarray(subject.at, subject.end), key: certDer.subarray(bits.start + 1, bits.end) };
}

/** The DER OCSPRequest for `cert` issued by `issuer` (SHA-1 CertID, as responders expect). */
export function ocspRequest(cert: X509Certificate, issuer: X509Certificate): Buffer {
  const { subject, key } = subjectAndKey(issuer.raw);
  const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();
  const sha1Alg = seq(der(0x06, Buffer.from([0x2b, 0x0e, 0x03, 0x02, 0x1a])), Buffer.from([0x05, 0x00]));
  let serial = Buffer.from(cert.serialNumber.length % 2 ? `0${cert.serialNumber}` : cert.serialNumber, 'hex');
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  const certId = seq(sha1Alg, der(0x04, sha1(subject)), der(0x04, sha1(key)), der(0x02, serial));
  return seq(seq(seq(seq(certId))));
}

export function responderUrl(cert: X509Certificate): string | undefined {
  return /OCSP - URI:(\S+)/.exec(cert.infoAccess ?? '')?.[1];
}

export interface Stapler {
  /** For the server's 'OCSPRequest' event. */
  onRequest(certDer: Buffer, issuerDer: Buffer, cb: (err: Error | null, resp?: Buffer) => void): void;
}

export function ocspStapler(ttlMs = 3600_000): Stapler {
  const cache = new Map<string, { resp: Buffer; until: number }>();
  return {
    onRequest(certDer, issuerDer, cb) {
      if (!certDer || !issuerDer) return cb(null);
      const key = createHash('sha256').update(certDer).digest('hex');
      const hit = cache.get(key);
      if (hit && hit.until > Date.now()) return cb(null, hit.resp);
      const cert = new X509Certificate(certDer);
      const url = responderUrl(cert);
      if (!url) return cb(null);
      const body = ocspRequest(cert, new X509Certificate(issuerDer));
      request(url, { method: 'POST', body, headers: { 'content-type': 'application/ocsp-request' }, headersTimeout: 3000, bodyTimeout: 3000 })
        .then(async (res) => {
          const resp = Buffer.from(await res.body.arrayBuffer());
          if (res.statusCode !== 200 || resp.length === 0) return cb(null);
          cache.set(key, { resp, until: Date.now() + ttlMs });
          cb(null, resp);
        }, () => cb(null));
    },
  };
}
