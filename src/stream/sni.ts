/**
 * TLS passthrough routing: the upstream for a server name. Exact names first, then the longest `*.suffix`
 * that ends the name (`*.example.com` takes `a.example.com` and `a.b.example.com`, not `example.com`), then
 * the listener's `upstream` as the default; undefined: nothing matches, the connection is closed.
 */
export type SniTable = (servername: string | undefined) => string | undefined;

export function sniTable(sni: Readonly<Record<string, string>> | undefined, fallback: string | undefined): SniTable {
  const exact = new Map<string, string>();
  const wild: [string, string][] = [];
  for (const [name, upstream] of Object.entries(sni ?? {})) {
    if (name.startsWith('*.')) wild.push([name.slice(1).toLowerCase(), upstream]);
    else exact.set(name.toLowerCase(), upstream);
  }
  wild.sort((a, b) => b[0].length - a[0].length);
  return (servername) => {
    if (servername === undefined) return fallback;
    // RFC 6066 3: HostName is the DNS name without a trailing dot; be lenient with one anyway.
    const name = servername.toLowerCase().replace(/\.$/, '');
    const hit = exact.get(name);
    if (hit !== undefined) return hit;
    for (const [suffix, upstream] of wild) if (name.endsWith(suffix) && name.length > suffix.length) return upstream;
    return fallback;
  };
}
