/** Reads a small request body whole, so a retry or a mirror can send it again. */
import type { Readable } from 'node:stream';

export function readBody(req: Readable, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => { chunks.push(c); n += c.length; });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n)));
    req.once('error', reject);
    req.once('close', () => { if (!req.readableEnded) reject(new Error('client closed the request body')); });
    if (length === 0) req.resume();
  });
}
