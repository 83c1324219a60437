import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { z } from 'zod';
import { plugin as abSplit } from '../examples/plugins/ab-split.js';
import { plugin as headerSigner } from '../examples/plugins/header-signer.js';
import { createGatehouse, definePlugin, errors, type AppServices, type GatehouseConfigInput, type Hooks } from '../src/index.js';
import { hashPassword } from '../src/protect/index.js';
import { send } from './helpers/client.js';
import { headOrigin, startOrigin, waitFor } from './helpers/origin.js';
import { startProxy } from './helpers/proxy.js';

const SECRET = 'a-secret-of-at-least-32-characters!';

/** What the origin checks: the signature over method, path and time, with the shared secret. */
function verify(method: string, path: string, header: string | undefined, secret = SECRET): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const mac = createHmac('sha256', secret).update(`${method}\n${path}\n${m[1]}`).digest('hex');
  return mac === m[2] && Math.abs(Date.now() / 1000 - Number(m[1])) < 60;
}

test('plugins: the header signer (docs/plugins.md) signs what is sent upstream, on the routes that ask', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const sig = req.headers['x-gatehouse-signature'] as string | undefined;
    res.end(sig === undefined ? 'unsigned' : verify(req.method!, req.url!, sig) ? `signed ${req.url}` : 'forged');
  });
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    plugins: { header_signer: { secret: SECRET } },
    routes: [
      { match: { path: '/api/' }, rewrite: { strip_prefix: '/api' }, plugins: { header_signer: {} }, proxy: { upstream: 'app' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  }, { plugins: [headerSigner] });

  const signed = await send(`${gh.url}/api/users?id=7`, { method: 'POST', body: 'x' });
  assert.equal(signed.status, 200);
  assert.equal(signed.text, 'signed /users?id=7', 'the path as sent upstream, after the rewrite');
  // A client cannot pass a signature of its own: the plugin replaces it.
  const forged = await send(`${gh.url}/api/users`, { headers: { 'x-gatehouse-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` } });
  assert.equal(forged.text, 'signed /users');
  assert.equal((await send(`${gh.url}/other`)).text, 'unsigned', 'a route without plugins.header_signer is not signed');
});

test('plugins: the A/B split (docs/plugins.md) pins a client to its variant by cookie and gives new clients one', async (t) => {
  const stable = await startOrigin(t, (req, res) => res.end(`stable ${req.headers['x-variant']}`));
  const beta = await startOrigin(t, (req, res) => res.end(`beta ${req.headers['x-variant']}`));
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [stable.url, beta.url] } },
    routes: [{
      match: { path: '/' }, proxy: { upstream: 'app' },
      plugins: { ab_split: { cookie: 'ab', variants: { stable: { server: stable.url, weight: 0 }, beta: { server: `${beta.url}/`, weight: 1 } } } },
    }],
  }, { plugins: [abSplit] });

  const fresh = await send(gh.url);
  assert.equal(fresh.text, 'beta beta');
  assert.match(String(fresh.headers['set-cookie']), /^ab=beta; Path=\/; Max-Age=2592000; HttpOnly; SameSite=Lax$/);
  for (let i = 0; i < 4; i++) {
    const r = await send(gh.url, { headers: { cookie: 'theme=dark; ab=stable' } });
    assert.equal(r.text, 'stable stable', 'round-robin would have sent some of these to beta');
    assert.equal(r.headers['set-cookie'], undefined, 'a client that has its variant is not given another');
  }
  const unknown = await send(gh.url, { headers: { cookie: 'ab=gamma' } });
  assert.equal(unknown.text, 'beta beta');
  assert.match(String(unknown.headers['set-cookie']), /^ab=beta;/);

  // The chosen server refuses connections: the request is retried on another server, not failed.
  await beta.close();
  const failover = await send(gh.url, { headers: { cookie: 'ab=beta' } });
  assert.equal(failover.status, 200);
  assert.equal(failover.text, 'stable beta');
});

test('plugins: user hooks run after routing, auth and rate limits, answer directly, change responses, log once', async (t) => {
  const origin = await startOrigin(t, (_req, res) => res.end('origin'));
  const seen: string[] = [];
  const logs: string[] = [];
  const gate = definePlugin({
    name: 'gate',
    routeSchema: z.strictObject({ deny_header: z.string() }),
    create() {
      return {
        global: {
          responseFilter(ctx, res) { res.headers.push('x-gate-route', ctx.route?.id ?? 'none'); },
          logging(ctx, err) { logs.push(`${ctx.status} ${err?.code ?? ''}`.trim()); },
        },
        forRoute(route) {
          return {
            requestFilter(ctx) {
              seen.push(`request ${ctx.route!.id}`);
              if (ctx.req.header(route.deny_header) === undefined) return undefined;
              return { status: 403, headers: { 'content-type': 'text/plain' }, body: 'denied by gate\n' };
            },
          };
        },
      };
    },
  });
  const hash = await hashPassword('s3cret', 10);
  const gh = await startProxy(t, {
    upstreams: { app: { servers: [origin.url] } },
    routes: [
      { name: 'private', match: { path: '/private/' }, auth: { basic: { users: { alice: hash } } }, plugins: { gate: { deny_header: 'x-deny' } }, proxy: { upstream: 'app' } },
      { name: 'hello', match: { path: '/hello' }, respond: { status: 200, body: 'hi' }, plugins: { gate: { deny_header: 'x-deny' } } },
      { name: 'open', match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  }, { plugins: [gate] });
  const alice = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;

  const noAuth = await send(`${gh.url}/private/x`, { headers: { 'x-deny': '1' } });
  assert.equal(noAuth.status, 401, 'auth answers first');
  assert.equal(noAuth.headers['x-gate-route'], 'private', 'responseFilter sees the proxy\'s own replies too');
  const denied = await send(`${gh.url}/private/x`, { headers: { 'x-deny': '1', authorization: alice } });
  assert.equal(denied.status, 403);
  assert.equal(denied.text, 'denied by gate\n');
  assert.equal(denied.headers['x-gate-route'], 'private');
  assert.ok(denied.headers['x-request-id'], 'a plugin reply goes out like any other');
  const passed = await send(`${gh.url}/private/x`, { headers: { authorization: alice } });
  assert.equal(passed.text, 'origin');
  const hello = await send(`${gh.url}/hello`, { headers: { 'x-deny': '1' } });
  assert.equal(hello.text, 'hi', 'a respond route answers before user plugins run');
  const open = await send(`${gh.url}/elsewhere`, { headers: { 'x-deny': '1' } });
  assert.equal(open.text, 'origin', 'a route without plugins.gate does not run its route hooks');
  assert.equal(open.headers['x-gate-route'], 'open', 'global hooks run on every route');

  assert.deepEqual(seen, ['request private', 'request private'], 'requestFilter ran once for each authenticated request');
  await waitFor(() => logs.length === 5, 2000, 'one logging call per request');
  assert.deepEqual(logs.sort(), ['200', '200', '200', '401 GH_UNAUTHORIZED', '403']);
});

test('plugins: a plugin gets the same services as the built-ins: a logger naming it, baseDir, listener addresses', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString()); cb(); } }));
  let app: AppServices | undefined;
  const probe = definePlugin({
    name: 'probe',
    create(_cfg, services) {
      app = services;
      services.log.info('probe ready');
      return {};
    },
  });
  const gh = await startProxy(t, { routes: [] }, { plugins: [probe], logger });
  assert.ok(app);
  assert.equal(app.address('public'), gh.gh.addresses().public);
  assert.equal(app.baseDir, process.cwd());
  const line = lines.map((l) => JSON.parse(l) as { msg: string; plugin?: string }).find((l) => l.msg === 'probe ready');
  assert.equal(line?.plugin, 'probe');
});

test('plugins: reload creates the plugins again with the new config and closes the old ones', async (t) => {
  const origin = await startOrigin(t, (req, res) => res.end(String(req.headers['x-gatehouse-signature'] ?? '')));
  const other = 'another-secret-of-at-least-32-characters';
  const config = (secret: string): GatehouseConfigInput => ({
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], access_log: { enabled: false }, overload: false,
    upstreams: { app: { servers: [origin.url] } },
    plugins: { header_signer: { secret } },
    routes: [{ match: { path: '/' }, plugins: { header_signer: {} }, proxy: { upstream: 'app' } }],
  });
  const events: string[] = [];
  const counted = definePlugin({
    ...headerSigner,
    async create(cfg, app) {
      events.push(`create ${cfg.secret.slice(0, 7)}`);
      const inst = await headerSigner.create(cfg, app);
      return { ...inst, close: () => { events.push(`close ${cfg.secret.slice(0, 7)}`); } };
    },
  });
  const gh = createGatehouse(config(SECRET), { logger: pino({ level: 'silent' }), plugins: [counted] });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  assert.ok(verify('GET', '/', (await send(gh.url())).text));

  await gh.reload(config(other));
  const after = (await send(gh.url())).text;
  assert.ok(verify('GET', '/', after, other), 'signed with the new secret');
  assert.ok(!verify('GET', '/', after));
  await waitFor(() => events.length === 3, 2000, 'the old generation closed');
  assert.deepEqual(events, ['create a-secre', 'create another', 'close a-secre']);
  await gh.stop();
  assert.deepEqual(events.slice(3), ['close another']);
});

test('plugins: a plugin that fails to start fails start() or reload() naming it; the running config stays', async (t) => {
  const origin = await startOrigin(t, (_req, res) => res.end('ok'));
  const events: string[] = [];
  const flaky = definePlugin({
    name: 'flaky',
    schema: z.strictObject({ fail: z.boolean().default(false) }).prefault({}),
    create(cfg) {
      if (cfg.fail) throw new Error('cannot reach the key store');
      events.push('create');
      return { close: () => { events.push('close'); } };
    },
  });
  const typo = definePlugin({ name: 'typo', create: () => ({ global: { requestFiltre: () => undefined } as Hooks }) });
  const base: GatehouseConfigInput = {
    listeners: [{ name: 'public', address: '127.0.0.1:0' }], access_log: { enabled: false }, overload: false,
    upstreams: { app: { servers: [origin.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }],
  };
  const silent = pino({ level: 'silent' });
  const bad = createGatehouse(base, { logger: silent, plugins: [flaky, typo] });
  await assert.rejects(bad.start(), /^Error: plugin "typo" failed to start: unknown phase "requestFiltre" \(phases: connectionFilter, /);
  assert.deepEqual(events, ['create', 'close'], 'the plugins created before it are closed');

  const gh = createGatehouse(base, { logger: silent, plugins: [flaky] });
  await gh.start();
  t.after(() => gh.stop({ timeoutMs: 1000 }));
  await assert.rejects(gh.reload({ ...base, plugins: { flaky: { fail: true } } }), /plugin "flaky" failed to start: cannot reach the key store/);
  assert.equal((await send(gh.url())).text, 'ok');
  assert.equal(gh.config.plugins.flaky !== undefined, true);
  assert.deepEqual(events, ['create', 'close', 'create'], 'the running plugin is not closed');
});

test('plugins: a hook that throws fails only its request, logged with the plugin name; a throwing response hook is skipped', async (t) => {
  let hits = 0;
  const origin = await startOrigin(t, (_req, res) => { hits++; res.end('origin'); });
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString()); cb(); } }));
  const buggy = definePlugin({
    name: 'buggy',
    routeSchema: z.enum(['request', 'upstream', 'response', 'async', 'refuse']),
    create() {
      return {
        forRoute: (where) => ({
          requestFilter: where === 'request' ? () => { throw new Error('bug in requestFilter'); }
            : where === 'async' ? async () => { throw new Error('bug in an async requestFilter'); }
              : where === 'refuse' ? () => { throw errors.rateLimited(5); } : undefined,
          upstreamRequestFilter: where === 'upstream' ? () => { throw new Error('bug in upstreamRequestFilter'); } : undefined,
          responseFilter: where === 'response' ? () => { throw new Error('bug in responseFilter'); } : undefined,
        }),
      };
    },
  });
  const routes = ['request', 'upstream', 'response', 'async', 'refuse'].map((w) => ({ match: { path: `/${w}` }, plugins: { buggy: w }, proxy: { upstream: 'app' } }));
  const gh = await startProxy(t, { upstreams: { app: { servers: [origin.url] } }, routes }, { plugins: [buggy], logger });

  for (const where of ['request', 'upstream', 'async']) {
    const r = await send(`${gh.url}/${where}`);
    assert.equal(r.status, 500, where);
    assert.deepEqual(JSON.parse(r.text), { status: 500, code: 'GH_INTERNAL', requestId: r.headers['x-request-id'] });
    assert.ok(!r.text.includes('bug'), 'nothing internal on the wire');
  }
  assert.equal(hits, 0, 'a request a filter failed to prepare is not sent');
  const refused = await send(`${gh.url}/refuse`);
  assert.equal(refused.status, 429, 'a thrown ProxyError is the plugin\'s answer');
  assert.equal(refused.headers['retry-after'], '5');
  const response = await send(`${gh.url}/response`);
  assert.equal(response.status, 200);
  assert.equal(response.text, 'origin');
  const logged = lines.map((l) => JSON.parse(l) as { msg: string; plugin?: string; phase?: string; err?: { message: string } })
    .filter((l) => l.msg === 'plugin hook failed').map((l) => `${l.plugin} ${l.phase}: ${l.err?.message}`);
  assert.deepEqual(logged.sort(), [
    'buggy requestFilter: bug in an async requestFilter',
    'buggy requestFilter: bug in requestFilter',
    'buggy responseFilter: bug in responseFilter',
    'buggy upstreamRequestFilter: bug in upstreamRequestFilter',
  ]);
});

/** A raw origin (headOrigin) behind a proxy on `engine` with one user plugin, `evil`, of these global hooks. */
async function behindEvil(t: import('node:test').TestContext, engine: 'node' | 'native', global: Hooks) {
  const o = await headOrigin(t);
  const evil = definePlugin({ name: 'evil', create: () => ({ global }) });
  const gh = await startProxy(t, { engine, upstreams: { app: { servers: [o.url] } }, routes: [{ match: { path: '/' }, proxy: { upstream: 'app' } }] }, { plugins: [evil] });
  return { o, gh };
}

for (const engine of ['node', 'native'] as const) {
  for (const what of ['ctx.head.hostHeader', 'a value in ctx.req.rawHeaders', 'a field added to ctx.req.rawHeaders', 'ctx.req.method']) {
    test(`plugins (${engine} engine): RFC 9112 2.2: a requestFilter that puts CR LF into ${what} splits nothing upstream (the request fails)`, async (t) => {
      const { o, gh } = await behindEvil(t, engine, {
        requestFilter(ctx) {
          const v = 'a.test\r\nX-Injected: yes';
          const raw = ctx.req.rawHeaders as string[];
          if (what === 'ctx.head.hostHeader') ctx.head.hostHeader = v;
          else if (what === 'ctx.req.method') (ctx.req as { method: string }).method = 'GET /x HTTP/1.1\r\nX-Injected: yes\r\nX-B:';
          else if (what.startsWith('a field')) raw.push('X-From-Plugin', v);
          else for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'x-a') raw[i + 1] = v;
          return undefined;
        },
      });
      const r = await send(`${gh.url}/p`, { headers: { 'x-a': 'b' } });
      assert.equal(r.status, 500, 'the proxy\'s own fault (GH_INTERNAL), on either engine');
      assert.ok(!o.heads.some((h) => h.includes('X-Injected')), `an injected field reached the origin: ${JSON.stringify(o.heads)}`);
      assert.deepEqual(o.heads, [], 'the request was not sent');
    });
  }

  test(`plugins (${engine} engine): a request id a plugin set with CR LF in it splits neither the upstream request nor the response`, async (t) => {
    const { o, gh } = await behindEvil(t, engine, { requestFilter(ctx) { ctx.requestId = 'id\r\nX-Injected: yes'; return undefined; } });
    // Every answer carries the request id, the error page too: the connection is closed instead.
    const r = await send(`${gh.url}/p`).catch((err: Error) => ({ status: 0, headers: {} as Record<string, unknown>, text: err.message }));
    assert.equal(r.status, 0, `an answer went out: ${r.status} ${JSON.stringify(r.headers)}`);
    assert.deepEqual(o.heads, [], 'the request was not sent');
  });

  test(`plugins (${engine} engine): a connection's address a plugin's connectionFilter changed to hold CR LF splits nothing upstream (X-Forwarded-For)`, async (t) => {
    const { o, gh } = await behindEvil(t, engine, {
      connectionFilter(socket) {
        Object.defineProperty(socket, 'remoteAddress', { value: '10.0.0.1\r\nX-Injected: yes' });
        return true;
      },
    });
    const r = await send(`${gh.url}/p`);
    assert.equal(r.status, 500);
    assert.deepEqual(o.heads, [], 'the request was not sent');
  });
}
