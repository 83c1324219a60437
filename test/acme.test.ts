import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import pino from 'pino';
import { createGatehouse, type Gatehouse, type GatehouseConfigInput } from '../src/index.js';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { freePort, waitFor } from './helpers/origin.js';
import { tempDir } from './helpers/tmp.js';

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

type AcmeInput = NonNullable<NonNullable<GatehouseConfigInput['listeners'][number]['tls']>['acme']>;

interface Pebble {
  rootPem(): Promise<string>;
  log(): string;
  /** The `tls.acme` block of a listener that orders from this pebble. */
  acme(challenge?: 'http-01' | 'tls-alpn-01'): AcmeInput;
}

/** Pebble on loopback; it validates http-01 on `httpPort` and tls-alpn-01 on `tlsPort`. */
async function startPebble(t: TestContext, httpPort: number, tlsPort: number): Promise<Pebble> {
  const dir = tempDir('acme');
  const ca = makeCa('Pebble TLS CA');
  const pebbleTls = makeLeaf(ca, 'localhost', ['localhost']);
  const [acmePort, mgmtPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify({ pebble: {
    listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`,
    certificate: pebbleTls.cert, privateKey: pebbleTls.key, httpPort, tlsPort, ocspResponderURL: '', externalAccountBindingRequired: false,
  } }));
  const pebble = spawn('pebble', ['-config', join(dir, 'pebble.json')], { env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => pebble.kill('SIGKILL'));
  let pebbleLog = '';
  pebble.stdout.on('data', (c: Buffer) => { pebbleLog += c.toString(); });
  pebble.stderr.on('data', (c: Buffer) => { pebbleLog += c.toString(); });
  await waitFor(() => pebbleLog.includes('Listening on'), 10_000, 'pebble to start');
  // Pebble's root signs what it issues; fetched from the management interface.
  const rootPem = (): Promise<string> => new Promise<string>((resolve, reject) => {
    import('node:https').then(({ get }) => get(`https://localhost:${mgmtPort}/roots/0`, { ca: ca.certPem }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => { b += c.toString(); });
      res.on('end', () => resolve(b));
    }).on('error', reject));
  });
  const acme = (challenge: 'http-01' | 'tls-alpn-01' = 'http-01'): AcmeInput => ({
    email: 'ops@example.com', directory: `https://localhost:${acmePort}/dir`, challenge, ca: ca.cert, storage: join(dir, 'acme'),
  });
  return { rootPem, log: () => pebbleLog, acme };
}

/** Gatehouse with these listeners and one route for `localhost`, started, stopped after the test. */
async function startAcmeProxy(t: TestContext, listeners: GatehouseConfigInput['listeners'], logger?: pino.Logger): Promise<Gatehouse> {
  const gh = createGatehouse({
    listeners, access_log: { enabled: false }, overload: false,
    routes: [{ match: { host: 'localhost' }, respond: { body: 'secured\n' } }],
  }, { logger: logger ?? pino({ level: process.env.ACME_DEBUG ? 'debug' : 'silent' }) });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  return gh;
}

test('ACME (RFC 8555) against pebble: obtain a certificate by http-01, verify it with pebble\'s root, renew it without a restart', { timeout: 90_000 }, async (t) => {
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const pebble = await startPebble(t, httpPort, await freePort());
  const messages: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { messages.push((JSON.parse(chunk.toString()) as { msg: string }).msg); cb(); } });
  const gh = await startAcmeProxy(t, [
    { name: 'plain', address: `127.0.0.1:${httpPort}`, redirect_https: true },
    { name: 'secure', address: `127.0.0.1:${httpsPort}`, tls: { acme: pebble.acme() } },
  ], pino({ level: 'info' }, sink));
  // start() resolves once the self-signed stand-in serves: a handshake works at once.
  assert.equal((await peer(httpsPort, undefined)).subject.CN, 'localhost');

  const rootPem = await pebble.rootPem();
  const authorized = async (): Promise<boolean> => { try { return (await peer(httpsPort, rootPem)).authorized; } catch { return false; } };
  await waitFor(authorized, 30_000, 'a certificate from pebble');
  const first = await peer(httpsPort, rootPem);
  assert.equal(first.subjectaltname, 'DNS:localhost');
  // The order's progress is logged: an order may take a while at start.
  const acmeLines = messages.filter((m) => m.startsWith('acme: ') || m.startsWith('certificate obtained'));
  assert.equal(acmeLines[0], `acme: order for localhost: placing the order with ${pebble.acme().directory}`);
  assert.deepEqual(acmeLines.slice(1, 3), [
    'acme: order for localhost: answering the http-01 challenge for localhost (authorization 1/1)',
    'acme: order for localhost: authorizations 1/1 checked by the CA',
  ]);
  assert.match(acmeLines[3]!, /^certificate obtained \(order for localhost, in (\d+ ms|\d+\.\d s)\)$/);

  await gh.renewCertificates();
  await waitFor(async () => (await peer(httpsPort, rootPem)).serialNumber !== first.serialNumber, 10_000, 'the renewed certificate');
  const renewed = await peer(httpsPort, rootPem);
  assert.equal(renewed.authorized, true);
  assert.match(pebble.log(), /Attempting to validate w\/ HTTP/, 'pebble validated the http-01 challenge against the proxy');
});

test('ACME tls-alpn-01 (RFC 8737) against pebble: the TLS listener answers the challenge; other clients are served throughout', { timeout: 90_000 }, async (t) => {
  const httpsPort = await freePort();
  // No plain listener at all: pebble can only validate in the TLS handshake, on the proxy's TLS port.
  const pebble = await startPebble(t, await freePort(), httpsPort);
  const gh = await startAcmeProxy(t, [{ name: 'secure', address: `127.0.0.1:${httpsPort}`, tls: { acme: pebble.acme('tls-alpn-01') } }]);
  const rootPem = await pebble.rootPem();

  // Ordinary HTTPS clients (h2 and http/1.1 by ALPN) keep being served while challenges are answered.
  let served = 0;
  let failed = 0;
  let stop = false;
  const load = (async () => {
    for (let i = 0; i < 2000 && !stop; i++) {
      const res = await httpsGet(httpsPort).catch(() => undefined);
      if (res === 'secured\n') served++; else failed++;
    }
  })();
  const authorized = async (): Promise<boolean> => { try { return (await peer(httpsPort, rootPem)).authorized; } catch { return false; } };
  await waitFor(authorized, 30_000, 'a certificate from pebble');
  await gh.renewCertificates();
  stop = true;
  await load;
  // Nothing listens on pebble's http-01 port: the authorizations were validated in the TLS handshake.
  assert.match(pebble.log(), /set VALID by completed challenge/);
  assert.doesNotMatch(pebble.log(), /Attempting to validate w\/ HTTP/);
  assert.equal((await peer(httpsPort, rootPem)).subjectaltname, 'DNS:localhost');
  assert.ok(served > 0);
  assert.equal(failed, 0);
});

/** One HTTPS request, any certificate accepted (the stand-in, then pebble's). */
function httpsGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    import('node:https').then(({ get }) => get({ host: '127.0.0.1', port, servername: 'localhost', headers: { host: 'localhost' }, rejectUnauthorized: false, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => { b += c.toString(); });
      res.on('end', () => resolve(b));
    }).on('error', reject));
  });
}
