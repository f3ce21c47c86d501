/* app.js - the residents' service guide (办事指南) of web/resident/index.html.
 *
 * Plain script, no framework and no build step; served under a content-hashed name
 * (tests/web/rehash.js renames it after an edit). Everything it asks goes to the page's
 * own origin (the gateway that serves the page also answers /v1/), and only the public
 * catalog routes: no account, no token.
 *
 * Pages, by the location's hash:
 *   #/                          search: the place (city, county, town) and words
 *   #/?q=WORDS                  the same with the results of GET /v1/items?q=&place=
 *   #/items/CODE                the guide of an item (GET /v1/items/{code})
 *   #/items/CODE?version=N      that version of it (GET /v1/items/{code}?version=N)
 *   #/items/CODE/versions       its versions (GET /v1/items/{code}/versions)
 *
 * The place chosen is kept in localStorage (it is public, and the next visit starts
 * there). Every value of the guide is written with textContent into an element named
 * by its JSON field (data-field; list entries carry data-index; the raw value, when the
 * text shows it otherwise, in data-value), so the browser test can walk the JSON
 * guide and find each value where it belongs. Amounts arrive as integer fen and are
 * shown in yuan by integer arithmetic (BigInt).
 */
'use strict';

(function () {
  const PLACE_KEY = 'yw.resident.place';
  const REQUEST_TIMEOUT_MS = 30000;
  const PAGE_SIZE = 10;
  const MANY = 1001; /* total_size stops counting there: "more than 1,000" */

  const q = encodeURIComponent;
  const API = {
    regions: (level, parent) => '/v1/regions?level=' + q(level) + (parent ? '&parent=' + q(parent) : ''),
    items: (words, place, token) => '/v1/items?pageSize=' + PAGE_SIZE +
      (words ? '&q=' + q(words) : '') + (place ? '&place=' + q(place) : '') +
      (token ? '&pageToken=' + q(token) : ''),
    item: (code, version) => '/v1/items/' + q(code) + (version ? '?version=' + q(version) : ''),
    versions: (code) => '/v1/items/' + q(code) + '/versions',
    file: (code, sha256, version) => '/v1/items/' + q(code) + '/files/' + q(sha256) +
      (version ? '?version=' + q(version) : ''),
    topics: '/v1/topics',
  };

  /* ---- labels of the catalog's enums and codes ----------------------------------- */

  const ITEM_TYPES = {
    ADMINISTRATIVE_LICENSE: '行政许可', ADMINISTRATIVE_PAYMENT: '行政给付',
    ADMINISTRATIVE_CONFIRMATION: '行政确认', ADMINISTRATIVE_LEVY: '行政征收',
    ADMINISTRATIVE_ADJUDICATION: '行政裁决', ADMINISTRATIVE_REWARD: '行政奖励',
    OTHER_ADMINISTRATIVE_POWER: '其他行政权力', PUBLIC_SERVICE: '公共服务',
  };
  const LEVELS = { PROVINCE: '省级', CITY: '市级', COUNTY: '县级', TOWN: '乡镇（街道）级' };
  const STATUSES = { DRAFT: '草稿', PUBLISHED: '已发布', RETIRED: '已停止办理' };
  const KINDS = { INSTANT: '即办件', PROMISED: '承诺件' };
  const MATERIAL_FORMS = { ORIGINAL: '原件', COPY: '复印件', ORIGINAL_AND_COPY: '原件和复印件', ELECTRONIC: '电子材料' };
  const UNITS = { WORKING_DAY: '工作日', NATURAL_DAY: '自然日', TIME_UNIT_UNSPECIFIED: '工作日' }; /* unspecified: working days */
  const TONGBAN = {
    TONGBAN_SCOPE_UNSPECIFIED: '仅在本地办理', CITY_WIDE: '全市通办',
    PROVINCE_WIDE: '全省通办', CROSS_PROVINCE: '跨省通办',
  };
  const AUDIENCES = { NATURAL_PERSON: '自然人', LEGAL_PERSON: '法人' };
  const DEPTHS = { 1: '一级（办事指南公开）', 2: '二级（表格下载）', 3: '三级（网上提交申请）', 4: '四级（全程网办）' };
  const REALNAME = {
    0: '无需实名', 1: '手机号已验证', 2: '实名认证（姓名、身份证号核验）', 3: '人脸识别或现场核验',
  };
  const CHANNELS = {
    app: '手机 App', 'mini-program': '小程序', pc: '网上办事大厅（电脑）', window: '窗口办理',
    express: '邮寄', 'self-service': '自助终端',
  };
  const FORM_TYPES = {
    string: '文字', integer: '整数', number: '数字', boolean: '是或否', date: '日期', enum: '选项',
    id_card: '身份证号码', phone: '手机号码', uscc: '统一社会信用代码', email: '电子邮箱',
    object: '一组信息', array: '多条信息',
  };
  const NAMED_PATTERNS = { digits: '数字', postcode: '邮政编码', landline: '固定电话', chinese_name: '中文姓名' };
  const PREFILLS = {
    'identity.name': '实名姓名', 'identity.id_number_masked': '身份证号码（部分隐藏）',
    'company.name': '企业名称', 'company.uscc': '企业统一社会信用代码',
  };

  const $ = (id) => document.getElementById(id);

  /* ---- small helpers -------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, code, message, requestId) {
      super(message);
      this.status = status;
      this.code = code;
      this.requestId = requestId || '';
    }
  }

  /* parent.append that leaves out the absent (null, undefined, false) instead of writing
   * them as text. */
  function add(parent, ...children) {
    for (const c of children) if (c !== null && c !== undefined && c !== false) parent.append(c);
    return parent;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    return add(e, ...children);
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

  /* RFC 3339 -> "2026-12-01 14:05" in Beijing time; the text itself when unreadable. */
  function when(s) {
    const t = Date.parse(s);
    if (!s || Number.isNaN(t)) return s || '';
    const parts = new Intl.DateTimeFormat('en-CA', {
      timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    }).formatToParts(new Date(t));
    const get = (k) => (parts.find((p) => p.type === k) || {}).value || '';
    return get('year') + '-' + get('month') + '-' + get('day') + ' ' + get('hour') + ':' + get('minute');
  }

  function bytes(n) {
    const v = Number(n) || 0;
    if (v < 1024) return v + ' 字节';
    if (v < 1024 * 1024) return (v / 1024).toFixed(1) + ' KB';
    return (v / 1024 / 1024).toFixed(1) + ' MB';
  }

  function showError(id, err) {
    const p = $(id);
    if (!err) {
      p.hidden = true;
      p.textContent = '';
      for (const k of ['code', 'status', 'requestId']) delete p.dataset[k];
      return;
    }
    p.textContent = '';
    p.append(el('span', { class: 'msg', text: err.message || String(err) }));
    if (err.code) p.append(el('span', { class: 'code', text: '错误码 ' + err.code + (err.status ? '（HTTP ' + err.status + '）' : '') }));
    if (err.requestId) p.append(el('span', { class: 'rid', text: '请求编号 ' + err.requestId }));
    p.dataset.code = err.code || '';
    p.dataset.status = String(err.status || 0);
    p.dataset.requestId = err.requestId || '';
    p.hidden = false;
  }

  /* One GET to the gateway, bounded by REQUEST_TIMEOUT_MS. Returns the parsed JSON body;
   * throws ApiError with the standard error body's code, message and request id for
   * anything but 2xx. */
  async function api(path) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
    let res;
    try {
      res = await fetch(path, {
        headers: { accept: 'application/json' }, signal: ctl.signal,
        credentials: 'omit', redirect: 'error',
      });
    } catch (e) {
      clearTimeout(timer);
      throw new ApiError(0, 'UNAVAILABLE', ctl.signal.aborted ? '服务器在 30 秒内没有应答，请稍后再试' : '无法连接服务器，请检查网络');
    }
    try {
      if (!res.ok) {
        let b = {};
        try { b = await res.json(); } catch (e) { b = {}; }
        throw new ApiError(res.status, b.code || 'HTTP_' + res.status, b.message || res.statusText || '请求失败',
          b.requestId || res.headers.get('x-request-id'));
      }
      const text = await res.text();
      return text ? JSON.parse(text) : {};
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(res.status, 'UNAVAILABLE', ctl.signal.aborted ? '服务器在 30 秒内没有应答，请稍后再试' : '应答无法读取');
    } finally {
      clearTimeout(timer);
    }
  }

  /* ---- routing -------------------------------------------------------------------- */

  /* Each navigation gets a number; an answer that arrives after the next navigation is
   * dropped instead of drawn over the page the resident moved to. */
  let generation = 0;

  function parseHash() {
    const h = location.hash.replace(/^#/, '') || '/';
    const qi = h.indexOf('?');
    const path = qi < 0 ? h : h.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1));
    const segs = path.split('/').filter((s) => s !== '').map((s) => {
      try { return decodeURIComponent(s); } catch (e) { return s; }
    });
    return { segs, params };
  }

  /* Shows one view; its data-route names the address its data-state is about. */
  function show(view) {
    for (const id of ['search-view', 'guide-view', 'versions-view']) $(id).hidden = id !== view;
    $(view).dataset.route = location.hash || '#/';
  }

  function route() {
    const gen = ++generation;
    const { segs, params } = parseHash();
    window.scrollTo(0, 0);
    if (segs.length >= 2 && segs[0] === 'items') {
      const code = segs[1];
      if (segs.length === 3 && segs[2] === 'versions') return showVersions(gen, code);
      if (segs.length === 2) return showGuide(gen, code, params.get('version') || '');
    }
    return showSearch(gen, params.has('q') ? params.get('q') : null);
  }

  /* ---- the place: city -> county -> town ------------------------------------------- */

  const regionCache = new Map(); /* "LEVEL/parent" -> [regions] */
  const place = { city: '', county: '', town: '' };
  const placeNames = {};

  function loadPlace() {
    try {
      const p = JSON.parse(localStorage.getItem(PLACE_KEY) || '{}');
      for (const k of ['city', 'county', 'town']) {
        if (typeof p[k] === 'string' && /^[0-9]{6,12}$/.test(p[k])) place[k] = p[k];
      }
    } catch (e) { /* an unreadable choice is forgotten */ }
  }

  function savePlace() {
    localStorage.setItem(PLACE_KEY, JSON.stringify(place));
  }

  function currentPlace() {
    return place.town || place.county || place.city || '';
  }

  async function regions(level, parent) {
    const key = level + '/' + parent;
    if (!regionCache.has(key)) {
      const r = await api(API.regions(level, parent));
      regionCache.set(key, r.regions || []);
    }
    return regionCache.get(key);
  }

  function fillSelect(sel, list, chosen, anyLabel) {
    sel.textContent = '';
    sel.append(el('option', { value: '', text: anyLabel }));
    for (const r of list) {
      placeNames[r.code] = r.name;
      sel.append(el('option', { value: r.code, text: r.name }));
    }
    sel.value = list.some((r) => r.code === chosen) ? chosen : '';
    sel.disabled = list.length === 0;
    return sel.value;
  }

  /* Fills the three lists from the saved choice (a code no longer offered is dropped). */
  async function initPlace() {
    place.city = fillSelect($('place-city'), await regions('CITY', ''), place.city, '不限（全省）');
    place.county = place.city
      ? fillSelect($('place-county'), await regions('COUNTY', place.city), place.county, '全市')
      : fillSelect($('place-county'), [], '', '全市');
    place.town = place.county
      ? fillSelect($('place-town'), await regions('TOWN', place.county), place.town, '全区县')
      : fillSelect($('place-town'), [], '', '全区县');
    savePlace();
    showPlaceLabel();
  }

  async function placeChanged(which) {
    const city = $('place-city'), county = $('place-county'), town = $('place-town');
    try {
      showError('search-error', null);
      if (which === 'city') {
        place.city = city.value;
        place.county = place.town = ''; /* while the city's counties are read */
        place.county = fillSelect(county, place.city ? await regions('COUNTY', place.city) : [], '', '全市');
        place.town = fillSelect(town, [], '', '全区县');
      } else if (which === 'county') {
        place.county = county.value;
        place.town = '';
        place.town = fillSelect(town, place.county ? await regions('TOWN', place.county) : [], '', '全区县');
      } else {
        place.town = town.value;
      }
      savePlace();
      showPlaceLabel();
      $('search-view').dataset.place = currentPlace();
      const { params } = parseHash();
      if (params.has('q')) route();
    } catch (e) {
      showError('search-error', e);
    }
  }

  function showPlaceLabel() {
    const names = [place.city, place.county, place.town].filter((c) => c).map((c) => placeNames[c] || c);
    $('place-label').textContent = names.length ? '📍 ' + names.join(' ') : '';
  }

  /* ---- search ---------------------------------------------------------------------- */

  const search = { words: '', next: '', shown: 0 };

  async function showSearch(gen, words) {
    show('search-view');
    document.title = '一网通办 · 办事指南';
    const view = $('search-view');
    $('q').value = words || '';
    $('results').textContent = '';
    $('search-total').textContent = '';
    $('search-empty').hidden = true;
    $('more').hidden = true;
    showError('search-error', null);
    view.dataset.place = currentPlace();
    if (words === null) {
      view.dataset.state = 'idle';
      return;
    }
    search.words = words;
    search.next = '';
    search.shown = 0;
    await searchPage(gen, false);
  }

  async function searchPage(gen, more) {
    const view = $('search-view');
    view.dataset.state = 'loading';
    $('more').disabled = true;
    $('search-total').textContent = more ? '正在加载更多…' : '正在搜索…';
    let r;
    try {
      r = await api(API.items(search.words, currentPlace(), more ? search.next : ''));
    } catch (e) {
      if (gen !== generation) return;
      $('search-total').textContent = '';
      showError('search-error', e);
      $('more').disabled = false;
      view.dataset.state = 'error';
      return;
    }
    if (gen !== generation) return;
    const items = r.items || [];
    const total = Number(r.totalSize || 0);
    for (const it of items) $('results').append(resultRow(it));
    search.shown += items.length;
    search.next = r.nextPageToken || '';
    const t = $('search-total');
    t.dataset.total = String(total);
    t.textContent = total >= MANY ? '找到超过 1,000 项事项，已显示 ' + search.shown + ' 项'
      : '找到 ' + total + ' 项事项' + (total > search.shown ? '，已显示 ' + search.shown + ' 项' : '');
    $('search-empty').hidden = search.shown > 0;
    if (search.shown === 0) t.textContent = '';
    $('more').hidden = !search.next;
    $('more').disabled = false;
    view.dataset.state = 'ready';
    view.dataset.pages = String((Number(more ? view.dataset.pages : 0) || 0) + 1);
  }

  function resultRow(it) {
    const facts = [];
    if (it.departmentName) facts.push(it.departmentName);
    if (it.level) facts.push(LEVELS[it.level] || it.level);
    if (it.type) facts.push(ITEM_TYPES[it.type] || it.type);
    const limit = it.processingKind === 'INSTANT' ? '即办' :
      it.promisedLimitDays ? '承诺 ' + it.promisedLimitDays + ' 个工作日' : '';
    if (limit) facts.push(limit);
    if (it.onlineDepth >= 4) facts.push('全程网办');
    else if (it.onlineDepth === 3) facts.push('可网上申请');
    facts.push(it.feeRequired ? '收费' : '不收费');
    return el('li', { 'data-code': it.implCode },
      el('a', { href: '#/items/' + q(it.implCode), class: 'name', text: it.name }),
      el('span', { class: 'facts', text: facts.join(' · ') }),
      el('span', { class: 'code', text: it.implCode }));
  }

  /* ---- the guide -------------------------------------------------------------------- */

  /* Value elements: the JSON field name in data-field, the raw value in data-value where
   * the text shows it otherwise (a label, yuan, a local time). */
  function val(name, raw, text, cls) {
    const e = el('span', { 'data-field': name, class: cls || 'v', text: text === undefined ? String(raw) : text });
    if (text !== undefined && raw !== undefined && raw !== null) e.dataset.value = String(raw);
    return e;
  }
  const txt = (name, v) => (v ? val(name, v, undefined, 'v text') : none());
  /* An enum or a code shown by its label; absent, proto3 JSON's default (dflt). */
  function label(name, v, labels, dflt) {
    const key = v === undefined || v === null ? dflt : v;
    return val(name, key, labels[key] || (key === dflt ? '未注明' : String(key)));
  }
  const flag = (name, v, yes, no) => val(name, Boolean(v), v ? yes : no, v ? 'v yes' : 'v no');
  const time = (name, v) => val(name, v, when(v));
  const money = (name, fen) => val(name, String(fen === undefined ? '0' : fen), yuan(fen === undefined ? '0' : fen) + ' 元', 'v money');
  const none = (t) => el('span', { class: 'none', text: t || '无' });

  /* A list: <ul data-field=NAME> of <li data-index=i>, each filled by fn(entry, li). */
  function list(name, arr, fn, emptyText, cls) {
    if (!arr || arr.length === 0) return none(emptyText);
    const ul = el('ul', { 'data-field': name, class: cls || 'list' });
    arr.forEach((x, i) => {
      const li = el('li', { 'data-index': i });
      fn(x, li);
      ul.append(li);
    });
    return ul;
  }
  /* A list of plain values shown by label: the <li> itself holds the value. */
  function labels(name, arr, labelsOf, emptyText) {
    return list(name, arr, (x, li) => {
      li.dataset.value = String(x);
      li.textContent = (labelsOf && labelsOf[x]) || String(x);
    }, emptyText, 'list inline');
  }

  function row(title, ...values) {
    return el('div', { class: 'row' }, el('dt', { text: title }), el('dd', {}, ...values));
  }
  function section(id, title, ...children) {
    return el('section', { class: 'card sec', id: 'sec-' + id }, el('h3', { text: title }), ...children);
  }
  function dl(...rows) { return el('dl', { class: 'kv' }, ...rows); }

  /* A file reference (yiwang.files.v1.FileRef) of item it: its name, a link that
   * downloads it (GET /v1/items/{code}/files/{sha256}?version=N, the version shown),
   * type, size and fingerprint. */
  function fileRef(name, f, it) {
    if (!f) return none();
    const href = f.sha256 && it.implCode ? API.file(it.implCode, f.sha256, it.version) : null;
    return el('span', { 'data-field': name, class: 'file' },
      f.name ? val('name', f.name, undefined, 'fname') : none('（未命名文件）'),
      href ? el('a', { class: 'download', href: href, download: f.name || true, text: '下载' }) : null,
      el('span', { class: 'fmeta' },
        f.contentType ? val('contentType', f.contentType) : null,
        f.size !== undefined ? val('size', f.size, bytes(f.size)) : null),
      f.sha256 ? el('span', { class: 'sha' }, '文件指纹 ', val('sha256', f.sha256, undefined, 'hex')) : null);
  }

  function renderGuide(it, topicNames) {
    const d = it.details || {};
    const art = $('guide');
    art.textContent = '';
    art.dataset.code = it.implCode || '';
    art.dataset.version = String(it.version || '');
    const past = Boolean(it.effectiveTo);
    art.dataset.past = String(past);

    /* the title and the version it is */
    art.append(el('header', { class: 'card head' },
      el('h2', {}, val('name', it.name, undefined, 'title')),
      el('p', { class: 'tags' },
        label('type', it.type, ITEM_TYPES, 'ITEM_TYPE_UNSPECIFIED'),
        d.atMostOneVisit ? el('span', { class: 'tag', text: '最多跑一次' }) : null,
        it.onlineDepth >= 4 ? el('span', { class: 'tag', text: '全程网办' }) : null),
      el('p', { id: 'version-banner', class: past ? 'banner past' : 'banner current' },
        el('strong', { text: past ? '历史版本' : '现行版本' }),
        '（第 ', val('version', it.version || 0), ' 版，', label('status', it.status, STATUSES, 'ITEM_STATUS_UNSPECIFIED'), '）',
        el('br'), '本版本有效期：', it.effectiveFrom ? time('effectiveFrom', it.effectiveFrom) : none('—'),
        ' 至 ', past ? time('effectiveTo', it.effectiveTo) : el('span', { text: '今（现行）' }),
        past ? el('span', { class: 'warn', text: '。此版本已被新版本取代，仅供查阅；办理请以现行版本为准。' }) : null,
        past ? el('a', { href: '#/items/' + q(it.implCode), id: 'current-link', text: '查看现行版本 ›' }) : null)));

    art.append(section('basic', '基本信息', dl(
      row('事项名称', el('span', { text: it.name || '' })),
      row('基本编码', txt('basicCode', it.basicCode)),
      row('实施编码', txt('implCode', it.implCode)),
      row('事项类型', el('span', { text: ITEM_TYPES[it.type] || it.type || '' })),
      row('实施主体', txt('departmentName', it.departmentName), ' ', txt('departmentCode', it.departmentCode)),
      row('行政区划', txt('regionName', it.regionName), ' ', txt('regionCode', it.regionCode)),
      row('层级', label('level', it.level, LEVELS, 'REGION_LEVEL_UNSPECIFIED')),
      row('权力来源', txt('powerSource', d.powerSource)),
      row('服务对象', labels('audiences', d.audiences, AUDIENCES)),
      row('通办范围', label('tongbanScope', d.tongbanScope, TONGBAN, 'TONGBAN_SCOPE_UNSPECIFIED')),
      row('实名认证等级', label('minRealnameLevel', d.minRealnameLevel, REALNAME, 0),
        el('span', { class: 'hint', text: '（申请人账号至少须达到的等级）' })),
      row('联办机构', labels('jointDepartments', d.jointDepartments, null, '无')),
      row('办件类型', label('processingKind', it.processingKind, KINDS, 'PROCESSING_KIND_UNSPECIFIED')),
      row('网办深度', label('onlineDepth', it.onlineDepth, DEPTHS, 0)),
      row('办理渠道', labels('channels', it.channels, CHANNELS)),
      row('咨询电话', txt('consultPhone', it.consultPhone)),
      row('所属主题', labels('topics', it.topics, topicNames, '无')),
      row('搜索关键词', txt('keywords', it.keywords)),
      row('更新时间', it.updatedAt ? time('updatedAt', it.updatedAt) : none('—')))));

    art.append(section('subcases', '办理项', list('subCases', d.subCases, (s, li) => {
      add(li, el('div', { class: 'item-title' }, val('name', s.name || '', undefined, 'strong')),
        el('div', { class: 'muted' }, '编码 ', txt('code', s.code)),
        el('div', {}, '受理条件：', txt('conditions', s.conditions)));
    })));

    art.append(section('conditions', '受理条件', el('p', { class: 'para' }, txt('conditions', it.conditions))));

    art.append(section('materials', '申请材料', list('materials', it.materials, (m, li) => {
      add(li, el('div', { class: 'item-title' }, val('name', m.name || '', undefined, 'strong'),
        ' ', flag('required', m.required, '必需', '非必需')),
        el('div', { class: 'muted' }, '材料形式：', label('form', m.form, MATERIAL_FORMS, 'MATERIAL_FORM_UNSPECIFIED'),
          '；份数：', val('copies', m.copies || 0), ' 份',
          '；电子证照可替代：', flag('licenseReplaceable', m.licenseReplaceable, '是（可免交纸质材料）', '否')),
        m.note ? el('div', {}, '备注：', txt('note', m.note)) : null);
    }, '无需提交材料', 'list numbered')));

    art.append(section('steps', '办理流程', list('steps', it.steps, (s, li) => {
      add(li, el('div', { class: 'item-title' }, '第 ', val('seq', s.seq || 0), ' 步 ', val('name', s.name || '', undefined, 'strong')),
        s.description ? el('div', {}, txt('description', s.description)) : null);
    }, '无', 'list steps')));

    const days = (name, v, unitName, unit) => el('span', {},
      val(name, v || 0), ' 个', label(unitName, unit, UNITS, 'TIME_UNIT_UNSPECIFIED'));
    art.append(section('limits', '办理时限', dl(
      row('法定办结时限', days('legalLimitDays', it.legalLimitDays, 'legalLimitUnit', d.legalLimitUnit)),
      row('承诺办结时限', days('promisedLimitDays', it.promisedLimitDays, 'promisedLimitUnit', d.promisedLimitUnit)),
      row('说明', el('span', { text: it.processingKind === 'INSTANT' ? '即办件：材料齐全、符合条件的当场办结。' : '承诺件：自受理之日起在承诺时限内办结。' })))));

    const fee = it.fee || {};
    art.append(section('fees', '收费',
      el('div', { 'data-field': 'fee', class: 'fee-summary' }, dl(
        row('是否收费', flag('required', fee.required, '收费', '不收费')),
        fee.required || fee.amountFen ? row('收费金额', money('amountFen', fee.amountFen)) : null,
        fee.basis ? row('收费依据', txt('basis', fee.basis)) : null)),
      list('feeItems', d.feeItems, (f, li) => {
        add(li, el('div', { class: 'item-title' }, '收费项目：', val('name', f.name || '', undefined, 'strong')),
          list('tiers', f.tiers, (t, tl) => {
            add(tl, txt('condition', t.condition), '：', money('amountFen', t.amountFen));
          }, '无', 'list tiers'),
          el('div', {}, '收费依据：', txt('basis', f.basis)),
          el('div', {}, '减免政策：', txt('waiver', f.waiver)));
      }, fee.required ? '（未列出收费项目）' : '不收费', 'list fee-items')));

    art.append(section('halls', '办理地点与时间', list('halls', d.halls, (h, li) => {
      add(li, el('div', { class: 'item-title' }, val('name', h.name || '', undefined, 'strong')),
        el('div', {}, '地址：', txt('address', h.address)),
        el('div', {}, '时间：', txt('hours', h.hours)),
        h.phone ? el('div', {}, '电话：', txt('phone', h.phone)) : null);
    }, '无需到现场')));

    art.append(section('visits', '到现场次数', dl(
      row('到现场次数', val('maxVisits', d.maxVisits || 0, String(d.maxVisits || 0) + ' 次')),
      row('最多跑一次', flag('atMostOneVisit', d.atMostOneVisit, '是', '否')))));

    art.append(section('services', '服务方式', dl(
      row('物流快递', flag('expressDelivery', d.expressDelivery, '支持（结果可邮寄）', '不支持')),
      row('预约办理', flag('appointment', d.appointment, '支持', '不支持')),
      row('网上支付', flag('onlinePayment', d.onlinePayment, '支持', '不支持')),
      row('进驻政务服务大厅', flag('inHall', d.inHall, '是', '否')))));

    art.append(section('results', '审批结果', list('results', d.results, (r, li) => {
      add(li, el('div', { class: 'item-title' }, val('name', r.name || '', undefined, 'strong'),
        '（', txt('type', r.type), '）'),
        el('div', {}, '结果样本：', fileRef('sample', r.sample, it)));
    })));

    art.append(section('intermediaries', '中介服务', list('intermediaries', d.intermediaries, (m, li) => {
      add(li, el('div', { class: 'item-title' }, val('name', m.name || '', undefined, 'strong'),
        ' ', flag('required', m.required, '必需', '非必需')),
        el('div', {}, '设定依据：', txt('basis', m.basis)));
    }, '无')));

    art.append(section('faqs', '常见问题', list('faqs', d.faqs, (f, li) => {
      add(li, el('div', { class: 'question' }, '问：', txt('question', f.question)),
        el('div', { class: 'answer' }, '答：', txt('answer', f.answer)));
    })));

    art.append(section('forms', '表格下载', list('forms', d.forms, (f, li) => {
      add(li, el('div', { class: 'item-title' }, val('name', f.name || '', undefined, 'strong')),
        el('div', {}, '空白表格：', fileRef('blank', f.blank, it)),
        el('div', {}, '填写样表：', fileRef('sample', f.sample, it)));
    }), el('p', { class: 'hint', text: '点击“下载”保存空白表格或填写样表；也可在网上申请时在线填写。' })));

    art.append(section('form', '在线申请表', it.form ? formDef(it.form) : none('本事项没有在线申请表')));

    art.append(section('supervision', '监督投诉', dl(row('监督投诉电话', txt('complaintPhone', d.complaintPhone)))));
    art.append(section('basis', '设定依据', el('p', { class: 'para' }, txt('legalBasis', it.legalBasis))));
  }

  /* The application form's definition (lib/yw_form.h): its title and fields, each with
   * what it asks and how it is checked. */
  function formDef(form) {
    return el('div', { 'data-field': 'form', class: 'form-def' },
      form.title ? el('p', { class: 'item-title' }, val('title', form.title, undefined, 'strong')) : null,
      list('fields', form.fields, formField, '无', 'list fields'));
  }

  function formField(f, box) {
    const parts = [];
    const add = (title, node) => parts.push(el('div', {}, title + '：', node));
    box.append(el('div', { class: 'item-title' },
      f.label ? val('label', f.label, undefined, 'strong') : el('span', { class: 'strong', text: f.name ? '' : '每一条' }),
      f.type ? el('span', {}, ' ', val('type', f.type, FORM_TYPES[f.type] || f.type, 'tag')) : null,
      f.required !== undefined ? el('span', {}, ' ', flag('required', f.required, '必填', '选填')) : null));
    if (f.name) add('字段', val('name', f.name, undefined, 'hex'));
    if (f.help) add('说明', txt('help', f.help));
    if (f.prefill) add('自动带出', val('prefill', f.prefill, PREFILLS[f.prefill] || f.prefill));
    if (f.minLength !== undefined) add('最少字数', val('minLength', f.minLength));
    if (f.maxLength !== undefined) add('最多字数', val('maxLength', f.maxLength));
    if (f.min !== undefined) add('最小值', val('min', f.min));
    if (f.max !== undefined) add('最大值', val('max', f.max));
    if (f.minItems !== undefined) add('最少条数', val('minItems', f.minItems));
    if (f.maxItems !== undefined) add('最多条数', val('maxItems', f.maxItems));
    if (f.pattern) add('格式', val('pattern', f.pattern, undefined, 'hex'));
    if (f.namedPattern) add('格式', val('namedPattern', f.namedPattern, NAMED_PATTERNS[f.namedPattern] || f.namedPattern));
    if (f.options) add('可选', labels('options', f.options, null));
    if (f.when) {
      add('填写条件', el('span', { 'data-field': 'when' }, '当“', val('field', f.when.field || '', undefined, 'hex'),
        '”为“', val('equals', f.when.equals, typeof f.when.equals === 'boolean' ? (f.when.equals ? '是' : '否') : String(f.when.equals)),
        '”时填写'));
    }
    for (const p of parts) box.append(p);
    if (f.fields) box.append(list('fields', f.fields, formField, '无', 'list fields'));
    if (f.items) {
      const items = el('div', { 'data-field': 'items', class: 'form-items' });
      formField(f.items, items);
      box.append(el('div', {}, '每一条：'), items);
    }
  }

  let topicNames = null; /* code -> name, read once */
  async function topics() {
    if (topicNames) return topicNames;
    try {
      const r = await api(API.topics);
      topicNames = {};
      for (const t of r.topics || []) topicNames[t.code] = t.name;
    } catch (e) {
      return {}; /* the codes are shown instead; the guide itself does not depend on it */
    }
    return topicNames;
  }

  /* Shows the view NAME (its NAME-view, NAME-error and NAME-loading elements) while the
   * requests that requests() starts run. Returns their answers; null when one failed
   * (its error shown) or when the resident has moved on meanwhile. */
  async function loadView(gen, name, loadingText, requests) {
    show(name + '-view');
    const view = $(name + '-view');
    view.dataset.state = 'loading';
    showError(name + '-error', null);
    $(name + '-loading').textContent = loadingText;
    setBackLinks();
    try {
      const answers = await Promise.all(requests());
      return gen === generation ? answers : null;
    } catch (e) {
      if (gen !== generation) return null;
      showError(name + '-error', e);
      view.dataset.state = 'error';
      return null;
    } finally {
      if (gen === generation) $(name + '-loading').textContent = '';
    }
  }

  async function showGuide(gen, code, version) {
    $('guide').textContent = '';
    $('guide-versions').href = '#/items/' + q(code) + '/versions';
    document.title = '一网通办 · 办事指南';
    const got = await loadView(gen, 'guide', '正在加载办事指南…', () => {
      if (version && !/^[1-9][0-9]{0,8}$/.test(version)) {
        throw new ApiError(0, 'INVALID_ARGUMENT', '版本号应为正整数：' + version);
      }
      return [api(API.item(code, version)), topics()];
    });
    if (!got) return;
    const [it, names] = got;
    renderGuide(it, names);
    document.title = (it.name || code) + (it.effectiveTo ? '（历史版本）' : '') + ' · 办事指南';
    $('guide-view').dataset.state = 'ready';
  }

  /* ---- versions ------------------------------------------------------------------- */

  async function showVersions(gen, code) {
    $('versions').textContent = '';
    $('versions-title').textContent = '历史版本';
    $('versions-guide').href = '#/items/' + q(code);
    const got = await loadView(gen, 'versions', '正在加载版本…',
      () => [api(API.versions(code)), api(API.item(code, ''))]);
    if (!got) return;
    const [r, it] = got;
    $('versions-title').textContent = (it.name || code) + ' · 历史版本';
    document.title = (it.name || code) + ' · 历史版本';
    const vs = r.versions || [];
    for (const v of vs) {
      const current = !v.effectiveTo;
      $('versions').append(el('li', { 'data-version': v.version, class: current ? 'current' : 'past' },
        el('a', { href: '#/items/' + q(code) + '?version=' + q(v.version) },
          el('span', { class: 'vno', text: '第 ' + v.version + ' 版' }),
          el('span', { class: 'vstate', 'data-status': v.status || '', text: (STATUSES[v.status] || v.status || '') + (current ? ' · 现行' : '') })),
        el('span', { class: 'window' }, '有效期：',
          el('time', { class: 'from', datetime: v.effectiveFrom || '', text: when(v.effectiveFrom) || '—' }), ' 至 ',
          current ? el('span', { class: 'to', text: '今' })
            : el('time', { class: 'to', datetime: v.effectiveTo, text: when(v.effectiveTo) }))));
    }
    if (vs.length === 0) $('versions').append(el('li', { class: 'none', text: '没有可查阅的版本' }));
    $('versions-view').dataset.state = 'ready';
  }

  /* "返回搜索" goes back to the last words searched. */
  function setBackLinks() {
    const href = search.words ? '#/?q=' + q(search.words) : '#/';
    for (const a of document.querySelectorAll('a.back-search')) a.href = href;
  }

  /* ---- start ---------------------------------------------------------------------- */

  function start() {
    loadPlace();
    $('place-city').addEventListener('change', () => placeChanged('city'));
    $('place-county').addEventListener('change', () => placeChanged('county'));
    $('place-town').addEventListener('change', () => placeChanged('town'));
    $('place-form').addEventListener('submit', (e) => e.preventDefault());
    $('search-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const words = $('q').value.trim();
      const target = '#/?q=' + q(words);
      if (location.hash === target) route();
      else location.hash = target;
    });
    $('more').addEventListener('click', () => {
      if (search.next) searchPage(generation, true);
    });
    window.addEventListener('hashchange', route);
    initPlace().catch((e) => showError('search-error', e)).finally(() => {
      document.body.dataset.ready = 'true';
      route();
    });
  }

  start();
})();
