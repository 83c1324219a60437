/**
 * undici, Gatehouse's own HTTP/1.1 client (h1/, `GH_H1_*`) and socket error codes → the proxy's errors, in one table (by `err.code`, never by message).
 * As nginx: refused or reset → 502, timeouts → 504. Connect errors are retryable on another server.
 */
import { errors, ProxyError } from '../core/errors.js';

const TABLE: Record<string, (cause: unknown) => ProxyError> = {
  ECONNREFUSED: errors.upstreamConnect,
  EHOSTUNREACH: errors.upstreamConnect,
  ENETUNREACH: errors.upstreamConnect,
  EADDRNOTAVAIL: errors.upstreamConnect,
  ENOTFOUND: errors.upstreamConnect,
  EAI_AGAIN: errors.upstreamConnect,
  UND_ERR_CONNECT_TIMEOUT: errors.upstreamConnectTimeout,
  ETIMEDOUT: errors.upstreamConnectTimeout,
  UND_ERR_HEADERS_TIMEOUT: errors.upstreamHeadersTimeout,
  UND_ERR_BODY_TIMEOUT: errors.upstreamBodyTimeout,
  UND_ERR_SOCKET: errors.upstreamReset,
  ECONNRESET: errors.upstreamReset,
  EPIPE: errors.upstreamReset,
  UND_ERR_CLOSED: errors.upstreamReset,
  UND_ERR_HEADERS_OVERFLOW: errors.upstreamProtocol,
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: errors.upstreamProtocol,
  UND_ERR_RES_EXCEEDED_MAX_SIZE: errors.upstreamProtocol,
  UND_ERR_INFO: errors.upstreamProtocol,
  UND_ERR_ABORTED: errors.clientAborted,
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: errors.clientAborted,
  ERR_STREAM_PREMATURE_CLOSE: errors.clientAborted,
  GH_H1_CONNECT_TIMEOUT: errors.upstreamConnectTimeout,
  GH_H1_HEADERS_TIMEOUT: errors.upstreamHeadersTimeout,
  GH_H1_BODY_TIMEOUT: errors.upstreamBodyTimeout,
  GH_H1_CLOSED: errors.upstreamReset,
  GH_H1_HEADERS_OVERFLOW: errors.upstreamProtocol,
  GH_H1_PROTOCOL: errors.upstreamProtocol,
  GH_H1_ABORTED: errors.clientAborted,
  GH_H1_REQ_ABORTED: errors.clientAborted,
  GH_H1_REQ_CONTENT_LENGTH_MISMATCH: errors.clientAborted,
  // A request a filter made unsendable (a field with CR or LF): the proxy's own fault, never the server's.
  GH_H1_INVALID_REQUEST: errors.internal,
  UND_ERR_INVALID_ARG: errors.internal, // undici's word for the same (engine: node)
  // A bug in the proxy's own response handling, never the server's fault.
  GH_H1_INTERNAL: errors.internal,
};

export function fromUndici(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const make = TABLE[code];
    if (make) return make(err);
    if (code.startsWith('HPE_')) return errors.upstreamProtocol(err);
  }
  return errors.upstreamReset(err);
}
