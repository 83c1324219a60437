/**
 * gRPC over HTTP/2 as the proxy sees it (the PROTOCOL-HTTP2 spec of grpc/grpc): which requests are gRPC, their
 * deadline (`grpc-timeout`), and the proxy's own errors as gRPC statuses, since a gRPC client reads the
 * outcome from the `grpc-status` trailer, not from the HTTP status.
 */
/** A gRPC request (its Content-Type): application/grpc, application/grpc+proto, application/grpc+json… */
export function isGrpc(ct: string | undefined): boolean {
  return ct !== undefined && ct.startsWith('application/grpc') && !ct.startsWith('application/grpc-web');
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** `grpc-timeout` in ms ("TimeoutValue TimeoutUnit": at most 8 digits, then H M S m u n); undefined if absent or malformed. */
export function grpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

/** gRPC status codes the proxy answers with (grpc/grpc doc/statuscodes.md). */
export const GrpcStatus = {
  INTERNAL: 13, UNAVAILABLE: 14, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNAUTHENTICATED: 16,
  PERMISSION_DENIED: 7, UNIMPLEMENTED: 12,
} as const;

/** The gRPC status for an HTTP status of the proxy's own (as grpc/grpc doc/http-grpc-status-mapping.md, 404/405 as UNIMPLEMENTED). */
export function grpcStatusOf(httpStatus: number): number {
  switch (httpStatus) {
    case 502: case 503: return GrpcStatus.UNAVAILABLE;
    case 504: return GrpcStatus.DEADLINE_EXCEEDED;
    case 429: return GrpcStatus.RESOURCE_EXHAUSTED;
    case 401: return GrpcStatus.UNAUTHENTICATED;
    case 403: return GrpcStatus.PERMISSION_DENIED;
    case 404: case 405: return GrpcStatus.UNIMPLEMENTED;
    default: return GrpcStatus.INTERNAL;
  }
}

/** Percent-encodes a grpc-message: bytes outside printable ASCII, and '%' (PROTOCOL-HTTP2, Status-Message). */
export function grpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The status fields of a gRPC response that the proxy makes itself: `code` and the request id, nothing internal. */
export function grpcStatusFields(status: number, code: string, requestId: string): Record<string, string> {
  return { 'grpc-status': String(grpcStatusOf(status)), 'grpc-message': grpcMessage(`${code} (request id ${requestId})`) };
}
