// Bulk TCP for bench/l4.ts. `sink PORT`: a server that discards what it reads and answers "done\n" once a
// client has sent everything. `send HOST:PORT MIB`: sends MIB MiB, waits for "done", prints {"mib": M, "seconds": S}.
import { connect, createServer } from 'node:net';
const [mode, a, b] = process.argv.slice(2);
if (mode === 'sink') {
  createServer((s) => {
    let n = 0;
    let want = -1;
    s.on('data', (c) => {
      if (want === -1) { want = c.readUInt32BE(0) * 1024 * 1024; n -= 4; }
      n += c.length;
      if (n >= want) s.end('done\n');
    });
    s.on('error', () => {});
  }).listen(Number(a), '127.0.0.1');
} else {
  const [host, port] = a.split(':');
  const mib = Number(b);
  const chunk = Buffer.alloc(256 * 1024, 7);
  const s = connect(Number(port), host);
  const start = process.hrtime.bigint();
  s.on('connect', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(mib);
    s.write(head);
    let left = mib * 4;
    const pump = () => { while (left > 0) { left--; if (!s.write(chunk)) return void s.once('drain', pump); } };
    pump();
  });
  s.on('data', () => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(JSON.stringify({ mib, seconds }));
    s.destroy();
  });
  s.on('error', (err) => { console.log(JSON.stringify({ mib, seconds: NaN, error: err.code })); process.exit(0); });
}
