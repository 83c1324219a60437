// The bare reference: what Node itself allows. node:http server + one undici Pool, streaming both ways,
// hop-by-hop headers stripped, nothing else (no routing, no logging, no X-Forwarded-*).
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, origin] = process.argv.slice(2);
const pool = new Pool(origin, { keepAliveTimeout: 4000 });
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer'];

function strip(headers) {
  const out = { ...headers };
  for (const h of HOP) delete out[h];
  return out;
}

createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    { path: req.url, method: req.method, headers: strip(req.headers), body: hasBody ? req : null, opaque: res },
    ({ statusCode, headers, opaque }) => {
      opaque.writeHead(statusCode, strip(headers));
      return opaque;
    },
    (err) => {
      if (!err) return;
      if (res.headersSent) res.destroy();
      else { res.statusCode = 502; res.end(); }
    },
  );
}).listen(Number(port), '127.0.0.1');
