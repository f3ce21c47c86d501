#!/usr/bin/env node
/* finance.spec.js - the finance console (web/finance/) in headless Chromium.
 *
 * Run by tests/e2e/e2e_finance_console.sh, which starts the system and passes:
 *   YW_GW            the gateway's base URL (it serves /finance/ and /v1/)
 *   YW_PASSWORD      the password of the staff accounts below
 *   YW_MAKER, YW_CHECKER   two finance accounts, not yet enrolled for TOTP
 *   YW_CLERK         a staff account without the finance role
 *   YW_OUT           a folder for downloads and screenshots
 *   YW_EXC_ORDER     the id of an order in EXCEPTION whose payment is booked
 *   YW_PAYER_REFUND  the out_refund_no of a refund to a payer the channel refused
 * Debian's /usr/bin/chromium through playwright-core (no browser download). Prints one
 * line per check, `ok   NAME` or `FAIL NAME`, and exits non-zero when any failed.
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { must, check, runInChromium, watch } = require('./browser');

const GW = must('YW_GW');
const PASSWORD = must('YW_PASSWORD');
const MAKER = must('YW_MAKER');
const CHECKER = must('YW_CHECKER');
const CLERK = must('YW_CLERK');
const OUT = must('YW_OUT');
const SIM = process.env.YW_SIM || '';      /* the simulated channel's base URL */
/* an order in EXCEPTION whose payment is booked (e2e_finance_console.sh makes it) */
const EXC_ORDER = must('YW_EXC_ORDER');
/* a refund to a payer the channel refused (FAILED; e2e_finance_console.sh makes it) */
const PAYER_REFUND = must('YW_PAYER_REFUND');
const CHANNEL = 'sim';
const WAIT_MS = 15000; /* every wait on the page is bounded by this */

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

async function main(browser) {
  fs.mkdirSync(OUT, { recursive: true });
  const t0 = Date.now();
  await enrol(MAKER);
  await enrol(CHECKER);
  console.log(`note: enrolling two authenticators took ${Date.now() - t0} ms`);
  check('two finance users enrolled their authenticators through the API', true);
  await run(browser);
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

  /* yesterday (Asia/Shanghai): its payments can be dated in its last minutes */
  const day = shanghaiDate(-1);
  const clerk = await call('POST', '/v1/auth/sessions', { username: CLERK, password: PASSWORD });
  if (clerk.status !== 200) throw new Error(`the clerk's login: ${clerk.status} ${clerk.buf}`);
  let t0 = Date.now();
  const want = await makeDay(day, clerk.json.accessToken);
  console.log(`note: seven orders and the statement's tampering took ${Date.now() - t0} ms`);
  want.makerSubject = me.json.subject;
  check('a day of paid orders and a statement with every kind of mismatch made through the APIs', true);
  t0 = Date.now();
  const exc = await reconcileAsMaker(page, day, want);
  console.log(`note: the maker's part in the browser took ${Date.now() - t0} ms`);
  await refundExceptionOrder(page, token);
  await proposeWriteOff(page);

  /* sign out: the server's session ends and the tab forgets the token */
  await page.click('#signout');
  await page.waitForSelector('#signin-form');
  await page.waitForFunction(() => sessionStorage.length === 0);
  check('signing out forgets the token in the tab', await page.evaluate(() => sessionStorage.length === 0 && localStorage.length === 0));
  const after = await call('GET', '/v1/me', undefined, token);
  check('signing out ends the session on the server (the old token gets 401)', after.status === 401, after.status);

  /* the checker, in the same tab */
  await signIn(page, CHECKER, await nextCode(CHECKER));
  await page.waitForSelector('#console:not([hidden])');
  check('the checker signs in in the same tab', (await page.getAttribute('#who', 'data-username')) === CHECKER);
  t0 = Date.now();
  await approveAsChecker(page, day, want, exc);
  await approveWriteOff(page);
  console.log(`note: the checker's part in the browser took ${Date.now() - t0} ms`);
  await page.screenshot({ path: path.join(OUT, 'finance.png'), fullPage: true });

  /* what the page asked for, and what it said */
  const origin = new URL(GW).origin;
  const foreign = seen.requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('blob:' + origin + '/'));
  check('the page makes no request outside its own origin', foreign.length === 0, foreign);
  const secrets = seen.requests.filter((u) => u.includes(token) || u.includes(encodeURIComponent(PASSWORD)) || u.includes(PASSWORD));
  check('no request URL carries the password or the token', secrets.length === 0, secrets);
  check('no script errors and no CSP violations', seen.errors.length === 0, seen.errors);
  await context.close();
}

/* The queue of orders in EXCEPTION: the booked one shows its reason, the payer masked
 * and a refund of what is refundable; the refund (RefundOrder through the gateway, the
 * channel refunds at once) takes it out of the queue, the order REFUNDED. */
async function refundExceptionOrder(page, token) {
  const row = `#orders-body tr[data-id="${EXC_ORDER}"]`;
  await page.waitForSelector(row, { timeout: WAIT_MS });
  check('the exception orders\' queue lists the order in EXCEPTION with its refund',
    (await page.getAttribute(row, 'data-action')) === 'REFUND' && (await page.getAttribute(row, 'data-booked')) === 'true');
  const payer = await text(page, `${row} td.payer`);
  check('the queue shows the payer masked', payer === '*三', payer);
  check('the queue shows the exception\'s reason', /paid after close/.test(await text(page, `${row} td.reason`)));
  await page.click(`${row} button.refund`);
  await page.waitForSelector('#orders-error:not([hidden])');
  check('a refund without a reason is not sent', /退款理由/.test(await text(page, '#orders-error')));
  await page.fill(`${row} input.note`, '关单后到账，原路退回');
  await page.click(`${row} button.refund`);
  await page.waitForSelector(row, { state: 'detached', timeout: WAIT_MS });
  check('the refund takes the order out of the queue', !(await page.isVisible('#orders-error')));
  const g = await call('GET', '/v1/payments/orders/' + EXC_ORDER, undefined, token);
  check('the order is REFUNDED in full', g.status === 200 && g.json.status === 'ORDER_STATUS_REFUNDED' &&
    g.json.refundedFen === g.json.amountFen, [g.status, g.json && g.json.status]);
}

/* The refunds to payers: the one the channel refused shows the channel's reason; the
 * maker proposes writing it off. */
async function proposeWriteOff(page) {
  const row = `#refunds-body tr[data-orn="${PAYER_REFUND}"]`;
  await page.waitForSelector(row, { timeout: WAIT_MS });
  check('the refused refund to the payer is listed with the channel\'s reason',
    (await page.getAttribute(row, 'data-status')) === 'FAILED' && (await text(page, `${row} td.reason`)) === 'ORDER_NOT_EXIST');
  await page.selectOption(`${row} select.action`, 'WRITE_OFF');
  await page.fill(`${row} input.note`, '渠道无此交易，无法退回');
  await page.click(`${row} button.propose`);
  await page.waitForSelector(`${row}[data-proposed="true"]`, { timeout: WAIT_MS });
  check('the maker proposes writing the refused refund off', (await page.getAttribute(row, 'data-action')) === 'WRITE_OFF' &&
    !(await page.isVisible('#refunds-error')));
}

/* As the checker: the write-off approved, the refund leaves the list, WRITTEN_OFF. */
async function approveWriteOff(page) {
  const row = `#refunds-body tr[data-orn="${PAYER_REFUND}"]`;
  await page.waitForSelector(`${row}[data-proposed="true"]`, { timeout: WAIT_MS });
  await page.click(`${row} button.approve`);
  await page.waitForSelector(row, { state: 'detached', timeout: WAIT_MS });
  check('the checker\'s approval writes the refused refund off', !(await page.isVisible('#refunds-error')));
  const v = await page.evaluate(() => sessionStorage.getItem('yw.finance.session'));
  const tok = v ? JSON.parse(v).token : '';
  const l = await call('GET', '/v1/finance/payer-refunds?status=WRITTEN_OFF', undefined, tok);
  check('the refund is WRITTEN_OFF', l.status === 200 &&
    (l.json.refunds || []).some((r) => r.outRefundNo === PAYER_REFUND), [l.status, l.json]);
}

/* ---- a day of payments with every kind of mismatch, made through the APIs ------------- */

/* A statement file of channel sim's merchant as the channel writes it: one payment of
 * 1.00 yuan at 10:00 on day, merchant order number no. */
function statementCsv(day, no) {
  return '交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,商户退款单号,退款金额,手续费,费率\r\n' +
    '`' + day + ' 10:00:00,`1900000001,`' + no + ',`T1,`NATIVE,`SUCCESS,`1.00,`,`0.00,`0.01,`0.60%\r\n' +
    '总交易单数,应结订单总金额,退款总金额,手续费总金额\r\n`1,`1.00,`0.00,`0.01\r\n';
}

/* The Asia/Shanghai date `days` days from today, YYYY-MM-DD. */
function shanghaiDate(days) {
  const t = new Date(Date.now() + 8 * 3600 * 1000 + days * 86400 * 1000);
  return t.toISOString().slice(0, 10);
}

async function poll(what, fn, ms) {
  const deadline = Date.now() + (ms || 20000);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function sim(p, body) {
  const res = await fetch(SIM + p, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const t = await res.text();
  if (!res.ok) throw new Error(`simulator ${p}: ${res.status} ${t}`);
  return t ? JSON.parse(t) : {};
}

/* Issues an order as the clerk, pays it on the simulated channel at successTime (the
 * simulator's wallet, its signed notification) and waits until the platform has it paid.
 * Returns {id, outTradeNo, amountFen}. */
async function paidOrder(clerk, amountFen, successTime) {
  const o = await call('POST', '/v1/payments/orders', {
    itemCode: 'FIN-TEST', itemName: '财务对账测试罚没款', amountFen: String(amountFen), payerName: '张三',
  }, clerk, { 'idempotency-key': crypto.randomUUID() });
  if (o.status !== 200) throw new Error(`creating an order: ${o.status} ${o.buf}`);
  const p = await call('POST', `/v1/payments/notices/${o.json.noticeCode}:pay`, { channel: CHANNEL });
  if (p.status !== 200) throw new Error(`paying an order: ${p.status} ${p.buf}`);
  /* no notification: yw-payment's janitor asks the channel and books the payment with
   * the channel's success time (the test runs it every 100 ms) */
  await sim('/sim/pay', { out_trade_no: p.json.outTradeNo, payer: 'wx-payer', notify: 'none', success_time: successTime });
  await poll('order ' + o.json.id + ' to be paid', async () => {
    const g = await call('GET', '/v1/payments/orders/' + o.json.id, undefined, clerk);
    return g.status === 200 && g.json.status === 'ORDER_STATUS_PAID';
  });
  return { id: o.json.id, outTradeNo: p.json.outTradeNo, amountFen };
}

/* The day: three matched orders, one whose amount the statement misstates, one the
 * statement lacks (短款), one paid in the last minutes of the day that the statement
 * lacks (deferred to the next day's statement), and one statement row the platform never
 * made (长款). Returns what the page must show. */
async function makeDay(day, clerk) {
  const at = (hms) => `${day}T${hms}+08:00`;
  const matched = [];
  for (const [fen, t] of [[1250, '09:00:00'], [3000, '10:30:00'], [99900, '14:15:00']]) {
    matched.push(await paidOrder(clerk, fen, at(t)));
  }
  const mismatch = await paidOrder(clerk, 4500, at('11:00:00'));
  await sim('/sim/tamper', { out_trade_no: mismatch.outTradeNo, kind: 'amount', amount: 4400 });
  const short = await paidOrder(clerk, 800, at('12:00:00'));
  await sim('/sim/tamper', { out_trade_no: short.outTradeNo, kind: 'drop' });
  const late = await paidOrder(clerk, 2000, at('23:58:30'));
  await sim('/sim/tamper', { out_trade_no: late.outTradeNo, kind: 'drop' });
  const extraNo = 'EXTRA' + crypto.randomBytes(6).toString('hex').toUpperCase();
  await sim('/sim/tamper', { kind: 'extra', out_trade_no: extraNo, amount: 1500, success_time: at('15:00:00') });
  return {
    counts: { MATCHED: 3, AMOUNT_MISMATCH: 1, CHANNEL_ONLY: 1, PLATFORM_ONLY: 1, DEFERRED: 1 },
    matched, mismatch, short, late, extraNo,
  };
}

/* The day's reconciliation as the maker: run it from the page, the counts per class and
 * the chart's bars, then a proposal on the exception of the extra statement row and the
 * maker's own approval refused. Returns the day and the exception, for the checker. */
async function reconcileAsMaker(page, day, want) {
  await page.selectOption('#channel', CHANNEL);
  await page.fill('#date', day);
  await page.click('#run');
  await page.waitForFunction(() => /对账完成/.test(document.getElementById('recon-status').textContent) ||
    !document.getElementById('recon-error').hidden);
  const err = await page.isVisible('#recon-error') ? await text(page, '#recon-error') : '';
  check('the day\'s reconciliation runs from the page', err === '', err);
  for (const [cls, n] of Object.entries(want.counts)) {
    const shown = await text(page, `#summary-body tr[data-class="${cls}"] td.count`);
    check(`the page shows ${n} ${cls}`, shown === String(n), shown);
    const bar = await page.getAttribute(`#chart svg g.bar[data-class="${cls}"]`, 'data-count');
    check(`the chart has a bar of ${n} for ${cls}`, bar === String(n), bar);
  }
  const rects = await page.$$eval('#chart svg g.bar rect', (rs) => rs.map((r) => Number(r.getAttribute('height'))));
  check('the chart draws the matched bar tallest', rects.length === 5 && rects[0] === Math.max(...rects) && rects[0] > 0, rects);
  const matchedFen = want.matched.reduce((a, o) => a + o.amountFen, 0);
  const amt = await page.getAttribute('#summary-body tr[data-class="MATCHED"] td.platform', 'data-fen');
  check('the matched amount is the sum of the matched orders', amt === String(matchedFen), [amt, matchedFen]);
  check('the amount is shown in yuan', (await text(page, '#summary-body tr[data-class="MATCHED"] td.platform')) ===
    (matchedFen / 100).toLocaleString('en-US', { minimumFractionDigits: 2 }));
  const mm = await page.$eval('#summary-body tr[data-class="AMOUNT_MISMATCH"]',
    (tr) => [tr.querySelector('td.channel').dataset.fen, tr.querySelector('td.platform').dataset.fen]);
  check('the mismatch shows both amounts', mm[0] === '4400' && mm[1] === '4500', mm);
  const totals = await page.$eval('#chart-totals', (t) => [t.dataset.matched, t.dataset.exceptions]);
  check('the chart totals matched vs exceptions', totals[0] === '3' && totals[1] === '4', totals);

  /* running the day again: the same statement (reused), the same counts */
  const counts = () => page.$$eval('#summary-body tr', (trs) => trs.map((t) => t.dataset.class + '=' + t.querySelector('td.count').textContent));
  const before = await counts();
  await page.click('#run');
  await page.waitForFunction(() => /与已导入的相同/.test(document.getElementById('recon-status').textContent) ||
    !document.getElementById('recon-error').hidden);
  const again = await counts();
  check('running the day again reuses the statement and shows the same counts',
    JSON.stringify(again) === JSON.stringify(before) && !(await page.isVisible('#recon-error')), [before, again]);

  /* the upload control: a file over the statement fetched from the channel is refused
   * without a reason; a file of another day uploads as it is and the day runs on it */
  const overFile = path.join(OUT, 'over.csv');
  fs.writeFileSync(overFile, statementCsv(day, 'UPOVER'));
  await page.setInputFiles('#upload-file', overFile);
  await page.click('#upload');
  await page.waitForFunction(() => !document.getElementById('recon-error').hidden);
  const upRefused = await text(page, '#recon-error');
  check('an upload over the channel\'s own statement is refused without a reason (412)',
    /fetched from the channel/.test(upRefused) && /412/.test(upRefused), upRefused);
  const upDay = shanghaiDate(0); /* after the day: its open exception is not in the day's report */
  const upFile = path.join(OUT, 'upload.csv');
  fs.writeFileSync(upFile, statementCsv(upDay, 'UP' + String(Date.now() % 1e8)));
  await page.fill('#date', upDay);
  await page.setInputFiles('#upload-file', upFile);
  await page.click('#upload');
  await page.waitForFunction(() => /已上传/.test(document.getElementById('recon-status').textContent) ||
    !document.getElementById('recon-error').hidden);
  const upErr = await page.isVisible('#recon-error') ? await text(page, '#recon-error') : '';
  check('a statement file uploads from the page and the day runs on it',
    upErr === '' && /已上传（1 行）/.test(await text(page, '#recon-status')) &&
    (await text(page, '#summary-body tr[data-class="CHANNEL_ONLY"] td.count')) === '1', upErr);
  await page.fill('#date', day);
  await page.click('#load');
  await page.waitForFunction(() => !/已上传/.test(document.getElementById('recon-status').textContent));

  /* the queue: the statement's extra row (长款) is an open exception */
  const row = `#queue-body tr[data-order="${want.extraNo}"]`;
  await page.waitForSelector(row);
  check('the exception queue lists the channel-only row', (await page.getAttribute(row, 'data-class')) === 'CHANNEL_ONLY');
  check('the exception queue lists the amount mismatch',
    (await page.$(`#queue-body tr[data-order="${want.mismatch.outTradeNo}"][data-class="AMOUNT_MISMATCH"]`)) !== null);
  check('the exception queue lists the platform-only order',
    (await page.$(`#queue-body tr[data-order="${want.short.outTradeNo}"][data-class="PLATFORM_ONLY"]`)) !== null);
  const id = await page.getAttribute(row, 'data-id');
  await page.selectOption(`${row} select.action`, 'WRITE_OFF');
  await page.fill(`${row} input.note`, '渠道多出款项，挂待处理款项');
  await page.click(`${row} button.propose`);
  await page.waitForFunction((r) => document.querySelector(r + '[data-state="PROPOSED"]') !== null ||
    !document.getElementById('queue-error').hidden, row);
  const perr = await page.isVisible('#queue-error') ? await text(page, '#queue-error') : '';
  check('the maker\'s proposal is accepted', perr === '', perr);
  await page.waitForSelector(`${row}[data-state="PROPOSED"]`);
  const by = await page.getAttribute(`${row} td.proposal`, 'data-proposed-by');
  check('the proposal is shown with who proposed it', by === MAKER || by === want.makerSubject, by);
  const proposed = await page.getAttribute(`${row} td.proposal`, 'data-action');
  check('the proposal shows its action', proposed === 'WRITE_OFF', proposed);
  await page.click(`${row} button.approve`);
  await page.waitForSelector('#queue-error:not([hidden])');
  const refused = await text(page, '#queue-error');
  check('the proposer\'s own approval is refused and the page shows the server\'s message',
    /another finance user/.test(refused) && /PERMISSION_DENIED 403/.test(refused), refused);
  check('the refused approval leaves the exception proposed', (await page.getAttribute(row, 'data-state')) === 'PROPOSED');

  /* a second proposal, for the checker to reject: a refund of the misstated amount */
  const mrow = `#queue-body tr[data-order="${want.mismatch.outTradeNo}"]`;
  const offered = await page.$$eval(`${mrow} select.action option`, (os) => os.map((o) => o.value));
  check('an amount mismatch is offered only the actions that fit it', offered.join() === 'REFUND,WRITE_OFF', offered);
  await page.selectOption(`${mrow} select.action`, 'REFUND');
  await page.fill(`${mrow} input.note`, '渠道少收 1 元，退还差额');
  await page.click(`${mrow} button.propose`);
  await page.waitForSelector(`${mrow}[data-state="PROPOSED"]`);
  check('the maker proposes a refund of the mismatch', !(await page.isVisible('#queue-error')));
  return { id, row, mrow };
}

/* What the daily report must say of the day makeDay made: the statement's payments
 * (the matched orders, the misstated amount, the extra row) and their fees
 * (round-half-up(fen x 6 / 1000) each), and what the ledger booked (every paid order). */
function figures(want) {
  const stmt = want.matched.map((o) => o.amountFen).concat([4400, 1500]);
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  const fee = sum(stmt.map((fen) => Math.floor((fen * 6 + 500) / 1000)));
  const booked = sum(want.matched.map((o) => o.amountFen)) + want.mismatch.amountFen +
    want.short.amountFen + want.late.amountFen;
  const yuan = (fen) => (fen / 100).toFixed(2);
  return { statementYuan: yuan(sum(stmt)), feeYuan: yuan(fee), bookedYuan: yuan(booked) };
}

/* The members of a zip file (an .xlsx), by its central directory: {name: Buffer}. */
function unzip(buf) {
  const zlib = require('zlib');
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('no end of central directory');
  const n = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = {};
  for (let k = 0; k < n; k++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('bad central directory entry');
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28);
    const name = buf.toString('utf8', p + 46, p + 46 + nlen);
    const local = buf.readUInt32LE(p + 42);
    const data = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(data, data + csize);
    out[name] = method === 8 ? zlib.inflateRawSync(raw) : raw;
    p += 46 + nlen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return out;
}

/* Clicks a download button: the browser's download, or the error the page shows. */
async function downloadFrom(page, button) {
  const dl = page.waitForEvent('download');
  const shown = page.waitForSelector('#report-error:not([hidden])').then(async () => {
    throw new Error('the page shows: ' + (await text(page, '#report-error')));
  });
  await page.click(button);
  const d = await Promise.race([dl, shown]);
  shown.catch(() => {});
  dl.catch(() => {});
  return d;
}

/* As the checker: approve the maker's proposal, the exception leaves the queue; the
 * exports of the day. */
async function approveAsChecker(page, day, want, exc) {
  await page.selectOption('#channel', CHANNEL);
  await page.fill('#date', day);
  await page.click('#load');
  await page.waitForSelector(`${exc.row}[data-state="PROPOSED"]`);
  await page.click(`${exc.row} button.approve`);
  await page.waitForSelector(exc.row, { state: 'detached' });
  check('the checker\'s approval takes the exception out of the queue', (await page.$(exc.row)) === null);
  check('no error is shown after the approval', !(await page.isVisible('#queue-error')));

  /* the checker rejects the maker's other proposal: it is open again, without proposal */
  await page.click(`${exc.mrow} button.reject`);
  await page.waitForSelector(`${exc.mrow}[data-state="OPEN"]`);
  check('a rejected proposal leaves the exception open again, its proposal cleared',
    (await page.getAttribute(`${exc.mrow} td.proposal`, 'data-action')) === '' &&
    (await page.$(`${exc.mrow} button.propose`)) !== null);

  /* the daily report, CSV */
  const csvDl = await downloadFrom(page, '#download-csv');
  const csvPath = path.join(OUT, 'report.csv');
  await csvDl.saveAs(csvPath);
  const csv = fs.readFileSync(csvPath, 'utf8');
  check('the CSV download is named by its date', csvDl.suggestedFilename().endsWith(`${day}.csv`), csvDl.suggestedFilename());
  const rows = csv.split(/\r?\n/).filter((l) => l !== '').map((l) => l.split(','));
  const row = (first) => (rows.find((r) => r[0] === first) || []).join(',');
  const f = figures(want);
  check('the CSV is of the day', row('日期') === '日期,' + day, row('日期'));
  /* per channel, what the statement says: 5 payments, their fees; 2 exceptions still open */
  check('the CSV\'s channel row: payments, amount, refunds, fees, open exceptions',
    row(CHANNEL).startsWith(`${CHANNEL},5,${f.statementYuan},0,0.00,${f.feeYuan},2,`), [row(CHANNEL), f]);
  /* per department and the remittance, what the ledger booked: the six paid orders */
  check('the CSV\'s department row', rows.some((r) => r.join(',') === `320700-GA,6,${f.bookedYuan},0,0.00,0,0.00`), csv);
  check('the CSV\'s remittance to the treasury', rows.some((r) => r.join(',') === `320700-GA,FIN-TEST,${f.bookedYuan}`), csv);

  /* the daily report, XLSX: a zip holding the workbook and its sheet */
  const xDl = await downloadFrom(page, '#download-xlsx');
  const xPath = path.join(OUT, 'report.xlsx');
  await xDl.saveAs(xPath);
  const x = fs.readFileSync(xPath);
  check('the XLSX download is a zip (PK)', x.length > 100 && x[0] === 0x50 && x[1] === 0x4b && x[2] === 3 && x[3] === 4, x.slice(0, 4));
  let parts = {};
  try { parts = unzip(x); } catch (e) { parts = { error: String(e) }; }
  const wb = parts['xl/workbook.xml'] ? parts['xl/workbook.xml'].toString('utf8') : '';
  check('the XLSX holds a workbook with the sheets 渠道, 执收单位, 国库缴款',
    ['渠道', '执收单位', '国库缴款'].every((n) => wb.includes(`name="${n}"`)), Object.keys(parts));
  const sheet = parts['xl/worksheets/sheet1.xml'] ? parts['xl/worksheets/sheet1.xml'].toString('utf8') : '';
  const strings = parts['xl/sharedStrings.xml'] ? parts['xl/sharedStrings.xml'].toString('utf8') : '';
  check('the XLSX\'s channel sheet holds the statement\'s amount as a number',
    sheet.includes(`<v>${Number(f.statementYuan)}</v>`) && strings.includes(`>${CHANNEL}<`), sheet.slice(0, 800));
  const remit = Object.keys(parts).filter((k) => /^xl\/worksheets\/sheet\d+\.xml$/.test(k))
    .some((k) => parts[k].toString('utf8').includes(`<v>${Number(f.bookedYuan)}</v>`));
  check('the XLSX holds the remittance as a number', remit && strings.includes('>FIN-TEST<'));
}

runInChromium(main);
