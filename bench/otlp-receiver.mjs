// OTLP/HTTP receiver for bench/observe.ts: answers 200 `{}` to every POST once its body is read, and counts the
// requests, their bytes and the spans in them (occurrences of `"spanId"`: one per span in the OTLP JSON
// encoding; `"parentSpanId"` does not match). GET (asked directly) returns the counts as JSON.
// Usage: node bench/otlp-receiver.mjs PORT
import { createServer } from 'node:http';

const counts = { posts: 0, bytes: 0, spans: 0 };
const KEY = Buffer.from('"spanId"');
createServer((req, res) => {
  if (req.method !== 'POST') return res.end(JSON.stringify(counts));
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    counts.posts++;
    counts.bytes += body.length;
    for (let i = body.indexOf(KEY); i !== -1; i = body.indexOf(KEY, i + KEY.length)) counts.spans++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
}).listen(Number(process.argv[2]), '127.0.0.1');
