/** A raw HTTP/1.1 client over node:http, so tests see exactly what a user would: status, headers, bytes. */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
  trailers: Record<string, string | undefined>;
  informational: { status: number; headers: IncomingHttpHeaders }[];
}

export interface RequestOptions {
  method?: string;
  headers?: OutgoingHttpHeaders | string[];
  body?: string | Buffer;
  /** Keep the connection alive (default: no agent, a new connection). */
  agent?: import('node:http').Agent | false;
  /** Give up (reject, closing the connection) when no response has come after this many ms. */
  timeoutMs?: number;
}

export function send(url: string, opts: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const informational: Response['informational'] = [];
    let headers = opts.headers;
    if (opts.body !== undefined && !Array.isArray(headers) && headers?.['content-length'] === undefined && headers?.['transfer-encoding'] === undefined) {
      headers = { ...headers, 'content-length': String(Buffer.byteLength(opts.body)) };
    }
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString(),
          trailers: res.trailers, informational,
        });
      });
      res.on('error', reject);
    });
    req.on('information', (info) => informational.push({ status: info.statusCode, headers: info.headers }));
    req.on('error', reject);
    if (opts.timeoutMs !== undefined) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`no response within ${opts.timeoutMs} ms`)));
    req.end(opts.body);
  });
}

/** Sends raw bytes and returns everything the server wrote until it closed or `ms` passed. */
export function rawRequest(port: number, data: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => sock.destroy(), ms);
    sock.on('data', (c) => chunks.push(c));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    sock.on('error', reject);
    sock.write(data);
  });
}

export interface H2Response { status: number; headers: import('node:http2').IncomingHttpHeaders; text: string }

/** One HTTP/2 request on an open session; `body` parts are written as DATA frames (none: END_STREAM on HEADERS). */
export function h2Request(session: import('node:http2').ClientHttp2Session, headers: import('node:http2').OutgoingHttpHeaders, body?: string[]): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let got: import('node:http2').IncomingHttpHeaders = {};
    let text = '';
    stream.on('response', (h) => { got = h; status = Number(h[':status']); });
    stream.on('data', (c: Buffer) => { text += c.toString(); });
    stream.on('end', () => resolve({ status, headers: got, text }));
    stream.on('error', reject);
    if (body) {
      for (const part of body) stream.write(part);
      stream.end();
    }
  });
}
