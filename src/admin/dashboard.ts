/**
 * The dashboard on the admin listener (docs/operations.md "Dashboard"): `GET /ui` (the page), `/ui/app.js`,
 * `/ui/app.css`, and its live feed `GET /api/events` (ui/events.ts). The page and its files hold no data and
 * need no token (the page asks for one); every figure comes through `/api/`, which does.
 */
import type { Answer, Call } from './endpoints.js';
import { SCRIPT } from './ui/app.js';
import { PAGE, STYLE } from './ui/page.js';

export { createEventHub, type EventHub } from './ui/events.js';

const COMMON = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cross-origin-resource-policy': 'same-origin' };

/** Scripts and styles from this origin only, no inline code, no framing; fetches to the admin API only. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const file = (contentType: string, text: string, headers: Record<string, string> = {}): (() => Answer) => {
  const answer: Answer = { status: 200, body: undefined, text: { contentType, text }, headers: { ...COMMON, ...headers } };
  return () => answer;
};

export const uiPage = file('text/html; charset=utf-8', PAGE, { 'content-security-policy': CSP, 'x-frame-options': 'DENY' });
export const uiScript = file('text/javascript; charset=utf-8', SCRIPT);
export const uiStyle = file('text/css; charset=utf-8', STYLE);

/** `GET /api/events`: the stream takes the response over. */
export function uiEvents(c: Call): Answer {
  return { status: 200, body: undefined, stream: (res) => c.events.open(res) };
}
