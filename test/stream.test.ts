import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Redis } from 'ioredis';
import pino from 'pino';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { startOrigin, waitFor } from './helpers/origin.js';
import { startProxy, type ProxyConfig } from './helpers/proxy.js';
import { startRedis } from './helpers/redis.js';
import { rawExchange, tcpServer } from './helpers/stream.js';
import { tempDir } from './helpers/tmp.js';
import { createGatehouse, loadConfig, parseConfig, type GatehouseConfigInput } from '../src/index.js';
import { encodeProxyHeader, readProxyHeader } from '../src/stream/index.js';

/** A test config as startProxy completes it (for a reload: the same listener addresses keep their sockets). */
function full(cfg: ProxyConfig): GatehouseConfigInput {
  return { access_log: { enabled: false }, overload: false, ...cfg, listeners: cfg.listeners ?? [] };
}

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

function redisClient(t: TestContext, port: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 5, retryStrategy: (n) => (n > 50 ? null : 50), lazyConnect: true });
  r.on('error', () => {});
  t.after(() => r.disconnect());
  return r;
}

test('stream: a tcp listener proxies redis (SET/GET and pub/sub) with ioredis', async (t) => {
  const redis = await startRedis(t);
  const p = await startProxy(t, {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'redis', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'redis' }],
    upstreams: { redis: { servers: [redis.url], health: { active: { type: 'tcp', interval: '1s' } } } },
  });
  const port = portOf(p.gh.addresses().redis!);
  const r = redisClient(t, port);
  await r.connect();
  assert.equal(await r.set('k', 'v'), 'OK');
  assert.equal(await r.get('k'), 'v');
  const big = 'x'.repeat(2 * 1024 * 1024);
  await r.set('big', big);
  assert.equal((await r.get('big'))?.length, big.length);

  const sub = redisClient(t, port);
  await sub.connect();
  const got = new Promise<string>((resolve) => sub.on('message', (_ch: string, msg: string) => resolve(msg)));
  await sub.subscribe('news');
  await r.publish('news', 'hello');
  assert.equal(await got, 'hello');
});

test('stream: a killed redis backend fails over; the health check marks it down', async (t) => {
  const a = await startRedis(t);
  const b = await startRedis(t);
  const p = await startProxy(t, {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'redis', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'redis' }],
    upstreams: { redis: { servers: [a.url, b.url], health: { active: { type: 'tcp', interval: '100ms', fall: 1 } } } },
  });
  const port = portOf(p.gh.addresses().redis!);
  const r = redisClient(t, port);
  await r.connect();
  const first = Number((await r.info('server')).match(/tcp_port:(\d+)/)![1]);
  const [dead, alive] = first === a.port ? [a, b] : [b, a];
  await dead.kill();
  // ioredis reconnects through the proxy, which connects to the server still up (connect failover).
  assert.equal(await r.set('after', '1'), 'OK');
  assert.equal(Number((await r.info('server')).match(/tcp_port:(\d+)/)![1]), alive.port);
  await waitFor(() => p.gh.upstreams()[0]!.servers.find((s) => s.id === `127.0.0.1:${dead.port}`)?.up === false, 5000, 'server down');
});

test('stream: tls_passthrough routes by SNI (exact, wildcard, default) and the backend certificate reaches the client', async (t) => {
  const ca = makeCa();
  const origins: Record<string, number> = {};
  for (const name of ['a.test', 'b.test']) {
    const leaf = makeLeaf(ca, name, [name, '*.wild.test']);
    const server = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end(`hello from ${name}`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    origins[name] = (server.address() as AddressInfo).port;
  }
  const cfg = (fallback?: string): ProxyConfig => ({
    listeners: [{ name: 'public', address: '127.0.0.1:0' },
      { name: 'passthrough', address: '127.0.0.1:0', protocol: 'tls_passthrough', sni: { 'a.test': 'tls_a', 'b.test': 'tls_b', '*.wild.test': 'tls_b' }, upstream: fallback }],
    upstreams: { tls_a: { servers: [`tcp://127.0.0.1:${origins['a.test']}`] }, tls_b: { servers: [`tcp://127.0.0.1:${origins['b.test']}`] } },
  });
  const p = await startProxy(t, cfg());
  const port = portOf(p.gh.addresses().passthrough!);
  const hello = (servername: string): Promise<{ cn: string; body: string } | 'closed'> => new Promise((resolve) => {
    // The chain is verified; the name is checked below (the default upstream's certificate is not for c.test).
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, servername, ca: ca.certPem, checkServerIdentity: () => undefined });
    let body = '';
    let cn = '';
    s.on('secureConnect', () => { cn = String(s.getPeerCertificate().subject.CN); });
    s.on('data', (d) => { body += d; });
    s.on('error', () => {});
    s.on('close', () => resolve(cn ? { cn, body } : 'closed'));
  });
  assert.deepEqual(await hello('a.test'), { cn: 'a.test', body: 'hello from a.test' });
  assert.deepEqual(await hello('b.test'), { cn: 'b.test', body: 'hello from b.test' });
  assert.deepEqual(await hello('x.wild.test'), { cn: 'b.test', body: 'hello from b.test' });
  assert.equal(await hello('c.test'), 'closed');
  // With a default upstream, an unknown name goes there.
  await p.gh.reload(full(cfg('tls_a')));
  assert.deepEqual(await hello('c.test'), { cn: 'a.test', body: 'hello from a.test' });
});

test('stream: PROXY protocol v1 and v2 on an HTTP listener: the client address feeds IP rules and X-Forwarded-For', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(String(req.headers['x-forwarded-for'])));
  const cfg = (trusted: string): ProxyConfig => ({
    listeners: [{ name: 'public', address: '127.0.0.1:0', proxy_protocol: true }],
    trusted_proxies: [trusted],
    access: { deny: ['203.0.113.66'] },
    upstreams: { app: { servers: [origin.url] } },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  });
  const p = await startProxy(t, cfg('127.0.0.1'));
  const get = Buffer.from('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  const v1 = (ip: string): Buffer => Buffer.from(`PROXY TCP4 ${ip} 127.0.0.1 5555 80\r\n`);
  const v2 = (ip: string): Buffer => encodeProxyHeader('v2', { source: ip, sourcePort: 5555, destination: '127.0.0.1', destinationPort: 80 });
  assert.match(await rawExchange(p.port, v1('198.51.100.7'), get), /200 OK[\s\S]*198\.51\.100\.7$/);
  assert.match(await rawExchange(p.port, v2('198.51.100.8'), get), /200 OK[\s\S]*198\.51\.100\.8$/);
  assert.match(await rawExchange(p.port, Buffer.concat([v2('2001:db8::5'), get])), /200 OK[\s\S]*2001:db8::5$/);
  assert.match(await rawExchange(p.port, v1('203.0.113.66'), get), /^HTTP\/1\.1 403/);
  assert.match(await rawExchange(p.port, v2('203.0.113.66'), get), /^HTTP\/1\.1 403/);
  // Without a header, or with a broken one, the connection is closed unanswered.
  assert.equal(await rawExchange(p.port, get), '');
  // From a peer outside trusted_proxies: refused, header or not.
  await p.gh.reload(full(cfg('10.0.0.0/8')));
  assert.equal(await rawExchange(p.port, v1('198.51.100.7'), get), '');
});

test('stream: PROXY protocol accepted on a tcp listener and sent (v1, v2) to the upstream; connections are logged', async (t) => {
  const seen: string[] = [];
  const origin = await tcpServer(t, (s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const h = readProxyHeader(buf);
      if (!h) return;
      const rest = buf.subarray(h.length).toString();
      if (!rest.endsWith('\n')) return;
      seen.push(`${h.address?.source}:${h.address?.sourcePort}`);
      s.end(`from ${h.address?.source} said ${rest}`);
    });
  });
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => { lines.push(JSON.parse(l) as Record<string, unknown>); } });
  const cfg = (send: 'v1' | 'v2', trusted: string): ProxyConfig => ({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'tcp', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'echo', proxy_protocol: true }],
    trusted_proxies: [trusted],
    upstreams: { echo: { servers: [`tcp://127.0.0.1:${origin.port}`], proxy_protocol: send } },
  });
  const p = await startProxy(t, cfg('v1', '127.0.0.0/8'), { logger });
  const port = portOf(p.gh.addresses().tcp!);
  const v2 = encodeProxyHeader('v2', { source: '192.0.2.10', sourcePort: 4000, destination: '127.0.0.1', destinationPort: port });
  assert.equal(await rawExchange(port, v2, Buffer.from('hi\n')), 'from 192.0.2.10 said hi\n');
  await p.gh.reload(full(cfg('v2', '127.0.0.0/8')));
  assert.equal(await rawExchange(port, Buffer.from('PROXY TCP6 2001:db8::9 ::1 4001 80\r\nyo\n')), 'from 2001:db8::9 said yo\n');
  assert.deepEqual(seen, ['192.0.2.10:4000', '2001:db8::9:4001']);
  await waitFor(() => lines.filter((l) => l.msg === 'stream connection').length >= 2, 2000, 'access lines');
  const line = lines.find((l) => l.msg === 'stream connection')!;
  assert.equal(line.client, '192.0.2.10');
  assert.equal(line.server, `127.0.0.1:${origin.port}`);
  assert.equal(line.bytes_out, 'from 192.0.2.10 said hi\n'.length);
  assert.ok(typeof line.duration_ms === 'number' && typeof line.bytes_in === 'number');
  // Not from a trusted peer: closed at once, nothing reaches the upstream.
  await p.gh.reload(full(cfg('v2', '10.0.0.0/8')));
  assert.equal(await rawExchange(port, v2, Buffer.from('hi\n')), '');
  assert.equal(seen.length, 2);
});

test('stream: a connection that no server takes is closed; connect failure tries another server', async (t) => {
  const ok = await tcpServer(t, (s) => s.end('ok'));
  const dead = await tcpServer(t, () => {});
  const deadPort = dead.port;
  await new Promise<void>((r) => dead.server.close(() => r()));
  const silent = await tcpServer(t, () => {});
  const cfg = (upstream: string, servers: number[]): ProxyConfig => ({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'tcp', address: '127.0.0.1:0', protocol: 'tcp', upstream, idle_timeout: '200ms' }],
    upstreams: { u: { servers: servers.map((n) => `tcp://127.0.0.1:${n}`) }, none: { servers: [`tcp://127.0.0.1:${deadPort}`] } },
  });
  const p = await startProxy(t, cfg('u', [deadPort, ok.port]));
  const port = portOf(p.gh.addresses().tcp!);
  for (let i = 0; i < 4; i++) assert.equal(await rawExchange(port), 'ok');
  // Idle timeout: a silent upstream connection is closed.
  await p.gh.reload(full(cfg('u', [silent.port])));
  const t0 = Date.now();
  assert.equal(await rawExchange(port), '');
  assert.ok(Date.now() - t0 >= 150);
  await p.gh.reload(full(cfg('none', [silent.port])));
  assert.equal(await rawExchange(port, Buffer.from('x')), '');
});

test('stream: config checks: tcp listeners need tcp:// upstreams, HTTP routes cannot use them', () => {
  const base = { listeners: [{ name: 'public', address: '127.0.0.1:0' }] };
  const err = (cfg: object): string => { try { parseConfig(cfg as never); return ''; } catch (e) { return (e as Error).message; } };
  assert.match(err({ ...base, listeners: [...base.listeners, { name: 't', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'web' }], upstreams: { web: { servers: ['http://127.0.0.1:1'] } } }),
    /tcp:\/\/.*listeners\[1\]\.upstream/s);
  assert.match(err({ ...base, listeners: [...base.listeners, { name: 't', address: '127.0.0.1:0', protocol: 'tcp' }] }), /needs `upstream`/);
  assert.match(err({ ...base, upstreams: { r: { servers: ['tcp://127.0.0.1:1'] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'r' } }] }),
    /tcp:\/\/.*routes\[0\]\.proxy\.upstream/s);
  assert.match(err({ ...base, upstreams: { r: { servers: ['tcp://127.0.0.1:1', 'http://127.0.0.1:2'] } } }), /not both/);
  assert.match(err({ listeners: [{ name: 'p', address: '127.0.0.1:0', upstream: 'r' }], upstreams: { r: { servers: ['tcp://127.0.0.1:1'] } } }), /for tcp and tls_passthrough listeners/);
  // The contract shape of #13 is valid as written.
  parseConfig({
    listeners: [{ name: 'public', address: '127.0.0.1:18080' }, { name: 'redis', address: '127.0.0.1:16380', protocol: 'tcp', upstream: 'redis' },
      { name: 'passthrough', address: '127.0.0.1:18444', protocol: 'tls_passthrough', sni: { 'a.test': 'tls_a', 'b.test': 'tls_b' } }],
    upstreams: {
      redis: { servers: ['tcp://127.0.0.1:16379'], health: { active: { type: 'tcp', interval: '1s' } } },
      tls_a: { servers: ['tcp://127.0.0.1:19443'] }, tls_b: { servers: ['tcp://127.0.0.1:19444'] },
    },
    routes: [{ match: { path: '/' }, respond: { status: 200 } }],
  });
});

test('stream: stop waits for open connections up to shutdown.timeout, then closes them', async (t) => {
  const echo = await tcpServer(t, (s) => s.pipe(s));
  const gh = createGatehouse({
    access_log: { enabled: false }, overload: false,
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'tcp', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'u' }],
    upstreams: { u: { servers: [`tcp://127.0.0.1:${echo.port}`] } },
  }, { logger: pino({ level: 'silent' }) });
  await gh.start();
  const s = connect({ host: '127.0.0.1', port: portOf(gh.addresses().tcp!) });
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write('ping');
  await new Promise<void>((r) => s.once('data', () => r()));
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  const t0 = Date.now();
  await gh.stop({ timeoutMs: 300 });
  await closed;
  assert.ok(Date.now() - t0 >= 250, 'waited for the open connection');
});

test('stream: PROXY protocol before TLS on an HTTPS listener: the client address is the header\'s', async (t) => {
  const ca = makeCa();
  const leaf = makeLeaf(ca, 'secure.test', ['secure.test']);
  const p = await startProxy(t, {
    listeners: [{ name: 'secure', address: '127.0.0.1:0', proxy_protocol: true, tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
    trusted_proxies: ['127.0.0.1'],
    access: { deny: ['203.0.113.66'] },
    routes: [{ match: { path: '/' }, respond: { status: 200, body: 'ok' } }],
  });
  const viaTls = (ip: string): Promise<string> => new Promise((resolve) => {
    const raw = connect({ host: '127.0.0.1', port: p.port }, () => {
      raw.write(`PROXY TCP4 ${ip} 127.0.0.1 1234 443\r\n`);
      const s = tlsConnect({ socket: raw, servername: 'secure.test', ca: ca.certPem });
      let out = '';
      s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nhost: secure.test\r\nconnection: close\r\n\r\n'));
      s.on('data', (d) => { out += d; });
      s.on('error', () => {});
      s.on('close', () => resolve(out));
    });
    raw.on('error', () => resolve(''));
  });
  assert.match(await viaTls('198.51.100.1'), /^HTTP\/1\.1 200/);
  assert.match(await viaTls('203.0.113.66'), /^HTTP\/1\.1 403/);
});

test('stream: a drained server takes no new connections; its open ones go on', async (t) => {
  const a = await tcpServer(t, (s) => s.pipe(s));
  const b = await tcpServer(t, (s) => s.pipe(s));
  const p = await startProxy(t, {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'tcp', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'u' }],
    upstreams: { u: { servers: [`tcp://127.0.0.1:${a.port}`, `tcp://127.0.0.1:${b.port}`] } },
  });
  const port = portOf(p.gh.addresses().tcp!);
  const counts = (): number[] => [a, b].map((o) => (o.server as unknown as { _connections: number })._connections);
  const open = connect({ host: '127.0.0.1', port });
  open.on('error', () => {});
  await new Promise<void>((r) => open.once('connect', () => r()));
  await waitFor(() => counts().reduce((x, y) => x + y) === 1, 2000, 'first connection');
  const first = counts()[0] === 1 ? a : b;
  const other = first === a ? b : a;
  p.gh.registry.drainServer('u', `127.0.0.1:${first.port}`);
  for (let i = 0; i < 3; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    t.after(() => s.destroy());
    await new Promise<void>((r) => s.once('connect', () => r()));
  }
  await waitFor(() => (other.server as unknown as { _connections: number })._connections === 3, 2000, 'new connections on the other server');
  // The open connection still works.
  open.write('still here');
  const echoed = await new Promise<string>((r) => open.once('data', (d) => r(String(d))));
  assert.equal(echoed, 'still here');
  open.destroy();
});

test('stream: a tcp listener on an http upstream is an error at its file position', async (t) => {
  const dir = tempDir('stream');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, [
    'listeners:',
    '  - name: public',
    '    address: 127.0.0.1:0',
    '  - name: redis',
    '    address: 127.0.0.1:0',
    '    protocol: tcp',
    '    upstream: web',
    'upstreams:',
    '  web: { servers: [http://127.0.0.1:1] }',
    '',
  ].join('\n'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(loadConfig(file), /gatehouse\.yaml.*upstream "web" must have tcp:\/\/ servers.*listeners\[1\]\.upstream \(line 7, col \d+\)/s);
});

test('stream: PROXY headers are read across several reads; broken ones are refused', () => {
  const v2 = encodeProxyHeader('v2', { source: '192.0.2.1', sourcePort: 1, destination: '192.0.2.2', destinationPort: 2 });
  for (let i = 0; i < v2.length; i++) assert.equal(readProxyHeader(v2.subarray(0, i)), undefined);
  assert.deepEqual(readProxyHeader(Buffer.concat([v2, Buffer.from('GET')])), { length: v2.length, address: { source: '192.0.2.1', sourcePort: 1, destination: '192.0.2.2', destinationPort: 2 } });
  const v1 = Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n');
  for (let i = 0; i < v1.length; i++) assert.equal(readProxyHeader(v1.subarray(0, i)), undefined);
  assert.equal(readProxyHeader(v1)?.address?.source, '192.0.2.1');
  assert.equal(readProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))?.address, undefined);
  assert.equal(readProxyHeader(Buffer.from('PROXY TCP4 999.0.2.1 192.0.2.2 1 2\r\n')), null);
  assert.equal(readProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), null);
  assert.equal(readProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), null);
  const v6 = encodeProxyHeader('v2', { source: '::ffff:192.0.2.1', sourcePort: 1, destination: '2001:db8::2', destinationPort: 2 });
  assert.equal(readProxyHeader(v6)?.address?.destination, '2001:db8::2');
});

test('stream: a ClientHello that arrives a few bytes at a time is still routed by its SNI', async (t) => {
  const ca = makeCa();
  const leaf = makeLeaf(ca, 'slow.test', ['slow.test']);
  const server = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end('slow ok'));
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const p = await startProxy(t, {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'pt', address: '127.0.0.1:0', protocol: 'tls_passthrough', sni: { 'slow.test': 'slow' } }],
    upstreams: { slow: { servers: [`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`] } },
  });
  const port = portOf(p.gh.addresses().pt!);
  // A real ClientHello, captured from node:tls, then sent to the proxy 7 bytes at a time, 2 ms apart.
  const helloFor = async (servername: string): Promise<Buffer> => {
    let got!: (b: Buffer) => void;
    const hello = new Promise<Buffer>((r) => { got = r; });
    const capture = await tcpServer(t, (s) => s.once('data', (d: Buffer) => { got(d); s.destroy(); }));
    const client = tlsConnect({ host: '127.0.0.1', port: capture.port, servername, ca: ca.certPem });
    client.on('error', () => {});
    return hello.finally(() => client.destroy());
  };
  const trickle = (hello: Buffer): Promise<Buffer> => new Promise((resolve) => {
    const raw = connect({ host: '127.0.0.1', port, noDelay: true });
    const chunks: Buffer[] = [];
    raw.on('data', (d: Buffer) => { chunks.push(d); raw.destroy(); });
    raw.on('error', () => {});
    raw.on('close', () => resolve(Buffer.concat(chunks)));
    raw.on('connect', async () => {
      for (let i = 0; i < hello.length; i += 7) {
        raw.write(hello.subarray(i, i + 7));
        await new Promise((r) => setTimeout(r, 2));
      }
    });
  });
  const answer = await trickle(await helloFor('slow.test'));
  assert.equal(answer[0], 22, 'a TLS handshake record (ServerHello) from the backend');
  assert.equal((await trickle(await helloFor('other.test'))).length, 0, 'no match: closed');
});

test('stream: connection caps (limits.connections_per_client) apply to tcp listeners', async (t) => {
  const echo = await tcpServer(t, (s) => s.pipe(s));
  const p = await startProxy(t, {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }, { name: 'tcp', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'u' }],
    limits: { connections_per_client: 1 },
    upstreams: { u: { servers: [`tcp://127.0.0.1:${echo.port}`] } },
  });
  const port = portOf(p.gh.addresses().tcp!);
  const first = connect({ host: '127.0.0.1', port });
  first.on('error', () => {});
  t.after(() => first.destroy());
  first.write('one');
  assert.equal(await new Promise<string>((r) => first.once('data', (d) => r(String(d)))), 'one');
  assert.equal(await rawExchange(port, Buffer.from('two')), '');
});

test('stream: access rules on a tcp listener close refused clients before any byte reaches the upstream', async (t) => {
  let seen = 0;
  const echo = await tcpServer(t, (s) => { seen++; s.on('data', (d) => s.end(d)); });
  const make = (access: Record<string, unknown>): ProxyConfig => ({
    listeners: [{ name: 'tcp', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'echo', access }],
    upstreams: { echo: { servers: [`tcp://127.0.0.1:${echo.port}`] } },
  });
  const open = await startProxy(t, make({ allow: ['127.0.0.0/8'] }));
  assert.equal(await rawExchange(open.port, Buffer.from('hello')), 'hello');
  const shut = await startProxy(t, make({ deny: ['127.0.0.1'] }));
  assert.equal(await rawExchange(shut.port, Buffer.from('hello')), '');
  const other = await startProxy(t, make({ allow: ['10.0.0.0/8'] }));
  assert.equal(await rawExchange(other.port, Buffer.from('hello')), '');
  assert.equal(seen, 1);
});

test('stream: listener access rules are refused on http listeners and must be IP or CIDR', () => {
  assert.throws(() => parseConfig({
    listeners: [{ name: 'web', address: '127.0.0.1:0', access: { allow: ['127.0.0.1'] } }],
  } as GatehouseConfigInput), /access is for tcp and tls_passthrough listeners/);
  assert.throws(() => parseConfig({
    listeners: [{ name: 'tcp', address: '127.0.0.1:0', protocol: 'tcp', upstream: 'u', access: { deny: ['nope'] } }],
    upstreams: { u: { servers: ['tcp://127.0.0.1:1'] } },
  } as GatehouseConfigInput), /"nope" is not an IP address or CIDR/);
});
