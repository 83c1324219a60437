/** Test certificates made with openssl: a CA, and leaf certificates with the SAN names asked for. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface Ca { dir: string; cert: string; key: string; certPem: string }
export interface Leaf { cert: string; key: string; certPem: string; keyPem: string }

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

export function makeCa(name = 'Gatehouse Test CA'): Ca {
  const dir = tempDir('certs');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], dir);
  return { dir, cert: join(dir, 'ca.pem'), key: join(dir, 'ca-key.pem'), certPem: readFileSync(join(dir, 'ca.pem'), 'utf8') };
}

let serial = 1;
/** A leaf signed by `ca`, for `names` (DNS SANs); `client` makes a client-auth certificate; ECDSA P-256 unless `rsa`. */
export function makeLeaf(ca: Ca, cn: string, names: string[], opts: { client?: boolean; file?: string; ext?: string[]; rsa?: boolean } = {}): Leaf {
  const base = opts.file ?? `leaf-${serial++}`;
  const ext = join(ca.dir, `${base}.ext`);
  writeFileSync(ext, [
    names.length ? `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}` : '',
    `extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}`,
    ...(opts.ext ?? []),
  ].filter(Boolean).join('\n'));
  const keyArgs = opts.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(['req', ...keyArgs, '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${base}-key.pem`, '-out', `${base}.csr`], ca.dir);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${base}.pem`], ca.dir);
  const cert = join(ca.dir, `${base}.pem`);
  const key = join(ca.dir, `${base}-key.pem`);
  return { cert, key, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}
