#!/usr/bin/env node
/* resident.spec.js - the residents' service guide (web/resident/) in headless Chromium,
 * on a phone-sized screen.
 *
 * Run by tests/e2e/e2e_resident_pages.sh, which starts the system and passes:
 *   YW_GW            the gateway's base URL (it serves / and /v1/)
 *   YW_OUT           a folder for screenshots
 *   YW_ITEM          a seeded item's implementation code that has two versions
 *   YW_OLD_VERSION, YW_NEW_VERSION   its seeded version and the one published since
 *   YW_PLACE         a town's region code (a place a resident chooses)
 * Debian's /usr/bin/chromium through playwright-core (no browser download). Prints one
 * line per check, `ok   NAME` or `FAIL NAME`, and exits non-zero when any failed.
 *
 * The blank form of the item's first form is downloaded through its link (the route
 * GET /v1/items/{code}/files/{sha256}): e2e_resident_pages.sh has stored the item's files,
 * and the bytes must hash to the reference's SHA-256.
 *
 * The guide is checked against the JSON guide itself: every non-empty value of it (every
 * leaf, in lists too) must be shown by the element whose path of data-field names and
 * data-index numbers is the value's path in the JSON (the fields of `details` without
 * that prefix); and every field of Item and ItemDetails in catalog.proto must have its
 * element, so a field added later and not shown fails here.
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { must, check, runInChromium, watch } = require('./browser');

const GW = must('YW_GW');
const OUT = must('YW_OUT');
const ITEM = must('YW_ITEM');
const OLD_VERSION = Number(must('YW_OLD_VERSION'));
const NEW_VERSION = Number(must('YW_NEW_VERSION'));
const PLACE = must('YW_PLACE');
const COUNTY = PLACE.slice(0, 6);
const CITY = PLACE.slice(0, 4) + '00';
const WORDS = '证'; /* a word many items of the place have, 居民身份证换领 among them */
const PAGE_SIZE = 10; /* the page's own page size */
const WAIT_MS = 15000; /* every wait on the page is bounded by this */
const PROTO = path.join(__dirname, '..', '..', 'proto', 'yiwang', 'catalog', 'v1', 'catalog.proto');

/* ---- the API, read here directly (Node's fetch, bounded) ------------------------------ */

async function get(p) {
  const res = await fetch(GW + p, { signal: AbortSignal.timeout(30000) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { json = null; }
  return { status: res.status, json };
}

/* ---- what the guide must show ----------------------------------------------------------- */

/* Every non-empty leaf of a JSON value: [{path: "materials.0.name", value}]. */
function leaves(v, at, out) {
  if (Array.isArray(v)) {
    v.forEach((x, i) => leaves(x, at.concat(String(i)), out));
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) leaves(x, at.concat(k), out);
  } else if (v !== '' && v !== null && v !== undefined) {
    out.push({ path: at.join('.'), key: at[at.length - 1], value: v });
  }
  return out;
}

/* The fields of a message in catalog.proto, as their proto3 JSON names. */
function protoFields(message) {
  const src = fs.readFileSync(PROTO, 'utf8');
  const m = new RegExp(`^message ${message} \\{\\n([\\s\\S]*?)^\\}`, 'm').exec(src);
  if (!m) throw new Error(`no message ${message} in ${PROTO}`);
  const names = [];
  for (const line of m[1].split('\n')) {
    const f = /^\s*(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+\s*;/.exec(line);
    if (f) names.push(f[1].replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase()));
  }
  return names;
}

/* Fen -> yuan by cutting the decimal string (not the page's BigInt division). */
function yuanText(fen) {
  let s = String(fen);
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  s = s.replace(/^0+(?=\d)/, '').padStart(3, '0');
  const whole = s.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (neg ? '-' : '') + whole + '.' + s.slice(-2) + ' 元';
}

const UNIT_TEXT = { WORKING_DAY: '工作日', NATURAL_DAY: '自然日', TIME_UNIT_UNSPECIFIED: '工作日' };
const FLAGS = ['expressDelivery', 'appointment', 'onlinePayment', 'inHall', 'atMostOneVisit'];

/* What the page shows under each path: {path: [{text, value}]}. */
async function shown(page) {
  return page.evaluate(() => {
    const root = document.getElementById('guide');
    const map = {};
    for (const e of root.querySelectorAll('[data-field],[data-index]')) {
      const toks = [];
      for (let n = e; n && n !== root; n = n.parentElement) {
        if (n.dataset.field !== undefined) toks.unshift(n.dataset.field);
        else if (n.dataset.index !== undefined) toks.unshift(n.dataset.index);
      }
      const p = toks.join('.');
      (map[p] = map[p] || []).push({ text: e.textContent.trim(), value: e.dataset.value === undefined ? null : e.dataset.value });
    }
    return map;
  });
}

/* Checks the guide on the page against the JSON guide `it`; returns the problems. */
function compareGuide(it, map) {
  const problems = [];
  const all = leaves(it, [], []);
  for (const { path: p0, key, value } of all) {
    const p = p0.replace(/^details\./, '');
    const found = map[p];
    const want = String(value);
    if (!found) { problems.push(`${p0}: not shown (no element for ${p})`); continue; }
    if (found.length !== 1) { problems.push(`${p0}: ${found.length} elements for ${p}`); continue; }
    const { text, value: raw } = found[0];
    if (raw !== null ? raw !== want || text === '' : !text.includes(want.trim())) {
      problems.push(`${p0}: want ${JSON.stringify(want)}, shown ${JSON.stringify(text)} (data-value ${JSON.stringify(raw)})`);
      continue;
    }
    if (raw !== null && /^[A-Z][A-Z_]+$/.test(raw) && !/[\u4e00-\u9fff]/.test(text)) {
      problems.push(`${p0}: the value ${raw} is shown as ${JSON.stringify(text)}, not in words`);
    }
    if (key === 'amountFen' && (text !== yuanText(value) || Number(String(value)) / 100 !== Number(text.replace(/[, 元]/g, '')))) {
      problems.push(`${p0}: ${value} fen shown as ${JSON.stringify(text)}, want ${JSON.stringify(yuanText(value))}`);
    }
  }
  /* the units of the time limits, in words; the typed flags, false ones too */
  const d = it.details || {};
  for (const u of ['legalLimitUnit', 'promisedLimitUnit']) {
    const f = (map[u] || [])[0];
    const want = UNIT_TEXT[d[u] || 'TIME_UNIT_UNSPECIFIED'];
    if (!f || f.text !== want) problems.push(`${u}: want ${want}, shown ${JSON.stringify(f)}`);
  }
  for (const k of FLAGS) {
    const f = (map[k] || [])[0];
    if (!f || f.value !== String(Boolean(d[k])) || !f.text) problems.push(`${k}: want ${Boolean(d[k])}, shown ${JSON.stringify(f)}`);
  }
  /* nothing shown as a value the script failed to read */
  for (const [p, found] of Object.entries(map)) {
    for (const f of found) {
      if (/undefined|null|NaN|\[object /.test(f.text)) problems.push(`${p}: shown as ${JSON.stringify(f.text)}`);
    }
  }
  return { problems, count: all.length };
}

/* ---- the browser ------------------------------------------------------------------------ */

async function codes(page) {
  return page.$$eval('#results > li', (lis) => lis.map((li) => li.dataset.code));
}

/* Waits until the view shows what it found for the address `hash` (its data-route; the
 * state of an earlier address never counts); returns "ready" or "error". */
async function ready(page, view, hash) {
  await page.waitForFunction(([v, h]) => {
    const e = document.getElementById(v + '-view');
    return !e.hidden && e.dataset.route === h && (e.dataset.state === 'ready' || e.dataset.state === 'error');
  }, [view, hash]);
  return page.getAttribute(`#${view}-view`, 'data-state');
}
const searchHash = (words) => '#/?q=' + encodeURIComponent(words);

/* Waits until the search for `hash` has been answered for the place `place`. */
async function searchedAt(page, place, hash) {
  await page.waitForFunction(([p, h]) => {
    const e = document.getElementById('search-view');
    return e.dataset.place === p && e.dataset.route === h && e.dataset.state === 'ready';
  }, [place, hash]);
}

async function noWiderThanScreen(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

async function run(browser) {
  fs.mkdirSync(OUT, { recursive: true });
  const seen = { requests: [], errors: [] };
  const context = await browser.newContext({
    viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    locale: 'zh-CN', timezoneId: 'Asia/Shanghai',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  watch(page, seen);

  /* ---- the page ------------------------------------------------------------------- */
  const res = await page.goto(GW + '/', { waitUntil: 'load' });
  check('the residents\' page is served by the gateway at /', res.status() === 200, res.status());
  const csp = res.headers()['content-security-policy'] || '';
  check("the page is sent with the gateway's CSP ('self' only)", /script-src 'self'/.test(csp) && /style-src 'self'/.test(csp), csp);
  await page.waitForSelector('body[data-ready="true"]');
  check('the script ran and shows the search', await page.isVisible('#search-form') && await page.isVisible('#place-city'));
  check('the page is in Chinese (办事指南)', (await page.title()).includes('办事指南'));

  /* ---- the place: city -> county -> town, kept in localStorage ------------------------ */
  await page.waitForSelector(`#place-city option[value="${CITY}"]`, { state: 'attached' });
  await page.selectOption('#place-city', CITY);
  await page.waitForSelector(`#place-county option[value="${COUNTY}"]`, { state: 'attached' });
  await page.selectOption('#place-county', COUNTY);
  await page.waitForSelector(`#place-town option[value="${PLACE}"]`, { state: 'attached' });
  await page.selectOption('#place-town', PLACE);
  await page.waitForFunction((p) => document.getElementById('search-view').dataset.place === p, PLACE);
  const apiTowns = (await get(`/v1/regions?level=TOWN&parent=${COUNTY}`)).json.regions.map((r) => r.code);
  const pageTowns = await page.$$eval('#place-town option', (os) => os.map((o) => o.value).filter((v) => v));
  check('the towns offered are the county\'s towns from /v1/regions', JSON.stringify(apiTowns) === JSON.stringify(pageTowns), { apiTowns, pageTowns });
  const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('yw.resident.place') || 'null'));
  check('the place chosen is kept in localStorage', saved && saved.city === CITY && saved.county === COUNTY && saved.town === PLACE, saved);
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="true"]');
  const again = [await page.inputValue('#place-city'), await page.inputValue('#place-county'), await page.inputValue('#place-town')];
  check('after a reload the place is chosen again', again.join() === [CITY, COUNTY, PLACE].join(), again);
  check('the header names the place', (await page.textContent('#place-label')).includes('海州'), await page.textContent('#place-label'));

  /* ---- search from the place, paging as the API pages --------------------------------- */
  await page.fill('#q', WORDS);
  await page.click('#search-submit');
  check('a search is in the address (#/?q=)', await ready(page, 'search', searchHash(WORDS)) === 'ready' &&
    decodeURIComponent(new URL(page.url()).hash) === '#/?q=' + WORDS, page.url());
  const apiPages = [];
  let token = '';
  for (let i = 0; i < 20; i++) {
    const r = await get(`/v1/items?pageSize=${PAGE_SIZE}&q=${encodeURIComponent(WORDS)}&place=${PLACE}` + (token ? '&pageToken=' + encodeURIComponent(token) : ''));
    apiPages.push(r.json);
    token = r.json.nextPageToken || '';
    /* at least two pages, and as many as it takes to reach the item */
    if (!token || (i >= 1 && apiPages.some((pg) => pg.items.some((x) => x.implCode === ITEM)))) break;
  }
  check(`the API has more than one page for "${WORDS}" at ${PLACE} and finds ${ITEM}`,
    apiPages.length > 1 && apiPages.some((pg) => pg.items.some((x) => x.implCode === ITEM)), apiPages.length);
  const total = await page.getAttribute('#search-total', 'data-total');
  check('the total shown is the API\'s', total === String(apiPages[0].totalSize || 0) &&
    (await page.textContent('#search-total')).includes(String(apiPages[0].totalSize)), total);
  let want = apiPages[0].items.map((x) => x.implCode);
  check('the first page is the API\'s first page, in its order', JSON.stringify(await codes(page)) === JSON.stringify(want), { shown: await codes(page), want });
  check('only items of the place and above are listed', (await codes(page)).every((c) => {
    const region = c.split('-')[1];
    return ['320000', CITY, COUNTY, PLACE].includes(region);
  }), await codes(page));
  for (let i = 1; i < apiPages.length; i++) {
    await page.click('#more');
    await page.waitForFunction((n) => document.getElementById('search-view').dataset.pages === String(n) &&
      document.getElementById('search-view').dataset.state === 'ready', i + 1);
    want = want.concat(apiPages[i].items.map((x) => x.implCode));
  }
  check(`"加载更多" appends the API's next pages (${apiPages.length} pages)`, JSON.stringify(await codes(page)) === JSON.stringify(want), { shown: await codes(page), want });
  check('the last page leaves no "加载更多" only when the API has no next page',
    (await page.isVisible('#more')) === Boolean(apiPages[apiPages.length - 1].nextPageToken));
  check('the results fit a phone\'s width', await noWiderThanScreen(page));
  await page.screenshot({ path: path.join(OUT, 'search.png'), fullPage: true });
  await page.click(`#results li[data-code="${ITEM}"] a`);
  await ready(page, 'guide', '#/items/' + ITEM);
  check('a result opens its guide', await page.getAttribute('#guide', 'data-code') === ITEM &&
    new URL(page.url()).hash === '#/items/' + ITEM, page.url());
  await page.goBack();
  await ready(page, 'search', searchHash(WORDS));
  check('back from the guide shows the search again', await page.inputValue('#q') === WORDS &&
    JSON.stringify((await codes(page)).slice(0, PAGE_SIZE)) === JSON.stringify(apiPages[0].items.map((x) => x.implCode)));

  /* another town while the results are shown: the same words searched again there */
  const other = apiTowns.find((t) => t !== PLACE);
  await page.selectOption('#place-town', other);
  await searchedAt(page, other, searchHash(WORDS));
  const otherFirst = (await get(`/v1/items?pageSize=${PAGE_SIZE}&q=${encodeURIComponent(WORDS)}&place=${other}`)).json;
  check(`choosing another town (${other}) searches again there`,
    JSON.stringify(await codes(page)) === JSON.stringify(otherFirst.items.map((x) => x.implCode)) &&
    (await codes(page)).every((c) => !c.includes(`-${PLACE}-`)), { shown: await codes(page), api: otherFirst.items.map((x) => x.implCode) });
  await page.selectOption('#place-town', PLACE);
  await searchedAt(page, PLACE, searchHash(WORDS));

  /* an empty result, a refused search, "more than 1,000" */
  await page.fill('#q', '蓝鲸没有的事项');
  await page.click('#search-submit');
  await ready(page, 'search', searchHash('蓝鲸没有的事项'));
  check('a search finding nothing says so', await page.isVisible('#search-empty') && (await codes(page)).length === 0 &&
    !(await page.isVisible('#more')));
  const longWords = '很长的搜索词'.repeat(12); /* over the catalog's 200 bytes */
  const refused = await get('/v1/items?pageSize=10&q=' + encodeURIComponent(longWords) + '&place=' + PLACE);
  await page.goto(GW + '/' + searchHash(longWords));
  await ready(page, 'search', searchHash(longWords));
  const sErr = await page.$eval('#search-error', (e) => ({ text: e.textContent, code: e.dataset.code, status: e.dataset.status, rid: e.dataset.requestId, hidden: e.hidden }));
  check('a search the API refuses shows its message, code and request id',
    refused.status === 400 && !sErr.hidden && sErr.text.includes(refused.json.message) && sErr.code === refused.json.code &&
    sErr.status === '400' && sErr.rid.length > 0 && sErr.text.includes(sErr.rid), { sErr, api: refused.json });
  const everything = await get('/v1/items?pageSize=10');
  await page.selectOption('#place-city', '');
  await page.waitForFunction(() => document.getElementById('search-view').dataset.place === '');
  await page.fill('#q', '');
  await page.click('#search-submit');
  await ready(page, 'search', searchHash(''));
  check('the API counts more than 1,000 items in all, and the page says "超过 1,000"',
    everything.json.totalSize === 1001 && (await page.textContent('#search-total')).includes('超过 1,000'),
    { api: everything.json.totalSize, shown: await page.textContent('#search-total') });

  /* ---- the guide: every field of the JSON guide, under its data-field ------------------- */
  const current = (await get(`/v1/items/${ITEM}`)).json;
  await page.goto(`${GW}/#/items/${ITEM}`);
  await ready(page, 'guide', '#/items/' + ITEM);
  let map = await shown(page);
  let cmp = compareGuide(current, map);
  check(`the guide shows each of the JSON guide's ${cmp.count} values where its data-field says`, cmp.problems.length === 0, cmp.problems);
  const fieldsItem = protoFields('Item').filter((f) => f !== 'details' && f !== 'effectiveTo');
  const fieldsDetails = protoFields('ItemDetails');
  const unshown = fieldsItem.concat(fieldsDetails).filter((f) => !map[f]);
  check(`every field of Item and ItemDetails (${fieldsItem.length + fieldsDetails.length}) has its element`, unshown.length === 0, unshown);
  const fens = leaves(current, [], []).filter((l) => l.key === 'amountFen');
  check(`fees are in yuan, fen/100 exactly (${fens.map((l) => l.value).join(', ')} fen)`,
    fens.length >= 4 && fens.some((l) => String(l.value) === '123456789') &&
    (map['feeItems.0.tiers.2.amountFen'] || [{}])[0].text === '1,234,567.89 元' &&
    (map['feeItems.0.tiers.1.amountFen'] || [{}])[0].text === '40.05 元', fens);
  check('a time limit in natural days says 自然日, one left unspecified (absent from the JSON) 工作日',
    (map.promisedLimitUnit || [{}])[0].text === '自然日' && (map.legalLimitUnit || [{}])[0].text === '工作日' &&
    current.details.legalLimitUnit === undefined, { promised: map.promisedLimitUnit, legal: map.legalLimitUnit });
  check('the current version is labelled as such', await page.getAttribute('#guide', 'data-past') === 'false' &&
    (await page.textContent('#version-banner')).includes('现行版本'));
  const markup = await page.evaluate(() => ({
    elements: document.querySelectorAll('#guide b, #guide img').length,
    text: document.getElementById('sec-faqs').textContent,
  }));
  check('text with markup in it is shown as text', markup.elements === 0 && markup.text.includes('可以<b>加急</b>吗？') &&
    markup.text.includes('<img src=x>不可以'), markup);
  check('the guide fits a phone\'s width', await noWiderThanScreen(page));
  await page.screenshot({ path: path.join(OUT, 'guide.png'), fullPage: true });

  /* ---- 表格下载: each form's blank and sample and each result sample link to their file,
   * and the blank form downloads with the bytes its reference names ---------------------- */
  const fileUrl = (f) => `/v1/items/${ITEM}/files/${f.sha256}?version=${current.version}`;
  const wantLinks = current.details.forms.flatMap((f, i) => [
    [`forms.${i}.blank`, fileUrl(f.blank)], [`forms.${i}.sample`, fileUrl(f.sample)]])
    .concat(current.details.results.map((r, i) => [`results.${i}.sample`, fileUrl(r.sample)]));
  const links = await page.evaluate(() => Array.from(document.querySelectorAll('#guide a.download')).map((a) => {
    const at = [];
    for (let e = a.parentElement; e && e.id !== 'guide'; e = e.parentElement) {
      if (e.dataset.index !== undefined) at.unshift(e.dataset.index);
      if (e.dataset.field !== undefined) at.unshift(e.dataset.field);
    }
    return [at.join('.'), a.getAttribute('href')];
  }));
  check(`each form's blank and sample and each result sample has its download link (${wantLinks.length})`,
    wantLinks.length >= 3 && JSON.stringify(links.sort()) === JSON.stringify(wantLinks.sort()), { links, wantLinks });
  const blank = current.details.forms[0].blank;
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: WAIT_MS }),
    page.click('#guide [data-field="forms"] > li[data-index="0"] [data-field="blank"] a.download'),
  ]);
  const downloaded = await download.path();
  const bytes = downloaded ? fs.readFileSync(downloaded) : Buffer.alloc(0);
  const digest = crypto.createHash('sha256').update(bytes).digest('hex');
  check(`the blank form downloads as ${blank.name}, its SHA-256 the reference's (${bytes.length} bytes)`,
    digest === blank.sha256 && String(bytes.length) === String(blank.size) &&
    download.suggestedFilename() === blank.name && bytes.subarray(0, 5).toString() === '%PDF-',
    { digest, want: blank.sha256, name: download.suggestedFilename(), failure: await download.failure() });

  /* ---- versions: both listed with their windows; the old one as it was ----------------- */
  await page.click('#guide-versions');
  await ready(page, 'versions', `#/items/${ITEM}/versions`);
  const apiVersions = (await get(`/v1/items/${ITEM}/versions`)).json.versions;
  const listed = await page.$$eval('#versions > li', (lis) => lis.map((li) => ({
    version: li.dataset.version,
    from: (li.querySelector('time.from') || {}).dateTime || '',
    to: li.querySelector('time.to') ? li.querySelector('time.to').dateTime : '',
    toText: (li.querySelector('.to') || {}).textContent || '',
    status: (li.querySelector('[data-status]') || { dataset: {} }).dataset.status,
  })));
  const wantListed = apiVersions.map((v, i) => ({
    version: String(v.version), from: v.effectiveFrom || '', to: v.effectiveTo || '',
    toText: i === 0 ? '今' : (listed[i] && /^\d{4}-\d\d-\d\d \d\d:\d\d$/.test(listed[i].toText) ? listed[i].toText : 'its end as a local time'),
    status: v.status,
  }));
  check(`the versions page lists versions ${NEW_VERSION} and ${OLD_VERSION} with the API's windows`,
    JSON.stringify(listed) === JSON.stringify(wantListed) && listed.length >= 2 &&
    listed[0].version === String(NEW_VERSION) && listed[1].version === String(OLD_VERSION) &&
    listed[1].to !== '' && listed[1].to === listed[0].from, { listed, api: apiVersions });
  await page.click(`#versions li[data-version="${OLD_VERSION}"] a`);
  await ready(page, 'guide', `#/items/${ITEM}?version=${OLD_VERSION}`);
  const old = (await get(`/v1/items/${ITEM}?version=${OLD_VERSION}`)).json;
  map = await shown(page);
  cmp = compareGuide(old, map);
  check(`version ${OLD_VERSION} shows its own ${cmp.count} values (?version=${OLD_VERSION})`, cmp.problems.length === 0 &&
    new URL(page.url()).hash === `#/items/${ITEM}?version=${OLD_VERSION}`, cmp.problems);
  check('the old version shows the old values, not the new ones',
    map.conditions[0].text === old.conditions && !map.conditions[0].text.includes('第二版') &&
    map.promisedLimitDays[0].text === String(old.promisedLimitDays) && !map.intermediaries,
    { conditions: map.conditions, days: map.promisedLimitDays });
  const banner = await page.textContent('#version-banner');
  check('the old version is labelled as a past version, with its window',
    await page.getAttribute('#guide', 'data-past') === 'true' && banner.includes('历史版本') &&
    (map.effectiveTo || [{}])[0].value === old.effectiveTo && (map.effectiveFrom || [{}])[0].value === old.effectiveFrom, banner);
  await page.screenshot({ path: path.join(OUT, 'old-version.png'), fullPage: true });
  await page.click('#current-link');
  await ready(page, 'guide', '#/items/' + ITEM);
  check('"查看现行版本" opens the current guide', await page.getAttribute('#guide', 'data-version') === String(NEW_VERSION) &&
    await page.getAttribute('#guide', 'data-past') === 'false');

  /* ---- an unknown item: the API's message and code -------------------------------------- */
  const missing = await get('/v1/items/NO-SUCH-ITEM');
  await page.goto(`${GW}/#/items/NO-SUCH-ITEM`);
  check('an unknown item code ends in an error', await ready(page, 'guide', '#/items/NO-SUCH-ITEM') === 'error');
  const gErr = await page.$eval('#guide-error', (e) => ({ text: e.textContent, code: e.dataset.code, status: e.dataset.status, rid: e.dataset.requestId, hidden: e.hidden }));
  check('it shows the API\'s message, code and request id', missing.status === 404 && !gErr.hidden &&
    gErr.text.includes(missing.json.message) && gErr.code === missing.json.code && gErr.code === 'NOT_FOUND' &&
    gErr.text.includes('NOT_FOUND') && gErr.rid.length > 0 && gErr.text.includes(gErr.rid), { gErr, api: missing.json });

  /* ---- what the browser did ------------------------------------------------------------ */
  const foreign = seen.requests.filter((u) => !u.startsWith(GW + '/'));
  check(`no request left the page's origin (${seen.requests.length} requests)`, foreign.length === 0, foreign);
  check('no script error, console error or CSP report', seen.errors.length === 0, seen.errors);
  await context.close();
}

runInChromium(run);
