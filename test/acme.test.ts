import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import pino from 'pino';
import { createGatehouse } from '../src/index.js';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { freePort, waitFor } from './helpers/origin.js';

function peer(port: number, ca: string | undefined): Promise<PeerCertificate & { authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ...(ca ? { ca } : {}), rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate(true);
      const authorized = s.authorized;
      s.destroy();
      resolve(Object.assign(c, { authorized }));
    });
    s.on('error', reject);
  });
}

test('ACME (RFC 8555) against pebble: obtain a certificate by http-01, verify it with pebble\'s root, renew it without a restart', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-acme-'));
  const ca = makeCa('Pebble TLS CA');
  const pebbleTls = makeLeaf(ca, 'localhost', ['localhost']);
  const [acmePort, mgmtPort, httpPort, httpsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify({ pebble: {
    listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`,
    certificate: pebbleTls.cert, privateKey: pebbleTls.key, httpPort, tlsPort: await freePort(), ocspResponderURL: '', externalAccountBindingRequired: false,
  } }));
  const pebble = spawn('pebble', ['-config', join(dir, 'pebble.json')], { env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => pebble.kill('SIGKILL'));
  let pebbleLog = '';
  pebble.stdout.on('data', (c: Buffer) => { pebbleLog += c.toString(); });
  pebble.stderr.on('data', (c: Buffer) => { pebbleLog += c.toString(); });
  await waitFor(() => pebbleLog.includes('Listening on'), 10_000, 'pebble to start');

  const gh = createGatehouse({
    listeners: [
      { name: 'plain', address: `127.0.0.1:${httpPort}`, redirect_https: true },
      { name: 'secure', address: `127.0.0.1:${httpsPort}`, tls: { acme: { email: 'ops@example.com', directory: `https://localhost:${acmePort}/dir`, ca: ca.cert, storage: join(dir, 'acme') } } },
    ],
    access_log: { enabled: false },
    overload: false,
    routes: [{ match: { host: 'localhost' }, respond: { body: 'secured\n' } }],
  }, { logger: pino({ level: process.env.ACME_DEBUG ? 'debug' : 'silent' }) });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  // start() resolves once the self-signed stand-in serves: a handshake works at once.
  assert.equal((await peer(httpsPort, undefined)).subject.CN, 'localhost');

  // Pebble's root signs what it issues; fetch it from the management interface.
  const rootPem = await new Promise<string>((resolve, reject) => {
    import('node:https').then(({ get }) => get(`https://localhost:${mgmtPort}/roots/0`, { ca: ca.certPem }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => { b += c.toString(); });
      res.on('end', () => resolve(b));
    }).on('error', reject));
  });
  // Until the self-signed stand-in is installed (a few ms after start) a handshake can fail: keep polling.
  const authorized = async (): Promise<boolean> => { try { return (await peer(httpsPort, rootPem)).authorized; } catch { return false; } };
  await waitFor(authorized, 30_000, 'a certificate from pebble');
  const first = await peer(httpsPort, rootPem);
  assert.equal(first.subjectaltname, 'DNS:localhost');

  await gh.renewCertificates();
  await waitFor(async () => (await peer(httpsPort, rootPem)).serialNumber !== first.serialNumber, 10_000, 'the renewed certificate');
  const renewed = await peer(httpsPort, rootPem);
  assert.equal(renewed.authorized, true);
  assert.match(pebbleLog, /Attempting to validate w\/ HTTP/, 'pebble validated the http-01 challenge against the proxy');
});
