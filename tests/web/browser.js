/* browser.js - what the browser tests of tests/web share (finance.spec.js,
 * resident.spec.js): their settings from the environment, one line per check, Debian's
 * Chromium through playwright-core (no browser download), and the watch over what a
 * page asks for and reports.
 *
 * A spec prints `ok   NAME` or `FAIL NAME: detail` per check, and at its end the counts;
 * it exits non-zero when a check failed, none passed, or it stopped on an exception.
 * The e2e scripts count those lines (tests/e2e/lib.sh, e2e_browser_run).
 */
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

/* The environment variable NAME, which the spec's e2e script sets; exit 2 without it. */
function must(name) {
  const v = process.env[name];
  if (!v) {
    const spec = require.main ? path.basename(require.main.filename) : 'the browser test';
    console.error(`${spec}: ${name} is not set (run it through its tests/e2e script)`);
    process.exit(2);
  }
  return v;
}

const tally = { passes: 0, fails: 0 };
function check(name, ok, detail) {
  if (ok) {
    tally.passes++;
    console.log(`ok   ${name}`);
  } else {
    tally.fails++;
    console.log(`FAIL ${name}${detail === undefined ? '' : ': ' + JSON.stringify(detail).slice(0, 4000)}`);
  }
  return ok;
}

/* Runs body(browser) in headless Chromium, closes it, prints the counts and sets the
 * exit code. */
function runInChromium(body) {
  (async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      timeout: 30000,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    try {
      await body(browser);
    } finally {
      await browser.close();
    }
  })()
    .catch((e) => {
      tally.fails++;
      console.log('FAIL the browser test stopped: ' + (e && e.stack ? e.stack : e));
    })
    .finally(() => {
      console.log(`${tally.passes} passed, ${tally.fails} failed`);
      process.exitCode = tally.fails === 0 && tally.passes > 0 ? 0 : 1;
    });
}

/* Everything a page asks for (seen.requests) and every error it reports (seen.errors),
 * for the checks at the end: no request off the origin, no error. */
function watch(page, seen) {
  page.on('request', (r) => seen.requests.push(r.url()));
  page.on('pageerror', (e) => seen.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    const t = m.text();
    /* an answer of 4xx is logged by Chromium as "Failed to load resource": expected */
    if (m.type() === 'error' && !/Failed to load resource/.test(t)) seen.errors.push('console: ' + t);
    if (/Content Security Policy/i.test(t)) seen.errors.push('csp: ' + t);
  });
}

module.exports = { must, check, runInChromium, watch };
