#!/usr/bin/env bash
# e2e_uploads.sh - uploads and downloads through the real gateway's upload and download
# phases (yw-gateway-uploads: yw-gateway's sources with the routes of
# e2e/gw_upload_routes.c) to the real yw-files on PostgreSQL and a test owning service
# (uploads_server), with curl as mini-programs' wx.uploadFile and browsers send:
#   multipart from curl -F with several files and form fields, the service given
#   FileRefs (sha256, size, sniffed type, name) and the fields, the bytes in the store
#   once (dedup); a file past the route's size 413, a type not allowed or contradicted
#   by its bytes 415, too many files 400, a malformed body 400, nothing stored for any
#   of them; files of a request its service refuses (404) given back to the store, so
#   it holds no more blobs than before, while the same bytes a good request stored
#   first stay readable; a raw body upload (and 100 Continue to a client that expects it);
#   downloads with ETag, 304 on If-None-Match, one Range
#   (206) and an unsatisfiable one (416), content-type and content-disposition; another
#   caller 403, an unknown file 404, no session 401; over HTTP/1.1 and h2c; a 9 MiB file
#   (past 2 x YW_GATEWAY_MAX_BODY) streamed whole and by a range in its middle, with its
#   length, over both; slow readers that hold the gateway's memory to the pieces in
#   flight, not the file; a client that leaves mid-download (HTTP/1.1, h2c) logged 499
#   once.
source "$(dirname "$0")/lib.sh"
export E2E_MTLS=0

e2e_database
"$YW_BUILD_DIR/services/files/yw-files" --migrate-only
e2e_start
B="$E2E_TMP/body"
H="$E2E_TMP/headers"
PW="correct horse battery"
PSQL=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA)

FILES_ADDR="127.0.0.1:$(free_port)"
YW_FILES_LISTEN="$FILES_ADDR" "$YW_BUILD_DIR/services/files/yw-files" >"$E2E_TMP/files.log" 2>&1 &
E2E_PIDS+=("$!")
TEST_ADDR="127.0.0.1:$(free_port)"
"$YW_BUILD_DIR/tests/uploads_server" "$TEST_ADDR" >"$E2E_TMP/uploads_server.log" 2>&1 &
E2E_PIDS+=("$!")
UP_PORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$UP_PORT" YW_GATEWAY_TLS_LISTEN="" \
  YW_UPSTREAM_TEST="$TEST_ADDR" YW_UPSTREAM_FILES="$FILES_ADDR" \
  YW_UPSTREAM_CATALOG="$CATALOG_ADDR" YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" \
  YW_REDIS_PREFIX="$E2E_DB" YW_GATEWAY_MAX_BODY=2097152 YW_GATEWAY_THREADS=2 \
  ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=4" \
  "$YW_BUILD_DIR/tests/yw-gateway-uploads" >"$E2E_TMP/gateway-uploads.log" 2>&1 &
E2E_PIDS+=("$!")
UP_PID=$!
UP="http://127.0.0.1:$UP_PORT"
for _ in $(seq 150); do
  curl -fsS "$UP/readyz" 2>/dev/null | grep -qv unavailable && break
  sleep 0.2
done
curl -fsS "$UP/readyz" | grep -qv unavailable || {
  echo "yw-gateway-uploads did not become ready"; curl -sS "$UP/readyz"
  for f in "$E2E_TMP"/files.log "$E2E_TMP"/uploads_server.log "$E2E_TMP"/gateway-uploads.log; do
    echo "==> $f"; tail -n 20 "$f"; done
  exit 1
}

staff() { # staff USERNAME -> a session token on stdout
  YW_STAFF_PASSWORD="$PW" YW_ARGON2_FAST=1 "$YW_BUILD_DIR/services/identity/yw-identity" \
    --create-staff "$1" 320700-GA dept_staff >/dev/null
  curl -sS -X POST "$GW/v1/auth/sessions" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$PW\"}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])'
}
TA="$(staff up.clerk)"
TB="$(staff other.clerk)"

field() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); print($1)"; }
standard_error() { # standard_error CODE: the body is the standard error of that code
  /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); sys.exit(0 if d.get('code')=='$1' and d.get('message') and d.get('requestId') else 1)"
}
blobs() { "${PSQL[@]}" -c "SELECT count(*) FROM files.blobs"; }
staged() { "${PSQL[@]}" -c "SELECT count(*) FROM files.uploads"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# the files: a PNG and a PDF of some size, a JPEG, an oversized PNG, a text file
F="$E2E_TMP/f"; mkdir -p "$F"
/usr/bin/python3 - "$F" <<'PY'
import os, sys
d = sys.argv[1]
def w(name, head, n):
    body = (head + bytes((i * 131 + 7) % 256 for i in range(n)))[:max(n, len(head))]
    open(os.path.join(d, name), "wb").write(body)
w("scan.png", b"\x89PNG\r\n\x1a\n", 40000)
w("form.pdf", b"%PDF-1.7\n", 30000)
w("photo.jpg", b"\xff\xd8\xff\xe0", 20000)
w("big.png", b"\x89PNG\r\n\x1a\n", 70000)
w("photo-raw.png", b"\x89PNG\r\n\x1a\n", 3 * 1024 * 1024 + 17)
w("photo-h2.png", b"\x89PNG\r\n\x1a\n", 3 * 1024 * 1024 + 4099)
w("too-big.png", b"\x89PNG\r\n\x1a\n", 5 * 1024 * 1024)
w("large.png", b"\x89PNG\r\n\x1a\n", 9 * 1024 * 1024 + 12345)
open(os.path.join(d, "notes.txt"), "w").write("plain words, no magic\n" * 100)
# a PDF named and declared as a PNG
w("fake.png", b"%PDF-1.4\n", 1000)
# for requests the service refuses: bytes no other request sends
w("refused.png", b"\x89PNG\r\n\x1a\n", 50000)
w("refused.pdf", b"%PDF-1.7\n", 60000)
w("shared.png", b"\x89PNG\r\n\x1a\n", 45000)
PY

up() { # up TOKEN CURL-ARGS... -> $S, $B
  local t="$1"; shift
  S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' -H "authorization: Bearer $t" "$@")"
}

# ---- multipart: several files and form fields ----------------------------------------
up "$TA" -F title=证件材料 -F copies=2 -F "files=@$F/scan.png;type=image/png" \
  -F "files=@$F/form.pdf;type=application/pdf" -F "files=@$F/photo.jpg;type=image/jpeg" \
  "$UP/v1/test/uploads"
check "three files and two fields by multipart answer 200 ($S)" test "$S" = 200
[ "$S" = 200 ] || cat "$B"
GOT="$(field "d.get('title'), d.get('copies')")"
check "the service got the form fields ($GOT)" test "$GOT" = "证件材料 2"
check "the service got three FileRefs in order, not bytes" \
  test "$(field "[f['name'] for f in d['files']]")" = "['scan.png', 'form.pdf', 'photo.jpg']"
check "each FileRef has the file's SHA-256" \
  test "$(field "' '.join(f['sha256'] for f in d['files'])")" = "$(sha "$F/scan.png") $(sha "$F/form.pdf") $(sha "$F/photo.jpg")"
check "each FileRef has its size (int64 as a string)" \
  test "$(field "[f['size'] for f in d['files']]")" = "['40000', '30000', '20000']"
check "each FileRef has the type sniffed from its bytes" \
  test "$(field "[f['contentType'] for f in d['files']]")" = "['image/png', 'application/pdf', 'image/jpeg']"
check "the store holds the three files and no staged upload" test "$(blobs)/$(staged)" = "3/0"
check "the stored bytes are the file's" \
  test "$("${PSQL[@]}" -c "SELECT sum(length(data)) FROM files.chunks WHERE sha256 = '$(sha "$F/scan.png")'")" = 40000

# the same file again, over h2c: stored once
up "$TA" --http2-prior-knowledge -F "files=@$F/scan.png;type=image/png" "$UP/v1/test/uploads"
check "the same file again (h2c) answers 200 ($S)" test "$S" = 200
check "the same bytes are stored once" test "$(blobs)" = 3
# an upload method by gRPC-Web pass-through: FileRefs the client wrote itself (a stored
# file's hash it never sent) would reach the service; refused before any call
/usr/bin/python3 - "$E2E_TMP/forged.req" <<'PY'
import struct, sys
# Submit{files: [FileRef{sha256: "<64 hex>", size: 1}]}: field 1 (files), its field 1 (sha256)
ref = b"\x0a\x40" + b"a" * 64 + b"\x10\x01"
msg = b"\x0a" + bytes([len(ref)]) + ref
open(sys.argv[1], "wb").write(b"\x00" + struct.pack(">I", len(msg)) + msg)
PY
S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' -H "authorization: Bearer $TA" \
  -H 'content-type: application/grpc-web+proto' -H 'x-grpc-web: 1' \
  --data-binary @"$E2E_TMP/forged.req" "$UP/yiwang.test.v1.UploadsTestService/Submit")"
check "an upload method by gRPC-Web is refused: grpc-status 12 (UNIMPLEMENTED)" \
  sh -c "grep -aq 'grpc-status:12' '$B' || grep -qi '^grpc-status: 12' '$H'"
check "and the store is as it was" test "$(blobs)" = 3

# ---- refusals: nothing stored --------------------------------------------------------
up "$TA" -F "files=@$F/big.png;type=image/png" "$UP/v1/test/uploads"
check "a file past the route's 64 KiB answers 413 ($S)" test "$S" = 413
check "413 has the standard error body" standard_error RESOURCE_EXHAUSTED
up "$TA" -F "files=@$F/notes.txt;type=text/plain" "$UP/v1/test/uploads"
check "a type the route does not take answers 415 ($S)" test "$S" = 415
check "415 has the standard error body" standard_error INVALID_ARGUMENT
up "$TA" -F "files=@$F/fake.png;type=image/png" "$UP/v1/test/uploads"
check "a PDF declared as a PNG answers 415 ($S)" test "$S" = 415
up "$TA" -F "files=@$F/scan.png" -F "files=@$F/form.pdf" -F "files=@$F/photo.jpg" \
  -F "files=@$F/scan.png" "$UP/v1/test/uploads"
check "four files where three are allowed answer 400 ($S)" test "$S" = 400
up "$TA" -F "files=@$F/scan.png" -F "files=@$F/big.png" "$UP/v1/test/uploads"
check "a good file then an oversized one answers 413 ($S)" test "$S" = 413
up "$TA" -F "other=@$F/scan.png" "$UP/v1/test/uploads"
check "a file in a field that takes none answers 400 ($S)" test "$S" = 400
up "$TA" -F "nosuch=1" -F "files=@$F/scan.png" "$UP/v1/test/uploads"
check "a form field the request has not answers 400 ($S)" test "$S" = 400
up "$TA" -F title=nothing "$UP/v1/test/uploads"
check "a form without a file answers 400 ($S)" test "$S" = 400
up "$TA" -H 'content-type: multipart/form-data; boundary=xyz' \
  --data-binary $'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n\x89PNG\r\n\x1a\n12345678' \
  "$UP/v1/test/uploads"
check "a body that ends before its closing boundary answers 400 ($S)" test "$S" = 400
up "$TA" -H 'content-type: application/json' -d '{"title":"x"}' "$UP/v1/test/uploads"
check "a JSON body on an upload route answers 415 ($S)" test "$S" = 415
S="$(curl -sS -o "$B" -w '%{http_code}' -F "files=@$F/scan.png" "$UP/v1/test/uploads")"
check "an upload without a session answers 401 ($S)" test "$S" = 401
check "no refused request left a file or a staged upload" test "$(blobs)/$(staged)" = "3/0"

# ---- a request the service refuses: its files are given back ----------------------------
# (the service answers NOT_FOUND for the title "not-yours", as for another's application)
released_ok() { curl -fsS "$UP/metrics" | awk '/^yw_gateway_file_releases_total\{result="ok"\}/ {print $2}'; }
wait_released() { # wait_released N: until the gateway counts N releases done (10 s at most)
  local n=0
  for _ in $(seq 100); do n="$(released_ok)"; [ "${n:-0}" -ge "$1" ] && return 0; sleep 0.1; done
  return 1
}
before="$(blobs)"
rel0="$(released_ok)"
up "$TA" -F title=not-yours -F "files=@$F/refused.png;type=image/png" \
  -F "files=@$F/refused.pdf;type=application/pdf" "$UP/v1/test/uploads"
check "a request the service refuses answers its 404 ($S)" test "$S" = 404
check "... with the standard error body" standard_error NOT_FOUND
check "the gateway gives its files back to the store (Release counted in /metrics)" \
  wait_released $((rel0 + 1))
check "the store holds no more blobs than before the refused request ($(blobs) vs $before)" \
  test "$(blobs)/$(staged)" = "$before/0"
SHARED="$(sha "$F/shared.png")"
up "$TA" -F title=mine -F "files=@$F/shared.png;type=image/png" "$UP/v1/test/uploads"
check "a good request stores a file ($S)" test "$S/$(blobs)" = "200/$((before + 1))"
up "$TB" --http2-prior-knowledge -F title=not-yours -F "files=@$F/shared.png;type=image/png" \
  "$UP/v1/test/uploads"
check "another request of the same bytes is refused by the service (h2c): 404 ($S)" test "$S" = 404
check "its hold on them is given back" wait_released $((rel0 + 2))
check "the bytes the good request holds stay stored" \
  test "$("${PSQL[@]}" -c "SELECT holds FROM files.blobs WHERE sha256 = '$SHARED'")" = 1
S="$(curl -sS -o "$B" -w '%{http_code}' -H "authorization: Bearer $TA" "$UP/v1/test/files/$SHARED")"
check "and the good request's owner downloads them whole ($S)" \
  test "$S/$(sha "$B")" = "200/$SHARED"

# ---- a raw body ------------------------------------------------------------------------
up "$TA" -X PUT -H 'content-type: image/png' -H 'x-file-name: 证件照.png' \
  --data-binary "@$F/photo-raw.png" "$UP/v1/test/photo"
check "a raw 3 MiB PNG body, past YW_GATEWAY_MAX_BODY (2 MiB), answers 200: it was streamed ($S)" test "$S" = 200
check "the raw upload's FileRef has its hash, size, type and name" \
  test "$(field "(d['files'][0]['sha256'], d['files'][0]['size'], d['files'][0]['contentType'], d['files'][0]['name'])")" = \
  "('$(sha "$F/photo-raw.png")', '$((3 * 1024 * 1024 + 17))', 'image/png', '证件照.png')"
up "$TA" --http2-prior-knowledge -X PUT -H 'content-type: image/png' \
  --data-binary "@$F/photo-h2.png" "$UP/v1/test/photo"
check "a raw 3 MiB body over h2c is streamed too: 200 ($S)" test "$S" = 200
check "its FileRef has the file's hash and size" \
  test "$(field "(d['files'][0]['sha256'], d['files'][0]['size'])")" = "('$(sha "$F/photo-h2.png")', '$((3 * 1024 * 1024 + 4099))')"
before="$(blobs)"
up "$TA" -X PUT -H 'content-type: image/png' -H 'transfer-encoding: chunked' \
  --data-binary "@$F/too-big.png" "$UP/v1/test/photo"
check "a 5 MiB body sent chunked (no length) to a 4 MiB route answers 413 ($S)" test "$S" = 413
check "nothing of them is stored or left staged" test "$(blobs)/$(staged)" = "$before/0"
up "$TA" -X PUT -H 'content-type: application/pdf' --data-binary "@$F/form.pdf" "$UP/v1/test/photo"
check "a raw PDF where images are taken answers 415 ($S)" test "$S" = 415
up "$TA" -X PUT -H 'content-type: image/jpeg' -H 'x-file-name: photo.jpg' \
  -H 'expect: 100-continue' --data-binary "@$F/photo.jpg" "$UP/v1/test/photo"
check "a client that expects 100-continue is answered 200 ($S)" test "$S" = 200
check "... after a 100 Continue, not after its own timeout" grep -q "^HTTP/1.1 100 Continue" "$H"

# a client that leaves mid-upload: its staged upload is dropped at once, not left for
# the purge (a raw socket sends the head and 512 KiB of a 3 MiB body, waits until the
# store holds a staged upload, then closes)
/usr/bin/python3 - "$UP_PORT" "$TA" "$F/photo-raw.png" "$YW_TEST_PG_PORT" "$E2E_DB" <<'PY'
import socket, subprocess, sys, time
port, token, path, pgport, db = sys.argv[1:6]
body = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(("PUT /v1/test/photo HTTP/1.1\r\nhost: x\r\nauthorization: Bearer %s\r\n"
           "content-type: image/png\r\ncontent-length: %d\r\n\r\n" % (token, len(body))).encode())
s.sendall(body[:512 * 1024])
def staged():
    return int(subprocess.run(["psql", "-h", "127.0.0.1", "-p", pgport, "-U", "postgres", "-d", db,
                               "-qtAc", "SELECT count(*) FROM files.uploads"],
                              capture_output=True, text=True).stdout.strip() or 0)
for _ in range(200):  # bounded: 20 s at most
    if staged() > 0:
        break
    time.sleep(0.1)
else:
    sys.exit("no staged upload appeared")
s.close()
PY
left=1
for _ in $(seq 100); do left="$(staged)"; [ "$left" = 0 ] && break; sleep 0.1; done
check "a client that leaves mid-upload leaves no staged upload behind ($left left)" test "$left" = 0
up "$TA" -F "files=@$F/scan.png;type=image/png" "$UP/v1/test/uploads"
check "the gateway serves on after it ($S)" test "$S" = 200

# ---- downloads -------------------------------------------------------------------------
PNG="$(sha "$F/scan.png")"
dl() { # dl TOKEN PATH [CURL-ARGS...] -> $S, $B, $H
  local t="$1" p="$2"; shift 2
  S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' -H "authorization: Bearer $t" "$@" "$UP$p")"
}
hdr() { grep -i "^$1:" "$H" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
dl "$TA" "/v1/test/files/$PNG"
check "the owner downloads the file: 200 ($S)" test "$S" = 200
check "the bytes are the file's" cmp -s "$B" "$F/scan.png"
check "its ETag is the SHA-256" test "$(hdr etag)" = "\"$PNG\""
check "its content-type is the sniffed one" test "$(hdr content-type)" = image/png
check "its content-disposition names the file" \
  test "$(hdr content-disposition)" = "attachment; filename=\"$PNG\"; filename*=UTF-8''scan.png"
dl "$TA" "/v1/test/files/$PNG" -H "if-none-match: \"$PNG\""
check "If-None-Match with the ETag answers 304 ($S)" test "$S" = 304
dl "$TA" "/v1/test/files/$PNG" -H 'range: bytes=100-299'
check "one range answers 206 ($S)" test "$S" = 206
check "206 carries content-range" test "$(hdr content-range)" = "bytes 100-299/40000"
check "206 carries exactly those bytes" cmp -s "$B" <(tail -c +101 "$F/scan.png" | head -c 200)
dl "$TA" "/v1/test/files/$PNG" -H 'range: bytes=-10'
check "a suffix range answers the last 10 bytes" cmp -s "$B" <(tail -c 10 "$F/scan.png")
dl "$TA" "/v1/test/files/$PNG" -H 'range: bytes=50000-'
check "a range past the end answers 416 ($S)" test "$S" = 416
check "416 says the size" test "$(hdr content-range)" = "bytes */40000"
RAW="$(sha "$F/photo-raw.png")"
dl "$TA" "/v1/test/files/$RAW" --http2-prior-knowledge
check "a 3 MiB file downloads over h2c in ReadRange pieces ($S)" test "$S" = 200
check "its bytes are the file's" cmp -s "$B" "$F/photo-raw.png"
dl "$TB" "/v1/test/files/$PNG"
check "another caller is refused by the owning service: 403 ($S)" test "$S" = 403
check "403 has the standard error body" standard_error PERMISSION_DENIED
dl "$TA" "/v1/test/files/$(printf '0%.0s' $(seq 64))"
check "a file nobody uploaded answers 404 ($S)" test "$S" = 404
dl "$TA" "/v1/test/files/not-a-hash"
check "a malformed hash answers 404 ($S)" test "$S" = 404
S="$(curl -sS -o "$B" -w '%{http_code}' "$UP/v1/test/files/$PNG")"
check "a download without a session answers 401 ($S)" test "$S" = 401

# ---- streamed downloads: a file larger than two answers' bodies -----------------------
LSIZE=$((9 * 1024 * 1024 + 12345))
up "$TA" -X PUT -H 'content-type: image/png' -H 'x-file-name: large.png' \
  --data-binary "@$F/large.png" "$UP/v1/test/archive"
check "a 9 MiB file is stored through the upload phase ($S)" test "$S" = 200
LARGE="$(sha "$F/large.png")"
dl "$TA" "/v1/test/files/$LARGE"
check "a 9 MiB file, past 2 x YW_GATEWAY_MAX_BODY, downloads over HTTP/1.1: 200 ($S)" test "$S" = 200
check "its bytes are the file's (sha256)" test "$(sha "$B")" = "$LARGE"
check "HTTP/1.1 sends its length from Stat, not chunks" \
  test "$(hdr content-length)/$(hdr transfer-encoding)" = "$LSIZE/"
check "the streamed answer keeps its ETag, type and disposition" \
  test "$(hdr etag) $(hdr content-type) $(hdr content-disposition)" = \
  "\"$LARGE\" image/png attachment; filename=\"$LARGE\"; filename*=UTF-8''large.png"
dl "$TA" "/v1/test/files/$LARGE" --http2-prior-knowledge
check "the same file downloads over h2c: 200 ($S)" test "$S" = 200
check "its bytes are the file's (sha256)" test "$(sha "$B")" = "$LARGE"
check "h2c gives its length too" test "$(hdr content-length)" = "$LSIZE"
dl "$TA" "/v1/test/files/$LARGE" -H 'range: bytes=3000000-7000000'
check "a range in its middle answers 206 ($S)" test "$S" = 206
check "with its content-range" test "$(hdr content-range)" = "bytes 3000000-7000000/$LSIZE"
check "and exactly those 4000001 bytes" cmp -s "$B" <(tail -c +3000001 "$F/large.png" | head -c 4000001)
dl "$TA" "/v1/test/files/$LARGE" --http2-prior-knowledge -H 'range: bytes=1048570-2097160'
check "a range across a ReadRange piece's edge over h2c: the bytes" \
  cmp -s "$B" <(tail -c +1048571 "$F/large.png" | head -c 1048591)
dl "$TA" "/v1/test/files/$LARGE" -H "if-none-match: \"$LARGE\""
check "If-None-Match on it still answers 304 ($S)" test "$S" = 304

# Slow readers: four HTTP/1.1 clients with small receive buffers each read 256 KiB of the
# file and stop until told to go on. The gateway reads the next ReadRange only once its
# client has taken the last piece, so while they wait it holds a piece or so for each,
# not the file (about 1 to 5 MB for the four, measured; answered whole, each would hold
# the file): its VmRSS grows by less than half a file's size for each. Then they read the
# rest, and each gets the whole file.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
slow_client() { # slow_client ID MODE(pause|leave) -> prints "paused"/"left", then "<bytes> <sha256>"
  /usr/bin/python3 - "$UP_PORT" "$TA" "/v1/test/files/$LARGE" "$1" "$2" "$E2E_TMP/go" <<'PY'
import hashlib, os, socket, sys, time
port, token, path, rid, mode, go = sys.argv[1:7]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
s.settimeout(60)
s.connect(("127.0.0.1", int(port)))
s.sendall(("GET %s HTTP/1.1\r\nhost: x\r\nauthorization: Bearer %s\r\nx-request-id: %s\r\n\r\n"
           % (path, token, rid)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(65536)
    if not d:
        sys.exit("closed before the head")
    buf += d
head, body = buf.split(b"\r\n\r\n", 1)
length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
h = hashlib.sha256(body)
got = len(body)
while got < 256 * 1024:
    d = s.recv(16384)
    if not d:
        sys.exit("closed early")
    h.update(d)
    got += len(d)
if mode == "leave":
    s.close()
    print("left", flush=True)
    sys.exit(0)
print("paused", flush=True)
for _ in range(600):  # bounded: 60 s at most
    if os.path.exists(go):
        break
    time.sleep(0.1)
while got < length:
    d = s.recv(65536)
    if not d:
        break
    h.update(d)
    got += len(d)
print(got, h.hexdigest(), flush=True)
PY
}
wait_paused() { for _ in $(seq 300); do [ "$(grep -c paused "$@" 2>/dev/null | awk -F: '{s+=$NF} END {print s}')" = $# ] && return 0; sleep 0.1; done; return 1; }
rm -f "$E2E_TMP/go"
BEFORE="$(rss_kb "$UP_PID")"
SLOW=()
for i in 1 2 3 4; do
  slow_client "dl-slow-$i" pause >"$E2E_TMP/slow$i" 2>&1 &
  SLOW+=("$!")
done
paused=0
wait_paused "$E2E_TMP"/slow1 "$E2E_TMP"/slow2 "$E2E_TMP"/slow3 "$E2E_TMP"/slow4 && paused=1
check "four slow readers hold their downloads open, paused" test "$paused" = 1
DURING="$(rss_kb "$UP_PID")"
touch "$E2E_TMP/go"
for p in "${SLOW[@]}"; do wait "$p" || true; done
echo "four paused downloads of a $LSIZE-byte file: the gateway's VmRSS ${BEFORE} kB -> ${DURING} kB"
check "while they wait the four grow the gateway by less than two files' size, each by less than half a file ($((DURING - BEFORE)) kB)" \
  test $((DURING - BEFORE)) -lt $((2 * LSIZE / 1024))
for i in 1 2 3 4; do
  check "slow reader $i then gets the whole file" test "$(tail -1 "$E2E_TMP/slow$i")" = "$LSIZE $LARGE"
done

# a client that leaves mid-download: logged 499 once, the gateway serves on
slow_client dl-leave-1 leave >"$E2E_TMP/leave" 2>&1 || true
check "a client read 256 KiB of the file and left" grep -q left "$E2E_TMP/leave"
gone=0
for _ in $(seq 100); do
  gone="$(grep '"requestId":"dl-leave-1"' "$E2E_TMP/gateway-uploads.log" | grep -c '"status":499' || true)"
  [ "$gone" -ge 1 ] && break
  sleep 0.1
done
check "the gateway logs it 499 ($gone line)" test "$gone" = 1
check "... and nothing else for it" test "$(grep -c '"requestId":"dl-leave-1"' "$E2E_TMP/gateway-uploads.log")" = 1
# over h2c: curl reads at 100 KB/s and gives up after a second, long before 9 MiB
curl -sS -o /dev/null --http2-prior-knowledge --limit-rate 100K --max-time 1 \
  -H 'x-request-id: dl-leave-h2' -H "authorization: Bearer $TA" "$UP/v1/test/files/$LARGE" || true
gone=0
for _ in $(seq 100); do
  gone="$(grep '"requestId":"dl-leave-h2"' "$E2E_TMP/gateway-uploads.log" | grep -c '"status":499' || true)"
  [ "$gone" -ge 1 ] && break
  sleep 0.1
done
check "an h2c client that leaves mid-download is logged 499 once ($gone line)" test "$gone" = 1
check "... and nothing else for it" test "$(grep -c '"requestId":"dl-leave-h2"' "$E2E_TMP/gateway-uploads.log")" = 1
dl "$TA" "/v1/test/files/$LARGE" --http2-prior-knowledge
check "the gateway serves the file whole after it ($S)" test "$S/$(sha "$B")" = "200/$LARGE"
check "and is ready" curl -fsS -o /dev/null "$UP/readyz"

finish
