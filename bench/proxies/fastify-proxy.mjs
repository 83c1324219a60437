// @fastify/http-proxy (undici under @fastify/reply-from), logger off.
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const [port, origin] = process.argv.slice(2);
const app = Fastify({ logger: false });
await app.register(proxy, { upstream: origin, prefix: '/' });
await app.listen({ port: Number(port), host: '127.0.0.1' });
