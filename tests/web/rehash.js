#!/usr/bin/env node
/* rehash.js - gives the assets of a page folder their content-hashed names.
 *
 *   node tests/web/rehash.js web/finance
 *
 * Every NAME.HASH.EXT (or NAME.EXT) in FOLDER/assets/ is renamed to
 * NAME.<first 10 hex digits of its SHA-256>.EXT and FOLDER/index.html is rewritten to
 * refer to the new names. The gateway caches such names for a year (immutable), so a
 * file's name must change whenever its bytes do; e2e_finance_console.sh checks that
 * every name still matches its content. Not a build step: the files stay as written.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node rehash.js PAGE_FOLDER');
  process.exit(2);
}
const assets = path.join(dir, 'assets');
const indexPath = path.join(dir, 'index.html');
let html = fs.readFileSync(indexPath, 'utf8');
for (const f of fs.readdirSync(assets)) {
  const m = /^([a-z0-9_-]+?)(?:\.([0-9a-f]{8,}))?\.(js|css)$/.exec(f);
  if (!m) continue;
  const bytes = fs.readFileSync(path.join(assets, f));
  const hash = crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 10);
  if (!/[0-9]/.test(hash)) {
    console.error(`${f}: its hash ${hash} has no digit (the gateway would not see it as hashed); change a comment and run again`);
    process.exit(1);
  }
  const name = `${m[1]}.${hash}.${m[3]}`;
  if (name !== f) fs.renameSync(path.join(assets, f), path.join(assets, name));
  const ref = new RegExp(`/assets/${m[1]}\\.(?:[0-9A-Za-z]+\\.)?${m[3]}"`, 'g');
  html = html.replace(ref, `/assets/${name}"`);
  console.log(`${f} -> ${name}`);
}
fs.writeFileSync(indexPath, html);
