/**
 * RFC 9111 for a shared cache: which responses may be stored (section 3), how long they stay fresh (4.2), how
 * old they are (4.2.3), and which request directives (5.2.1) let a stored response be used. Written by hand
 * rather than with http-cache-semantics: that library ignores the Date header (RFC 9111 4.2.3 needs it),
 * knows no targeted fields (RFC 9213) and treats stale-if-error as a private-cache option.
 */

/** Cache-Control directives: name (lower case) → argument, or true when there is none. */
export type Directives = Map<string, string | true>;

/**
 * RFC 9111 5.2: parses Cache-Control field values; the first of a repeated directive wins (4.2.1). The syntax is
 * `token [ "=" ( token / quoted-string ) ]` with no whitespace around "=": a directive written otherwise
 * ("max-age = 60") counts as present with an invalid argument (''), which makes max-age stale (4.2.1 encourages
 * treating invalid freshness information as stale). Empty list elements are skipped (RFC 9110 5.6.1).
 */
export function parseCacheControl(values: readonly string[]): Directives {
  const out: Directives = new Map();
  for (const value of values) {
    // A comma inside a quoted argument (no-cache="a, b") does not split directives.
    const re = /\s*(?:([^=,\s]+)(?:=("(?:[^"\\]|\\.)*"|[^,"]*))?([^,]*))?(?:,|$)/gy;
    let m: RegExpExecArray | null;
    while (re.lastIndex < value.length && (m = re.exec(value)) !== null) {
      if (m[0] === '') break;
      if (m[1] === undefined) continue;
      const name = m[1].toLowerCase();
      if (out.has(name)) continue;
      const raw = m[2];
      // An invalid argument is '' (not `true`, which would read as a bare max-stale: any staleness).
      let arg: string | true = m[3]!.trim() === '' ? true : '';
      if (arg === true && raw !== undefined) arg = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw.trimEnd();
      out.set(name, arg);
    }
  }
  return out;
}

/**
 * RFC 9111 1.2.2 delta-seconds: digits only (a quoted form is accepted); past 2^31 it is 2^31. Anything else
 * (negative, fractional, empty) is invalid: undefined.
 */
export function deltaSeconds(arg: string | true | undefined): number | undefined {
  if (typeof arg !== 'string' || !/^\d+$/.test(arg)) return undefined;
  const n = Number(arg);
  return n > 2147483648 ? 2147483648 : n;
}

/**
 * RFC 9213: a targeted field is a Structured Fields dictionary (RFC 8941). Returns its directives, or undefined
 * when it does not parse (then it is ignored, and Cache-Control applies).
 */
export function parseTargeted(value: string | undefined): Directives | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const out: Directives = new Map();
  for (const part of value.split(',')) {
    const m = /^\s*([a-z*][a-z0-9_.*-]*)(?:=("(?:[^"\\]|\\.)*"|-?\d{1,15}(?:\.\d{1,3})?|\?[01]|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*))?((?:;[^,]*)?)\s*$/.exec(part);
    if (!m) return undefined;
    const name = m[1]!;
    const raw = m[2];
    // An SF dictionary keeps the last value of a repeated key (RFC 8941 4.2.2).
    out.set(name, raw === undefined || raw === '?1' ? true : raw.startsWith('"') ? raw.slice(1, -1) : raw);
    if (raw === '?0') out.delete(name);
  }
  return out.size ? out : undefined;
}

/** Status codes a cache may store without explicit freshness (RFC 9110 15.1, "heuristically cacheable"). */
const HEURISTIC_STATUS = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);
/** Final status codes whose semantics this cache understands (RFC 9111 5.2.2.3 must-understand). */
const UNDERSTOOD = new Set([200, 203, 204, 206, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501]);

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY = '(?:mon|tue|wed|thu|fri|sat|sun)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
/** RFC 9110 5.6.7: IMF-fixdate, rfc850-date and asctime-date, exactly as their ABNF has them (any letter case). */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
const RFC850_DATE = new RegExp(`^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`, 'i');

function utc(year: number, month: string, day: number, h: string, m: string, s: string): number | undefined {
  const mon = MONTHS.indexOf(month.toLowerCase());
  const [hh, mm, ss] = [Number(h), Number(m), Number(s)];
  if (hh > 23 || mm > 59 || ss > 60) return undefined;
  const t = Date.UTC(year, mon, day, hh, mm, ss);
  // No 30 February: the day must exist in that month.
  return new Date(t).getUTCDate() === day || ss === 60 ? t : undefined;
}

/**
 * RFC 9110 5.6.7: an HTTP-date in ms; undefined when the value is not one of the three formats (a cache then
 * treats an Expires as already past, RFC 9111 5.3). Names are matched in any case (5.6.7 asks recipients to
 * be robust); anything else (other time zones, missing comma, extra spaces, one-digit hours) is invalid.
 */
export function httpDate(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  let m = IMF_FIXDATE.exec(v);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = ASCTIME_DATE.exec(v);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!);
  m = RFC850_DATE.exec(v);
  if (!m) return undefined;
  // A two-digit year more than 50 years ahead is the most recent past year with those digits.
  const thisYear = new Date(now).getUTCFullYear();
  let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
  if (year > thisYear + 50) year -= 100;
  else if (year <= thisYear - 50) year += 100;
  return utc(year, m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
}

/** What a stored response's freshness depends on, read once from its header fields. */
export interface Freshness {
  /** The directives this cache obeys: the targeted field's (RFC 9213), else Cache-Control's. */
  cc: Directives;
  /** The targeted field replaced Cache-Control (then Expires is ignored too). */
  targeted: boolean;
  /** Freshness lifetime in seconds (RFC 9111 4.2.1), heuristic when `heuristic`. */
  lifetime: number;
  heuristic: boolean;
  /** The response may not be served stale without revalidation (must-revalidate, proxy-revalidate, s-maxage). */
  mustRevalidate: boolean;
  /** The response must be validated on every use (no-cache). */
  noCache: boolean;
  /** corrected_initial_age of RFC 9111 4.2.3, in seconds. */
  initialAge: number;
  staleWhileRevalidate: number;
  staleIfError: number;
}

/** Header fields as the policy reads them: every value of a (lower-case) name. */
export type FieldReader = (name: string) => string[];

export function fieldsOf(headers: readonly string[]): FieldReader {
  return (name) => {
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) out.push(headers[i + 1]!);
    return out;
  };
}

/** The targeted fields this cache obeys, most specific first (RFC 9213 2.1). */
export const TARGETED = ['gatehouse-cache-control', 'cdn-cache-control'] as const;

export function directivesOf(fields: FieldReader): { cc: Directives; targeted: boolean } {
  for (const name of TARGETED) {
    const d = parseTargeted(fields(name).join(', ') || undefined);
    if (d) return { cc: d, targeted: true };
  }
  return { cc: parseCacheControl(fields('cache-control')), targeted: false };
}

export interface HeuristicOptions { percent: number; maxMs: number }

/** RFC 9111 4.2.1 / 4.2.2 / 4.2.3, for a response received at `responseTime` to a request sent at `requestTime`. */
export function freshness(status: number, fields: FieldReader, times: { requestTime: number; responseTime: number }, h: HeuristicOptions): Freshness {
  const { cc, targeted } = directivesOf(fields);
  const dateValue = httpDate(fields('date')[0]) ?? times.responseTime;
  let lifetime: number | undefined;
  let heuristic = false;
  const sMaxage = cc.has('s-maxage') ? deltaSeconds(cc.get('s-maxage')) ?? 0 : undefined;
  const maxAge = cc.has('max-age') ? deltaSeconds(cc.get('max-age')) ?? 0 : undefined;
  if (sMaxage !== undefined) lifetime = sMaxage;
  else if (maxAge !== undefined) lifetime = maxAge;
  else if (!targeted && fields('expires').length) {
    // An invalid Expires (e.g. "0") means already expired (RFC 9111 5.3).
    // Expires is a single date: several lines (joined as a list) are invalid too.
    const exp = httpDate(fields('expires').join(', '));
    lifetime = exp === undefined ? 0 : Math.max(0, Math.floor((exp - dateValue) / 1000));
  } else if (HEURISTIC_STATUS.has(status) || cc.has('public')) {
    const lm = httpDate(fields('last-modified')[0]);
    heuristic = true;
    lifetime = lm !== undefined && lm < dateValue ? Math.min(((dateValue - lm) / 1000) * (h.percent / 100), h.maxMs / 1000) : 0;
    lifetime = Math.floor(lifetime);
  }
  // RFC 9111 5.1: of a list-based Age, the first member counts; an invalid one is ignored.
  const ageField = fields('age').join(',').split(',')[0]!.trim();
  const ageValue = /^\d+$/.test(ageField) ? Math.min(Number(ageField), 2147483648) : 0;
  const apparentAge = Math.max(0, (times.responseTime - dateValue) / 1000);
  const responseDelay = Math.max(0, (times.responseTime - times.requestTime) / 1000);
  return {
    cc, targeted, lifetime: lifetime ?? 0, heuristic,
    mustRevalidate: cc.has('must-revalidate') || cc.has('proxy-revalidate') || sMaxage !== undefined,
    noCache: cc.has('no-cache') || (!targeted && fields('pragma').some((p) => /(^|,)\s*no-cache\s*(,|$)/i.test(p)) && !fields('cache-control').length),
    initialAge: Math.max(apparentAge, ageValue + responseDelay),
    staleWhileRevalidate: deltaSeconds(cc.get('stale-while-revalidate')) ?? 0,
    staleIfError: deltaSeconds(cc.get('stale-if-error')) ?? 0,
  };
}

/** RFC 9111 4.2.3 current_age, in seconds. */
export function currentAge(f: Freshness, responseTime: number, now: number): number {
  return f.initialAge + Math.max(0, (now - responseTime) / 1000);
}

export interface StoreCheck {
  method: string;
  status: number;
  /** The request's directives (no-store forbids storing). */
  request: Directives;
  /** The request carried Authorization. */
  authorization: boolean;
  storeSetCookie: boolean;
}

/**
 * RFC 9111 3: why a response may not be stored by a shared cache, or undefined when it may. `f` is the
 * response's freshness (its directives and explicit lifetime).
 */
export function notStorable(c: StoreCheck, fields: FieldReader, f: Freshness): string | undefined {
  if (c.method !== 'GET') return 'method';
  if (c.status < 200 || c.status === 206 || c.status === 304) return 'status';
  const cc = f.cc;
  // 5.2.2.3: must-understand lets a cache that understands the status store it even under no-store.
  const understood = cc.has('must-understand') && UNDERSTOOD.has(c.status);
  if (cc.has('must-understand') && !UNDERSTOOD.has(c.status)) return 'must-understand';
  if (cc.has('no-store') && !understood) return 'no-store';
  if (c.request.has('no-store')) return 'request no-store';
  // 5.2.2.7: private, qualified or not: a shared cache stores none of it.
  if (cc.has('private')) return 'private';
  // 3.5: a response to an authenticated request only with public, must-revalidate or s-maxage.
  if (c.authorization && !(cc.has('public') || cc.has('must-revalidate') || cc.has('s-maxage'))) return 'authorization';
  const vary = fields('vary').join(',');
  if (/(^|,)\s*\*\s*(,|$)/.test(vary)) return 'vary *';
  if (!c.storeSetCookie && fields('set-cookie').length) return 'set-cookie';
  const explicit = cc.has('max-age') || cc.has('s-maxage') || cc.has('public') || (!f.targeted && fields('expires').length > 0);
  if (!explicit && !HEURISTIC_STATUS.has(c.status) && !UNDERSTOOD.has(c.status)) return 'status';
  if (!explicit && !HEURISTIC_STATUS.has(c.status)) return 'no freshness';
  return undefined;
}

/** What a request asks of a stored response (RFC 9111 5.2.1). */
export interface RequestAsk {
  noCache: boolean;
  maxAge: number | undefined;
  minFresh: number;
  /** Staleness the client accepts: Infinity for a bare max-stale. */
  maxStale: number;
  onlyIfCached: boolean;
  staleIfError: number;
}

export function requestAsk(cc: Directives, pragma: string | undefined): RequestAsk {
  const ms = cc.get('max-stale');
  return {
    // 5.4: Pragma: no-cache counts only when the request has no Cache-Control.
    noCache: cc.has('no-cache') || (cc.size === 0 && pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)),
    maxAge: cc.has('max-age') ? deltaSeconds(cc.get('max-age')) ?? 0 : undefined,
    minFresh: deltaSeconds(cc.get('min-fresh')) ?? 0,
    maxStale: ms === undefined ? 0 : ms === true ? Infinity : deltaSeconds(ms) ?? 0,
    onlyIfCached: cc.has('only-if-cached'),
    staleIfError: deltaSeconds(cc.get('stale-if-error')) ?? 0,
  };
}

/** How a stored response may be used for a request. */
export type Usability = 'fresh' | 'stale-ok' | 'stale-while-revalidate' | 'revalidate';

/** RFC 9111 4.2 and 5.2.1: can the stored response (age `age` s) answer this request without the origin? */
export function usability(f: Freshness, age: number, ask: RequestAsk, softPurged: boolean): Usability {
  if (f.noCache || ask.noCache) return 'revalidate';
  const lifetime = softPurged ? 0 : f.lifetime;
  if (ask.maxAge !== undefined && age > ask.maxAge) return 'revalidate';
  const left = lifetime - age;
  if (left > ask.minFresh) return 'fresh';
  const staleness = age - lifetime;
  // 4.2.4: a stale response is served only when allowed; never under must-revalidate.
  if (f.mustRevalidate) return 'revalidate';
  if (ask.maxStale > 0 && staleness <= ask.maxStale && ask.minFresh === 0) return 'stale-ok';
  if (f.staleWhileRevalidate > 0 && staleness <= f.staleWhileRevalidate) return 'stale-while-revalidate';
  return 'revalidate';
}

/**
 * May a stale response be served because the origin failed (RFC 5861 4, or `serve_stale_on_error`)? Never when
 * a directive forbids it (RFC 9111 4.2.4): must-revalidate, proxy-revalidate, s-maxage (5.2.2.2, 5.2.2.8,
 * 5.2.2.10) and no-cache (5.2.2.4: no use without successful validation), unless the origin also sent
 * stale-if-error, its explicit permission.
 */
export function staleOnError(f: Freshness, age: number, ask: RequestAsk, configuredS: number): boolean {
  if ((f.mustRevalidate || f.noCache) && !f.cc.has('stale-if-error')) return false;
  const staleness = age - f.lifetime;
  return staleness <= Math.max(f.staleIfError, ask.staleIfError, configuredS);
}
