/**
 * node:http's request and response as the pipeline's DownstreamRequest and DownstreamResponse. They are the
 * classes node:http builds for each request (the servers' `IncomingMessage` / `ServerResponse` options), so
 * the adapter costs no object of its own: a few members over what node:http already has.
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { fieldObject, type DownstreamRequest, type DownstreamResponse } from '../core/downstream.js';

export class NodeRequest extends IncomingMessage implements DownstreamRequest {
  // Set by node:http's parser on every request (typed optional for client-side messages).
  declare method: string;
  declare httpVersion: '1.0' | '1.1';
  /** socket.bytesRead when the head had been read (the parser builds the request then): counts a chunked body. */
  readonly #atHead: number;

  constructor(socket: Socket) {
    super(socket);
    this.#atHead = socket.bytesRead;
  }

  get target(): string { return this.url!; }
  /** node:http's llhttp, strict (listen.ts), refuses a request with an invalid field name or value. */
  get fieldsChecked(): boolean { return true; }
  get body(): this { return this; }
  get remoteAddress(): string | undefined { return this.socket?.remoteAddress; }
  get localPort(): number | undefined { return this.socket?.localPort; }
  get bodyBytes(): number { return Math.max(0, (this.socket?.bytesRead ?? this.#atHead) - this.#atHead); }

  header(name: string): string | undefined {
    const v = this.headers[name];
    return v === undefined || typeof v === 'string' ? v : v.join(', ');
  }

  peerCertificate(): PeerCertificate | undefined {
    const sock = this.socket as TLSSocket | null;
    if (!sock?.encrypted || !sock.authorized) return undefined;
    const cert = sock.getPeerCertificate();
    return cert?.subject ? cert : undefined;
  }
}

export class NodeResponse extends ServerResponse<NodeRequest> implements DownstreamResponse {
  get gone(): boolean {
    // The connection closed (in the request body, or before the response went out whole); node:http marks
    // every response destroyed once it closes, finished or not.
    return (this.destroyed || (this.req.destroyed && !this.req.complete)) && !this.writableFinished;
  }

  /**
   * node:http's writeHead, which also takes DownstreamResponse's `checked` third: node:http checks every field
   * itself, and would read a number there as the fields (its third argument when the second is a reason).
   */
  override writeHead(status: number, reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], fields?: OutgoingHttpHeaders | OutgoingHttpHeader[] | number): this {
    if (typeof reason === 'string') return super.writeHead(status, reason, typeof fields === 'number' ? undefined : fields);
    return super.writeHead(status, reason);
  }

  writeInformational(status: number, headers: readonly string[]): boolean {
    if (this.headersSent) return false;
    if (status === 102) {
      this.writeProcessing();
      return true;
    }
    if (status !== 103) return false;
    const hints = fieldObject(headers);
    // node:http writes Early Hints only with a Link field (RFC 8297).
    if (hints.link === undefined) return false;
    this.writeEarlyHints(hints);
    return true;
  }

  /** Also takes a flat `[name, value, …]` list (DownstreamResponse). */
  override addTrailers(fields: readonly string[] | OutgoingHttpHeaders | readonly [string, string][]): void {
    if (!Array.isArray(fields) || typeof fields[0] !== 'string') return super.addTrailers(fields as OutgoingHttpHeaders);
    const pairs: [string, string][] = [];
    for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i] as string, fields[i + 1] as string]);
    super.addTrailers(pairs);
  }
}

/** The options that make node:http's servers build these classes (node:https takes the same). */
export const nodeClasses = { IncomingMessage: NodeRequest, ServerResponse: NodeResponse } as const;
/** The same for node:http2's secure server, for its HTTP/1.1 connections (`allowHTTP1`). */
export const nodeClassesH1 = { Http1IncomingMessage: NodeRequest, Http1ServerResponse: NodeResponse } as const;
