/**
 * A small authoritative DNS server on 127.0.0.1 (UDP) for the discovery tests: answers A, AAAA and SRV
 * questions from a table the test sets and changes, with the TTLs it sets; can answer SERVFAIL or stay silent.
 * Only what the tests need of RFC 1035 (one question, answers with the question's name compressed).
 */
import { createSocket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import type { TestContext } from 'node:test';

export type DnsRecord =
  | { type: 'A'; address: string; ttl: number }
  | { type: 'AAAA'; address: string; ttl: number }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl: number };

export interface DnsServer {
  /** `127.0.0.1:PORT`, for `resolver`. */
  address: string;
  /** Replaces the records of a name (lower case, no trailing dot). */
  set(name: string, records: DnsRecord[]): void;
  /** `answer` normally; `servfail` answers rcode 2; `silent` answers nothing (a dead server). */
  mode: 'answer' | 'servfail' | 'silent';
  /** Questions received, as `TYPE name`. */
  queries: string[];
}

const TYPES: Record<number, DnsRecord['type']> = { 1: 'A', 28: 'AAAA', 33: 'SRV' };
const CODES = { A: 1, AAAA: 28, SRV: 33 } as const;

function readName(buf: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  while (buf[at]! !== 0) {
    const len = buf[at]!;
    labels.push(buf.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: at + 1 };
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((l) => l !== '');
  return Buffer.concat([...parts.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function rdata(r: DnsRecord): Buffer {
  if (r.type === 'A' && isIPv4(r.address)) return Buffer.from(r.address.split('.').map(Number));
  if (r.type === 'AAAA' && isIPv6(r.address)) return ipv6Bytes(r.address);
  if (r.type === 'SRV') {
    const head = Buffer.alloc(6);
    head.writeUInt16BE(r.priority, 0);
    head.writeUInt16BE(r.weight, 2);
    head.writeUInt16BE(r.port, 4);
    return Buffer.concat([head, encodeName(r.target)]);
  }
  throw new Error(`bad test record ${JSON.stringify(r)}`);
}

function answerRecord(r: DnsRecord): Buffer {
  const data = rdata(r);
  const fixed = Buffer.alloc(12);
  fixed.writeUInt16BE(0xc00c, 0); // the question's name, at offset 12 (RFC 1035 4.1.4)
  fixed.writeUInt16BE(CODES[r.type], 2);
  fixed.writeUInt16BE(1, 4); // class IN
  fixed.writeUInt32BE(r.ttl, 6);
  fixed.writeUInt16BE(data.length, 10);
  return Buffer.concat([fixed, data]);
}

function reply(query: Buffer, qEnd: number, rcode: number, answers: DnsRecord[]): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  header.writeUInt16BE(0x8000 | 0x0400 | (query.readUInt16BE(2) & 0x0100) | rcode, 2); // QR, AA, RD copied
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, query.subarray(12, qEnd), ...answers.map(answerRecord)]);
}

/** Starts the server; it is closed when the test ends. */
export async function startDnsServer(t: TestContext): Promise<DnsServer> {
  const table = new Map<string, DnsRecord[]>();
  const socket = createSocket('udp4');
  const server: DnsServer = {
    address: '',
    mode: 'answer',
    queries: [],
    set: (name, records) => void table.set(name.toLowerCase(), records),
  };
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    const q = readName(msg, 12);
    const type = TYPES[msg.readUInt16BE(q.end)];
    const qEnd = q.end + 4;
    server.queries.push(`${type ?? msg.readUInt16BE(q.end)} ${q.name}`);
    if (server.mode === 'silent') return;
    const records = table.get(q.name);
    const out = server.mode === 'servfail'
      ? reply(msg, qEnd, 2, [])
      : reply(msg, qEnd, records ? 0 : 3, (records ?? []).filter((r) => r.type === type)); // 3: NXDOMAIN
    socket.send(out, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  server.address = `127.0.0.1:${socket.address().port}`;
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return server;
}
