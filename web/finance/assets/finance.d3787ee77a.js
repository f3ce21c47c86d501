/* finance.js - the finance console (财务对账) of web/finance/index.html.
 *
 * Plain script, no framework and no build step; served under a content-hashed name
 * (tests/web/rehash.js renames it after an edit). Everything it asks goes to the page's
 * own origin: the gateway that serves the page also answers /v1/.
 *
 * - Sign-in: username, password and the authenticator's code (or a recovery code) to
 *   POST /v1/auth/sessions; only accounts with the role `finance` get the console. The
 *   access token lives in this tab's sessionStorage (never localStorage, never a URL)
 *   and goes out as `authorization: Bearer`; signing out ends the session on the server
 *   (DELETE /v1/auth/sessions/current) and forgets it here.
 * - The day's reconciliation of a channel: counts and amounts per class, a bar chart of
 *   matched vs the exception classes drawn here as inline SVG (each bar carries
 *   data-class, data-count and data-amount-fen).
 * - The exception queue: one user proposes an action (BOOK, REFUND, WRITE_OFF), another
 *   approves or rejects it; what the server refuses is shown with its error body's
 *   message.
 * - The daily report as CSV and XLSX: fetched with the token, handed to the browser as
 *   a download of a blob (the token never appears in a link).
 *
 * Money arrives as integer fen (int64, a string in proto3 JSON) and is shown in yuan by
 * integer arithmetic (BigInt): no floating point touches an amount.
 */
'use strict';

(function () {
  const TOKEN_KEY = 'yw.finance.session';
  const REQUEST_TIMEOUT_MS = 30000;

  /* The routes: identity's sessions, and yw-payment's FinanceService (its JSON names in
   * payment/README.md, "Reconciliation"). */
  const q = encodeURIComponent;
  const API = {
    signIn: '/v1/auth/sessions',
    signOut: '/v1/auth/sessions/current',
    importStatement: '/v1/finance/statements:import',
    upload: (ch, d, reason) => '/v1/finance/statements/' + q(ch) + '/' + q(d) + ':upload' +
      (reason ? '?force=true&reason=' + q(reason) : ''),
    runReconciliation: '/v1/finance/reconciliations',
    reconciliation: (ch, d) => '/v1/finance/reconciliations/' + q(ch) + '/' + q(d) + '?pageSize=1',
    exceptions: (ch, token) => '/v1/finance/exceptions?channel=' + q(ch) + '&pageSize=500' +
      (token ? '&pageToken=' + q(token) : ''),
    propose: (id) => '/v1/finance/exceptions/' + q(id) + ':propose',
    approve: (id) => '/v1/finance/exceptions/' + q(id) + ':approve',
    reject: (id) => '/v1/finance/exceptions/' + q(id) + ':reject',
    report: (d, fmt) => '/v1/finance/reports/daily?date=' + q(d) + '&format=' + q(fmt),
    orders: (token) => '/v1/finance/orders?status=EXCEPTION&pageSize=500' +
      (token ? '&pageToken=' + q(token) : ''),
    refundOrder: (id) => '/v1/payments/orders/' + q(id) + ':refund',
    payerRefunds: (token) => '/v1/finance/payer-refunds?pageSize=500' + (token ? '&pageToken=' + q(token) : ''),
    payerRefund: (orn, verb) => '/v1/finance/payer-refunds/' + q(orn) + ':' + verb,
  };
  const MAX_QUEUE_PAGES = 20; /* at most 10,000 open exceptions are listed */

  /* The classes of a day's reconciliation, in the order they are shown. */
  const CLASSES = [
    { key: 'MATCHED', label: '已匹配', exception: false },
    { key: 'AMOUNT_MISMATCH', label: '金额不符', exception: true },
    { key: 'CHANNEL_ONLY', label: '长款（渠道有、平台无）', exception: true },
    { key: 'PLATFORM_ONLY', label: '短款（平台有、渠道无）', exception: true },
    { key: 'DEFERRED', label: '跨日待核（顺延次日）', exception: true },
  ];
  /* The resolutions, and the classes each can resolve (the service checks it too). */
  const ACTIONS = [
    { key: 'BOOK', label: '补记入账', fits: ['CHANNEL_ONLY'] },
    { key: 'REFUND', label: '原路退款', fits: ['CHANNEL_ONLY', 'AMOUNT_MISMATCH'] },
    { key: 'WRITE_OFF', label: '核销至待处理款项', fits: null },
  ];
  const STATES = { OPEN: '待处理', PROPOSED: '待复核', RESOLVED: '已处理' };

  const $ = (id) => document.getElementById(id);
  let session = null; /* {token, me} */

  /* ---- small helpers -------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, code, message, requestId) {
      super(message);
      this.status = status;
      this.code = code;
      this.requestId = requestId || '';
    }
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* Integer fen (number or decimal string) -> "1,234.50" yuan; '' for absent. */
  function yuan(fen) {
    if (fen === undefined || fen === null || fen === '') return '';
    let v;
    try { v = BigInt(fen); } catch (e) { return String(fen); }
    const neg = v < 0n;
    if (neg) v = -v;
    const whole = (v / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    const cents = (v % 100n).toString().padStart(2, '0');
    return (neg ? '-' : '') + whole + '.' + cents;
  }

  function showError(id, err) {
    const p = $(id);
    if (!err) { p.hidden = true; p.textContent = ''; return; }
    let text = err.message || String(err);
    if (err.code) text += '（' + err.code + (err.status ? ' ' + err.status : '') + '）';
    if (err.requestId) text += '  请求编号 ' + err.requestId;
    p.textContent = text;
    p.hidden = false;
  }

  function todayShanghai() {
    /* the reconciliation day is the Asia/Shanghai date */
    const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date());
    const get = (t) => parts.find((p) => p.type === t).value;
    return get('year') + '-' + get('month') + '-' + get('day');
  }

  function age(seconds) {
    const s = Math.max(0, Number(seconds) || 0);
    if (s < 60) return s + ' 秒';
    if (s < 3600) return Math.floor(s / 60) + ' 分钟';
    if (s < 86400) return Math.floor(s / 3600) + ' 小时';
    return Math.floor(s / 86400) + ' 天';
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  /* One request to the gateway, bounded by REQUEST_TIMEOUT_MS. Returns the parsed JSON
   * body (or, when opts.raw, {blob, type, disposition}); throws ApiError with the standard error body's
   * code and message for anything but 2xx. */
  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = { accept: opts.accept || 'application/json' };
    if (session && session.token && !opts.anonymous) headers.authorization = 'Bearer ' + session.token;
    const raw = opts.rawBody !== undefined; /* a file, sent as it is */
    if (raw) headers['content-type'] = opts.contentType || 'application/octet-stream';
    else if (body !== undefined) headers['content-type'] = 'application/json';
    if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: raw ? opts.rawBody : body === undefined ? undefined : JSON.stringify(body),
        signal: ctl.signal, cache: 'no-store', credentials: 'omit', redirect: 'error',
      });
    } catch (e) {
      clearTimeout(timer);
      throw new ApiError(0, 'UNAVAILABLE', ctl.signal.aborted ? '服务器在 30 秒内没有应答' : '无法连接服务器');
    }
    try {
      if (!res.ok) {
        let b = {};
        try { b = await res.json(); } catch (e) { b = {}; }
        const err = new ApiError(res.status, b.code || 'HTTP_' + res.status, b.message || res.statusText || '请求失败', b.requestId);
        if (res.status === 401 && session && !opts.anonymous) {
          forget();
          showSignIn('登录已失效，请重新登录：' + err.message);
        }
        throw err;
      }
      if (opts.raw) {
        return { blob: await res.blob(), type: res.headers.get('content-type') || '',
          disposition: res.headers.get('content-disposition') || '' };
      }
      const text = await res.text();
      return text ? JSON.parse(text) : {};
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(res.status, 'UNAVAILABLE', ctl.signal.aborted ? '服务器在 30 秒内没有应答' : '应答无法读取');
    } finally {
      clearTimeout(timer);
    }
  }

  /* ---- session -------------------------------------------------------------------- */

  function remember(s) {
    session = s;
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s));
  }

  function forget() {
    session = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  function showSignIn(message) {
    $('console').hidden = true;
    $('who-box').hidden = true;
    $('signin').hidden = false;
    $('password').value = '';
    $('totp').value = '';
    showError('signin-error', message ? { message } : null);
    $('username').focus();
  }

  function showConsole() {
    $('signin').hidden = true;
    $('console').hidden = false;
    $('who-box').hidden = false;
    const me = session.me || {};
    $('who').textContent = (me.username || me.subject || '') + '（' + (me.roles || []).join('、') + '）';
    $('who').dataset.username = me.username || '';
    if (!$('date').value) $('date').value = todayShanghai();
    loadDay();
  }

  async function signIn(ev) {
    ev.preventDefault();
    showError('signin-error', null);
    const username = $('username').value.trim();
    const password = $('password').value;
    const code = $('totp').value.trim();
    if (!username || !password || !code) {
      showError('signin-error', { message: '请填写用户名、密码和动态验证码' });
      return;
    }
    const body = { username, password };
    if (/^\d{6,8}$/.test(code)) body.totpCode = code; else body.recoveryCode = code;
    $('signin-submit').disabled = true;
    try {
      const s = await api('POST', API.signIn, body, { anonymous: true });
      const me = s.me || {};
      if (!(me.roles || []).includes('finance')) {
        /* not a finance account: end the session it was just given */
        session = { token: s.accessToken, me };
        try { await api('DELETE', API.signOut); } catch (e) { /* it ends by itself */ }
        session = null;
        showError('signin-error', { message: '此账号没有财务权限（finance），不能使用财务对账台' });
        return;
      }
      remember({ token: s.accessToken, me });
      $('password').value = '';
      $('totp').value = '';
      showConsole();
    } catch (e) {
      showError('signin-error', e);
    } finally {
      $('signin-submit').disabled = false;
    }
  }

  async function signOut() {
    try { if (session) await api('DELETE', API.signOut); } catch (e) { /* forgotten here anyway */ }
    forget();
    clearDay();
    showSignIn('已退出登录');
  }

  /* ---- the day's reconciliation --------------------------------------------------- */

  function selected() {
    return { channel: $('channel').value, date: $('date').value };
  }

  function clearDay() {
    $('summary-body').replaceChildren();
    $('chart').replaceChildren();
    $('queue-body').replaceChildren();
    $('queue-count').textContent = '';
    $('recon-status').textContent = '';
    for (const id of ['recon-error', 'queue-error', 'report-error']) showError(id, null);
  }

  /* The per-class figures of a Reconciliation: {CLASS: {count, channelFen, platformFen,
   * feeFen}} (int64 as decimal strings); zeros where the answer has none. */
  function classFigures(r) {
    const out = {};
    for (const c of CLASSES) out[c.key] = { count: 0, channelFen: '0', platformFen: '0', feeFen: '0' };
    for (const s of (r && r.classes) || []) {
      if (out[s.class] === undefined) continue;
      out[s.class] = { count: Number(s.count || 0), channelFen: String(s.channelFen || '0'),
        platformFen: String(s.platformFen || '0'), feeFen: String(s.feeFen || '0') };
    }
    return out;
  }

  function renderSummary(r) {
    const f = classFigures(r);
    const body = $('summary-body');
    body.replaceChildren();
    const fen = (cls, v) => el('td', { class: 'num ' + cls, 'data-fen': v, text: yuan(v) });
    for (const c of CLASSES) {
      const x = f[c.key];
      body.append(el('tr', { class: 'cls-' + c.key + (c.exception ? ' exception' : ''), 'data-class': c.key },
        el('td', { text: c.label }),
        el('td', { class: 'num count', text: String(x.count) }),
        fen('channel', x.channelFen), fen('platform', x.platformFen), fen('fee', x.feeFen)));
    }
    renderChart(f);
  }

  /* Bars of the count per class, matched first, drawn as inline SVG. */
  function renderChart(f) {
    const W = 460, H = 220, left = 40, bottom = 40, top = 20, gap = 18;
    const n = CLASSES.length;
    const bw = Math.floor((W - left - gap * (n + 1)) / n);
    const max = Math.max(1, ...CLASSES.map((c) => f[c.key].count));
    const s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img',
      'aria-label': '已匹配与差错笔数', id: 'chart-svg' });
    s.append(svg('title', {}, '已匹配与差错笔数'));
    s.append(svg('line', { class: 'axis', x1: left, y1: H - bottom, x2: W, y2: H - bottom }));
    s.append(svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: H - bottom }));
    s.append(svg('text', { x: left - 6, y: top + 4, 'text-anchor': 'end' }, String(max)));
    s.append(svg('text', { x: left - 6, y: H - bottom, 'text-anchor': 'end' }, '0'));
    CLASSES.forEach((c, i) => {
      const v = f[c.key].count;
      const h = Math.round((H - bottom - top) * v / max);
      const x = left + gap + i * (bw + gap);
      const y = H - bottom - h;
      const g = svg('g', { class: 'bar', 'data-class': c.key, 'data-count': v,
        'data-channel-fen': f[c.key].channelFen, 'data-platform-fen': f[c.key].platformFen,
        'data-exception': c.exception ? 'true' : 'false' });
      g.append(svg('rect', { class: 'bar-' + c.key, x, y, width: bw, height: h }));
      g.append(svg('text', { class: 'value', x: x + bw / 2, y: y - 4, 'text-anchor': 'middle' }, String(v)));
      g.append(svg('text', { x: x + bw / 2, y: H - bottom + 16, 'text-anchor': 'middle' },
        c.label.replace(/（.*$/, '')));
      g.append(svg('title', {}, c.label + '：' + v + ' 笔，渠道 ' + yuan(f[c.key].channelFen) +
        ' 元，平台 ' + yuan(f[c.key].platformFen) + ' 元'));
      s.append(g);
    });
    const exc = CLASSES.filter((c) => c.exception).reduce((a, c) => a + f[c.key].count, 0);
    s.append(svg('text', { x: W - 4, y: 14, 'text-anchor': 'end', id: 'chart-totals',
      'data-matched': f.MATCHED.count, 'data-exceptions': exc }, '已匹配 ' + f.MATCHED.count + ' 笔 · 差错 ' + exc + ' 笔'));
    $('chart').replaceChildren(s);
  }

  function describeRun(r, st) {
    const parts = [];
    if (r.channel && r.date) parts.push(r.channel + ' ' + r.date);
    if (st) {
      parts.push('对账单 ' + (st.rowCount || 0) + ' 行（SHA-256 ' + String(st.sha256 || '').slice(0, 12) + '…' +
        (st.reused ? '，与已导入的相同' : '') + '）');
    } else if (r.statementId) {
      parts.push('对账单 #' + r.statementId);
    }
    if (r.runAt) parts.push('首次对账于 ' + new Date(r.runAt).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai' }));
    if (r.settledFen !== undefined) parts.push('已结算 ' + yuan(r.settledFen) + ' 元');
    parts.push('未结差错 ' + (r.openExceptions || 0) + ' 项');
    return parts.join('，');
  }

  async function loadDay() {
    const { channel, date } = selected();
    if (!date) return;
    showError('recon-error', null);
    $('recon-status').textContent = '正在读取 ' + channel + ' ' + date + ' 的对账结果…';
    try {
      const r = await api('GET', API.reconciliation(channel, date));
      renderSummary(r);
      $('recon-status').textContent = describeRun(r);
    } catch (e) {
      $('recon-status').textContent = '';
      renderSummary(null);
      if (e.status === 404) $('recon-status').textContent = channel + ' ' + date + ' 尚未对账：点“执行对账”（先从渠道取对账单）。';
      else showError('recon-error', e);
    }
    await loadQueue();
    await loadOrders();
    await loadPayerRefunds();
  }

  async function runDay() {
    const { channel, date } = selected();
    if (!date) { showError('recon-error', { message: '请选择对账日期' }); return; }
    showError('recon-error', null);
    $('run').disabled = true;
    $('recon-status').textContent = '正在从渠道取 ' + channel + ' ' + date + ' 的对账单…';
    try {
      /* the channel's statement first (the same file again changes nothing), then the run */
      const st = await api('POST', API.importStatement, { channel, date }, { idempotencyKey: newKey() });
      $('recon-status').textContent = '正在对账 ' + channel + ' ' + date + '…';
      const r = await api('POST', API.runReconciliation, { channel, date }, { idempotencyKey: newKey() });
      renderSummary(r);
      $('recon-status').textContent = '对账完成：' + describeRun(r, st);
    } catch (e) {
      $('recon-status').textContent = '';
      showError('recon-error', e);
    } finally {
      $('run').disabled = false;
    }
    await loadQueue();
  }

  /* A statement file of the selected channel and day (as the channel wrote it, CSV),
   * uploaded as it is, then the day run on it. Replacing a statement the channel gave
   * by API needs a reason (the server refuses without one, and audits it). */
  const UPLOAD_MAX_BYTES = 8 << 20;
  async function uploadDay(ev) {
    if (ev) ev.preventDefault();
    const { channel, date } = selected();
    const file = $('upload-file').files[0];
    const reason = $('upload-reason').value.trim();
    showError('recon-error', null);
    if (!date) { showError('recon-error', { message: '请选择对账日期' }); return; }
    if (!file) { showError('recon-error', { message: '请选择对账单文件' }); return; }
    if (file.size === 0 || file.size > UPLOAD_MAX_BYTES) {
      showError('recon-error', { message: '对账单文件须为 1 字节至 8 MiB' });
      return;
    }
    $('upload').disabled = true;
    $('recon-status').textContent = '正在上传 ' + channel + ' ' + date + ' 的对账单…';
    try {
      const st = await api('POST', API.upload(channel, date, reason), undefined,
        { rawBody: file, contentType: 'text/csv' });
      $('recon-status').textContent = '正在对账 ' + channel + ' ' + date + '…';
      const r = await api('POST', API.runReconciliation, { channel, date }, { idempotencyKey: newKey() });
      renderSummary(r);
      $('recon-status').textContent = '已上传（' + (st.rowCount || 0) + ' 行），对账完成：' + describeRun(r, st);
      $('upload-status').textContent = '已上传 ' + file.name + '（' + (st.rowCount || 0) + ' 行）';
      $('upload-status').dataset.statement = st.id || '';
    } catch (e) {
      $('recon-status').textContent = '';
      showError('recon-error', e);
    } finally {
      $('upload').disabled = false;
    }
    await loadQueue();
  }

  /* What the user chose or typed in the open rows of body (by the rows' data-<key>), so
   * that it survives a reload of the list: a load that lands between choosing an action
   * and clicking must not change what is sent. */
  function keptChoices(body, key) {
    const kept = {};
    for (const tr of body.querySelectorAll('tr')) {
      const s = tr.querySelector('select.action'), n = tr.querySelector('input.note');
      if (s && n && tr.dataset[key]) kept[tr.dataset[key]] = { action: s.value, note: n.value };
    }
    return kept;
  }

  /* Puts a kept choice (or nothing) back into a new row's action and note. */
  function keepChoice(k, sel, note) {
    if (!k) return;
    if ([...sel.options].some((o) => o.value === k.action)) sel.value = k.action;
    note.value = k.note;
  }

  /* ---- the exception queue -------------------------------------------------------- */

  function classLabel(k) {
    const c = CLASSES.find((x) => x.key === k);
    return c ? c.label : k;
  }

  function actionLabel(k) {
    const a = ACTIONS.find((x) => x.key === k);
    return a ? a.label : k;
  }

  function renderQueue(list) {
    const body = $('queue-body');
    const kept = keptChoices(body, 'id');
    body.replaceChildren();
    const me = (session && session.me && session.me.username) || '';
    const mine = (by) => by !== '' && (by === me || by === ((session && session.me && session.me.subject) || ''));
    for (const x of list) {
      const state = x.status || 'OPEN';
      const tr = el('tr', { 'data-id': x.id, 'data-class': x.class, 'data-state': state,
        'data-order': x.outTradeNo || '', 'data-kind': x.kind || '', class: 'exc-' + state });
      tr.append(el('td', { text: x.id }));
      tr.append(el('td', { text: x.date || '' }));
      tr.append(el('td', { class: 'age', 'data-seconds': x.ageSeconds || '0', text: age(x.ageSeconds) }));
      tr.append(el('td', { title: classLabel(x.class), text: classLabel(x.class).replace(/（.*$/, '') +
        (x.kind === 'REFUND' ? '（退款）' : '') }));
      tr.append(el('td', { class: 'order', text: x.outTradeNo || x.key || '' }));
      tr.append(el('td', { class: 'num platform', 'data-fen': x.platformFen || '0', text: yuan(x.platformFen || '0') }));
      tr.append(el('td', { class: 'num channel', 'data-fen': x.channelFen || '0', text: yuan(x.channelFen || '0') }));
      tr.append(el('td', { class: 'state', text: STATES[state] || state }));
      const by = x.proposedBy || '';
      tr.append(el('td', { class: 'proposal', 'data-proposed-by': by, 'data-action': x.action || '' },
        state === 'PROPOSED' ? actionLabel(x.action) + '（' + (mine(by) ? '本人 ' + me : by) + ' 提出' +
          (x.note ? '：' + x.note : '') + '）' : ''));
      const act = el('td', { class: 'actions' });
      if (state === 'OPEN') {
        const sel = el('select', { class: 'action', 'aria-label': '处理方式' });
        for (const a of ACTIONS) {
          if (a.fits === null || a.fits.includes(x.class)) sel.append(el('option', { value: a.key, text: a.label }));
        }
        const note = el('input', { class: 'note', placeholder: '说明（必填）', 'aria-label': '说明', maxlength: 200 });
        keepChoice(kept[x.id], sel, note);
        const btn = el('button', { type: 'button', class: 'propose', text: '提出处理' });
        btn.addEventListener('click', () => propose(x.id, sel.value, note.value.trim(), btn));
        act.append(sel, note, btn);
      } else if (state === 'PROPOSED') {
        const ok = el('button', { type: 'button', class: 'approve', text: '批准' });
        const no = el('button', { type: 'button', class: 'reject', text: '驳回' });
        if (mine(by)) ok.title = '提出人不能批准自己的提议（服务器会拒绝）';
        ok.addEventListener('click', () => decide(x, 'approve', ok));
        no.addEventListener('click', () => decide(x, 'reject', no));
        act.append(ok, no);
      }
      tr.append(act);
      body.append(tr);
    }
    $('queue-count').textContent = '（' + list.length + ' 项未结）';
    $('queue').dataset.count = String(list.length);
  }

  /* Each list shows the answer of its latest load only: an earlier load answering later
   * (the day's reload racing an action's reload) never overwrites it. Returns a test of
   * whether this load is still the latest. */
  const loads = {};
  function loadTicket(name) {
    loads[name] = (loads[name] || 0) + 1;
    const t = loads[name];
    return () => loads[name] === t;
  }

  /* Every page of a list (at most MAX_QUEUE_PAGES): path(token) the page's route, key
   * the answer's list. */
  async function allPages(path, key) {
    const list = [];
    let token = '';
    for (let i = 0; i < MAX_QUEUE_PAGES; i++) {
      const r = await api('GET', path(token));
      list.push(...(r[key] || []));
      token = r.nextPageToken || '';
      if (!token) break;
    }
    return list;
  }

  /* The channel's open exceptions (every day's: an exception stays until resolved). */
  async function loadQueue() {
    const { channel } = selected();
    const current = loadTicket('queue');
    showError('queue-error', null);
    try {
      const list = await allPages((token) => API.exceptions(channel, token), 'exceptions');
      if (!current()) return;
      renderQueue(list.filter((x) => x.status !== 'RESOLVED'));
    } catch (e) {
      if (!current()) return;
      renderQueue([]);
      showError('queue-error', e);
    }
  }

  async function propose(id, action, note, btn) {
    showError('queue-error', null);
    if (!note) { showError('queue-error', { message: '请填写处理说明' }); return; }
    btn.disabled = true;
    try {
      await api('POST', API.propose(id), { action, note }, { idempotencyKey: newKey() });
      await loadQueue();
    } catch (e) {
      showError('queue-error', e);
      btn.disabled = false;
    }
  }

  /* The decision names the proposal shown (its action and version): one changed since
   * (rejected and proposed again) is refused by the server (409) and the queue reloads. */
  async function decide(x, verb, btn) {
    showError('queue-error', null);
    btn.disabled = true;
    try {
      const body = { note: '', action: x.action || '', version: x.version || 0 };
      await api('POST', verb === 'approve' ? API.approve(x.id) : API.reject(x.id), body, { idempotencyKey: newKey() });
      await loadDay();
    } catch (e) {
      showError('queue-error', e);
      btn.disabled = false;
    }
  }

  /* ---- orders in EXCEPTION ------------------------------------------------------------ */

  /* Finance's one action on an order in EXCEPTION: a refund of its booked payment
   * (RefundOrder, guarded by the refundable amount shown), or nothing to do. */
  function renderOrders(list) {
    const body = $('orders-body');
    body.replaceChildren();
    for (const x of list) {
      const tr = el('tr', { 'data-id': x.id, 'data-order': x.outTradeNo || '', 'data-action': x.action || '',
        'data-booked': x.payBooked ? 'true' : 'false', 'data-reversed': x.reversed ? 'true' : 'false' });
      tr.append(el('td', { text: x.noticeCode || '' }));
      tr.append(el('td', { class: 'age', 'data-seconds': x.ageSeconds || '0', text: age(x.ageSeconds) }));
      tr.append(el('td', { class: 'reason', text: x.reason || '' }));
      tr.append(el('td', { text: x.channel || '' }));
      tr.append(el('td', { class: 'num amount', 'data-fen': x.amountFen || '0', text: yuan(x.amountFen || '0') }));
      tr.append(el('td', { class: 'payer', text: x.payerName || '' }));
      tr.append(el('td', { class: 'booked', text: x.reversed ? '已冲正' : x.payBooked ? '已入账' : '未入账' }));
      const act = el('td', { class: 'actions' });
      if (x.action === 'REFUND') {
        const note = el('input', { class: 'note', placeholder: '退款理由（必填）', 'aria-label': '退款理由', maxlength: 200 });
        const btn = el('button', { type: 'button', class: 'refund',
          text: '原路退款 ' + yuan(x.refundableFen || '0') + ' 元' });
        btn.addEventListener('click', () => refundOrder(x, note.value.trim(), btn));
        act.append(note, btn);
      } else {
        act.append(el('span', { class: 'muted', text: x.refundPending ? '退款处理中' : '无需操作' }));
      }
      tr.append(act);
      body.append(tr);
    }
    $('orders-count').textContent = '（' + list.length + ' 笔）';
    $('orders').dataset.count = String(list.length);
  }

  async function loadOrders() {
    const current = loadTicket('orders');
    showError('orders-error', null);
    try {
      const list = await allPages(API.orders, 'orders');
      if (!current()) return;
      renderOrders(list);
    } catch (e) {
      if (!current()) return;
      renderOrders([]);
      showError('orders-error', e);
    }
  }

  async function refundOrder(x, reason, btn) {
    showError('orders-error', null);
    if (!reason) { showError('orders-error', { message: '请填写退款理由' }); return; }
    btn.disabled = true;
    try {
      await api('POST', API.refundOrder(x.id),
        { amount: x.refundableFen, reason, expectedRefundable: x.refundableFen }, { idempotencyKey: newKey() });
      await loadOrders();
    } catch (e) {
      showError('orders-error', e);
      btn.disabled = false;
    }
  }

  /* ---- refunds to the payer --------------------------------------------------------- */

  const REFUND_ACTIONS = [
    { key: 'RETRY', label: '重新发起退款' },
    { key: 'WRITE_OFF', label: '核销至待处理款项' },
  ];
  const REFUND_STATES = { PENDING: '等待渠道应答', FAILED: '渠道拒绝' };

  /* The refunds to the payer not done: PENDING ones wait for the channel; a FAILED one
   * (the channel's reason shown) is retried or written off, one user proposing and
   * another approving. */
  function renderPayerRefunds(list) {
    const body = $('refunds-body');
    const kept = keptChoices(body, 'orn');
    body.replaceChildren();
    const me = (session && session.me && session.me.username) || '';
    for (const x of list) {
      const tr = el('tr', { 'data-orn': x.outRefundNo, 'data-status': x.status,
        'data-proposed': x.proposed ? 'true' : 'false', 'data-action': x.action || '' });
      tr.append(el('td', { text: x.outRefundNo }));
      tr.append(el('td', { text: x.channel || '' }));
      tr.append(el('td', { text: x.outTradeNo || '' }));
      tr.append(el('td', { class: 'num', 'data-fen': x.amountFen || '0', text: yuan(x.amountFen || '0') }));
      tr.append(el('td', { class: 'state', text: REFUND_STATES[x.status] || x.status }));
      tr.append(el('td', { class: 'reason', text: x.reason || '' }));
      tr.append(el('td', { class: 'num', text: String(x.attempts || 0) }));
      const label = (REFUND_ACTIONS.find((a) => a.key === x.action) || {}).label || x.action;
      tr.append(el('td', { class: 'proposal', 'data-proposed-by': x.proposedBy || '' },
        x.proposed ? label + '（' + (x.proposedBy === me ? '本人 ' + me : x.proposedBy) + ' 提出' +
          (x.note ? '：' + x.note.split('\n').pop() : '') + '）' : ''));
      const act = el('td', { class: 'actions' });
      if (x.status === 'FAILED' && !x.proposed) {
        const sel = el('select', { class: 'action', 'aria-label': '处理方式' });
        for (const a of REFUND_ACTIONS) sel.append(el('option', { value: a.key, text: a.label }));
        const note = el('input', { class: 'note', placeholder: '说明（必填）', 'aria-label': '说明', maxlength: 200 });
        keepChoice(kept[x.outRefundNo], sel, note);
        const btn = el('button', { type: 'button', class: 'propose', text: '提出处理' });
        btn.addEventListener('click', () => decidePayerRefund(x, 'propose', { action: sel.value, note: note.value.trim() }, btn));
        act.append(sel, note, btn);
      } else if (x.status === 'FAILED') {
        const ok = el('button', { type: 'button', class: 'approve', text: '批准' });
        const no = el('button', { type: 'button', class: 'reject', text: '驳回' });
        const named = () => ({ action: x.action || '', version: x.version || 0, note: '' });
        ok.addEventListener('click', () => decidePayerRefund(x, 'approve', named(), ok));
        no.addEventListener('click', () => decidePayerRefund(x, 'reject', named(), no));
        act.append(ok, no);
      }
      tr.append(act);
      body.append(tr);
    }
    $('refunds-count').textContent = '（' + list.length + ' 笔未结）';
    $('refunds').dataset.count = String(list.length);
  }

  async function loadPayerRefunds() {
    const current = loadTicket('refunds');
    showError('refunds-error', null);
    try {
      const list = await allPages(API.payerRefunds, 'refunds');
      if (!current()) return;
      renderPayerRefunds(list);
    } catch (e) {
      if (!current()) return;
      renderPayerRefunds([]);
      showError('refunds-error', e);
    }
  }

  /* verb: propose (body {action, note}), approve or reject (the proposal shown: its
   * action and version; one changed since is refused, 409, and the list reloads). */
  async function decidePayerRefund(x, verb, body, btn) {
    showError('refunds-error', null);
    if (verb === 'propose' && !body.note) { showError('refunds-error', { message: '请填写处理说明' }); return; }
    btn.disabled = true;
    try {
      await api('POST', API.payerRefund(x.outRefundNo, verb), body, { idempotencyKey: newKey() });
      await loadPayerRefunds();
    } catch (e) {
      showError('refunds-error', e);
      btn.disabled = false;
    }
  }

  /* ---- exports -------------------------------------------------------------------- */

  /* The daily report of the selected date: the gateway answers the file itself, named
   * by its content-disposition. */
  async function download(fmt, btn) {
    const { date } = selected();
    showError('report-error', null);
    btn.disabled = true;
    try {
      const r = await api('GET', API.report(date, fmt), undefined, { raw: true, accept: '*/*' });
      let name = 'daily-' + date + '.' + fmt;
      const m = /filename="?([^";]+)"?/.exec(r.disposition);
      if (m) name = m[1];
      const url = URL.createObjectURL(r.blob);
      const a = el('a', { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (e) {
      showError('report-error', e);
    } finally {
      btn.disabled = false;
    }
  }

  /* ---- start ---------------------------------------------------------------------- */

  function start() {
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', signOut);
    $('recon-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadDay(); });
    $('run').addEventListener('click', runDay);
    $('upload-form').addEventListener('submit', uploadDay);
    $('channel').addEventListener('change', loadDay);
    for (const id of ['download-csv', 'download-xlsx']) {
      const b = $(id);
      b.addEventListener('click', () => download(b.dataset.format, b));
    }
    let kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || 'null'); } catch (e) { kept = null; }
    if (kept && kept.token) {
      session = kept;
      showConsole();
    } else {
      showSignIn();
    }
    document.body.dataset.ready = 'true';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
