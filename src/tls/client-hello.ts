/**
 * A TLS ClientHello reader (RFC 8446 4.1.2, RFC 6066 3, RFC 7301 3.1): the server name and the ALPN
 * protocols a client offers, read from the first handshake records before any TLS state exists. Used to
 * route a connection before the handshake (the acme-tls/1 challenge of RFC 8737; TLS passthrough by SNI).
 */

export interface ClientHello {
  servername: string | undefined;
  alpn: string[];
}

/** Above this, a ClientHello is not waited for any further (RFC 8446 allows 2^24, real ones are < 8 KiB). */
export const MAX_CLIENT_HELLO = 16 * 1024;

/**
 * `undefined`: more bytes are needed. `null`: not a TLS ClientHello (or a malformed one); the caller hands
 * the bytes to the TLS stack, which gives the right alert.
 */
export function readClientHello(buf: Buffer): ClientHello | null | undefined {
  // Reassemble the handshake message from one or more records of type 22 (handshake).
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  while (need < 0 || have < need) {
    if (buf.length < off + 5) return buf.length > MAX_CLIENT_HELLO ? null : undefined;
    if (buf[off] !== 22 || buf[off + 1] !== 3) return null;
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 2048) return null;
    if (buf.length < off + 5 + len) return buf.length > MAX_CLIENT_HELLO ? null : undefined;
    parts.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0) {
      const first = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (first.length < 4) continue;
      if (first[0] !== 1) return null; // handshake type 1: client_hello
      need = 4 + first.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO) return null;
    }
  }
  return parseHello(Buffer.concat(parts).subarray(4, need));
}

function parseHello(b: Buffer): ClientHello | null {
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return null;
  p += 1 + b[p]!; // legacy_session_id
  if (b.length < p + 2) return null;
  p += 2 + b.readUInt16BE(p); // cipher_suites
  if (b.length < p + 1) return null;
  p += 1 + b[p]!; // legacy_compression_methods
  const hello: ClientHello = { servername: undefined, alpn: [] };
  if (b.length === p) return hello; // no extensions
  if (b.length < p + 2) return null;
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return null;
  p += 2;
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const ext = b.subarray(p + 4, p + 4 + len);
    if (p + 4 + len > end) return null;
    p += 4 + len;
    if (type === 0) hello.servername = serverName(ext);
    else if (type === 16) hello.alpn = protocols(ext);
  }
  return hello;
}

function serverName(ext: Buffer): string | undefined {
  // server_name_list: (name_type u8, host_name opaque<1..2^16-1>)+
  let p = 2;
  while (p + 3 <= ext.length) {
    const type = ext[p]!;
    const len = ext.readUInt16BE(p + 1);
    if (type === 0 && p + 3 + len <= ext.length) return ext.toString('latin1', p + 3, p + 3 + len).toLowerCase();
    p += 3 + len;
  }
  return undefined;
}

function protocols(ext: Buffer): string[] {
  // protocol_name_list: (opaque<1..2^8-1>)+
  const out: string[] = [];
  let p = 2;
  while (p < ext.length) {
    const len = ext[p]!;
    if (p + 1 + len > ext.length) break;
    out.push(ext.toString('latin1', p + 1, p + 1 + len));
    p += 1 + len;
  }
  return out;
}
