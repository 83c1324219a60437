/**
 * Redis Sentinel for `state:` (`sentinels`, `sentinel_name`, `sentinel_password_env`): the config's checks,
 * the client's options, and instances sharing one rate limit through a master that a real Redis Sentinel
 * names, also across a failover (real redis-server processes: master, replica, sentinel).
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import { configWarnings } from '../src/check.js';
import { redisClient, redisOptions } from '../src/cluster/index.js';
import { followSwitches } from '../src/cluster/sentinel-watch.js';
import { parseConfigText } from '../src/config/load.js';
import { ConfigError, configSchema } from '../src/index.js';
import { send } from './helpers/client.js';
import { freePort, startOrigin, waitFor, type Origin } from './helpers/origin.js';
import { startProxy, type StartedProxy, statuses } from './helpers/proxy.js';
import { startRedis, startSentinel, type RedisServer } from './helpers/redis.js';

const PASSWORD = 'master-secret';
const SENTINEL_PASSWORD = 'sentinel-secret';
const PASSWORD_ENV = 'GH_TEST_SENTINEL_PASSWORD';
const silent = pino({ level: 'silent' });

/** The config errors of a `state:` block (written as YAML lines under `state:`). */
function stateErrors(lines: string[]): string[] {
  const text = ['listeners:', '  - { name: public, address: ":8080" }', 'state:', ...lines.map((l) => `  ${l}`)].join('\n');
  try {
    parseConfigText(configSchema, text, { file: 'gatehouse.yaml' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

test('state.sentinels: a valid block keeps its keys; host:port, a bare host and [IPv6]:port are read', () => {
  const cfg = parseConfigText(configSchema, [
    'listeners: [{ name: public, address: ":8080" }]',
    'state:',
    '  redis: rediss://:pw@mymaster/2',
    '  sentinels: [10.0.0.1:26379, sentinel-b.internal, "[fd00::1]:26380"]',
    '  sentinel_name: mymaster',
    `  sentinel_password_env: ${PASSWORD_ENV}`,
  ].join('\n'));
  assert.deepEqual(cfg.state?.sentinels, ['10.0.0.1:26379', 'sentinel-b.internal', '[fd00::1]:26380']);
  const opts = redisOptions(cfg.state!, { [PASSWORD_ENV]: 's3' });
  assert.deepEqual(opts.sentinels, [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-b.internal', port: 26379 }, { host: 'fd00::1', port: 26380 }]);
  assert.equal(opts.name, 'mymaster');
  assert.equal(opts.sentinelPassword, 's3');
  // rediss:// is TLS to the master and to the sentinels; fail-fast settings as for a single Redis.
  assert.equal(opts.enableTLSForSentinelMode, true);
  assert.deepEqual(opts.sentinelTLS, {});
  assert.equal(opts.enableOfflineQueue, false);
  assert.equal(opts.maxRetriesPerRequest, 0);
  assert.equal(typeof opts.retryStrategy, 'function');
  // Without sentinels: one server, no sentinel options.
  assert.equal(redisOptions({ redis: 'redis://10.0.0.5:6379' }).sentinels, undefined);
});

test('state.sentinels: bad forms are errors naming the key, without echoing the URL', () => {
  const base = ['redis: redis://:hunter2@mymaster/0', 'sentinel_name: mymaster'];
  const at = (errs: string[], key: string, what: RegExp): void => {
    assert.ok(errs.some((e) => e.includes(` at ${key} `) && what.test(e)), `${key} ${what}: ${errs.join(' | ')}`);
  };
  at(stateErrors([...base, 'sentinels: ["::1"]']), 'state.sentinels[0]', /IPv6 address goes in brackets: \[fd00::1\]:26379, got "::1"/);
  at(stateErrors([...base, 'sentinels: ["fd00::1:26379"]']), 'state.sentinels[0]', /IPv6 address goes in brackets/);
  at(stateErrors([...base, 'sentinels: [10.0.0.1:26379, "10.0.0.2:99999"]']), 'state.sentinels[1]', /a port from 1 to 65535, got "10.0.0.2:99999"/);
  at(stateErrors([...base, 'sentinels: ["10.0.0.1:"]']), 'state.sentinels[0]', /host:port, e\.g\. 10\.0\.0\.1:26379/);
  at(stateErrors([...base, 'sentinels: ["[10.0.0.1]:26379"]']), 'state.sentinels[0]', /only an IPv6 address goes in brackets/);
  at(stateErrors([...base, 'sentinels: []']), 'state.sentinels', /expected at least one item, got an empty list/);
  at(stateErrors([...base, 'sentinels: 10.0.0.1:26379']), 'state.sentinels', /expected a list, got "10.0.0.1:26379"/);
  // Sentinels need the master's name; the name and the password variable need sentinels.
  at(stateErrors(['redis: redis://:hunter2@mymaster/0', 'sentinels: [10.0.0.1:26379]']), 'state.sentinel_name', /sentinels need sentinel_name/);
  at(stateErrors(['redis: redis://10.0.0.5:6379', 'sentinel_name: mymaster']), 'state.sentinel_name', /needs sentinels/);
  at(stateErrors(['redis: redis://10.0.0.5:6379', 'sentinel_password_env: X']), 'state.sentinel_password_env', /needs sentinels/);
  at(stateErrors([...base, 'sentinels: [10.0.0.1]', 'sentinel_password_env: "not a name"']), 'state.sentinel_password_env', /an environment variable name/);
  at(stateErrors(['redis: redis://mymaster', 'sentinels: [10.0.0.1]', 'sentinel_name: "my master"']), 'state.sentinel_name', /the master's name/);
  // With sentinels the URL's host is the master's name (the address comes from the sentinels), no port.
  for (const url of ['redis://:hunter2@10.0.0.5:6379/0', 'redis://:hunter2@mymaster:6379/0', 'redis://:hunter2@other/0']) {
    const errs = stateErrors([`redis: ${url}`, 'sentinels: [10.0.0.1]', 'sentinel_name: mymaster']);
    at(errs, 'state.redis', /with sentinels, the URL's host is the master's name, without a port: redis:\/\/:PASSWORD@mymaster\/0/);
    assert.ok(!errs.join('\n').includes('hunter2'), errs.join('\n'));
  }
});

test('state.sentinel_password_env: an unset variable is a warning for validate and stops the start with an error naming the key', async (t) => {
  const state = { redis: 'redis://mymaster', sentinels: ['127.0.0.1:1'], sentinel_name: 'mymaster', sentinel_password_env: 'GH_TEST_UNSET_VARIABLE' };
  const unset = /environment variable GH_TEST_UNSET_VARIABLE \(the sentinels' password\) is not set or empty at state\.sentinel_password_env/;
  assert.throws(() => redisOptions(state, {}), (err: unknown) => err instanceof ConfigError && unset.test(err.message));
  const cfg = parseConfigText(configSchema, JSON.stringify({ listeners: [{ name: 'public', address: ':8080' }], state }));
  assert.ok(configWarnings(cfg).some((w) => w.message.startsWith('environment variable GH_TEST_UNSET_VARIABLE is not set here')));
  await assert.rejects(startProxy(t, { state }), (err: unknown) => err instanceof ConfigError && unset.test(err.message));
});

/** Master (+ replica), sentinel, all with passwords; the replica in sync and known to the sentinel. */
async function sentinelSetup(t: TestContext, opts: { replica?: boolean } = {}): Promise<{ master: RedisServer; replica?: RedisServer; sentinel: RedisServer }> {
  const master = await startRedis(t, { password: PASSWORD });
  const replica = opts.replica ? await startRedis(t, { replicaOf: master.port, password: PASSWORD }) : undefined;
  if (replica) {
    const r = probe(t, replica.port);
    await waitFor(async () => (await r.info('replication')).includes('master_link_status:up'), 10_000, 'the replica to sync');
  }
  const sentinel = await startSentinel(t, { masterPort: master.port, password: SENTINEL_PASSWORD, masterPassword: PASSWORD });
  if (replica) {
    const s = probe(t, sentinel.port, SENTINEL_PASSWORD);
    // Promotable once the sentinel has read the replica's own INFO (run id, link to the master up), not just
    // heard of it from the master.
    const promotable = async (): Promise<boolean> => {
      const [fields] = (await s.call('SENTINEL', 'REPLICAS', 'mymaster')) as string[][];
      const f = new Map<string, string>();
      for (let i = 0; fields && i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
      return f.get('flags') === 'slave' && !!f.get('runid') && f.get('master-link-status') === 'ok';
    };
    await waitFor(promotable, 5000, 'the sentinel to know the replica');
  }
  return replica ? { master, replica, sentinel } : { master, sentinel };
}

function probe(t: TestContext, port: number, password = PASSWORD): Redis {
  const r = new Redis({ port, host: '127.0.0.1', password, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: false });
  r.on('error', () => {});
  t.after(() => r.disconnect());
  return r;
}

/** `down`: sentinels listed first that are not running (any one sentinel that answers is enough). */
function stateFor(sentinel: RedisServer, down: number[] = []): { redis: string; sentinels: string[]; sentinel_name: string; sentinel_password_env: string; timeout: string } {
  return {
    redis: `redis://:${PASSWORD}@mymaster/0`,
    sentinels: [...down.map((p) => `127.0.0.1:${p}`), `127.0.0.1:${sentinel.port}`],
    sentinel_name: 'mymaster',
    sentinel_password_env: PASSWORD_ENV,
    timeout: '200ms',
  };
}

function withPasswordEnv(t: TestContext): void {
  process.env[PASSWORD_ENV] = SENTINEL_PASSWORD;
  t.after(() => { delete process.env[PASSWORD_ENV]; });
}

interface Instance extends StartedProxy { admin: string }

async function instances(t: TestContext, sentinel: RedisServer, origin: Origin, n: number, down: number[] = []): Promise<Instance[]> {
  const config = {
    admin: { address: '127.0.0.1:0' },
    state: stateFor(sentinel, down),
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { match: { path: '/limited/' }, rate_limit: { key: 'header:x-api-key', rate: '1/m', burst: 10 }, proxy: { upstream: 'app' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  };
  const out: Instance[] = [];
  for (let i = 0; i < n; i++) {
    const p = await startProxy(t, config);
    out.push({ ...p, admin: p.gh.adminUrl()! });
  }
  return out;
}

/** Waits (bounded) until each instance counts in the Redis on `port`: a warm-up decision shows up there. */
async function countingIn(t: TestContext, proxies: StartedProxy[], port: number, ms: number): Promise<void> {
  const r = probe(t, port);
  for (const [i, p] of proxies.entries()) {
    let j = 0;
    await waitFor(async () => {
      const key = `warm-${port}-${i}-${j++}`;
      await send(`${p.url}/limited/x`, { headers: { 'x-api-key': key } });
      return (await r.exists(`gatehouse:r:routes[0]|h:${key}`).catch(() => 0)) === 1;
    }, ms, `instance ${i} to count in the Redis on port ${port}`);
  }
}

const servers = (p: StartedProxy): string[] => p.gh.upstreams().find((u) => u.name === 'app')!.servers.filter((s) => !s.removing).map((s) => s.id);

test('state.sentinels: the client asks the sentinel for the master; duplicate() (the fleet subscriber) keeps the sentinel options', async (t) => {
  const { sentinel } = await sentinelSetup(t);
  const conn = redisClient(stateFor(sentinel), { log: silent, env: { [PASSWORD_ENV]: SENTINEL_PASSWORD } });
  t.after(() => conn.close());
  const client = conn.redis;
  const sub = client.duplicate();
  t.after(() => sub.disconnect());
  assert.deepEqual(sub.options.sentinels, [{ host: '127.0.0.1', port: sentinel.port }]);
  assert.equal(sub.options.name, 'mymaster');
  assert.equal(sub.options.sentinelPassword, SENTINEL_PASSWORD);
  assert.equal(sub.options.enableOfflineQueue, false);
  await waitFor(() => client.status === 'ready' && sub.status === 'ready', 5000, 'both connections');
  const got = new Promise<string>((resolve) => sub.on('message', (_c: string, m: string) => resolve(m)));
  await sub.subscribe('gh-test');
  await client.publish('gh-test', 'hello');
  assert.equal(await got, 'hello');
});

test('state.sentinels: +switch-master naming the master the client is already on leaves it connected (counting shared); naming another one moves it', async (t) => {
  // A sentinel names the promoted replica before it announces the switch: a client that reconnected in
  // between is on the new master when the announcement comes, and moving it again would leave the instance
  // deciding alone until it is back. A plain Redis stands for the sentinel here: the watcher only subscribes.
  const announcer = await startRedis(t, { password: PASSWORD });
  const master = await startRedis(t, { password: PASSWORD });
  const client = new Redis({ host: '127.0.0.1', port: master.port, password: PASSWORD, enableOfflineQueue: false, retryStrategy: () => 100 });
  client.on('error', () => {});
  let closes = 0;
  client.on('close', () => closes++);
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => { lines.push(l); } });
  const unwatch = followSwitches(client, { sentinels: [{ host: '127.0.0.1', port: announcer.port }], name: 'mymaster', sentinelPassword: PASSWORD }, log);
  t.after(() => { unwatch(); client.disconnect(); });
  const pub = probe(t, announcer.port);
  await waitFor(async () => client.status === 'ready' && ((await pub.call('PUBSUB', 'NUMSUB', '+switch-master')) as [string, number])[1] === 1, 5000, 'the client and the watcher');
  const logged = (what: string): boolean => lines.some((l) => l.includes(what));

  await pub.publish('+switch-master', `mymaster 127.0.0.1 1 127.0.0.1 ${master.port}`);
  await waitFor(() => logged('already connected to the new master'), 3000, 'the announcement to be read');
  assert.equal(client.status, 'ready');
  assert.equal(closes, 0);

  await pub.publish('+switch-master', `othermaster 127.0.0.1 ${master.port} 127.0.0.1 ${announcer.port}`);
  await pub.publish('+switch-master', `mymaster 127.0.0.1 ${master.port} 127.0.0.1 ${announcer.port}`);
  await waitFor(() => closes === 1, 3000, 'the client to move');
  assert.equal(lines.filter((l) => l.includes('reconnecting to the new master')).length, 1, lines.join(''));
  assert.ok(logged(`"master":"127.0.0.1:${announcer.port}"`), lines.join(''));
});

test('state.sentinels: two instances enforce one shared limit (burst 10 across both) and share registry changes; a sentinel down is skipped', async (t) => {
  withPasswordEnv(t);
  const { master, sentinel } = await sentinelSetup(t);
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const extra = await startOrigin(t, (_req, res) => res.end('extra'));
  const [a, b] = await instances(t, sentinel, origin, 2, [await freePort()]);
  await countingIn(t, [a!, b!], master.port, 5000);
  const got = await statuses([a!, b!], 'k1', 30);
  assert.equal(got.filter((s) => s === 200).length, 10, got.join(','));
  assert.equal(got.filter((s) => s === 429).length, 20, got.join(','));
  // The fleet's subscriber (a duplicate of the client) found the master through the sentinel too.
  const r = await send(`${a!.admin}/api/upstreams/app/servers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: extra.url }) });
  assert.equal(r.status, 201, r.text);
  await waitFor(() => servers(b!).includes(extra.authority), 2000, 'B to get the server added through A');
});

test('state.sentinels: a failover (master killed, replica promoted) — instances keep serving, then count in the new master', { timeout: 30_000 }, async (t) => {
  withPasswordEnv(t);
  const { master, replica, sentinel } = await sentinelSetup(t, { replica: true });
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const extra = await startOrigin(t, (_req, res) => res.end('extra'));
  const [a, b] = await instances(t, sentinel, origin, 2);
  await countingIn(t, [a!, b!], master.port, 5000);
  assert.equal((await statuses([a!, b!], 'before', 12)).filter((s) => s === 200).length, 10);
  // Every write reached the replica before the master dies (WAIT), so the promoted one has the counts.
  assert.equal(await probe(t, master.port).wait(1, 2000), 1);

  await master.kill();
  const killed = Date.now();
  // During the failover both instances keep answering, deciding alone (never an error for Redis).
  const during = await statuses([a!, b!], 'during', 10);
  assert.ok(during.every((s) => s === 200 || s === 429), during.join(','));
  assert.equal((await send(`${b!.url}/other`)).status, 200);

  const s = probe(t, sentinel.port, SENTINEL_PASSWORD);
  await waitFor(async () => ((await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as string[])[1] === String(replica!.port), 12_000, 'the sentinel to promote the replica');
  // The sentinel names the replica before it announces +switch-master: an instance that reconnected in between
  // counts there already and must stay (sentinel-watch.ts), or the series below would be decided alone.
  await countingIn(t, [a!, b!], replica!.port, 5000);
  t.diagnostic(`master killed → both instances counting in the promoted replica: ${Date.now() - killed} ms`);

  // The counts from before the failover held, and a new key is shared exactly again.
  assert.deepEqual(await statuses([a!, b!], 'before', 2), [429, 429]);
  const after = await statuses([a!, b!], 'after', 30);
  assert.equal(after.filter((x) => x === 200).length, 10, after.join(','));
  // The subscribers followed the failover too: a registry change made through A reaches B.
  const r = await send(`${a!.admin}/api/upstreams/app/servers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: extra.url }) });
  assert.equal(r.status, 201, r.text);
  await waitFor(() => servers(b!).includes(extra.authority), 3000, 'B to get the server added through A');
});

test('state.sentinels: a manual failover (SENTINEL FAILOVER, the old master still up) — instances move on the announcement', { timeout: 30_000 }, async (t) => {
  withPasswordEnv(t);
  const { master, replica, sentinel } = await sentinelSetup(t, { replica: true });
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const [a, b] = await instances(t, sentinel, origin, 2);
  await countingIn(t, [a!, b!], master.port, 5000);
  const s = probe(t, sentinel.port, SENTINEL_PASSWORD);
  const started = Date.now();
  assert.equal(await s.call('SENTINEL', 'FAILOVER', 'mymaster'), 'OK');
  await waitFor(async () => ((await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as string[])[1] === String(replica!.port), 12_000, 'the sentinel to promote the replica');
  await countingIn(t, [a!, b!], replica!.port, 5000);
  t.diagnostic(`SENTINEL FAILOVER → both instances counting in the new master: ${Date.now() - started} ms`);
  // Sentinel turns the old master into a replica (and drops its clients) only when it next looks at it, every
  // 10 s: it is still a master here, so the instances moved on the +switch-master announcement.
  assert.match(await probe(t, master.port).info('replication'), /role:master/);
  const after = await statuses([a!, b!], 'after', 30);
  assert.equal(after.filter((x) => x === 200).length, 10, after.join(','));
});
