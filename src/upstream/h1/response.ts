/** What a response (or its absence) says about the connection it came on. */

export class ConnectionError extends Error {
  constructor(message: string, readonly code: string) { super(message); }
}

/**
 * A reused connection that closed before any byte of the response: the server closed it while idle, as the
 * request went out (RFC 9112 9.3.1 "retrying requests"): a replayable request is sent again on a new one.
 */
export function stale(err: Error | undefined): boolean {
  if (err === undefined) return true;
  const code = (err as { code?: unknown }).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** `Keep-Alive: timeout=N` of a response (RFC 2068 19.7.1.1, as servers still send it), less a second of margin. */
export function keepAliveHint(raw: Buffer[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toString('latin1').toLowerCase() !== 'keep-alive') continue;
    const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(raw[i + 1]!.toString('latin1'));
    if (m) return Number(m[1]) * 1000 - 1000;
  }
  return -1;
}
