/**
 * The dashboard's script (`GET /ui/app.js`), plain browser JavaScript kept as text (no build step). It reads
 * `GET /api/events` with fetch() and a streamed body, not EventSource, so that the token travels in an
 * `Authorization` header and never in a URL; the token comes from a form and stays in sessionStorage (this tab).
 * Data goes into the page through textContent and attributes only, never as markup. Each server is a
 * `<tr data-server="host:port" data-health="healthy|unhealthy|draining">` with buttons `data-action="drain"`,
 * `"enable"` and `"remove"`: a contract for tests and users' own scripts (docs/operations.md).
 * (Written without backticks or dollar-brace: it sits in a template literal.)
 */
export const SCRIPT = String.raw`'use strict';
(() => {
  const KEY = 'gatehouse.admin.token';
  const POINTS = 60;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const st = { token: sessionStorage.getItem(KEY) || '', ctrl: null, retry: 0, timer: 0, lastData: 0, live: false, history: new Map(), tables: new Map() };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const auth = (h = {}) => (st.token ? Object.assign(h, { authorization: 'Bearer ' + st.token }) : h);

  // Formatting: "–" for what is unknown (no figure yet, or the metric does not exist).
  const dash = '\u2013';
  const fmtRps = (v) => (v == null ? dash : v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en'));
  const fmtPct = (v) => (v == null ? dash : (v * 100 < 10 ? (v * 100).toFixed(1) : Math.round(v * 100)) + ' %');
  const fmtMs = (v) => (v == null ? dash : v < 10 ? v.toFixed(1) + ' ms' : v < 1000 ? Math.round(v) + ' ms' : (v / 1000).toFixed(2) + ' s');
  const fmtTime = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

  function setConn(state, text) {
    $('conn').dataset.state = state;
    $('conn-text').textContent = text;
  }
  let toastTimer = 0;
  function toast(text, bad) {
    const t = $('toast');
    t.textContent = text;
    t.className = bad ? 'toast bad' : 'toast';
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, bad ? 6000 : 2500);
  }

  // ---- the token and the feed ----
  function showLogin(message) {
    stopFeed();
    $('board').hidden = true;
    $('login').hidden = false;
    $('forget').hidden = true;
    $('login-error').textContent = message || '';
    setConn('locked', 'Token needed');
    $('token').focus();
  }
  function stopFeed() {
    if (st.ctrl) st.ctrl.abort();
    st.ctrl = null;
    st.live = false;
    clearTimeout(st.timer);
  }
  function retryLater() {
    st.live = false;
    const wait = Math.min(10000, 1000 * 2 ** st.retry++);
    setConn('connecting', 'Reconnecting\u2026');
    clearTimeout(st.timer);
    st.timer = setTimeout(connect, wait);
  }
  async function connect() {
    stopFeed();
    const ctrl = new AbortController();
    st.ctrl = ctrl;
    let res;
    try {
      res = await fetch('api/events', { headers: auth({ accept: 'text/event-stream' }), cache: 'no-store', signal: ctrl.signal });
    } catch {
      if (st.ctrl === ctrl) retryLater();
      return;
    }
    if (res.status === 401) {
      const had = st.token !== '';
      st.token = '';
      sessionStorage.removeItem(KEY);
      return showLogin(had ? 'That token was not accepted.' : '');
    }
    if (!res.ok || !res.body) {
      setConn('error', 'Error ' + res.status);
      if (st.ctrl === ctrl) retryLater();
      return;
    }
    $('login').hidden = true;
    $('board').hidden = false;
    $('forget').hidden = st.token === '';
    st.live = true;
    st.retry = 0;
    st.lastData = Date.now();
    setConn('live', 'Live');
    await readFeed(res.body, ctrl);
    if (st.ctrl === ctrl) retryLater();
  }
  async function readFeed(body, ctrl) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || st.ctrl !== ctrl) return;
        buf += value.replace(/\r\n?/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          onEvent(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch {
      // Aborted or cut: the caller reconnects.
    }
  }
  function onEvent(block) {
    st.lastData = Date.now();
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line[0] === ':') continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let v = c < 0 ? '' : line.slice(c + 1);
      if (v[0] === ' ') v = v.slice(1);
      if (field === 'event') name = v;
      else if (field === 'data') data.push(v);
    }
    if (name === 'snapshot' && data.length) render(JSON.parse(data.join('\n')));
  }
  // A feed silent for 5 s (a snapshot or heartbeat comes every second) is dead: start again.
  setInterval(() => {
    if (st.live && Date.now() - st.lastData > 5000) {
      setConn('error', 'No data');
      retryLater();
    }
  }, 1000);

  // ---- sparklines: the last 60 snapshots, kept here ----
  function remember(key, values) {
    let h = st.history.get(key);
    if (!h) st.history.set(key, (h = { rps: [], p99: [], seen: 0 }));
    h.seen = Date.now();
    for (const k of Object.keys(values)) {
      h[k].push(values[k]);
      if (h[k].length > POINTS) h[k].shift();
    }
    return h;
  }
  function spark(cls, values, w = 100, hgt = 22) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'spark ' + cls);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + hgt);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('aria-hidden', 'true');
    // Headroom above the largest value: a steady line sits below the top, not on it.
    const max = Math.max(...values.map((v) => v || 0), 1e-9) * 1.25;
    const step = w / (POINTS - 1);
    const x0 = w - (values.length - 1) * step;
    let line = '';
    let pen = false;
    values.forEach((v, i) => {
      if (v == null) { pen = false; return; }
      const x = (x0 + i * step).toFixed(1);
      const y = (hgt - 2 - (v / max) * (hgt - 4)).toFixed(1);
      line += (pen ? 'L' : 'M') + x + ' ' + y;
      pen = true;
    });
    if (cls === 'rps' && values.length > 1 && values.every((v) => v != null)) {
      const area = document.createElementNS(SVG, 'path');
      area.setAttribute('class', 'area');
      area.setAttribute('d', line + 'L' + w + ' ' + hgt + 'L' + x0.toFixed(1) + ' ' + hgt + 'Z');
      svg.appendChild(area);
    }
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('class', 'line');
    path.setAttribute('d', line);
    svg.appendChild(path);
    return svg;
  }
  const setSpark = (cell, cls, values) => cell.replaceChildren(spark(cls, values));

  // ---- tables whose rows are kept by key (a selection or a focused button survives an update) ----
  function rows(tbody, items, keyOf, make, update) {
    let known = st.tables.get(tbody);
    if (!known) st.tables.set(tbody, (known = new Map()));
    const seen = new Set();
    let prev = null;
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      let tr = known.get(key);
      if (!tr) known.set(key, (tr = make(item)));
      update(tr, item);
      place(tbody, tr, prev);
      prev = tr;
    }
    for (const [key, tr] of known) if (!seen.has(key)) { tr.remove(); known.delete(key); }
  }
  // Moved only when out of place: moving a node takes the focus off a button in it.
  function place(parent, node, prev) {
    const at = prev ? prev.nextSibling : parent.firstChild;
    if (at !== node) parent.insertBefore(node, at);
  }
  function cells(tr, n, nums) {
    for (let i = 0; i < n; i++) tr.appendChild(el('td', nums.includes(i) ? 'num' : ''));
    return tr;
  }
  const put = (tr, i, text) => { if (tr.cells[i].textContent !== text) tr.cells[i].textContent = text; };

  // ---- rendering a snapshot ----
  function render(s) {
    const now = Date.now();
    renderSummary(s);
    renderConfig(s.config);
    $('window').textContent = s.window > 0 ? 'figures over the last ' + Math.round(s.window) + ' s' : 'figures appear after the second sample';
    renderRoutes(s.routes);
    renderUpstreams(s.upstreams);
    renderErrors(s.errors);
    for (const [k, h] of st.history) if (now - h.seen > 120000) st.history.delete(k);
  }
  function renderSummary(s) {
    const known = s.routes.filter((r) => r.rps != null);
    const rps = known.length ? known.reduce((n, r) => n + r.rps, 0) : null;
    const errs = known.reduce((n, r) => n + r.rps * (r.errorRate || 0), 0);
    const h = remember('summary', { rps });
    $('sum-rps').textContent = fmtRps(rps);
    setSpark($('sum-rps-spark'), 'rps', h.rps);
    $('sum-err').textContent = rps ? fmtPct(errs / rps) : dash;
    $('sum-err-note').textContent = rps ? fmtRps(errs) + ' errors/s' : 'no requests';
    const servers = s.upstreams.flatMap((u) => u.servers);
    const count = (h2) => servers.filter((x) => x.health === h2).length;
    $('sum-servers').textContent = count('healthy') + ' / ' + servers.length;
    $('sum-servers-note').textContent = count('unhealthy') + ' unhealthy, ' + count('draining') + ' draining';
    $('sum-errors').textContent = String(s.errors.length);
  }
  function renderConfig(c) {
    $('config').textContent = 'config v' + c.version + ' \u00b7 ' + c.hash.slice(0, 8);
    const r = c.lastReload;
    const chip = $('reload');
    chip.classList.toggle('bad', Boolean(r && !r.ok));
    chip.textContent = !r ? 'last load ' + dash : (r.ok ? 'loaded ' : 'reload failed ') + fmtTime(r.time) + ' (' + r.source + ')';
    chip.title = r && r.error ? r.error : 'The last config load';
  }
  function renderRoutes(routes) {
    $('routes-empty').hidden = routes.length > 0;
    rows($('routes').tBodies[0], routes, (r) => r.id, () => cells(el('tr'), 8, [2, 4, 5, 6]), (tr, r) => {
      const h = remember('route ' + r.id, { rps: r.rps, p99: r.p99 });
      tr.dataset.route = r.id;
      put(tr, 0, r.id);
      put(tr, 1, r.upstream || r.action);
      put(tr, 2, fmtRps(r.rps));
      setSpark(tr.cells[3], 'rps', h.rps);
      put(tr, 4, fmtPct(r.errorRate));
      put(tr, 5, fmtMs(r.p50));
      put(tr, 6, fmtMs(r.p99));
      setSpark(tr.cells[7], 'p99', h.p99);
    });
  }
  function serverRow(upstream) {
    const tr = cells(el('tr'), 10, [2, 3, 5, 6, 7]);
    tr.dataset.upstream = upstream;
    tr.cells[1].appendChild(el('span', 'badge'));
    const box = el('div', 'actions');
    for (const [action, label] of [['drain', 'Drain'], ['enable', 'Enable'], ['remove', 'Remove']]) {
      const b = el('button', '', label);
      b.type = 'button';
      b.dataset.action = action;
      box.appendChild(b);
    }
    tr.cells[9].appendChild(box);
    return tr;
  }
  function setHealth(tr, health) {
    tr.dataset.health = health;
    tr.cells[1].firstChild.textContent = health;
    const busy = tr.dataset.busy === '1';
    const removing = tr.dataset.removing === '1';
    for (const b of tr.cells[9].querySelectorAll('button')) {
      const a = b.dataset.action;
      b.disabled = busy || removing || (a === 'drain' ? health === 'draining' : a === 'enable' ? health !== 'draining' : false);
      b.setAttribute('aria-label', b.textContent + ' ' + tr.dataset.server);
    }
  }
  function renderUpstreams(upstreams) {
    const box = $('upstreams');
    const cards = st.cards || (st.cards = new Map());
    const seen = new Set();
    let prev = null;
    for (const u of upstreams) {
      seen.add(u.name);
      let card = cards.get(u.name);
      if (!card) {
        card = el('div', 'card table-card');
        card.dataset.upstream = u.name;
        const title = el('h3');
        title.append(el('span', '', u.name), el('span', 'muted small'));
        const table = el('table');
        const head = table.createTHead().insertRow();
        for (const [i, t] of ['Server', 'Health', 'In flight', 'Req/s', 'last 60 s', 'Errors', 'p50', 'p99', 'last 60 s', ''].entries()) {
          const th = el('th', [2, 3, 5, 6, 7].includes(i) ? 'num' : '', t);
          head.appendChild(th);
        }
        table.createTBody();
        card.append(title, table);
        cards.set(u.name, card);
      }
      const n = u.servers.length;
      card.querySelector('h3 .muted').textContent = n + (n === 1 ? ' server' : ' servers');
      rows(card.querySelector('tbody'), u.servers, (s) => s.id + (s.removing ? ' removing' : ''), () => serverRow(u.name), (tr, s) => {
        const h = remember('server ' + u.name + ' ' + s.id, { rps: s.rps, p99: s.p99 });
        tr.dataset.server = s.id;
        tr.dataset.removing = s.removing ? '1' : '';
        tr.cells[0].replaceChildren(el('span', 'mono', s.id));
        if (s.backup) tr.cells[0].appendChild(el('span', 'tag', 'backup'));
        if (s.weight !== 1) tr.cells[0].appendChild(el('span', 'tag', 'weight ' + s.weight));
        if (s.source !== 'file') tr.cells[0].appendChild(el('span', 'tag', s.source));
        setHealth(tr, s.health);
        put(tr, 2, String(s.inflight));
        put(tr, 3, fmtRps(s.rps));
        setSpark(tr.cells[4], 'rps', h.rps);
        put(tr, 5, fmtPct(s.errorRate));
        put(tr, 6, fmtMs(s.p50));
        put(tr, 7, fmtMs(s.p99));
        setSpark(tr.cells[8], 'p99', h.p99);
      });
      place(box, card, prev);
      prev = card;
    }
    for (const [name, card] of cards) if (!seen.has(name)) { card.remove(); cards.delete(name); }
  }
  function renderErrors(errors) {
    $('errors-empty').hidden = errors.length > 0;
    rows($('errors').tBodies[0], errors, (e) => e.time + ' ' + e.requestId, () => cells(el('tr'), 8, [2]), (tr, e) => {
      put(tr, 0, fmtTime(e.time));
      if (!tr.cells[1].firstChild) tr.cells[1].appendChild(el('span', 'mono', e.requestId));
      put(tr, 2, String(e.status));
      put(tr, 3, e.method + ' ' + e.path);
      put(tr, 4, e.route || dash);
      put(tr, 5, e.upstream || dash);
      put(tr, 6, e.server || dash);
      tr.cells[7].className = 'err-msg';
      put(tr, 7, e.code ? e.code + (e.message ? ': ' + e.message : '') : 'the upstream answered ' + e.status);
    });
  }

  // ---- actions: the admin API's own endpoints, with the same token ----
  async function act(tr, action) {
    const upstream = tr.dataset.upstream;
    const id = tr.dataset.server;
    if (action === 'remove' && !confirm('Remove ' + id + ' from "' + upstream + '"? It drains, then leaves the upstream (until a reload or restart brings it back from the config file).')) return;
    const path = 'api/upstreams/' + encodeURIComponent(upstream) + '/servers/' + encodeURIComponent(id) + (action === 'remove' ? '' : '/' + action);
    tr.dataset.busy = '1';
    setHealth(tr, tr.dataset.health);
    try {
      const res = await fetch(path, { method: action === 'remove' ? 'DELETE' : 'POST', headers: auth(), cache: 'no-store' });
      if (res.status === 401) return showLogin('The token is no longer accepted.');
      const body = await res.json().catch(() => ({}));
      if (!res.ok) return toast(body.message || 'Error ' + res.status, true);
      tr.dataset.health = body.draining || body.removing ? 'draining' : body.up ? 'healthy' : 'unhealthy';
      toast({ drain: 'Draining ', enable: 'Enabled ', remove: 'Removing ' }[action] + id);
    } catch {
      toast('The admin API did not answer', true);
    } finally {
      tr.dataset.busy = '';
      setHealth(tr, tr.dataset.health);
    }
  }
  $('upstreams').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-action]');
    const tr = b && b.closest('tr[data-server]');
    if (tr && !b.disabled) act(tr, b.dataset.action);
  });
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    st.token = $('token').value.trim();
    $('token').value = '';
    if (st.token) sessionStorage.setItem(KEY, st.token);
    setConn('connecting', 'Connecting\u2026');
    connect();
  });
  $('forget').addEventListener('click', () => {
    st.token = '';
    sessionStorage.removeItem(KEY);
    showLogin('');
  });
  connect();
})();
`;
