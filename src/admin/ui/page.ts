/**
 * The dashboard's page and style sheet (`GET /ui`, `GET /ui/app.css`): static text holding no data, served
 * from this module so that nothing is built or read from disk. The script (app.ts) fills it from
 * `GET /api/events`. Relative URLs, so the admin API may sit under a path prefix behind another proxy.
 */

export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Gatehouse dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="ui/app.css">
<script src="ui/app.js" defer></script>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo" aria-hidden="true"></span>Gatehouse <span class="sub">dashboard</span></div>
  <div class="meta">
    <span id="config" class="chip" title="Config version and content hash">config –</span>
    <span id="reload" class="chip" title="The last config load">last load –</span>
    <span id="conn" class="conn" data-state="connecting" role="status"><span class="dot"></span><span id="conn-text">Connecting…</span></span>
    <button id="forget" class="link" type="button" hidden>Forget token</button>
  </div>
</header>
<main>
  <section id="login" class="login" hidden>
    <form id="login-form" class="card" autocomplete="off">
      <h1>Admin token</h1>
      <p class="muted">The dashboard needs the admin API's bearer token (the value of <code>admin.token_env</code>). It is kept in this tab only, and sent as an <code>Authorization</code> header.</p>
      <input id="token" name="token" type="password" placeholder="Token" required aria-label="Admin token">
      <button type="submit" class="primary">Open dashboard</button>
      <p id="login-error" class="error" role="alert"></p>
    </form>
  </section>
  <section id="board" hidden>
    <div class="cards">
      <div class="card stat"><div class="label">Requests/s</div><div id="sum-rps" class="value">–</div><div id="sum-rps-spark" class="spark-wide"></div></div>
      <div class="card stat"><div class="label">Errors (5xx)</div><div id="sum-err" class="value">–</div><div id="sum-err-note" class="note"></div></div>
      <div class="card stat"><div class="label">Servers healthy</div><div id="sum-servers" class="value">–</div><div id="sum-servers-note" class="note"></div></div>
      <div class="card stat"><div class="label">Recent errors</div><div id="sum-errors" class="value">–</div><div class="note">the last 50 kept</div></div>
    </div>
    <h2>Routes <span id="window" class="muted small"></span></h2>
    <div class="card table-card"><table id="routes">
      <thead><tr><th>Route</th><th>Upstream</th><th class="num">Req/s</th><th>last 60 s</th><th class="num">Errors</th><th class="num">p50</th><th class="num">p99</th><th>last 60 s</th></tr></thead>
      <tbody></tbody>
    </table><p id="routes-empty" class="empty" hidden>No routes.</p></div>
    <h2>Upstreams</h2>
    <div id="upstreams"></div>
    <h2>Recent errors</h2>
    <div class="card table-card"><table id="errors">
      <thead><tr><th>Time</th><th>Request id</th><th class="num">Status</th><th>Request</th><th>Route</th><th>Upstream</th><th>Server</th><th>Error</th></tr></thead>
      <tbody></tbody>
    </table><p id="errors-empty" class="empty">No 5xx answers recently.</p></div>
  </section>
</main>
<div id="toast" class="toast" role="status" hidden></div>
</body>
</html>
`;

export const STYLE = `:root {
  --bg: #f5f6f8; --card: #fff; --line: #e2e5ea; --text: #1f2328; --muted: #656d76; --accent: #2563eb;
  --ok: #1a7f37; --ok-bg: #dcf5e3; --bad: #c62828; --bad-bg: #fde8e8; --warn: #9a6700; --warn-bg: #fff4cc;
  --spark: #2563eb; --spark-fill: rgba(37, 99, 235, .12); --spark2: #8250df;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1216; --card: #171b21; --line: #2a3038; --text: #e6e8eb; --muted: #9aa4b0; --accent: #5b9bff;
    --ok: #4ac26b; --ok-bg: #12301d; --bad: #ff7b72; --bad-bg: #3b1618; --warn: #e3b341; --warn-bg: #352a0a;
    --spark: #5b9bff; --spark-fill: rgba(91, 155, 255, .15); --spark2: #b392f0;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.top { display: flex; align-items: center; justify-content: space-between; gap: 16px; flex-wrap: wrap; padding: 12px 24px; background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
.brand { font-weight: 650; font-size: 16px; display: flex; align-items: center; gap: 8px; }
.brand .sub { font-weight: 400; color: var(--muted); }
.logo { width: 20px; height: 20px; border-radius: 5px; background: linear-gradient(135deg, #2563eb, #7c3aed); display: inline-block; }
.meta { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.chip { padding: 3px 9px; border: 1px solid var(--line); border-radius: 999px; color: var(--muted); font-size: 12.5px; white-space: nowrap; }
.chip.bad { color: var(--bad); border-color: var(--bad); }
.conn { display: inline-flex; align-items: center; gap: 6px; font-size: 12.5px; color: var(--muted); }
.conn .dot { width: 8px; height: 8px; border-radius: 50%; background: var(--warn); }
.conn[data-state="live"] .dot { background: var(--ok); box-shadow: 0 0 0 3px var(--ok-bg); }
.conn[data-state="locked"] .dot { background: var(--muted); }
.conn[data-state="error"] .dot { background: var(--bad); }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 18px; margin: 0 0 8px; }
h2 { font-size: 15px; margin: 26px 0 10px; font-weight: 650; }
h3 { font-size: 13.5px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); display: flex; gap: 10px; align-items: baseline; }
.muted { color: var(--muted); }
.small { font-size: 12.5px; font-weight: 400; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.stat { padding: 14px 16px; min-height: 104px; }
.stat .label { color: var(--muted); font-size: 12.5px; }
.stat .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; }
.stat .note { color: var(--muted); font-size: 12.5px; }
.table-card { overflow-x: auto; margin-bottom: 12px; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-size: 11.5px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); padding: 8px 14px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 7px 14px; border-bottom: 1px solid var(--line); vertical-align: middle; white-space: nowrap; font-variant-numeric: tabular-nums; }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:hover { background: color-mix(in srgb, var(--accent) 4%, transparent); }
.num { text-align: right; }
td.err-msg { white-space: normal; min-width: 220px; color: var(--muted); }
svg.spark { width: 120px; height: 22px; display: block; }
.spark-wide { margin-top: 6px; }
.spark-wide svg.spark { width: 100%; height: 30px; }
svg .line { fill: none; stroke: var(--spark); stroke-width: 1.5; vector-effect: non-scaling-stroke; stroke-linejoin: round; stroke-linecap: round; }
svg .area { fill: var(--spark-fill); stroke: none; }
svg.p99 .line { stroke: var(--spark2); }
.badge { display: inline-flex; align-items: center; gap: 6px; padding: 2px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.badge::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
[data-health="healthy"] .badge { color: var(--ok); background: var(--ok-bg); }
[data-health="unhealthy"] .badge { color: var(--bad); background: var(--bad-bg); }
[data-health="draining"] .badge { color: var(--warn); background: var(--warn-bg); }
[data-health="unhealthy"] td:first-child { box-shadow: inset 3px 0 0 var(--bad); }
.tag { font-size: 11px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 5px; margin-left: 6px; }
.actions { display: flex; gap: 6px; justify-content: flex-end; }
button { font: inherit; cursor: pointer; }
.actions button { font-size: 12.5px; padding: 3px 10px; border-radius: 6px; border: 1px solid var(--line); background: var(--card); color: var(--text); }
.actions button:hover:not(:disabled) { border-color: var(--accent); color: var(--accent); }
.actions button[data-action="remove"]:hover:not(:disabled) { border-color: var(--bad); color: var(--bad); }
button:disabled { opacity: .45; cursor: default; }
button.link { border: 0; background: none; color: var(--accent); padding: 0; font-size: 12.5px; }
button.primary { background: var(--accent); color: #fff; border: 0; border-radius: 8px; padding: 9px 14px; font-weight: 600; width: 100%; }
.login { display: flex; justify-content: center; padding-top: 8vh; }
.login form { width: 100%; max-width: 420px; padding: 24px; display: flex; flex-direction: column; gap: 12px; }
.login input { font: inherit; padding: 9px 11px; border-radius: 8px; border: 1px solid var(--line); background: var(--bg); color: var(--text); }
.error { color: var(--bad); min-height: 1em; margin: 0; }
.empty { color: var(--muted); padding: 12px 14px; margin: 0; }
.toast { position: fixed; right: 20px; bottom: 20px; padding: 10px 14px; border-radius: 8px; background: var(--text); color: var(--bg); font-size: 13px; max-width: 420px; box-shadow: 0 6px 24px rgba(0, 0, 0, .18); }
.toast.bad { background: var(--bad); color: #fff; }
`;
