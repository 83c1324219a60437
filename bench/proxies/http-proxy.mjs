// http-proxy (node-http-proxy) with a keep-alive agent, as its users deploy it.
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const [port, origin] = process.argv.slice(2);
const proxy = httpProxy.createProxyServer({ target: origin, agent: new Agent({ keepAlive: true, maxSockets: 256 }), xfwd: true });
proxy.on('error', (_err, _req, res) => { if (!res.headersSent) { res.statusCode = 502; res.end(); } });
createServer((req, res) => proxy.web(req, res)).listen(Number(port), '127.0.0.1');
