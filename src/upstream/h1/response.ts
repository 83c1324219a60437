/** What a response (or its absence) says about the connection it came on. */

export class ConnectionError extends Error {
  constructor(message: string, readonly code: string) { super(message); }
}

/** A connection's phases, each with its own time limit. */
export const PHASE = { CONNECT: 1, HEADERS: 2, BODY: 3, SEND: 4, IDLE: 5 } as const;

/** The error of a phase that ran out of time (IDLE is not one: an idle connection just closes). */
export function timeoutError(phase: number): ConnectionError {
  if (phase === PHASE.CONNECT) return new ConnectionError('connect timeout', 'GH_H1_CONNECT_TIMEOUT');
  if (phase === PHASE.HEADERS) return new ConnectionError('response headers timeout', 'GH_H1_HEADERS_TIMEOUT');
  return new ConnectionError(phase === PHASE.SEND ? 'request body send timeout' : 'response body timeout', 'GH_H1_BODY_TIMEOUT');
}

/** A kept-alive connection that closes this soon after a request went out, with no byte back, was closed by the
 * server while idle (its close crossed the request); later, the server may have acted on it: no replay. */
export const STALE_WINDOW_MS = 500;

/**
 * A reused connection that closed before any byte of the response: the server closed it while idle, as the
 * request went out (RFC 9112 9.3.1 "retrying requests"): a replayable request is sent again on a new one.
 */
export function stale(err: Error | undefined): boolean {
  if (err === undefined) return true;
  const code = (err as { code?: unknown }).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

/**
 * `Keep-Alive: timeout=N` of a response (RFC 2068 19.7.1.1, as servers still send it), less a second of margin.
 * `raw`: the client's parser's fields, names in lower case.
 */
export function keepAliveHint(raw: readonly string[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i] !== 'keep-alive') continue;
    const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(raw[i + 1]!);
    if (m) return Number(m[1]) * 1000 - 1000;
  }
  return -1;
}
