/** The `gatehouse` command's help texts, by command. */
import { DEFAULT_FROM } from './proxy.js';

export const HELP: Record<string, string> = {
  main: `gatehouse — a reverse proxy and load balancer

Usage: gatehouse <command> [options]

Commands:
  init [--shape NAME] [-o FILE]
                              write a commented starter config (single-app, api-and-static, microservices)
  run -c FILE                 run the proxy on a config file (a change to it, or SIGHUP, reloads it)
  proxy --from ADDR --to URL  run a reverse proxy without a config file
  reload [--plan] -c FILE     reload a running proxy through its admin API (--plan: only show what would change)
  validate FILE...            check configs; lists every error and warning with file, line and column
  schema                      print the config's JSON Schema (for editor completion)
  explain -c FILE METHOD URL [-H 'Name: value']...
                              show which route a request matches and why, what the protections decide,
                              and what is sent upstream
  test -c FILE FIXTURES...    check request fixtures with expected outcomes against a config, offline (for CI)
  top [--admin URL]           live figures of a running proxy through its admin API: per route rps, errors,
                              p50/p99; per server health, in flight, rps, p99
  hash-password               read a password (asked twice on a terminal, or stdin when piped) and print
                              its hash for auth.basic

Options:
  -h, --help                  show this help
  -v, --version               print the version

run, validate, explain, test and schema take --plugin FILE (repeatable): a user plugin, see docs/plugins.md.
Run 'gatehouse <command> --help' for a command's options. Exit status: 0 success, 1 invalid config or
failure, 2 usage error (unknown command or option, missing argument).`,
  run: `Usage: gatehouse run -c FILE [--plugin FILE]...

Runs the proxy. SIGTERM/SIGINT stop accepting and let in-flight requests finish up to shutdown.timeout,
then exit 0; a second SIGTERM/SIGINT exits at once (143/130). A change to the file (watched unless
reload.watch is false) and SIGHUP reload it (a bad config is reported and the running one kept).
With workers: 2 or more (or auto) this process is the primary of that many worker processes: SIGUSR2
replaces them one by one without a failed request (docs/operations.md, Workers).

Options:
  -c, --config FILE   config file (YAML or JSON); default gatehouse.yaml
  --plugin FILE       load a user plugin (an ES module exporting it as plugin or default);
                      repeatable, run in the order given
  -h, --help          show this help`,
  init: `Usage: gatehouse init [--shape NAME] [-o FILE] [--force]

Writes a commented starter config, valid as it is, for one of these shapes:
  single-app       one application behind the proxy, health-checked (the default)
  api-and-static   /api/ to an application (rate limited), the rest to a static site (cached, compressed)
  microservices    services by path prefix, each with its servers and health checks, and an admin API

Options:
  --shape NAME        one of the shapes above
  -o, --output FILE   where to write it; default gatehouse.yaml (an existing file is kept unless --force)
  --force             replace an existing file
  -h, --help          show this help`,
  reload: `Usage: gatehouse reload [--plan] [--json] -c FILE [--plugin FILE]...

Asks the proxy running on FILE to reload it, through the admin API: the address is FILE's admin.address
(a wildcard host is reached on loopback), the token the value of the variable admin.token_env names.
Prints the routes and upstreams added, changed and removed, the servers added, and the servers drained
with their requests in flight. An invalid file is reported and nothing changes.

Options:
  -c, --config FILE   config file (YAML or JSON); default gatehouse.yaml
  --plan              only show what a reload would change; nothing is applied
  --json              print the admin API's answer as JSON
  --plugin FILE       load a user plugin, to check the file as run does; repeatable
  -h, --help          show this help

Exit status: 0 done (or planned), 1 when FILE is invalid or has no admin section, the admin API cannot be
reached, refuses the token (401) or refuses the reload (the file it reads is invalid).`,
  proxy: `Usage: gatehouse proxy [--from ADDR] --to URL [--to URL]... [options]

A reverse proxy without a config file: every request on ADDR goes to the servers (round robin, retries on
another server, passive health), with the defaults of a config file. Signals as for 'gatehouse run'.

Options:
  --from ADDR          where to listen: HOST:PORT, or :PORT for every interface; default ${DEFAULT_FROM}
  --to URL             a server, http://HOST:PORT or https://HOST:PORT (HOST:PORT means http://); repeatable
  --health-path PATH   probe every server with GET PATH (2xx/3xx is up)
  --balance ALGO       round_robin (default), least_request, random, p2c or hash
  --print-config       print the equivalent config file (YAML) instead of running
  -h, --help           show this help

Example: gatehouse proxy --from :8080 --to http://127.0.0.1:9000 --to http://127.0.0.1:9001`,
  validate: `Usage: gatehouse validate FILE... [--plugin FILE]...

Checks config files, each on its own: the schema, the certificate and key files they name, and warnings for
what is valid but surely not meant (an unused upstream, a shadowed route, a listener without routes).
Every error and warning is listed on stderr with file, line, column and key path; one line per file on
stdout says valid or invalid.
Exit 0 when every file is valid (warnings allowed), 1 when one is not, 2 on a usage error.
Settings of user plugins (plugins.<name>, routes[].plugins.<name>) are checked by the plugins given with
--plugin; without them, they are unknown keys.`,
  schema: `Usage: gatehouse schema [--plugin FILE]...

Prints the JSON Schema of the config on stdout. Point your editor at it, e.g. in gatehouse.yaml:
  # yaml-language-server: $schema=./gatehouse.schema.json
With --plugin, the plugins' settings are described too; without, any plugin settings are accepted.`,
  explain: `Usage: gatehouse explain -c FILE METHOD URL [-H 'Name: value']...

Shows which route matches the request and why; what redirect_https, IP rules (access), request rules,
auth, rate limits and size limits decide on it; the rewritten path, the upstream and the headers that would
be sent upstream. The URL's host is the Host header unless -H 'Host: …' is given. A method the server
would refuse (lower case, or not in node's http.METHODS) is a usage error.

Options:
  -c, --config FILE      config file; default gatehouse.yaml
  --plugin FILE          a user plugin the config has settings for (repeatable)
  -H, --header 'N: V'    a request header (repeatable)
  -l, --listener NAME    the listener the request arrives on (default: the first)
  --client-ip IP         the client address that IP rules and rate limits see (default 127.0.0.1)
  --json                 print the explanation as JSON`,
  test: `Usage: gatehouse test -c FILE FIXTURES... [--json] [--plugin FILE]...

Sends the requests of each fixture file through FILE offline, as 'gatehouse explain' does (no listener, no
upstream), and checks the outcomes each fixture expects: the route, the action, the upstream, the path sent
upstream, the proxy's own status and error code, response and upstream headers, the IP rules, auth and rate
limit decisions. A fixture with repeat: N sends its request N times (rate limits count on a clock of the
fixture's own) and checks the last. Format: docs/cli.md, "gatehouse test".

Options:
  -c, --config FILE   config file; default gatehouse.yaml
  --json              print the results as JSON (for CI)
  --plugin FILE       a user plugin the config has settings for (repeatable)
  -h, --help          show this help

Exit status: 0 every fixture passes, 1 one fails (with an expected/actual diff per field), 2 the config or a
fixture file is invalid (each problem with file, line, column and key) or a usage error.`,
  top: `Usage: gatehouse top [--admin URL] [--token-env VAR] [--interval 1s] [--once]

Shows live figures of a running proxy, read from its admin API (GET /metrics and GET /api/upstreams) every
interval: per route requests per second, error % (5xx), p50 and p99 latency over the last interval; per
upstream server its health, requests in flight and, when the proxy counts them, rps and p99. On a terminal the
screen is redrawn in place (q or Ctrl-C quits); otherwise one plain frame per interval.

Options:
  --admin URL         the admin API; default http://127.0.0.1:9901
  --token-env VAR     the variable holding the admin token; default GATEHOUSE_ADMIN_TOKEN
  --interval D        time between samples (500ms, 1s, 5s); default 1s
  --once              print one frame (from two samples one interval apart) and exit
  -h, --help          show this help

Exit status: 0 (quit, or --once), 1 when the admin API cannot be reached or refuses the token (401), 2 on a
usage error.`,
  'hash-password': `Usage: gatehouse hash-password

Reads a password and prints its scrypt hash, for auth.basic.users in the config:
  auth: { basic: { users: { alice: "$scrypt$ln=15,r=8,p=1$…" } } }
On a terminal it asks twice, without echo, and refuses a mismatch; when stdin is piped, its first line is
the password.`,
};
