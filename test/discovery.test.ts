import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { discoverySchema, startDiscovery, type DiscoveredServer } from '../src/discovery/index.js';
import { configSchema } from '../src/index.js';
import { startDnsServer } from './helpers/dns-server.js';
import { tempDir } from './helpers/tmp.js';

/** Starts a provider and records what it reports and logs; closed when the test ends. */
function watch(t: TestContext, raw: Record<string, unknown>, baseDir?: string) {
  const seen = { lists: [] as DiscoveredServer[][], warns: [] as object[] };
  const log = { info: () => {}, warn: (obj: object) => void seen.warns.push(obj) };
  const handle = startDiscovery(discoverySchema.parse(raw), { onServers: (s) => void seen.lists.push(s), log, ...(baseDir ? { baseDir } : {}) });
  t.after(() => handle.close());
  return { ...seen, latest: () => seen.lists.at(-1), urls: () => seen.lists.at(-1)?.map((s) => s.url) };
}

/** Polls `cond` until it holds, failing after `ms` (no fixed sleeps). */
async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const FAST = { min_ttl: '100ms', max_ttl: '2s', timeout: '200ms' };

test('discovery: dns reports one server per A and AAAA address on the port, and a changed answer after the TTL', async (t) => {
  const dns = await startDnsServer(t);
  dns.set('users.internal', [
    { type: 'A', address: '127.0.0.2', ttl: 1 },
    { type: 'A', address: '127.0.0.1', ttl: 1 },
    { type: 'AAAA', address: '::1', ttl: 1 },
  ]);
  const d = watch(t, { dns: 'users.internal', port: 19003, resolver: dns.address, ...FAST });
  await until('the first answer', () => d.lists.length === 1);
  assert.deepEqual(d.latest(), [
    { url: 'http://127.0.0.1:19003', weight: 1, backup: false },
    { url: 'http://127.0.0.2:19003', weight: 1, backup: false },
    { url: 'http://[::1]:19003', weight: 1, backup: false },
  ]);
  dns.set('users.internal', [{ type: 'A', address: '127.0.0.3', ttl: 1 }]);
  await until('the changed answer', () => d.lists.length === 2);
  assert.deepEqual(d.urls(), ['http://127.0.0.3:19003']);
  assert.ok(dns.queries.includes('A users.internal') && dns.queries.includes('AAAA users.internal'));
});

test('discovery: dns keeps the last good answer on SERVFAIL and on silence, and takes the next good one', async (t) => {
  const dns = await startDnsServer(t);
  dns.set('users.internal', [{ type: 'A', address: '127.0.0.1', ttl: 1 }]);
  const d = watch(t, { dns: 'users.internal', port: 8443, scheme: 'https', resolver: dns.address, ...FAST });
  await until('the first answer', () => d.lists.length === 1);
  assert.deepEqual(d.urls(), ['https://127.0.0.1:8443']);
  dns.mode = 'servfail';
  await until('a failed lookup', () => d.warns.length >= 1);
  assert.equal((d.warns[0] as { code?: string }).code, 'ESERVFAIL');
  dns.mode = 'silent';
  const failed = d.warns.length;
  await until('a lookup that times out', () => d.warns.length > failed);
  assert.equal((d.warns.at(-1) as { code?: string }).code, 'ETIMEOUT');
  assert.equal(d.lists.length, 1, 'a failed lookup reports nothing: the last good answer stays');
  assert.ok(d.warns.every((w) => (w as { kept?: boolean }).kept === true));
  dns.set('users.internal', [{ type: 'A', address: '127.0.0.4', ttl: 1 }]);
  dns.mode = 'answer';
  await until('the answer after the outage', () => d.lists.length === 2);
  assert.deepEqual(d.urls(), ['https://127.0.0.4:8443']);
});

test('discovery: an unknown name is a failed lookup, reported once it exists', async (t) => {
  const dns = await startDnsServer(t);
  const d = watch(t, { dns: 'late.internal', port: 80, resolver: dns.address, ...FAST });
  await until('a failed lookup', () => d.warns.length >= 1);
  assert.equal((d.warns[0] as { code?: string }).code, 'ENOTFOUND');
  assert.equal(d.lists.length, 0);
  dns.set('late.internal', [{ type: 'AAAA', address: 'fd00::1', ttl: 1 }]);
  await until('the answer', () => d.lists.length === 1);
  assert.deepEqual(d.urls(), ['http://[fd00::1]:80']);
});

test('discovery: srv targets resolve to addresses on the records\' ports; the lowest priority is primary, others backup; weights kept', async (t) => {
  const dns = await startDnsServer(t);
  const name = '_http._tcp.billing.internal';
  dns.set(name, [
    { type: 'SRV', priority: 10, weight: 3, port: 19004, target: 'b1.internal', ttl: 1 },
    { type: 'SRV', priority: 10, weight: 1, port: 19005, target: 'b2.internal', ttl: 1 },
    { type: 'SRV', priority: 20, weight: 0, port: 19006, target: 'b3.internal', ttl: 1 },
  ]);
  dns.set('b1.internal', [{ type: 'A', address: '127.0.0.1', ttl: 1 }]);
  dns.set('b2.internal', [{ type: 'A', address: '127.0.0.2', ttl: 1 }, { type: 'AAAA', address: '::1', ttl: 1 }]);
  dns.set('b3.internal', [{ type: 'A', address: '127.0.0.3', ttl: 1 }]);
  const d = watch(t, { srv: name, resolver: dns.address, ...FAST });
  await until('the first answer', () => d.lists.length === 1);
  assert.deepEqual(d.latest(), [
    { url: 'http://127.0.0.1:19004', weight: 3, backup: false },
    { url: 'http://127.0.0.2:19005', weight: 1, backup: false },
    { url: 'http://127.0.0.3:19006', weight: 1, backup: true },
    { url: 'http://[::1]:19005', weight: 1, backup: false },
  ]);
  // b1 leaves; b3 becomes the only primary.
  dns.set(name, [{ type: 'SRV', priority: 5, weight: 7, port: 19006, target: 'b3.internal', ttl: 1 }]);
  await until('the changed answer', () => d.lists.length === 2);
  assert.deepEqual(d.latest(), [{ url: 'http://127.0.0.3:19006', weight: 7, backup: false }]);
  dns.mode = 'servfail';
  await until('a failed lookup', () => d.warns.length >= 1);
  assert.equal(d.lists.length, 2, 'the last good answer stays');
});

test('discovery: a file of servers is read, re-read when rewritten, and a broken file keeps the last good list', async (t) => {
  const dir = tempDir('discovery');
  const file = join(dir, 'servers.json');
  writeFileSync(file, JSON.stringify(['http://127.0.0.1:19001', { url: 'http://127.0.0.1:19002', weight: 5, backup: true }]));
  const d = watch(t, { file: 'servers.json', debounce: '50ms' }, dir);
  await until('the first list', () => d.lists.length === 1);
  assert.deepEqual(d.latest(), [
    { url: 'http://127.0.0.1:19001', weight: 1, backup: false },
    { url: 'http://127.0.0.1:19002', weight: 5, backup: true },
  ]);
  writeFileSync(file, JSON.stringify(['http://127.0.0.1:19003']));
  await until('the rewritten list', () => d.lists.length === 2);
  assert.deepEqual(d.urls(), ['http://127.0.0.1:19003']);
  writeFileSync(file, '["http://127.0.0.1:19004", ');
  await until('the broken file logged', () => d.warns.length >= 1);
  writeFileSync(file, JSON.stringify([{ url: 'ftp://x' }]));
  await until('the invalid file logged', () => d.warns.length >= 2);
  assert.equal(d.lists.length, 2, 'a bad file reports nothing: the last good list stays');
  // Published the safe way: written beside, renamed over.
  writeFileSync(join(dir, 'next.tmp'), JSON.stringify(['http://127.0.0.1:19005/']));
  renameSync(join(dir, 'next.tmp'), file);
  await until('the renamed-in list', () => d.lists.length === 3);
  assert.deepEqual(d.urls(), ['http://127.0.0.1:19005']);
});

test('discovery: the contract config validates: servers may be left out when discovery finds them', () => {
  const cfg = parseConfigText(configSchema, `listeners:
  - name: public
    address: 127.0.0.1:18080
upstreams:
  app:
    servers: [http://127.0.0.1:19001]
  users:
    discovery: { dns: users.internal, port: 19003, resolver: 127.0.0.1:15353 }
  billing:
    discovery: { srv: _http._tcp.billing.internal, resolver: 127.0.0.1:15353 }
routes:
  - match: { path: / }
    proxy: { upstream: app }
`);
  const users = cfg.upstreams.users!;
  assert.deepEqual(users.servers, []);
  assert.deepEqual(users.discovery, {
    dns: 'users.internal', port: 19003, resolver: '127.0.0.1:15353', scheme: 'http', min_ttl: 1000, max_ttl: 300_000, timeout: 2000, debounce: 200,
  });
  assert.equal(cfg.upstreams.billing!.discovery!.srv, '_http._tcp.billing.internal');
});

test('discovery: config errors: neither servers nor discovery, two sources, dns without a port, min_ttl over max_ttl, a resolver by name', () => {
  const r = configSchema.safeParse({
    listeners: [{ name: 'p', address: '127.0.0.1:1' }],
    upstreams: {
      none: {},
      two: { discovery: { dns: 'a.internal', port: 1, file: 'x.json' } },
      noport: { discovery: { dns: 'a.internal' } },
      ttl: { discovery: { srv: '_x._tcp.a', min_ttl: '10m', max_ttl: '1m' } },
      both: { servers: ['http://127.0.0.1:1'], discovery: { file: 'more.json' } },
      host: { discovery: { srv: '_x._tcp.a', resolver: 'dns.internal:53' } },
    },
  });
  assert.ok(!r.success);
  assert.deepEqual(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).sort(), [
    'upstreams.host.discovery.resolver: a DNS server address: IP or IP:port, e.g. 127.0.0.1:53 or [::1]:53',
    'upstreams.none: an upstream needs servers or discovery',
    'upstreams.noport.discovery.port: dns needs a port',
    'upstreams.ttl.discovery.min_ttl: min_ttl is longer than max_ttl',
    'upstreams.two.discovery: discovery takes one source, found dns and file',
  ]);
});

test('discovery: a TTL longer than max_ttl is re-resolved at max_ttl; after close() nothing is reported', async (t) => {
  const dns = await startDnsServer(t);
  dns.set('long.internal', [{ type: 'A', address: '127.0.0.1', ttl: 3600 }]);
  const d = watch(t, { dns: 'long.internal', port: 80, resolver: dns.address, min_ttl: '100ms', max_ttl: '300ms' });
  await until('the first answer', () => d.lists.length === 1);
  dns.set('long.internal', [{ type: 'A', address: '127.0.0.2', ttl: 3600 }]);
  await until('the changed answer, well before its hour-long TTL', () => d.lists.length === 2);
  assert.deepEqual(d.urls(), ['http://127.0.0.2:80']);

  const lists: DiscoveredServer[][] = [];
  const handle = startDiscovery(discoverySchema.parse({ dns: 'long.internal', port: 81, resolver: dns.address, min_ttl: '100ms', max_ttl: '100ms' }), {
    onServers: (s) => void lists.push(s), log: { info() {}, warn() {} },
  });
  await until('the other provider\'s answer', () => lists.length === 1);
  handle.close();
  handle.close();
  const asked = dns.queries.length;
  dns.set('long.internal', [{ type: 'A', address: '127.0.0.3', ttl: 1 }]);
  await until('the first provider to see the change', () => d.lists.length === 3);
  assert.equal(lists.length, 1, 'a closed provider reports nothing');
  assert.ok(dns.queries.length > asked);
});
