#!/usr/bin/env bash
# e2e_static.sh - web pages from the gateway (YW_GATEWAY_STATIC) with curl over HTTP/1.1,
# h2c and TLS: types, ETag and 304, Last-Modified and If-Modified-Since, the gzip
# variant, single ranges (206, 416), cache headers (immutable for hashed names), the
# Content-Security-Policy and security headers on every static answer, HEAD, index.html
# and directory redirects; traversal (raw ../ and %2e%2e, encoded slashes and
# backslashes), symbolic links and dotfiles refused; /v1/, the built-ins and other
# methods left to the route table.
source "$(dirname "$0")/lib.sh"

# --- a root with every case, and a secret beside it that must never come out
WWW="$E2E_TMP/www"
mkdir -p "$WWW/assets" "$WWW/sub" "$WWW/.git"
echo "the secret outside the root" >"$E2E_TMP/secret.txt"
printf '<!doctype html><title>home</title><p>home page\n' >"$WWW/index.html"
printf 'console.log("app");\n' >"$WWW/assets/app.3f9a1c2b.js"
printf 'console.log("plain");\n' >"$WWW/assets/plain.js"
printf 'body{color:#000}\n' >"$WWW/assets/site.css"
printf '{"a":1}\n' >"$WWW/data.json"
printf '<svg xmlns="http://www.w3.org/2000/svg"/>\n' >"$WWW/logo.svg"
printf '\x89PNG\r\n\x1a\n' >"$WWW/pixel.png"
printf 'wOF2' >"$WWW/font.woff2"
printf '\0asm\1\0\0\0' >"$WWW/mod.wasm"
printf '{"version":3}\n' >"$WWW/assets/app.3f9a1c2b.js.map"
/usr/bin/python3 -c "print('中文页面 ' * 400)" >"$WWW/page.html"
gzip -k -9 "$WWW/page.html"
/usr/bin/python3 -c "import sys; sys.stdout.write(''.join(chr(48 + i % 10) for i in range(1000)))" >"$WWW/digits.txt"
head -c 300000 /dev/urandom >"$WWW/medium.bin"     # several HTTP/2 DATA frames
head -c 800000 /dev/urandom >"$WWW/toolarge.bin"   # over the cap (3 x 64 KiB + 512 KiB)
printf '<p>sub index\n' >"$WWW/sub/index.html"
printf 'SECRET=1\n' >"$WWW/.env"
printf '[core]\n' >"$WWW/.git/config"
ln -s "$E2E_TMP/secret.txt" "$WWW/link-out.txt"   # out of the root
ln -s index.html "$WWW/link-in.html"              # inside the root: refused too
ln -s "$E2E_TMP" "$WWW/dir-out"                   # a directory out of the root
mkfifo "$WWW/fifo.txt"                            # must not stall the loop

export YW_GATEWAY_STATIC="/=$WWW,/console/=$YW_SOURCE_DIR/web/console"
e2e_database
e2e_start

B="$E2E_TMP/body"
H="$E2E_TMP/headers"
get() { # get URL [curl args...] -> status in $S, body in $B, headers in $H
  local url="$1"; shift
  rm -f "$B" "$H" # curl writes no file for an empty body: no stale body may pass a check
  S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$@" "$url")" || S="curl-failed"
}
hdr() { grep -i "^$1:" "$H" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
has() { grep -qi "^$1: $2"$'\r'"\?$" "$H"; }
same() { cmp -s "$B" "$1"; }
security_headers() {
  has content-security-policy "default-src 'self'.*object-src 'none'.*base-uri 'self'.*frame-ancestors 'none'" &&
    has x-content-type-options nosniff && has referrer-policy no-referrer &&
    has x-frame-options DENY && has cross-origin-opener-policy same-origin
}
no_secret() { ! grep -q "secret outside" "$B" && ! grep -q "SECRET=1" "$B" && ! grep -q "^root:" "$B"; }

for proto in h1 h2; do
  if [ "$proto" = h1 ]; then P=(--http1.1); V='HTTP/1.1'; else P=(--http2-prior-knowledge); V='HTTP/2'; fi

  # --- a page and its headers
  get "$GW/" "${P[@]}"
  check "$proto: / answers index.html" eval 'test "$S" = 200 && same "$WWW/index.html" && grep -q "^$V 200" "$H"'
  check "$proto: html is text/html with charset" has content-type 'text/html; charset=utf-8'
  check "$proto: html is no-cache" has cache-control no-cache
  check "$proto: the security headers are there" security_headers
  check "$proto: ETag, Last-Modified, accept-ranges, x-request-id" \
    eval 'hdr etag | grep -q "^\"[0-9a-f]*-[0-9a-f]*-[0-9a-f]*\"$" && hdr last-modified | grep -q " GMT$" && has accept-ranges bytes && test -n "$(hdr x-request-id)"'
  check "$proto: HSTS is sent (the gateway serves TLS; browsers ignore it over http)" \
    has strict-transport-security 'max-age=31536000'
  ETAG="$(hdr etag)"; LASTMOD="$(hdr last-modified)"
  get "$GW/index.html" "${P[@]}"
  check "$proto: /index.html is the same file with the same ETag" eval 'same "$WWW/index.html" && test "$(hdr etag)" = "$ETAG"'

  # --- types and cache rules
  get "$GW/assets/app.3f9a1c2b.js" "${P[@]}"
  check "$proto: a hashed script is immutable for a year" \
    eval 'test "$S" = 200 && has cache-control "public, max-age=31536000, immutable" && has content-type "text/javascript; charset=utf-8"'
  get "$GW/assets/plain.js" "${P[@]}"
  check "$proto: an unhashed script is no-cache" has cache-control no-cache
  for t in "assets/site.css|text/css; charset=utf-8" "data.json|application/json" \
    "logo.svg|image/svg+xml" "pixel.png|image/png" "font.woff2|font/woff2" \
    "mod.wasm|application/wasm" "assets/app.3f9a1c2b.js.map|application/json" \
    "digits.txt|text/plain; charset=utf-8"; do
    get "$GW/${t%%|*}" "${P[@]}"
    check "$proto: ${t%%|*} is ${t#*|}" eval 'test "$S" = 200 && has content-type "${t#*|}" && same "$WWW/${t%%|*}"'
  done
  get "$GW/medium.bin" "${P[@]}"
  check "$proto: a 300 kB file arrives whole" eval 'test "$S" = 200 && same "$WWW/medium.bin" && has content-type application/octet-stream'
  get "$GW/toolarge.bin" "${P[@]}"
  check "$proto: a file over the size cap is 404" eval 'test "$S" = 404 && security_headers'

  # --- conditional requests
  get "$GW/" "${P[@]}" -H "if-none-match: $ETAG"
  check "$proto: If-None-Match with the ETag is 304 without a body" \
    eval 'test "$S" = 304 && test ! -s "$B" && test "$(hdr etag)" = "$ETAG" && test -z "$(hdr content-length)" && security_headers'
  get "$GW/" "${P[@]}" -H "if-none-match: \"nope\", W/$ETAG"
  check "$proto: If-None-Match in a list, weak, is 304" test "$S" = 304
  get "$GW/" "${P[@]}" -H 'if-none-match: "nope"'
  check "$proto: another ETag is 200" eval 'test "$S" = 200 && same "$WWW/index.html"'
  get "$GW/" "${P[@]}" -H "if-modified-since: $LASTMOD"
  check "$proto: If-Modified-Since at Last-Modified is 304" test "$S" = 304
  get "$GW/" "${P[@]}" -H "if-modified-since: Thu, 01 Jan 2004 00:00:00 GMT"
  check "$proto: If-Modified-Since before it is 200" test "$S" = 200
  get "$GW/" "${P[@]}" -H 'if-none-match: "nope"' -H "if-modified-since: $LASTMOD"
  check "$proto: If-None-Match wins over If-Modified-Since" test "$S" = 200

  # --- the gzip variant
  get "$GW/page.html" "${P[@]}" -H 'accept-encoding: gzip, br'
  check "$proto: page.html.gz is sent with content-encoding gzip and vary" \
    eval 'test "$S" = 200 && has content-encoding gzip && has vary accept-encoding && same "$WWW/page.html.gz" && has content-type "text/html; charset=utf-8"'
  GZ_ETAG="$(hdr etag)"
  get "$GW/page.html" "${P[@]}" --compressed
  check "$proto: curl --compressed gets the page back" same "$WWW/page.html"
  get "$GW/page.html" "${P[@]}" -H 'accept-encoding: identity'
  check "$proto: without gzip the page is plain, still vary, another ETag" \
    eval 'test "$S" = 200 && ! grep -qi "^content-encoding" "$H" && has vary accept-encoding && same "$WWW/page.html" && test "$(hdr etag)" != "$GZ_ETAG"'
  get "$GW/page.html" "${P[@]}" -H 'accept-encoding: gzip;q=0'
  check "$proto: gzip;q=0 is plain" same "$WWW/page.html"

  # --- ranges
  get "$GW/digits.txt" "${P[@]}" -H 'range: bytes=10-19'
  check "$proto: bytes=10-19 is 206 with content-range" \
    eval 'test "$S" = 206 && has content-range "bytes 10-19/1000" && test "$(cat "$B")" = 0123456789'
  get "$GW/digits.txt" "${P[@]}" -H 'range: bytes=-5'
  check "$proto: bytes=-5 is the last five" eval 'test "$S" = 206 && test "$(cat "$B")" = 56789 && has content-range "bytes 995-999/1000"'
  get "$GW/digits.txt" "${P[@]}" -H 'range: bytes=990-'
  check "$proto: bytes=990- runs to the end" eval 'test "$S" = 206 && test "$(wc -c <"$B")" = 10'
  get "$GW/digits.txt" "${P[@]}" -H 'range: bytes=1000-'
  check "$proto: a range past the end is 416 with bytes */1000" eval 'test "$S" = 416 && has content-range "bytes \*/1000"'
  get "$GW/digits.txt" "${P[@]}" -H 'range: bytes=0-1,5-6'
  check "$proto: several ranges get the whole file" eval 'test "$S" = 200 && same "$WWW/digits.txt"'
  D_ETAG="$(hdr etag)"
  get "$GW/digits.txt" "${P[@]}" -H 'range: bytes=0-1' -H "if-range: $D_ETAG"
  check "$proto: If-Range with the ETag keeps the range" test "$S" = 206
  get "$GW/digits.txt" "${P[@]}" -H 'range: bytes=0-1' -H 'if-range: "old"'
  check "$proto: If-Range with an old ETag gets the whole file" eval 'test "$S" = 200 && same "$WWW/digits.txt"'

  # --- HEAD
  S="$(curl -sS -I -o /dev/null -D "$H" -w '%{http_code}' "${P[@]}" "$GW/digits.txt")"
  check "$proto: HEAD is 200 with the headers of GET" \
    eval 'test "$S" = 200 && has content-type "text/plain; charset=utf-8" && test "$(hdr etag)" = "$D_ETAG" && security_headers'
  check "$proto: HEAD says the length of the file" has content-length 1000

  # --- directories
  get "$GW/sub" "${P[@]}"
  check "$proto: a directory without / is a 301 to it" eval 'test "$S" = 301 && has location /sub/'
  get "$GW/sub/" "${P[@]}"
  check "$proto: a directory with / answers its index.html" eval 'test "$S" = 200 && same "$WWW/sub/index.html"'
  get "$GW/console" "${P[@]}"
  check "$proto: /console is a 301 to /console/" eval 'test "$S" = 301 && has location /console/'
  get "$GW/console/" "${P[@]}"
  check "$proto: /console/ is the console's page (the longer prefix wins)" \
    eval 'test "$S" = 200 && same "$YW_SOURCE_DIR/web/console/index.html"'
  get "$GW/no-such.html" "${P[@]}"
  check "$proto: a missing file is 404 with the security headers" eval 'test "$S" = 404 && security_headers'

  # --- refused: traversal, links, dotfiles, special files
  for p in '/../secret.txt' '/../../../../etc/passwd' '/sub/../../secret.txt' \
    '/%2e%2e/secret.txt' '/%2E%2E/%2E%2E/etc/passwd' '/sub/%2e%2e/%2e%2e/secret.txt' \
    '/..%2fsecret.txt' '/sub%2f..%2f..%2fsecret.txt' '/..%5csecret.txt' '/sub/..\..\secret.txt' \
    '/./index.html' '//etc/passwd' '/index.html%00.txt' '/link-out.txt' '/link-in.html' \
    '/dir-out/secret.txt' '/.env' '/.git/config' '/%2eenv' '/sub/.' '/fifo.txt'; do
    get "$GW$p" "${P[@]}" --path-as-is
    check "$proto: $p is 404 and nothing leaks" eval 'test "$S" = 404 && no_secret && security_headers'
  done
done

# --- over TLS
get "$GWS/" --http2 --cacert "$E2E_TMP/tls.crt"
check "TLS h2: the page with HSTS" eval 'test "$S" = 200 && grep -q "^HTTP/2 200" "$H" && has strict-transport-security max-age=31536000 && same "$WWW/index.html"'
get "$GWS/digits.txt" --http1.1 --cacert "$E2E_TMP/tls.crt" -H 'range: bytes=0-4'
check "TLS http/1.1: a range" eval 'test "$S" = 206 && test "$(cat "$B")" = 01234'

# --- what stays with the route table and the built-ins
get "$GW/healthz"
check "/healthz is still the built-in" eval 'test "$S" = 200 && grep -q "\"ok\"" "$B" && ! grep -qi "^content-security-policy" "$H"'
get "$GW/v1/departments" --http2-prior-knowledge
check "/v1/ routes still answer JSON" eval 'test "$S" = 200 && grep -q departments "$B" && ! grep -qi "^content-security-policy" "$H"'
get "$GW/v1/no-such-thing"
check "an unknown /v1/ path is the route table's JSON 404, not a file" \
  eval 'test "$S" = 404 && grep -q NOT_FOUND "$B" && ! grep -qi "^content-security-policy" "$H"'
get "$GW/index.html" -X POST -d x
check "POST to a file is not static (the route table's answer)" \
  eval 'test "$S" != 200 && ! grep -qi "^content-security-policy" "$H"'
get "$GW/v1/items" -X POST -H 'content-type: application/json' -d '{}'
check "a route's other method is still the route table's 405" eval 'test "$S" = 405 || test "$S" = 404'

# --- bad settings stop the gateway
for bad in "v1=$WWW" "/v1/=$WWW" "/=$E2E_TMP/no-such-dir" "/x/"; do
  set +e
  YW_GATEWAY_STATIC="$bad" YW_GATEWAY_LISTEN="127.0.0.1:$(free_port)" YW_GATEWAY_TLS_LISTEN= \
    timeout 10 "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/bad.log" 2>&1
  rc=$?
  set -e
  check "YW_GATEWAY_STATIC=$bad stops the gateway (exit 2)" eval 'test "$rc" = 2 && grep -q YW_GATEWAY_STATIC "$E2E_TMP/bad.log"'
done

finish
