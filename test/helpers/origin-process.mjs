// An origin in its own process, so a test can SIGKILL it. Usage: node origin-process.mjs PORT NAME
// GET /__mode?m=ok|500|hang switches how it answers; /healthz follows the mode too.
import { createServer } from 'node:http';

const [port, name] = process.argv.slice(2);
let mode = 'ok';
createServer((req, res) => {
  if (req.url.startsWith('/__mode')) {
    mode = new URL(req.url, 'http://x').searchParams.get('m') ?? 'ok';
    return res.end(mode);
  }
  if (mode === 'hang') return; // never answers
  if (mode === '500') {
    res.statusCode = 500;
    return res.end(`${name} broken`);
  }
  res.end(name);
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
