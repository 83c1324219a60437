/**
 * Upkeep of one HTTP/2 connection, which node:http2 leaves to the application:
 * - idle: no open stream for `idleMs` → GOAWAY, then closed (nginx's keepalive_timeout for HTTP/2). A stream
 *   that stays open (a long poll, an event stream) keeps its connection, however quiet.
 * - liveness: streams open but nothing read or written for `idleMs` → PING; no answer within `idleMs` →
 *   the connection is closed and its streams end as client aborts (499, their upstream requests aborted).
 *   It catches a client gone without a word, and a connection nghttp2 has given up on: once it has sent
 *   GOAWAY for a connection error (RFC 9113 5.4.1) it stops reading, Node tells the application nothing,
 *   and the open streams, the socket (the client's FIN unread: CLOSE-WAIT) and its slot in
 *   `connections_per_client` would otherwise stay until the upstream answers, or forever.
 */

/** What the upkeep uses of a node:http2 ServerHttp2Session. */
export interface H2Session {
  close(): void;
  destroy(): void;
  ping(cb: (err: Error | null) => void): boolean;
  setTimeout(ms: number): void;
  readonly closed: boolean;
  readonly destroyed: boolean;
  once(e: 'close', f: () => void): void;
  on(e: 'stream', f: (stream: { once(e: 'close', f: () => void): void }) => void): void;
  on(e: 'timeout', f: () => void): void;
}

export interface SessionUpkeep {
  /** Sends a PING (unless one is out) and closes the connection if no answer comes within `idleMs`. The
   * drain calls it before its GOAWAY: a closed session can no longer be pinged. */
  probe(): void;
}

export function keepSession(session: H2Session, idleMs: number): SessionUpkeep {
  let open = 0;
  let idle: NodeJS.Timeout | undefined;
  let waiting: NodeJS.Timeout | undefined;
  const gone = (): boolean => session.closed || session.destroyed;
  const arm = (): void => {
    idle = setTimeout(() => session.close(), idleMs);
    idle.unref();
  };
  const probe = (): void => {
    if (waiting || open === 0 || gone()) return;
    waiting = setTimeout(() => session.destroy(), idleMs);
    waiting.unref();
    const sent = session.ping((err) => {
      if (err) return; // cancelled: the session is closing anyway (or the timer ends it)
      clearTimeout(waiting);
      waiting = undefined;
      if (!gone()) session.setTimeout(idleMs); // a quiet stream is asked again after another idleMs
    });
    if (!sent) session.destroy();
  };
  arm();
  session.on('stream', (stream) => {
    open++;
    if (idle) { clearTimeout(idle); idle = undefined; }
    stream.once('close', () => {
      if (--open === 0 && !gone()) arm();
    });
  });
  // Node's session timer: restarted by every frame read or written on the connection.
  session.on('timeout', probe);
  session.setTimeout(idleMs);
  session.once('close', () => {
    clearTimeout(idle);
    clearTimeout(waiting);
  });
  return { probe };
}
