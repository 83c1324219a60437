import { copyFileSync } from 'node:fs';
import { test } from 'node:test';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { waitFor } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

function peerCert(port: number, servername: string, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername, ca }, () => {
      const c = s.getPeerCertificate();
      s.destroy();
      resolve(c);
    });
    s.on('error', reject);
  });
}

test('TLS: a certificate renewed on disk after a config reload is still picked up (the old store keeps no hold on the new one\'s watchers)', async (t) => {
  const ca = makeCa();
  const a = makeLeaf(ca, 'a.test', ['a.test'], { file: 'reload-a' });
  const config = {
    listeners: [{ name: 'secure', address: '127.0.0.1:0', tls: { certificates: [{ cert: a.cert, key: a.key }] } }],
    routes: [{ match: {}, respond: { body: 'ok' } }],
    access_log: { enabled: false }, overload: false as const,
  };
  const { gh } = await startProxy(t, config);
  const port = Number(new URL(gh.url('secure')).port);
  const first = await peerCert(port, 'a.test', ca.certPem);
  await gh.reload(config);
  await gh.reload(config);
  const renewed = makeLeaf(ca, 'a.test', ['a.test'], { file: 'reload-a-renewed' });
  copyFileSync(renewed.key, a.key);
  copyFileSync(renewed.cert, a.cert);
  await waitFor(async () => (await peerCert(port, 'a.test', ca.certPem)).serialNumber !== first.serialNumber, 8000, 'the renewed certificate after a reload');
});
