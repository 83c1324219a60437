/** mTLS `forward_headers`: the X-Client-Cert-* headers a server gets say only what the proxy verified. */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { test } from 'node:test';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { send } from './helpers/client.js';
import { startOrigin } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

const FORGED = { 'x-client-cert-subject': 'CN=admin', 'x-client-cert-fingerprint': 'ab'.repeat(32) };

function httpsGet(url: string, opts: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent: false, headers: FORGED, ...opts }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

test('mTLS: a client cannot forge X-Client-Cert-Subject/-Fingerprint, without a certificate (required: false) or on another listener', async (t) => {
  const ca = makeCa();
  const server = makeLeaf(ca, 'a.test', ['a.test'], { file: 'forge-server' });
  const clientCa = makeCa('Client CA');
  const client = makeLeaf(clientCa, 'client-1', [], { client: true, file: 'forge-client' });
  const origin = await startOrigin(t, (req, res) => res.end(JSON.stringify([req.headers['x-client-cert-subject'] ?? null, req.headers['x-client-cert-fingerprint'] ?? null])));
  const proxy = await startProxy(t, {
    listeners: [
      { name: 'secure', address: '127.0.0.1:0', tls: { certificates: [{ cert: server.cert, key: server.key }], client_auth: { ca: clientCa.cert, required: false, forward_headers: true } } },
      { name: 'plain', address: '127.0.0.1:0' },
    ],
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: {}, proxy: { upstream: 'app' } }],
    access_log: { enabled: false },
  });
  const secure = `https://127.0.0.1:${new URL(proxy.gh.url('secure')).port}/`;
  const tlsOpts = { ca: ca.certPem, servername: 'a.test' };
  assert.deepEqual(JSON.parse(await httpsGet(secure, tlsOpts)), [null, null], 'no certificate: the forged headers are dropped');
  const [subject, fingerprint] = JSON.parse(await httpsGet(secure, { ...tlsOpts, cert: client.certPem, key: client.keyPem })) as [string, string];
  assert.equal(subject, 'CN=client-1', 'a verified certificate: its own subject replaces the forged one');
  assert.match(fingerprint, /^[0-9a-f]{64}$/);
  assert.notEqual(fingerprint, FORGED['x-client-cert-fingerprint']);
  const plain = await send(proxy.gh.url('plain'), { headers: FORGED });
  assert.deepEqual(JSON.parse(plain.text), [null, null], 'a listener without client certificates forwards none');
});
