// nomnom console: polls GET /api/overview and draws it. No library, no request to any other
// host (the bridge's Content-Security-Policy forbids them anyway). Every value from the
// server goes into the page as text (textContent), never as HTML.
'use strict';

(function () {
  const POLL_MS = Number(new URLSearchParams(location.search).get('poll_ms')) || 1500;
  const COLORS = ['#0550ae', '#116329', '#8250df', '#bc4c00', '#a40e26', '#1b7c83'];
  let token = sessionStorage.getItem('nomnom-token') || '';
  let timer = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'style') e.style.cssText = v; // CSSOM: allowed by the page's CSP
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  const fmt = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));
  const fmtRate = (r) => (r === null || r === undefined ? '—' : Number(r).toFixed(1));
  function fmtTime(t) {
    if (!t) return '—';
    const d = new Date(t);
    return isNaN(d) ? String(t) : d.toLocaleString('en-GB', { hour12: false });
  }

  async function api(path, options) {
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    const res = await fetch(path, Object.assign({ headers, cache: 'no-store' }, options || {}));
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (res.status === 401) $('token-form').hidden = false;
    return { status: res.status, body };
  }

  function showError(text) {
    const p = $('error');
    p.textContent = text || '';
    p.hidden = !text;
  }

  function badge(id, label, ok, detail) {
    const b = $(id);
    b.textContent = label + (ok ? ' up' : ' down');
    b.className = 'badge ' + (ok ? 'ok' : 'bad');
    b.title = detail || '';
  }

  // Messages a second over the last minute from the sampled history, for an extension that
  // does not report rate_1m itself.
  function recentRate(points) {
    if (!points || points.length < 2) return null;
    const last = points[points.length - 1];
    let first = last;
    for (let i = points.length - 1; i >= 0 && last[0] - points[i][0] <= 60; i--) first = points[i];
    const dt = last[0] - first[0];
    return dt > 0 ? Math.max(0, last[4] - first[4]) / dt : null;
  }

  function renderStreams(streams, history) {
    const body = $('streams').tBodies[0];
    body.replaceChildren();
    for (const s of streams) {
      const stateClass = s.state === 'running' ? 'ok' : s.state === 'paused' ? 'warn' : 'bad';
      body.append(el('tr', { 'data-stream': s.name },
        el('th', { scope: 'row', class: 'mono', text: s.name }),
        el('td', {}, el('span', { class: 'badge ' + stateClass, text: s.state || 'unknown' })),
        el('td', { class: 'num workers', text: s.workers_up + ' / ' + s.workers.length }),
        el('td', { class: 'num lag', text: fmt(s.lag) }),
        el('td', { class: 'num consumed', text: fmt(s.consumed) }),
        el('td', { class: 'num completed', text: fmt(s.completed) }),
        el('td', { class: 'num failed', text: fmt(s.failed) }),
        el('td', { class: 'num dead-lettered', text: fmt(s.dead_lettered) }),
        el('td', { class: 'num rate', text: fmtRate(s.rate_1m !== null ? s.rate_1m : recentRate((history || {})[s.name])) })));
    }
    if (!streams.length)
      body.append(el('tr', {}, el('td', { colspan: 9, class: 'muted', text: 'No stream is defined (nomnom.create_stream).' })));
  }

  // Completed messages a second between consecutive samples, per stream.
  function rates(points) {
    const out = [];
    for (let i = 1; i < points.length; i++) {
      const dt = points[i][0] - points[i - 1][0];
      const dc = points[i][1] - points[i - 1][1];
      if (dt > 0) out.push([points[i][0], dc >= 0 ? dc / dt : 0]); // < 0: a worker restarted
    }
    return out;
  }

  function drawChart(history) {
    const canvas = $('rate-chart');
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 900, h = canvas.clientHeight || 220;
    canvas.width = w * ratio; canvas.height = h * ratio;
    const g = canvas.getContext('2d');
    g.scale(ratio, ratio);
    g.clearRect(0, 0, w, h);
    const names = Object.keys(history || {}).sort();
    const series = names.map((n) => rates(history[n]));
    const now = Date.now() / 1000, span = 600;
    let max = 1;
    for (const s of series) for (const p of s) max = Math.max(max, p[1]);
    max = niceCeil(max);
    const left = 56, right = 12, top = 10, bottom = 24;
    const x = (t) => left + ((t - (now - span)) / span) * (w - left - right);
    const y = (v) => top + (1 - v / max) * (h - top - bottom);
    g.font = '12px system-ui, sans-serif';
    g.strokeStyle = '#d0d7de'; g.fillStyle = '#545d68'; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
      g.textAlign = 'right'; g.textBaseline = 'middle';
      g.fillText(v >= 100 ? v.toFixed(0) : v.toFixed(1), left - 6, yy);
    }
    g.textAlign = 'center'; g.textBaseline = 'top';
    for (let m = 10; m >= 0; m -= 2) {
      g.fillText(m ? '-' + m + ' min' : 'now', x(now - m * 60), h - bottom + 6);
    }
    series.forEach((s, i) => {
      g.strokeStyle = COLORS[i % COLORS.length]; g.lineWidth = 2;
      g.beginPath();
      s.forEach((p, j) => (j ? g.lineTo(x(p[0]), y(p[1])) : g.moveTo(x(p[0]), y(p[1]))));
      g.stroke();
    });
    const legend = $('rate-legend');
    legend.replaceChildren('Completed messages a second, last 10 minutes:');
    names.forEach((n, i) => {
      legend.append(el('span', { class: 'legend-swatch', style: 'background:' + COLORS[i % COLORS.length] }), n);
    });
  }

  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };

  function deadLetterRow(d) {
    const button = el('button', { type: 'button', class: 'secondary replay', 'data-id': d.message_id, text: 'Replay' });
    button.addEventListener('click', () => replay(d.message_id, button));
    return el('tr', { 'data-message-id': d.message_id },
      el('td', { class: 'failed-at' }),
      el('td', { class: 'mono entity' }),
      el('td', { class: 'mono', }, el('a', { href: '#', text: d.message_id, onclick: (e) => { e.preventDefault(); lookup(d.message_id); } })),
      el('td', { class: 'num attempts' }),
      el('td', { class: 'error-text' }),
      el('td', {}, button));
  }

  // The rows are keyed by message id and updated in place, never re-created by a poll: the
  // Replay button a user is clicking (or has focused, or has just disabled) stays the one in
  // the page.
  function renderDeadLetters(list, total) {
    const body = $('dead-letters').tBodies[0];
    $('dead-total').textContent = total === null || total === undefined ? '' : '(' + fmt(total) + ' in all)';
    $('dead-empty').hidden = list.length > 0;
    $('dead-letters').hidden = list.length === 0;
    const shown = new Map([...body.rows].map((tr) => [tr.dataset.messageId, tr]));
    let at = body.firstChild;
    for (const d of list) {
      const tr = shown.get(d.message_id) || deadLetterRow(d);
      setText(tr.querySelector('.failed-at'), fmtTime(d.failed_at));
      setText(tr.querySelector('.entity'), d.entity || '—');
      setText(tr.querySelector('.attempts'), fmt(d.attempts));
      setText(tr.querySelector('.error-text'), d.error || '');
      if (tr === at) at = at.nextSibling; // already in its place: not moved
      else body.insertBefore(tr, at);
    }
    while (at) { const next = at.nextSibling; at.remove(); at = next; } // no longer dead letters
  }

  async function replay(id, button) {
    button.disabled = true;
    const r = await api('/api/dead-letters/replay?message_id=' + encodeURIComponent(id), { method: 'POST' });
    if (r.status === 200) {
      button.textContent = 'Replayed';
      showError('');
      refresh();
    } else {
      button.disabled = false;
      showError('Replay of ' + id + ' failed: ' + ((r.body && r.body.error) || ('HTTP ' + r.status)));
    }
  }

  function rowsTable(rows) {
    if (!rows || !rows.length) return el('p', { class: 'muted', text: 'No rows.' });
    const cols = Object.keys(rows[0]);
    const t = el('table', {}, el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col', text: c })))));
    const body = el('tbody');
    for (const r of rows) {
      body.append(el('tr', {}, ...cols.map((c) => {
        const v = r[c];
        const text = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
        return el('td', { text, title: text });
      })));
    }
    t.append(body);
    return t;
  }

  function renderEntities(list) {
    const box = $('entities');
    box.replaceChildren();
    if (!list.length) box.append(el('p', { class: 'muted', text: 'No entity is defined (nomnom.define_entity).' }));
    for (const e of list) {
      const card = el('article', { class: 'entity', 'data-entity': e.name },
        el('h3', {}, e.name + ' ', el('span', { class: 'muted mono', text: e.table + (e.parent ? ' · from ' + e.parent : '') })));
      if (e.error) {
        card.append(el('p', { class: 'error-text', text: e.error }));
      } else {
        card.append(el('div', {}, el('span', { class: 'count', text: (e.rows_estimated ? '≈ ' : '') + fmt(e.rows) }),
          el('span', { class: 'muted', text: ' rows' })));
        card.append(el('div', { class: 'muted', text: 'Latest rows' }), rowsTable(e.latest));
      }
      box.append(card);
    }
  }

  async function lookup(id) {
    const out = $('lookup-result');
    $('lookup-id').value = id;
    id = id.trim();
    out.replaceChildren(el('p', { class: 'muted', text: 'Looking up ' + id + '…' }));
    const r = await api('/api/messages/' + encodeURIComponent(id));
    out.replaceChildren();
    if (r.status !== 200) {
      out.append(el('p', { class: 'error-text', text: (r.body && r.body.error) || ('HTTP ' + r.status) }));
      return;
    }
    const s = r.body.status;
    const dl = el('dl', {},
      el('dt', { text: 'Status' }), el('dd', { class: 'status status-' + s.status, text: s.status }),
      el('dt', { text: 'Entity' }), el('dd', { class: 'mono', text: s.entity || '—' }),
      el('dt', { text: 'Subject' }), el('dd', { class: 'mono', text: s.subject || '—' }),
      el('dt', { text: 'Stream seq' }), el('dd', { text: fmt(s.stream_seq) }),
      el('dt', { text: 'Attempts' }), el('dd', { text: fmt(s.attempts) }),
      el('dt', { text: 'Received' }), el('dd', { text: fmtTime(s.received_at) }),
      el('dt', { text: 'Completed' }), el('dd', { text: fmtTime(s.completed_at) }),
      el('dt', { text: 'Error' }), el('dd', { class: 'error-text lookup-error', text: s.error || r.body.dead_letter_error || '—' }));
    out.append(dl);
    for (const t of r.body.rows) {
      out.append(el('h3', { text: 'Rows written in ' + t.table + ' (' + t.entity + ')' }));
      out.append(t.error ? el('p', { class: 'error-text', text: t.error }) : rowsTable(t.rows));
    }
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const r = await api('/api/overview');
      if (r.status === 401) {
        showError(token ? 'The token was refused.' : 'This bridge needs its token: enter it above.');
      } else if (r.status !== 200 || !r.body) {
        showError('The bridge answered HTTP ' + r.status + ((r.body && r.body.error) ? ': ' + r.body.error : ''));
      } else {
        const o = r.body;
        showError(o.postgres.ok ? '' : 'PostgreSQL: ' + (o.postgres.error || 'unavailable'));
        badge('nats', 'NATS', o.bridge.nats_connected);
        badge('postgres', 'PostgreSQL', o.postgres.ok && o.bridge.postgres_ok, o.postgres.error);
        $('token-form').hidden = true; // answered: no token needed, or the one given works
        renderStreams(o.streams, o.history);
        drawChart(o.history);
        renderDeadLetters(o.dead_letters, o.dead_letters_total);
        renderEntities(o.entities);
        $('updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB', { hour12: false });
        document.body.dataset.generatedAt = o.generated_at;
      }
    } catch (e) {
      showError('Cannot reach the bridge: ' + e.message);
      badge('nats', 'NATS', false); badge('postgres', 'PostgreSQL', false);
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem('nomnom-token', token);
    refresh();
  });
  $('lookup-form').addEventListener('submit', (e) => {
    e.preventDefault();
    lookup($('lookup-id').value);
  });
  window.addEventListener('resize', () => refresh());
  refresh();
})();
