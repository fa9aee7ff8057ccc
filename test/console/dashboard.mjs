// The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by puppeteer-core):
// it loads with no script error and no request to another origin, asks for the token, shows
// the streams and the entities, follows the counts live while messages are published,
// shows a dead letter's error, looks a message up, and replays the dead letter once its
// cause is gone. Prints TAP-like "ok"/"not ok" lines and a closing "N passed, N failed".
//
// Environment: BRIDGE_URL, TOKEN, SCREENSHOT (a PNG path, optional); PGHOST/PGPORT/PGUSER/
// PGDATABASE for psql (the test drops the constraint that dead-lettered the message).
import puppeteer from 'puppeteer-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BRIDGE = process.env.BRIDGE_URL;
const TOKEN = process.env.TOKEN;
const origin = new URL(BRIDGE).origin;
let passed = 0, failed = 0;
const check = (what, ok, detail) => {
  if (ok) { passed++; console.log(`ok - ${what}`); }
  else { failed++; console.log(`not ok - ${what}${detail ? ': ' + detail : ''}`); }
};
const sql = (q) => execFileSync('psql', ['-X', '-Atc', q], { encoding: 'utf8' }).trim();

async function post(path, body) {
  const res = await fetch(BRIDGE + path, {
    method: 'POST', body, headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json' },
  });
  return { status: res.status, body: await res.json() };
}

// Waits until fn() (run in the page) returns a truthy value; the value, or null at the deadline.
async function waitFor(page, fn, arg, seconds = 30) {
  try {
    const h = await page.waitForFunction(fn, { timeout: seconds * 1000, polling: 200 }, arg);
    return await h.jsonValue();
  } catch (e) {
    return null;
  }
}

const order = (key, price) => JSON.stringify({
  order_key: key, customer_key: 'C-1', order_status: 'O', total_price: price, order_date: '2025-02-01',
});

const profile = mkdtempSync(join(tmpdir(), 'nomnom-chromium-'));
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1366, height: 900 });
  const errors = [], external = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/401/.test(m.text())) errors.push(m.text()); });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('data:')) external.push(u);
  });

  await page.goto(BRIDGE + '/?poll_ms=500', { waitUntil: 'load' });
  const asked = await waitFor(page, () => !document.getElementById('token-form').hidden);
  check('without the token the page asks for it', asked);
  await page.type('#token', TOKEN);
  await page.click('#token-form button');

  const streamRow = await waitFor(page, () => !!document.querySelector('tr[data-stream="MESSAGES"]'));
  check('shows the MESSAGES stream', streamRow);
  const entities = await waitFor(page, () =>
    !!document.querySelector('article[data-entity="Order"]') && !!document.querySelector('article[data-entity="OrderLineItem"]'));
  check('shows the Order and OrderLineItem entities', entities);
  const state = await page.$eval('tr[data-stream="MESSAGES"] td:nth-child(2)', (e) => e.textContent).catch(() => '');
  check('the stream is running', state === 'running', state);

  // Live: publish, and the page follows without a reload.
  const num = (sel) => page.$eval(sel, (e) => Number(e.textContent.replace(/[^0-9]/g, '')) || 0).catch(() => -1);
  const before = await num('tr[data-stream="MESSAGES"] td.completed');
  const rowsBefore = await num('article[data-entity="Order"] .count');
  let navigations = 0;
  page.on('framenavigated', () => navigations++);
  for (let i = 0; i < 5; i++) {
    const r = await post('/ingest/message', order(`LIVE-${i}`, 10 + i));
    if (r.status !== 202) check(`publish LIVE-${i}`, false, JSON.stringify(r));
  }
  const live = await waitFor(page, ([b, rb]) => {
    const c = Number(document.querySelector('tr[data-stream="MESSAGES"] td.completed').textContent.replace(/[^0-9]/g, ''));
    const rows = Number(document.querySelector('article[data-entity="Order"] .count').textContent.replace(/[^0-9]/g, ''));
    return c >= b + 5 && rows >= rb + 5 ? [c, rows] : null;
  }, [before, rowsBefore]);
  check('completed count and Order rows follow 5 published messages live', live && navigations === 0,
    `before ${before}/${rowsBefore}, after ${JSON.stringify(live)}, reloads ${navigations}`);
  const latest = await waitFor(page, () =>
    [...document.querySelectorAll('article[data-entity="Order"] td')].some((td) => td.textContent === 'LIVE-4'));
  check('the latest Order rows include the newest one', latest);

  // A dead letter: the CHECK constraint the e2e script added refuses a negative price.
  const bad = await post('/ingest/message', order('NEGATIVE', -5));
  const badId = bad.body.message_id;
  const shown = await waitFor(page, (id) => {
    const tr = document.querySelector(`#dead-letters tr[data-message-id="${id}"]`);
    return tr ? tr.querySelector('.error-text').textContent : null;
  }, badId);
  check("shows the dead letter's error", shown && /orders_price_positive/.test(shown), shown);
  const deadCount = await waitFor(page, () => {
    const n = Number(document.querySelector('tr[data-stream="MESSAGES"] td.dead-lettered').textContent.replace(/[^0-9]/g, ''));
    return n >= 1 ? n : null;
  });
  check('the dead-lettered count shows it', deadCount >= 1, String(deadCount));

  // The lookup box.
  await page.$eval('#lookup-id', (e) => { e.value = ''; });
  await page.type('#lookup-id', badId);
  await page.click('#lookup-form button');
  const looked = await waitFor(page, () => {
    const s = document.querySelector('#lookup-result .status');
    const e = document.querySelector('#lookup-result .lookup-error');
    return s && e ? [s.textContent, e.textContent] : null;
  });
  check('lookup shows dead_letter and the error', looked && looked[0] === 'dead_letter' && /orders_price_positive/.test(looked[1]),
    JSON.stringify(looked));

  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });

  // The page redraws on every poll: the dead letter's row (its Replay button) must stay the
  // same node, or a click that spans a poll is lost. Marked, then two more polls.
  const generated = await page.evaluate((id) => {
    const tr = document.querySelector(`#dead-letters tr[data-message-id="${id}"]`);
    if (tr) tr.dataset.probe = 'kept';
    return document.body.dataset.generatedAt;
  }, badId);
  const kept = await waitFor(page, ([id, g0]) => {
    const seen = (window.__generations ||= new Set([g0]));
    seen.add(document.body.dataset.generatedAt);
    if (seen.size < 3) return null;
    const tr = document.querySelector(`#dead-letters tr[data-message-id="${id}"]`);
    return tr ? tr.dataset.probe || 'replaced' : 'gone';
  }, [badId, generated]);
  check("the dead letter's row is the same node across polls", kept === 'kept', String(kept));

  // Replay, once the cause is gone. A locator: found, checked visible, stable and enabled, and
  // clicked with the mouse, all retried until the deadline (a re-rendered page never leaves it
  // holding a detached node).
  sql('ALTER TABLE orders DROP CONSTRAINT orders_price_positive');
  await page.locator(`#dead-letters button[data-id="${badId}"]`).setTimeout(30000).click();
  const gone = await waitFor(page, (id) => !document.querySelector(`#dead-letters tr[data-message-id="${id}"]`), badId);
  check('replay removes the dead letter from the page', gone);
  let completed = false;
  for (let i = 0; i < 60 && !completed; i++) {
    completed = sql(`SELECT status FROM nomnom.message_status WHERE message_id = '${badId}'`) === 'completed';
    if (!completed) await new Promise((r) => setTimeout(r, 250));
  }
  check('the replayed message is completed', completed);
  await page.click('#lookup-form button');
  const after = await waitFor(page, () => {
    const s = document.querySelector('#lookup-result .status');
    const rows = document.querySelectorAll('#lookup-result table tbody tr').length;
    return s && s.textContent === 'completed' && rows > 0 ? rows : null;
  });
  check('lookup then shows completed and the rows it wrote', after, String(after));

  check('no script error', errors.length === 0, errors.join(' | '));
  check('no request to another origin', external.length === 0, external.join(' '));
} catch (e) {
  check('the browser test ran to its end', false, e.stack);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
