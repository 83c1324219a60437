/** The contract configs of the issues, as written there; tests and the bench fill in addresses. */

/** Issue #3: the core contract. With no options it is the text of the issue exactly. */
export function coreContract(opts: { address?: string; servers?: string[]; extra?: string } = {}): string {
  const servers = opts.servers ?? ['http://127.0.0.1:19001', 'http://127.0.0.1:19002'];
  return `listeners:
  - name: public
    address: ${opts.address ?? '127.0.0.1:18080'}
upstreams:
  app:
    servers:
${servers.map((s) => `      - ${s}`).join('\n')}
routes:
  - match: { host: hello.test }
    respond: { status: 200, body: "hello from gatehouse\\n" }
  - match: { path: /api/ }
    rewrite: { strip_prefix: /api }
    proxy: { upstream: app }
  - match: { path: /old }
    redirect: { to: /new, status: 301 }
${opts.extra ?? ''}`;
}
