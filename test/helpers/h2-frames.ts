/**
 * A bare HTTP/2 client writing frames itself (RFC 9113 §4, h2c by prior knowledge), for the sequences
 * node:http2's client never sends: a stream reset without END_STREAM, a frame that is a connection error,
 * a TCP half-close. It answers PINGs, as every real client does.
 */
import { connect, type Socket } from 'node:net';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

export interface RawH2 {
  readonly socket: Socket;
  /** Types of the frames received, in order. */
  readonly received: number[];
  /** Resolves when the server has closed the connection (its FIN or a reset). */
  readonly closed: Promise<void>;
  headers(id: number, fields: Record<string, string>, endStream: boolean): void;
  data(id: number, payload: string | Buffer, endStream?: boolean): void;
  reset(id: number, code: number): void;
  frame(type: number, flags: number, id: number, payload?: Buffer): void;
}

function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal fields without indexing, new names (RFC 7541 §6.2.2): no table, no Huffman. */
function hpack(fields: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (k.length > 126 || v.length > 126) throw new Error('short fields only');
    parts.push(Buffer.from([0, k.length]), Buffer.from(k), Buffer.from([v.length]), Buffer.from(v));
  }
  return Buffer.concat(parts);
}

export async function rawH2(port: number): Promise<RawH2> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const received: number[] = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      const [type, flags] = [buf[3]!, buf[4]!];
      received.push(type);
      if (type === FRAME.PING && !(flags & ACK) && !socket.writableEnded) socket.write(frame(FRAME.PING, ACK, 0, buf.subarray(9, 9 + len)));
      buf = buf.subarray(9 + len);
    }
  });
  const closed = new Promise<void>((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  await new Promise((r) => socket.once('connect', r));
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FRAME.SETTINGS, 0, 0), frame(FRAME.SETTINGS, ACK, 0)]));
  return {
    socket, received, closed,
    headers(id, fields, endStream) {
      socket.write(frame(FRAME.HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), id, hpack({ ':scheme': 'http', ':authority': 'a.test', ...fields })));
    },
    data(id, payload, endStream = false) {
      socket.write(frame(FRAME.DATA, endStream ? END_STREAM : 0, id, Buffer.from(payload)));
    },
    reset(id, code) {
      const p = Buffer.alloc(4);
      p.writeUInt32BE(code);
      socket.write(frame(FRAME.RST_STREAM, 0, id, p));
    },
    frame(type, flags, id, payload) {
      socket.write(frame(type, flags, id, payload));
    },
  };
}
