// The native engine's ceiling: Gatehouse's own HTTP/1.1 listener (dist/server/h1) and upstream client
// (dist/upstream/h1) wired straight together, as bare.mjs wires node:http and undici: hop-by-hop headers
// stripped, nothing else (no routing, no phases, no logging, no X-Forwarded-*). Not a product: a yardstick for
// what the pipeline on top of the engine costs (docs/benchmarks.md). Needs `npm run build`.
import { createServer } from 'node:net';
import { createH1Server } from '../../dist/server/h1/server.js';
import { H1Pool } from '../../dist/upstream/h1/pool.js';

const [port, origin] = process.argv.slice(2);
const u = new URL(origin);
const pool = new H1Pool({
  host: u.hostname, port: Number(u.port), tls: undefined, connectTimeout: 5000, headersTimeout: 60000,
  bodyTimeout: 60000, idleTimeout: 4000, maxHeaderSize: 16384, replayStale: true,
}, 0, u.host);
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer']);

function strip(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = typeof raw[i] === 'string' ? raw[i] : raw[i].toString('latin1');
    if (!HOP.has(name.toLowerCase())) out.push(name, typeof raw[i + 1] === 'string' ? raw[i + 1] : raw[i + 1].toString('latin1'));
  }
  return out;
}

const server = createH1Server({
  request(req, res) {
    const hasBody = req.header('content-length') !== undefined || req.header('transfer-encoding') !== undefined;
    pool.dispatch({ method: req.method, path: req.target, headers: strip(req.rawHeaders), body: hasBody ? req.body : null }, {
      onConnect() {},
      onHeaders(status, raw, resume) {
        if (status < 200) return true;
        res.writeHead(status, strip(raw));
        res.on('drain', resume);
        return true;
      },
      onData: (chunk) => res.write(chunk),
      onComplete: () => res.end(),
      onError: () => { if (res.headersSent) res.destroy(); else { res.writeHead(502, ['content-length', '0']); res.end(); } },
    });
  },
}, { maxHeaderSize: 16384, maxHeadersCount: 2000, maxRequestsPerSocket: 0, headersTimeout: 60000, keepAliveTimeout: 5000 });

createServer({ noDelay: true }, (s) => server.serve(s)).listen(Number(port), '127.0.0.1');
