/**
 * undici and socket error codes → the proxy's errors, in one table (by `err.code`, never by message).
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
