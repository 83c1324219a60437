/**
 * Content negotiation for the proxy's own error pages (RFC 9110 12.5.1): does the client prefer text/html to
 * application/json? A small reader of Accept, since only two types are ever offered: each range's weight,
 * and for each offered type the weight of the most specific range that matches it (`text/html` over
 * `text/*` over `*\/*`). Media-type parameters other than q are ignored.
 */

interface Range { type: string; subtype: string; q: number }

/** Splits on commas outside quoted strings. */
function splitList(value: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34 /* " */) quoted = !quoted;
    else if (c === 92 /* \ */ && quoted) i++;
    else if (c === 44 /* , */ && !quoted) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

const WEIGHT = /^q=(0(\.\d{0,3})?|1(\.0{0,3})?)$/i;

function parseRange(part: string): Range | undefined {
  const [media, ...params] = part.split(';').map((s) => s.trim());
  const slash = media!.indexOf('/');
  if (slash < 1 || slash === media!.length - 1) return undefined;
  let q = 1;
  for (const p of params) {
    if (!/^q=/i.test(p)) continue;
    // RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); anything else is ignored.
    if (!WEIGHT.test(p)) return undefined;
    q = Number(p.slice(2));
  }
  return { type: media!.slice(0, slash).toLowerCase(), subtype: media!.slice(slash + 1).toLowerCase(), q };
}

/** The weight the client gives `type/subtype`: that of the most specific matching range; 0 if none. */
function weightOf(ranges: readonly Range[], type: string, subtype: string): number {
  let specificity = -1;
  let q = 0;
  for (const r of ranges) {
    const s = r.type === type ? (r.subtype === subtype ? 2 : r.subtype === '*' ? 1 : -1) : r.type === '*' && r.subtype === '*' ? 0 : -1;
    if (s > specificity || (s === specificity && r.q > q)) {
      specificity = s;
      q = r.q;
    }
  }
  return specificity < 0 ? 0 : q;
}

/**
 * True when the client asks for HTML more than for JSON: a browser (`text/html,…,*\/*;q=0.8`). No Accept,
 * `*\/*` alone (curl), or a tie: JSON, the API default.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = splitList(accept).map(parseRange).filter((r): r is Range => r !== undefined);
  const html = weightOf(ranges, 'text', 'html');
  return html > 0 && html > weightOf(ranges, 'application', 'json');
}
