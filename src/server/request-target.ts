/**
 * RFC 9112 3.2: the request target. Origin-form (`/path?q`) is the norm; absolute-form
 * (`http://host/path`) is accepted, and its authority must agree with Host, or the request is refused
 * (a proxy that routes on one and forwards the other is a smuggling vector). Anything else but `*` is a 400.
 */
import { errors } from '../core/errors.js';

/** The origin-form of an absolute-form target, or undefined when the target is already origin-form. */
export function originForm(target: string, hostHeader: string | undefined): string | undefined {
  if (target.charCodeAt(0) === 47 /* / */) return undefined;
  if (target === '*') return undefined;
  const m = /^https?:\/\/([^/?#]*)([^#]*)$/i.exec(target);
  if (!m) throw errors.badRequest(new Error('request target is neither origin-form nor absolute-form'));
  const authority = m[1]!.toLowerCase();
  if (hostHeader === undefined || authority !== hostHeader.toLowerCase()) {
    throw errors.badRequest(new Error('absolute-form authority differs from Host'));
  }
  const rest = m[2]!;
  return rest.startsWith('/') ? rest : `/${rest}`;
}
