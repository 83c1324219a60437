/**
 * The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): a header a load balancer sends before
 * the connection's own bytes, naming the client it accepted the connection from. Read on listeners with
 * `proxy_protocol: true` (only from `trusted_proxies`), written to upstreams with `proxy_protocol: v1|v2`.
 */
import { isIPv4, isIPv6, type BlockList, type Socket } from 'node:net';

/** Where a connection came from and went to, as a PROXY header tells it. */
export interface ProxiedAddress {
  source: string;
  sourcePort: number;
  destination: string;
  destinationPort: number;
}

/** A header read: its length, and the addresses (undefined for v1 UNKNOWN and v2 LOCAL: use the socket's). */
export interface ProxyHeader {
  length: number;
  address: ProxiedAddress | undefined;
}

/** proxy-protocol.txt 2.2: the v2 signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** proxy-protocol.txt 2.1: a v1 line is at most 107 bytes with its CRLF. */
const V1_MAX = 107;
const V1_PREFIX = Buffer.from('PROXY ');
/** Bound on a v2 header's address block plus TLVs (real ones are well under 1 KiB). */
const V2_MAX = 4096;

/**
 * Reads a PROXY header at the start of `buf`. `undefined`: more bytes are needed; `null`: not a valid header
 * (the connection must be closed: a listener that expects the header never takes bytes without it).
 */
export function readProxyHeader(buf: Buffer): ProxyHeader | null | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === 0x0d) return readV2(buf);
  if (buf[0] === 0x50 /* P */) return readV1(buf);
  return null;
}

function readV1(buf: Buffer): ProxyHeader | null | undefined {
  const n = Math.min(buf.length, V1_PREFIX.length);
  if (!buf.subarray(0, n).equals(V1_PREFIX.subarray(0, n))) return null;
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? null : undefined;
  if (end + 2 > V1_MAX) return null;
  const parts = buf.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { length, address: undefined };
  // "PROXY TCP4|TCP6 SRC DST SPORT DPORT"
  if (parts.length !== 6) return null;
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const ipOk = proto === 'TCP4' ? isIPv4(src) && isIPv4(dst) : proto === 'TCP6' ? isIPv6(src) && isIPv6(dst) : false;
  const port = (s: string): number => (/^\d{1,5}$/.test(s) && Number(s) <= 65535 ? Number(s) : -1);
  if (!ipOk || port(sport) < 0 || port(dport) < 0) return null;
  return { length, address: { source: src, sourcePort: port(sport), destination: dst, destinationPort: port(dport) } };
}

function readV2(buf: Buffer): ProxyHeader | null | undefined {
  const n = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return null;
  if (buf.length < 16) return undefined;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return null; // version 2
  const family = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (len > V2_MAX) return null;
  if (buf.length < 16 + len) return undefined;
  const length = 16 + len;
  const cmd = verCmd & 0x0f;
  if (cmd === 0) return { length, address: undefined }; // LOCAL: the proxy's own connection (a health check)
  if (cmd !== 1) return null;
  const body = buf.subarray(16, length);
  // 2.2: 0x11 TCP over IPv4, 0x21 TCP over IPv6; UDP and UNIX sockets are kept as the socket's own address.
  if (family === 0x11 && len >= 12) {
    const ip = (o: number): string => [...body.subarray(o, o + 4)].join('.');
    return { length, address: { source: ip(0), destination: ip(4), sourcePort: body.readUInt16BE(8), destinationPort: body.readUInt16BE(10) } };
  }
  if (family === 0x21 && len >= 36) {
    const ip = (o: number): string => normalise6(body.subarray(o, o + 16));
    return { length, address: { source: ip(0), destination: ip(16), sourcePort: body.readUInt16BE(32), destinationPort: body.readUInt16BE(34) } };
  }
  return { length, address: undefined };
}

function normalise6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The shortest form, as node:net reports addresses (`::1`, `2001:db8::1`).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function v6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The header for a connection, as a PROXY protocol sender writes it before the client's bytes. */
export function encodeProxyHeader(version: 'v1' | 'v2', a: ProxiedAddress): Buffer {
  const mapped = (ip: string): string => (ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip);
  let src = mapped(a.source);
  let dst = mapped(a.destination);
  const four = isIPv4(src) && isIPv4(dst);
  // Mixed families (an IPv4 client on an IPv6 socket): both as IPv6, v4-mapped.
  if (!four) {
    if (isIPv4(src)) src = `::ffff:${src}`;
    if (isIPv4(dst)) dst = `::ffff:${dst}`;
  }
  if (version === 'v1') return Buffer.from(`PROXY ${four ? 'TCP4' : 'TCP6'} ${src} ${dst} ${a.sourcePort} ${a.destinationPort}\r\n`, 'latin1');
  const body = Buffer.alloc(four ? 12 : 36);
  if (four) {
    Buffer.from(src.split('.').map(Number)).copy(body, 0);
    Buffer.from(dst.split('.').map(Number)).copy(body, 4);
  } else {
    v6Bytes(src.startsWith('::ffff:') && src.includes('.') ? `::ffff:${ffff(src)}` : src).copy(body, 0);
    v6Bytes(dst.startsWith('::ffff:') && dst.includes('.') ? `::ffff:${ffff(dst)}` : dst).copy(body, 16);
  }
  const off = four ? 8 : 32;
  body.writeUInt16BE(a.sourcePort, off);
  body.writeUInt16BE(a.destinationPort, off + 2);
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = 0x21; // version 2, PROXY
  head[13] = four ? 0x11 : 0x21;
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

/** `::ffff:1.2.3.4` → `::ffff:102:304` (hex groups, which v6Bytes reads). */
function ffff(ip: string): string {
  const [a, b, c, d] = ip.slice(7).split('.').map(Number) as [number, number, number, number];
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** How long a trusted peer may take to send its PROXY header. */
const HEADER_TIMEOUT_MS = 10_000;

export interface ProxyAcceptOptions {
  /** The peers allowed to send a header (`trusted_proxies`), as of now. */
  trusted(): BlockList | undefined;
  /** Whether the listener expects the header, as of now (a reload may change it). */
  enabled(): boolean;
}

/**
 * A listener's accept step for `proxy_protocol: true`: a connection from a peer outside `trusted_proxies` is
 * closed at once; from a trusted one the header is read (bounded in size and time) and the socket then
 * reports the client it names as its `remoteAddress`/`remotePort`, so logs, connection caps, IP rules and
 * rate limits see the real client. The bytes after the header are put back for the server that follows.
 */
export function proxyProtocolAccept(opts: ProxyAcceptOptions): (socket: Socket, next: (socket: Socket) => void) => void {
  return (socket, next) => {
    if (!opts.enabled()) return next(socket);
    const peer = socket.remoteAddress ?? '';
    const trusted = opts.trusted();
    const ip = peer.startsWith('::ffff:') && isIPv4(peer.slice(7)) ? peer.slice(7) : peer;
    if (!trusted || !ip || !trusted.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6')) {
      socket.destroy();
      return;
    }
    let buf: Buffer = Buffer.alloc(0);
    const fail = (): void => { socket.destroy(); };
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const h = readProxyHeader(buf);
      if (h === undefined) return;
      socket.off('data', onData);
      socket.off('error', fail);
      socket.setTimeout(0);
      socket.pause();
      if (h === null) return fail();
      if (h.address) {
        Object.defineProperty(socket, 'remoteAddress', { value: h.address.source, configurable: true });
        Object.defineProperty(socket, 'remotePort', { value: h.address.sourcePort, configurable: true });
        Object.defineProperty(socket, 'remoteFamily', { value: isIPv4(h.address.source) ? 'IPv4' : 'IPv6', configurable: true });
      }
      if (buf.length > h.length) socket.unshift(buf.subarray(h.length));
      next(socket);
    };
    socket.setTimeout(HEADER_TIMEOUT_MS, fail);
    socket.on('error', fail);
    socket.on('data', onData);
  };
}
