/**
 * gRPC through the forwarding path: the request's deadline (`grpc-timeout`) bounds the whole exchange, and
 * status fields an upstream put in a Trailers-Only response head are sent on as trailers.
 */
import type { RequestCtx } from '../core/context.js';
import { grpcTimeoutMs } from '../core/grpc.js';

/** Fields that carry a gRPC call's outcome (PROTOCOL-HTTP2: Status, Status-Message, rich status details). */
const STATUS_FIELDS: ReadonlySet<string> = new Set(['grpc-status', 'grpc-message', 'grpc-status-details-bin']);

/**
 * Takes the status fields out of the response head of a gRPC request (`headers`, lower-cased name/value pairs,
 * changed in place). An upstream's Trailers-Only response (one HEADERS frame with END_STREAM) cannot be relayed
 * as one: the head goes out before the proxy knows that no body follows, so its status goes out as trailers
 * instead: a response with no messages, which gRPC clients read the same way.
 */
export function takeGrpcStatus(headers: string[]): string[] | undefined {
  let taken: string[] | undefined;
  for (let i = 0; i < headers.length;) {
    if (STATUS_FIELDS.has(headers[i]!)) {
      (taken ??= []).push(headers[i]!, headers[i + 1]!);
      headers.splice(i, 2);
    } else {
      i += 2;
    }
  }
  return taken;
}

/**
 * Arms the deadline of a gRPC request with `grpc-timeout`: `expire` runs when it passes, unless the response
 * has ended (the timer is cleared when the client's response closes). No timer without `grpc-timeout`.
 */
export function armGrpcDeadline(ctx: RequestCtx, expire: () => void): void {
  const ms = grpcTimeoutMs(ctx.req.header('grpc-timeout'));
  if (ms === undefined) return;
  const timer = setTimeout(expire, Math.max(1, Math.ceil(ms)));
  timer.unref();
  ctx.res.on('close', () => clearTimeout(timer));
}
