// WebSocket load for bench/l4.ts: CONNS sockets, each sending a SIZE-byte message and waiting for its echo
// before the next, for SECONDS. Prints {"messages": N, "seconds": S, "errors": E} as JSON.
// Usage: node bench/ws-client.mjs URL CONNS SIZE SECONDS
import WebSocket from 'ws';
const [url, conns, size, seconds] = process.argv.slice(2);
const payload = Buffer.alloc(Number(size), 120);
let messages = 0, errors = 0, open = 0;
const sockets = [];
const until = () => start + Number(seconds) * 1000;
let start = 0;
await new Promise((resolve) => {
  for (let i = 0; i < Number(conns); i++) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    sockets.push(ws);
    ws.on('open', () => { if (++open === Number(conns)) resolve(); });
    ws.on('error', () => { errors++; if (++open === Number(conns)) resolve(); });
  }
});
start = Date.now();
await Promise.all(sockets.map((ws) => new Promise((resolve) => {
  if (ws.readyState !== WebSocket.OPEN) return resolve();
  ws.on('message', () => {
    messages++;
    if (Date.now() < until()) ws.send(payload); else resolve();
  });
  ws.on('close', resolve);
  ws.send(payload);
})));
const elapsed = (Date.now() - start) / 1000;
for (const ws of sockets) ws.terminate();
console.log(JSON.stringify({ messages, seconds: elapsed, errors }));
