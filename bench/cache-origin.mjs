// Origin for the cache benches: serves the files of a directory with Cache-Control: max-age=3600 and counts
// the requests per path; GET /__stats (asked directly, never through a proxy) returns the counts as JSON.
// Usage: node bench/cache-origin.mjs PORT DIR
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const [port, dir] = process.argv.slice(2);
const counts = {};
const small = new Map(); // bodies up to 2 MiB, read once
createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path.includes('..')) return res.writeHead(400).end();
  if (path === '/__stats') return res.end(JSON.stringify(counts));
  counts[path] = (counts[path] ?? 0) + 1;
  let size;
  try {
    size = statSync(join(dir, path)).size;
  } catch {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'cache-control': 'max-age=3600', 'last-modified': 'Mon, 02 Nov 2026 10:00:00 GMT' });
  if (req.method === 'HEAD') return res.end();
  if (size <= 2 * 1024 * 1024) {
    if (!small.has(path)) small.set(path, readFileSync(join(dir, path)));
    return res.end(small.get(path));
  }
  createReadStream(join(dir, path)).pipe(res);
}).listen(Number(port), '127.0.0.1');
