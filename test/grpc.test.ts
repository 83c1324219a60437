/**
 * gRPC through the proxy (#13): a grpc-js server behind an `h2c://` upstream, clients over the proxy's h2c
 * listener (prior knowledge) and its TLS listener (HTTP/2 by ALPN). No proto files: a service definition
 * object with JSON serializers.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect, createServer as createH2Server } from 'node:http2';
import { createServer as netServer, type AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { makeCa, makeLeaf } from './helpers/certs.js';
import { startProxy, type StartedProxy } from './helpers/proxy.js';

interface Msg { text: string; n?: number }
const ser = (v: Msg): Buffer => Buffer.from(JSON.stringify(v));
const de = (b: Buffer): Msg => JSON.parse(b.toString()) as Msg;
const method = (name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Msg, Msg> => ({
  path: `/test.Echo/${name}`, requestStream, responseStream,
  requestSerialize: ser, requestDeserialize: de, responseSerialize: ser, responseDeserialize: de, originalName: name,
});
const service = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition;

type EchoClient = grpc.Client & {
  unary(m: Msg, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientUnaryCall;
  serverStream(m: Msg, md?: grpc.Metadata): grpc.ClientReadableStream<Msg>;
  clientStream(cb: (e: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientWritableStream<Msg>;
  bidi(): grpc.ClientDuplexStream<Msg, Msg>;
};
const EchoClient = grpc.makeGenericClientConstructor(service, 'Echo') as unknown as new (address: string, creds: grpc.ChannelCredentials, opts?: grpc.ClientOptions) => EchoClient;

const handlers: grpc.UntypedServiceImplementation = {
  unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
    const { text } = call.request;
    if (text === 'fail') return cb({ code: grpc.status.NOT_FOUND, details: 'no such thing: ünïcode 100%' });
    if (text === 'slow') {
      const timer = setTimeout(() => cb(null, { text: 'late' }), 3000);
      call.on('cancelled', () => clearTimeout(timer));
      return;
    }
    const head = new grpc.Metadata();
    head.set('x-echo-header', String(call.metadata.get('x-client')[0] ?? ''));
    call.sendMetadata(head);
    const trailer = new grpc.Metadata();
    trailer.set('x-echo-trailer', `done:${text}`);
    trailer.set('x-bin-bin', Buffer.from([0, 1, 2, 255]));
    cb(null, { text: `echo:${text}` }, trailer);
  },
  serverStream(call: grpc.ServerWritableStream<Msg, Msg>) {
    for (let i = 0; i < (call.request.n ?? 3); i++) call.write({ text: `${call.request.text}-${i}` });
    call.end();
  },
  clientStream(call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
    const seen: string[] = [];
    call.on('data', (m: Msg) => seen.push(m.text));
    call.on('end', () => cb(null, { text: seen.join(',') }));
  },
  bidi(call: grpc.ServerDuplexStream<Msg, Msg>) {
    call.on('data', (m: Msg) => call.write({ text: `re:${m.text}` }));
    call.on('end', () => call.end());
  },
};

async function startGrpcServer(t: TestContext): Promise<number> {
  const server = new grpc.Server();
  server.addService(service, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  t.after(() => server.forceShutdown());
  return port;
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const ca = makeCa();
const leaf = makeLeaf(ca, 'grpc.test', ['grpc.test']);

/** The contract config of #13, on free ports, plus a TLS listener. */
async function startGrpcProxy(t: TestContext, grpcServer: string): Promise<StartedProxy> {
  return startProxy(t, {
    listeners: [
      { name: 'public', address: '127.0.0.1:0' },
      { name: 'h2c', address: '127.0.0.1:0', h2c: true },
      { name: 'tls', address: '127.0.0.1:0', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } },
    ],
    upstreams: {
      app: { servers: ['http://127.0.0.1:1'] },
      grpc: { servers: [grpcServer] },
    },
    routes: [
      { match: { headers: { 'content-type': { regex: '^application/grpc' } } }, proxy: { upstream: 'grpc' } },
      { match: { path: '/' }, proxy: { upstream: 'app' } },
    ],
  });
}

function clients(t: TestContext, p: StartedProxy): [string, EchoClient][] {
  const h2c = new EchoClient(new URL(p.gh.url('h2c')).host, grpc.credentials.createInsecure());
  const tls = new EchoClient(new URL(p.gh.url('tls')).host, grpc.credentials.createSsl(Buffer.from(ca.certPem)), {
    'grpc.ssl_target_name_override': 'grpc.test', 'grpc.default_authority': 'grpc.test',
  });
  t.after(() => { h2c.close(); tls.close(); });
  return [['h2c', h2c], ['tls', tls]];
}

function unary(c: EchoClient, text: string, md = new grpc.Metadata(), opts: grpc.CallOptions = {}): Promise<{ err: grpc.ServiceError | null; res?: Msg; head?: grpc.Metadata; trail?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let head: grpc.Metadata | undefined;
    let trail: grpc.Metadata | undefined;
    const call = c.unary({ text }, md, opts, (err, res) => {
      // The status (with its trailers) comes after the callback.
      setImmediate(() => resolve({ err, ...(res ? { res } : {}), ...(head ? { head } : {}), ...(trail ? { trail } : {}) }));
    });
    call.on('metadata', (m: grpc.Metadata) => { head = m; });
    call.on('status', (s: grpc.StatusObject) => { trail = s.metadata; });
  });
}

function collect<T>(stream: NodeJS.ReadableStream): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('end', () => resolve(out));
    stream.on('error', reject);
  });
}

test('grpc: unary, streaming both ways, metadata and statuses through h2c and TLS listeners (RFC 9113 8.1)', async (t) => {
  const port = await startGrpcServer(t);
  const p = await startGrpcProxy(t, `h2c://127.0.0.1:${port}`);
  for (const [via, c] of clients(t, p)) {
    const md = new grpc.Metadata();
    md.set('x-client', `hello-${via}`);
    const u = await unary(c, 'hi', md);
    assert.equal(u.err?.details, undefined, via);
    assert.deepEqual(u.res, { text: 'echo:hi' }, via);
    assert.deepEqual(u.head?.get('x-echo-header'), [`hello-${via}`], via);
    assert.deepEqual(u.trail?.get('x-echo-trailer'), ['done:hi'], via);
    assert.deepEqual(u.trail?.get('x-bin-bin'), [Buffer.from([0, 1, 2, 255])], via);

    const streamed = await collect<Msg>(c.serverStream({ text: 's', n: 5 }));
    assert.deepEqual(streamed.map((m) => m.text), ['s-0', 's-1', 's-2', 's-3', 's-4'], via);

    const summed = await new Promise<Msg | undefined>((resolve, reject) => {
      const w = c.clientStream((err, r) => (err ? reject(err) : resolve(r)));
      for (const x of ['a', 'b', 'c']) w.write({ text: x });
      w.end();
    });
    assert.deepEqual(summed, { text: 'a,b,c' }, via);

    const duplex = c.bidi();
    const got = collect<Msg>(duplex);
    for (const x of ['1', '2', '3']) duplex.write({ text: x });
    duplex.end();
    assert.deepEqual((await got).map((m) => m.text), ['re:1', 're:2', 're:3'], via);

    const f = await unary(c, 'fail');
    assert.equal(f.err?.code, grpc.status.NOT_FOUND, via);
    assert.equal(f.err?.details, 'no such thing: ünïcode 100%', via);
  }
});

test('grpc: a client deadline ends a slow call with DEADLINE_EXCEEDED', async (t) => {
  const port = await startGrpcServer(t);
  const p = await startGrpcProxy(t, `h2c://127.0.0.1:${port}`);
  for (const [via, c] of clients(t, p)) {
    const started = Date.now();
    const r = await unary(c, 'slow', new grpc.Metadata(), { deadline: Date.now() + 300 });
    assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED, via);
    assert.ok(Date.now() - started < 2000, via);
  }
});

/** A raw h2c upstream that never finishes: `/Hang` sends nothing, `/Half` a head and one message. */
async function startHangingServer(t: TestContext): Promise<{ port: number; seen: Record<string, unknown>[] }> {
  const seen: Record<string, unknown>[] = [];
  const server = createH2Server();
  server.on('stream', (stream, headers) => {
    seen.push({ ...headers });
    stream.on('error', () => undefined);
    if (headers[':path'] === '/test.Echo/Half') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(grpcFrame({ text: 'first' }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); for (const s of sessions) s.destroy(); }));
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  return { port: (server.address() as AddressInfo).port, seen };
}

function grpcFrame(m: Msg): Buffer {
  const body = ser(m);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(body.length, 1);
  return Buffer.concat([frame, body]);
}

/** One gRPC call over a raw HTTP/2 session: the response head, the trailers, and the time it took. */
async function rawCall(t: TestContext, url: string, path: string, extra: Record<string, string>): Promise<{ head: Record<string, unknown>; trailers: Record<string, unknown>; ms: number; data: number }> {
  const s = h2connect(url);
  t.after(() => s.close());
  const started = Date.now();
  const req = s.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });
  req.end(grpcFrame({ text: 'x' }));
  let head: Record<string, unknown> = {};
  let trailers: Record<string, unknown> = {};
  let data = 0;
  req.on('response', (h) => { head = h; });
  req.on('trailers', (h) => { trailers = h; });
  req.on('data', (c: Buffer) => { data += c.length; });
  await new Promise((r) => req.on('close', r));
  return { head, trailers, ms: Date.now() - started, data };
}

test('grpc: te: trailers reaches the upstream (RFC 9113 8.2.2); past grpc-timeout the proxy answers DEADLINE_EXCEEDED', async (t) => {
  const hang = await startHangingServer(t);
  const p = await startGrpcProxy(t, `h2c://127.0.0.1:${hang.port}`);
  // Nothing came yet: a Trailers-Only response (grpc-status in the one HEADERS frame).
  const a = await rawCall(t, p.gh.url('h2c'), '/test.Echo/Hang', { 'grpc-timeout': '300m' });
  assert.equal(a.head[':status'], 200);
  assert.equal(a.head['grpc-status'], '4');
  assert.match(String(a.head['grpc-message']), /^GH_GRPC_DEADLINE /);
  assert.ok(a.ms >= 280 && a.ms < 2000, `took ${a.ms} ms`);
  assert.equal(hang.seen[0]?.te, 'trailers', JSON.stringify(hang.seen[0]));
  assert.equal(hang.seen[0]?.['grpc-timeout'], '300m');
  // A response under way ends with the status in its trailers, after the message that came.
  const b = await rawCall(t, p.gh.url('h2c'), '/test.Echo/Half', { 'grpc-timeout': '1S' });
  assert.equal(b.head[':status'], 200);
  assert.equal(b.head['grpc-status'], undefined);
  assert.equal(b.data, grpcFrame({ text: 'first' }).length);
  assert.equal(b.trailers['grpc-status'], '4');
  assert.ok(b.ms >= 950 && b.ms < 3000, `took ${b.ms} ms`);
});

test('grpc: proxy errors are gRPC statuses: backend down is UNAVAILABLE, without internals', async (t) => {
  const p = await startGrpcProxy(t, `h2c://127.0.0.1:${await deadPort()}`);
  for (const [via, c] of clients(t, p)) {
    const r = await unary(c, 'hi');
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE, via);
    assert.match(r.err?.details ?? '', /^GH_UPSTREAM_/, via);
    assert.doesNotMatch(r.err?.details ?? '', /127\.0\.0\.1/, via);
  }
});

test('grpc: proxy statuses map to gRPC codes; grpc-timeout units; grpc-message is percent-encoded', async () => {
  const { grpcStatusOf, grpcTimeoutMs, grpcMessage } = await import('../src/core/grpc.js');
  const table: [number, grpc.status][] = [
    [502, grpc.status.UNAVAILABLE], [503, grpc.status.UNAVAILABLE], [504, grpc.status.DEADLINE_EXCEEDED],
    [429, grpc.status.RESOURCE_EXHAUSTED], [401, grpc.status.UNAUTHENTICATED], [403, grpc.status.PERMISSION_DENIED],
    [404, grpc.status.UNIMPLEMENTED], [405, grpc.status.UNIMPLEMENTED], [413, grpc.status.INTERNAL], [500, grpc.status.INTERNAL],
  ];
  for (const [http, code] of table) assert.equal(grpcStatusOf(http), code, String(http));
  assert.equal(grpcTimeoutMs('2S'), 2000);
  assert.equal(grpcTimeoutMs('1H'), 3_600_000);
  assert.equal(grpcTimeoutMs('500u'), 0.5);
  assert.equal(grpcTimeoutMs('123456789m'), undefined); // at most 8 digits
  assert.equal(grpcTimeoutMs('5x'), undefined);
  assert.equal(grpcMessage('ok 100% ü'), 'ok 100%25 %C3%BC');
});

test('grpc: a gRPC request with no route is UNIMPLEMENTED', async (t) => {
  const port = await startGrpcServer(t);
  const p = await startProxy(t, {
    listeners: [{ name: 'h2c', address: '127.0.0.1:0', h2c: true }],
    upstreams: { grpc: { servers: [`h2c://127.0.0.1:${port}`] } },
    routes: [{ match: { path: '/other.Service/' }, proxy: { upstream: 'grpc' } }],
  });
  const c = new EchoClient(new URL(p.gh.url('h2c')).host, grpc.credentials.createInsecure());
  t.after(() => c.close());
  const r = await unary(c, 'hi');
  assert.equal(r.err?.code, grpc.status.UNIMPLEMENTED);
  assert.match(r.err?.details ?? '', /^GH_ROUTE_NOT_FOUND \(request id /);
});

test('upstream: an h2:// server speaks HTTP/2 over TLS (ALPN, RFC 9113 3.2), health probes too; its id stays host:port', async (t) => {
  const server = new grpc.Server();
  server.addService(service, handlers);
  const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(leaf.keyPem), cert_chain: Buffer.from(leaf.certPem) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, n) => (err ? reject(err) : resolve(n))));
  t.after(() => server.forceShutdown());
  const p = await startProxy(t, {
    listeners: [{ name: 'h2c', address: '127.0.0.1:0', h2c: true }],
    upstreams: {
      grpc: {
        servers: [`h2://127.0.0.1:${port}`], tls: { ca: ca.cert, server_name: 'grpc.test' },
        // grpc-js answers a plain GET over HTTP/2 only (415); over HTTP/1.1 the TLS handshake fails (no ALPN match).
        health: { active: { type: 'http', path: '/', expect_status: '200-499', interval: '50ms', timeout: '500ms', rise: 1, fall: 1 } },
      },
    },
    routes: [{ match: { path: '/' }, proxy: { upstream: 'grpc' } }],
  });
  const c = new EchoClient(new URL(p.gh.url('h2c')).host, grpc.credentials.createInsecure());
  t.after(() => c.close());
  const r = await unary(c, 'tls');
  assert.deepEqual(r.res, { text: 'echo:tls' });
  const deadline = Date.now() + 3000;
  let s = p.gh.upstreams()[0]!.servers[0]!;
  while (s.health.lastCheck === undefined && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 25));
    s = p.gh.upstreams()[0]!.servers[0]!;
  }
  assert.equal(s.id, `127.0.0.1:${port}`);
  assert.equal(s.url, `h2://127.0.0.1:${port}`);
  assert.equal(s.health.lastCheck, 'ok');
});

test('upstream: h2c:// and h2:// ids and admin API bodies', async () => {
  const { serverId } = await import('../src/admin/index.js');
  assert.equal(serverId('h2c://127.0.0.1:19050'), '127.0.0.1:19050');
  assert.equal(serverId('h2://Backend.Example'), 'backend.example:443');
  assert.equal(serverId('h2c://[::1]'), '[::1]:80');
  const { parseNewServer: parse } = await import('../src/admin/endpoints.js');
  assert.deepEqual(parse({ url: 'h2c://127.0.0.1:19050' }), { url: 'h2c://127.0.0.1:19050' });
  assert.throws(() => parse({ url: 'h3://127.0.0.1:1' }), /h2c:\/\//);
});
