#!/usr/bin/env bash
# e2e_catalog_files.sh - an item's blank and sample forms and result samples as real
# files, through the real gateway, yw-catalog and yw-files: the demo seed's PDFs (made by
# services/catalog/seed/gen_demo.py --files) stored through the department upload route
# POST /v1/item-files; a seeded item's blank form downloaded from
# GET /v1/items/{code}/files/{sha256} (public) with bytes that hash to its reference,
# its name in content-disposition, ETag and 304, ?version=N; a file the item does not
# name, an unknown item and a draft item's file 404; a department referencing an
# uploaded file (200, then downloadable), a file the store does not hold or whose size
# differs (400 naming the field), and, with yw-files stopped (SIGSTOP), the write
# answering 503 within the bound and leaving the item as it was. Then what an item may
# name: a resident's material (held by the store) and another department's upload are
# refused alike (400 FILE_NOT_UPLOADED), a platform administrator's upload is taken;
# another department is refused before the store is asked (403, 400 with the store
# stopped); a platform administrator's withdrawal makes the file 404 on every version
# and refuses it in writes and uploads; a version without a recorded file set; a
# retired item's form; a department's daily upload quota (429).
source "$(dirname "$0")/lib.sh"

e2e_database
export E2E_CATALOG_FILES_WAIT_MS=1000 E2E_CATALOG_UPLOAD_DAILY_FILES=30
e2e_start
B="$E2E_TMP/body"; H="$E2E_TMP/headers"; F="$E2E_TMP/file"
PSQL=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA)
sql() { "${PSQL[@]}" -c "$1"; }
holds() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); sys.exit(0 if ($1) else 1)"; }
field() { /usr/bin/python3 -c "import json; d=json.load(open('$B')); print($1)"; }
expect_status() { # expect_status NAME WANT
  if [ "$S" = "$2" ]; then pass "$1"; else fail "$1 (got $S: $(head -c 300 "$B"))"; fi
}
get() { S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$@")"; }
download() { S="$(curl -sS -o "$F" -D "$H" -w '%{http_code}' "$@")"; } # download URL [curl args]
sha() { sha256sum "$1" | cut -d' ' -f1; }
header() { tr -d '\r' <"$H" | grep -i "^$1:" | head -1 | cut -d' ' -f2-; }

e2e_staff ga.admin 320700-GA dept_admin,dept_staff
GA="$(e2e_staff_token ga.admin)"
check "a department administrator logs in" test -n "$GA"

# the demo's PDFs, as ./dev up makes them
/usr/bin/python3 "$YW_SOURCE_DIR/services/catalog/seed/gen_demo.py" -o /dev/null \
  --files "$E2E_TMP/demo" 2>/dev/null
upload_as() { # upload_as TOKEN FILE... -> $S, $B: POST /v1/item-files
  local token="$1" args=() f
  shift
  for f in "$@"; do args+=(-F "files=@$f;type=application/pdf"); done
  S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/item-files" \
    -H "authorization: Bearer $token" "${args[@]}")"
}
upload() { upload_as "$GA" "$@"; } # as ga.admin

ITEM=GG00002000-320700-GA   # 居民身份证换领, published
get "$GW/v1/items/$ITEM"; cp "$B" "$E2E_TMP/item.json"
BLANK="$(field "d['details']['forms'][0]['blank']['sha256']")"
BLANK_NAME="$(field "d['details']['forms'][0]['blank']['name']")"
SAMPLE="$(field "d['details']['forms'][0]['sample']['sha256']")"
RESULT="$(field "d['details']['results'][0]['sample']['sha256']")"
VSEED="$(field "d['version']")"
check "the seed's references name the demo PDFs (same bytes, same size)" \
  test -f "$E2E_TMP/demo/$BLANK.pdf" -a "$(sha "$E2E_TMP/demo/$BLANK.pdf")" = "$BLANK" -a \
  "$(stat -c %s "$E2E_TMP/demo/$BLANK.pdf")" = "$(field "d['details']['forms'][0]['blank']['size']")"

# --- 1. before the files are stored, the download is 404 (the store has no such file)
get "$GW/v1/items/$ITEM/files/$BLANK"
expect_status "a referenced file not in the store yet is 404" 404

# --- 2. a department stores the item's files
upload "$E2E_TMP/demo/$BLANK.pdf" "$E2E_TMP/demo/$SAMPLE.pdf" "$E2E_TMP/demo/$RESULT.pdf"
expect_status "the department uploads the item's three PDFs (200)" 200
check "and gets their FileRefs back" holds "[f['sha256'] for f in d['files']] == ['$BLANK', '$SAMPLE', '$RESULT'] and all(f['contentType'] == 'application/pdf' for f in d['files'])"
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/item-files" -F "files=@$E2E_TMP/demo/$BLANK.pdf")"
expect_status "uploading without a session is 401" 401
printf 'plain text, not a form' >"$E2E_TMP/note.txt"
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/item-files" -H "authorization: Bearer $GA" \
  -F "files=@$E2E_TMP/note.txt;type=text/plain")"
expect_status "a type the route does not take is 415" 415

# --- 3. anyone downloads them
download "$GW/v1/items/$ITEM/files/$BLANK"
expect_status "the blank form downloads without a session (200)" 200
check "its bytes hash to the reference's sha256" test "$(sha "$F")" = "$BLANK"
check "it is a PDF" test "$(head -c 5 "$F")" = "%PDF-"
check "content-type application/pdf" test "$(header content-type)" = "application/pdf"
ENC="$(/usr/bin/python3 -c "import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))" "$BLANK_NAME")"
check "content-disposition names the form ($BLANK_NAME)" \
  grep -qi "^content-disposition: attachment;.*filename\*=UTF-8''$ENC" <(tr -d '\r' <"$H")
check "the ETag is the quoted sha256" test "$(header etag)" = "\"$BLANK\""
get "$GW/v1/items/$ITEM/files/$BLANK" -H "if-none-match: \"$BLANK\""
expect_status "if-none-match with the ETag is 304" 304
download "$GW/v1/items/$ITEM/files/$SAMPLE"
check "the filled-in sample downloads (200, its bytes)" test "$S" = 200 -a "$(sha "$F")" = "$SAMPLE"
download "$GW/v1/items/$ITEM/files/$RESULT"
check "the result sample downloads (200, its bytes)" test "$S" = 200 -a "$(sha "$F")" = "$RESULT"
download "$GW/v1/items/$ITEM/files/$BLANK?version=$VSEED"
check "?version=$VSEED (the seeded version) serves it too" test "$S" = 200 -a "$(sha "$F")" = "$BLANK"
get "$GW/v1/items/$ITEM/files/$BLANK?version=99"
expect_status "a version the item does not have is 404" 404

# --- 4. what the item does not name is not served through it
OTHER=GG00001000-320700-GA
OTHER_BLANK="$(sql "SELECT details->'forms'->0->'blank'->>'sha256' FROM catalog.items WHERE impl_code = '$OTHER'")"
upload "$E2E_TMP/demo/$OTHER_BLANK.pdf"
check "another item's blank form is stored (200)" test "$S" = 200 -a -n "$OTHER_BLANK" -a "$OTHER_BLANK" != "$BLANK"
get "$GW/v1/items/$ITEM/files/$OTHER_BLANK"
expect_status "another item's stored file through $ITEM is 404" 404
check "404 has the standard error body" holds "d['code'] == 'NOT_FOUND' and d['requestId']"
download "$GW/v1/items/$OTHER/files/$OTHER_BLANK"
check "and through its own item it is 200" test "$S" = 200 -a "$(sha "$F")" = "$OTHER_BLANK"
get "$GW/v1/items/NO-SUCH-ITEM/files/$BLANK"
expect_status "an unknown item is 404" 404
get "$GW/v1/items/$ITEM/files/$(printf '%064d' 7)"
expect_status "a hash the item does not name is 404" 404
get "$GW/v1/items/$ITEM/files/not-a-hash"
expect_status "a malformed hash is 404" 404
DRAFT="$(sql "SELECT impl_code FROM catalog.items WHERE status = 'draft' ORDER BY impl_code LIMIT 1")"
DRAFT_BLANK="$(sql "SELECT details->'forms'->0->'blank'->>'sha256' FROM catalog.items WHERE impl_code = '$DRAFT'")"
upload "$E2E_TMP/demo/$DRAFT_BLANK.pdf"
check "a draft item's blank form is stored (200)" test "$S" = 200 -a -n "$DRAFT"
get "$GW/v1/items/$DRAFT/files/$DRAFT_BLANK"
expect_status "a draft item's file is 404 ($DRAFT)" 404

# --- 5. a department references only stored files
/usr/bin/python3 "$YW_SOURCE_DIR/services/catalog/seed/forms_pdf.py" "补充说明表 $$" 空表 >"$E2E_TMP/new.pdf"
/usr/bin/python3 "$YW_SOURCE_DIR/services/catalog/seed/forms_pdf.py" "补充说明表 $$" 样表 >"$E2E_TMP/new2.pdf"
upload "$E2E_TMP/new.pdf" "$E2E_TMP/new2.pdf"
expect_status "the department uploads two new forms (200)" 200
REF="$(field "json.dumps(d['files'][0])")"; REF2="$(field "json.dumps(d['files'][1])")"
NEW="$(sha "$E2E_TMP/new.pdf")"; NEW2="$(sha "$E2E_TMP/new2.pdf")"
body() { # body PYTHON -> the item as an UpsertItem body, after PYTHON changed `it`
  /usr/bin/python3 -c "
import json; it = json.load(open('$E2E_TMP/item.json'))
$1
print(json.dumps({'item': it}, ensure_ascii=False))"
}
put() { # put BODY -> $S, $B
  S="$(curl -sS -o "$B" -w '%{http_code}' -X PUT "$GW/v1/items/$ITEM" \
    -H "authorization: Bearer $GA" -H 'content-type: application/json' --data-binary "$1")"
}
version() { sql "SELECT version FROM catalog.items WHERE impl_code = '$ITEM'"; }
V0="$(version)"
put "$(body "it['details']['forms'].append({'name': '补充说明表', 'blank': $REF})")"
expect_status "a form naming the uploaded file is written (200)" 200
check "the item has a new version" test "$(version)" = "$((V0 + 1))"
download "$GW/v1/items/$ITEM/files/$NEW"
check "and the new form downloads through the item (200, its bytes)" test "$S" = 200 -a "$(sha "$F")" = "$NEW"
get "$GW/v1/items/$ITEM/files/$NEW?version=$V0"
expect_status "the version before it (?version=$V0), which does not name it, is 404" 404
get "$GW/v1/items/$ITEM"; cp "$B" "$E2E_TMP/item.json"
V1="$(version)"
ABSENT="$(head -c 64 /dev/urandom | sha256sum | cut -d' ' -f1)"
N="$(/usr/bin/python3 -c "import json; print(len(json.load(open('$E2E_TMP/item.json'))['details']['forms']))")"
put "$(body "it['details']['forms'].append({'name': '不存在的表', 'blank': {'sha256': '$ABSENT', 'size': '1200', 'contentType': 'application/pdf', 'name': 'x.pdf'}})")"
expect_status "a form naming a file the store does not hold is 400" 400
check "the answer names the field" holds "'item.details.forms[$N].blank' in d['message'] and d['fieldViolations'][0]['field'] == 'item.details.forms[$N].blank'"
put "$(body "r = json.loads('$REF2'); r['size'] = str(int(r['size']) + 1); it['details']['results'][0]['sample'] = r")"
expect_status "a reference whose size is not the stored file's is 400" 400
check "naming item.details.results[0].sample" holds "d['fieldViolations'][0]['field'] == 'item.details.results[0].sample'"
check "neither wrote a version" test "$(version)" = "$V1"

# --- 6. the store stopped: 503 within the bound, nothing written
kill -STOP "$FILES_PID"
T0="$(date +%s%N)"
put "$(body "it['details']['results'][0]['sample'] = json.loads('$REF2')")"
T1="$(date +%s%N)"
kill -CONT "$FILES_PID"
expect_status "with yw-files stopped, a write naming a new file is 503" 503
MS=$(((T1 - T0) / 1000000))
check "answered within the bound (1000 ms wait; took $MS ms)" test "$MS" -lt 4000
check "the item is unchanged (version $V1)" test "$(version)" = "$V1"
check "and does not name the file" test "$(sql "SELECT count(*) FROM catalog.items WHERE impl_code = '$ITEM' AND details::text LIKE '%$NEW2%'")" = 0
put "$(body "it['details']['results'][0]['sample'] = json.loads('$REF2')")"
expect_status "with yw-files back, the same write is 200" 200
get "$GW/v1/items/$ITEM"; cp "$B" "$E2E_TMP/item.json"
V2="$(version)"
kill -STOP "$FILES_PID"
put "$(body "it['conditions'] += '（另附说明）'")"
kill -CONT "$FILES_PID"
expect_status "with yw-files stopped, a write naming only files the item has already is 200" 200
check "and is a new version" test "$(version)" = "$((V2 + 1))"

# --- 7. only the department's own uploads: a resident's material is not an item's form
source "$(dirname "$0")/identity_helpers.sh"
e2e_staff mz.admin 320700-MZ dept_admin
MZ="$(e2e_staff_token mz.admin)"
e2e_staff platform.admin "" platform_admin
PA="$(e2e_staff_token platform.admin)"
RES="$(verified_resident 13900000001 张三 320706199001011230)"
check "another department's administrator, a platform administrator and a resident log in" \
  test -n "$MZ" -a -n "$PA" -a -n "$RES"
fresh() { get "$GW/v1/items/$ITEM"; cp "$B" "$E2E_TMP/item.json"; }
reason() { field "d['fieldViolations'][0]['field'] + ' ' + d['fieldViolations'][0]['reason']"; }
req POST /v1/applications "$RES" '{"itemCode":"GG00001000-320700-GA","form":{"name":"张三","children":1}}'
expect_status "the resident applies" 200
APP="$(field "d['application']['number']")"
req GET "/v1/applications/$APP" "$RES"
MATERIAL="$(field "d['missingMaterials'][0]")"
/usr/bin/python3 "$YW_SOURCE_DIR/services/catalog/seed/forms_pdf.py" "张三 身份证扫描件 $$" 空表 >"$E2E_TMP/private.pdf"
PSHA="$(sha "$E2E_TMP/private.pdf")"
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/applications/$APP/materials" \
  -H "authorization: Bearer $RES" -F "material=$MATERIAL" -F "files=@$E2E_TMP/private.pdf")"
expect_status "the resident uploads a private PDF as a material" 200
PREF="$(field "json.dumps(d['material']['files'][0])")"
fresh
N="$(/usr/bin/python3 -c "import json; print(len(json.load(open('$E2E_TMP/item.json'))['details']['forms']))")"
V3="$(version)"
put "$(body "r = json.loads('$PREF'); r['name'] = '表.pdf'; it['details']['forms'].append({'name': '补充表', 'blank': r})")"
expect_status "naming a resident's material (held by the store, not uploaded to the catalog) is 400" 400
check "naming the field, FILE_NOT_UPLOADED" test "$(reason)" = "item.details.forms[$N].blank FILE_NOT_UPLOADED"
MSG_HELD="$(field "d['message']" | sed "s/$PSHA/X/g")"
ABSENT2="$(head -c 64 /dev/urandom | sha256sum | cut -d' ' -f1)"
put "$(body "it['details']['forms'].append({'name': '补充表', 'blank': {'sha256': '$ABSENT2', 'size': '$(stat -c %s "$E2E_TMP/private.pdf")', 'contentType': 'application/pdf', 'name': '表.pdf'}})")"
MSG_ABSENT="$(field "d['message']" | sed "s/$ABSENT2/X/g")"
check "the same answer for a hash the store does not hold ($S: $MSG_ABSENT)" \
  test "$S" = 400 -a "$MSG_ABSENT" = "$MSG_HELD"
check "no version was written" test "$(version)" = "$V3"
get "$GW/v1/items/$ITEM/files/$PSHA"
expect_status "the material is not served through the item (404)" 404

# --- 8. another department's upload cannot be named; a platform administrator's can
/usr/bin/python3 "$YW_SOURCE_DIR/services/catalog/seed/forms_pdf.py" "民政表 $$" 空表 >"$E2E_TMP/mz.pdf"
upload_as "$MZ" "$E2E_TMP/mz.pdf"
expect_status "320700-MZ uploads a form (200)" 200
MZREF="$(field "json.dumps(d['files'][0])")"
MZSHA="$(sha "$E2E_TMP/mz.pdf")"
put "$(body "it['details']['forms'].append({'name': '民政表', 'blank': json.loads('$MZREF')})")"
expect_status "320700-GA naming 320700-MZ's upload is 400" 400
check "FILE_NOT_UPLOADED, the same answer" test "$(reason)" = "item.details.forms[$N].blank FILE_NOT_UPLOADED" -a \
  "$(field "d['message']" | sed "s/$MZSHA/X/g")" = "$MSG_HELD"
/usr/bin/python3 "$YW_SOURCE_DIR/services/catalog/seed/forms_pdf.py" "通用表 $$" 空表 >"$E2E_TMP/pa.pdf"
upload_as "$PA" "$E2E_TMP/pa.pdf"
expect_status "a platform administrator uploads a form (200)" 200
PAREF="$(field "json.dumps(d['files'][0])")"
PASHA="$(sha "$E2E_TMP/pa.pdf")"
put "$(body "it['details']['forms'].append({'name': '通用表', 'blank': json.loads('$PAREF')})")"
expect_status "320700-GA naming a platform administrator's upload is 200" 200
download "$GW/v1/items/$ITEM/files/$PASHA"
check "and it downloads through the item" test "$S" = 200 -a "$(sha "$F")" = "$PASHA"

# --- 9. nothing about the store is answered before the stored item is the caller's
MZITEM="$(sql "SELECT impl_code FROM catalog.items WHERE department_code = '320700-MZ' AND status = 'published' ORDER BY impl_code LIMIT 1")"
get "$GW/v1/items/$MZITEM"; cp "$B" "$E2E_TMP/mz_item.json"
mz_put() { # mz_put CODE ITEMFILE PYTHON -> $S, $B: PUT as mz.admin
  S="$(curl -sS -o "$B" -w '%{http_code}' -X PUT "$GW/v1/items/$1" -H "authorization: Bearer $MZ" \
    -H 'content-type: application/json' --data-binary "$(/usr/bin/python3 -c "
import json; it = json.load(open('$2'))
$3
print(json.dumps({'item': it}, ensure_ascii=False))")")"
}
kill -STOP "$FILES_PID"
mz_put "$MZITEM" "$E2E_TMP/mz_item.json" "it['details']['forms'] = [{'name': 'p', 'blank': {'sha256': '$PSHA', 'size': '1', 'contentType': 'application/pdf', 'name': 'p.pdf'}}]"
S1="$S"; M1="$(field "d['message']")"
fresh
mz_put "$ITEM" "$E2E_TMP/item.json" "it['departmentCode'] = '320700-MZ'; it['details']['forms'].append({'name': 'p', 'blank': {'sha256': '$BLANK', 'size': '1', 'contentType': 'application/pdf', 'name': 'p.pdf'}})"
S2="$S"; M2="$(field "d['message']")"
kill -CONT "$FILES_PID"
check "with yw-files stopped, 320700-MZ naming a stored file it did not upload is 400, not 503 ($S1)" test "$S1" = 400
check "and the answer says nothing of the stored file ($M1)" test -z "$(printf '%s' "$M1" | grep -E 'bytes|stored file')"
check "with yw-files stopped, 320700-MZ writing 320700-GA's item is 403, not 503 ($S2: $M2)" test "$S2" = 403

# --- 10. a platform administrator withdraws a file published by mistake
/usr/bin/python3 "$YW_SOURCE_DIR/services/catalog/seed/forms_pdf.py" "误发表 $$" 空表 >"$E2E_TMP/oops.pdf"
upload "$E2E_TMP/oops.pdf"
OREF="$(field "json.dumps(d['files'][0])")"; OSHA="$(sha "$E2E_TMP/oops.pdf")"
fresh
put "$(body "it['details']['forms'].append({'name': '误发表', 'blank': json.loads('$OREF')})")"
expect_status "the department publishes a form by mistake (200)" 200
VOOPS="$(version)"
fresh
put "$(body "it['details']['forms'] = [f for f in it['details']['forms'] if f.get('blank', {}).get('sha256') != '$OSHA']")"
expect_status "and takes it out of the item again (200)" 200
download "$GW/v1/items/$ITEM/files/$OSHA?version=$VOOPS"
check "(before) the version that named it serves it (200)" test "$S" = 200
fresh
put "$(body "it['details']['forms'].append({'name': '误发表', 'blank': json.loads('$OREF')})")"
expect_status "(before) and the department names it again (200)" 200
req POST "/v1/item-files/$OSHA:withdraw" "$GA" '{"reason":"a draft form published by mistake"}'
expect_status "a department administrator cannot withdraw (403)" 403
req POST "/v1/item-files/$OSHA:withdraw" "$PA" '{"reason":""}'
expect_status "a withdrawal needs a reason (400)" 400
req POST "/v1/item-files/$OSHA:withdraw" "$PA" '{"reason":"a draft form published by mistake"}'
expect_status "a platform administrator withdraws it (200)" 200
check "the answer says one item still names it" holds "d['sha256'] == '$OSHA' and d['itemsNaming'] == 1 and d['withdrawnAt']"
AT="$(field "d['withdrawnAt']")"
check "audited as item_file_withdraw with the reason" test "$(sql "SELECT count(*) FROM catalog.audit_log WHERE action = 'item_file_withdraw' AND target = '$OSHA' AND detail = 'a draft form published by mistake'")" = 1
for v in "" "?version=$VOOPS" "?version=$(version)"; do
  get "$GW/v1/items/$ITEM/files/$OSHA$v"
  expect_status "the withdrawn file is 404 through the item${v:- (version in effect)}" 404
done
req POST "/v1/item-files/$OSHA:withdraw" "$PA" '{"reason":"again"}'
check "withdrawing again answers the first withdrawal" test "$S" = 200 -a "$(field "d['withdrawnAt'] + d['reason']")" = "${AT}a draft form published by mistake"
check "and audits once" test "$(sql "SELECT count(*) FROM catalog.audit_log WHERE action = 'item_file_withdraw' AND target = '$OSHA'")" = 1
fresh
V4="$(version)"
put "$(body "it['conditions'] += '（再次说明）'")"
expect_status "a write that keeps naming the withdrawn file is 400" 400
check "naming it, FILE_WITHDRAWN" holds "d['fieldViolations'][0]['reason'] == 'FILE_WITHDRAWN'"
put "$(body "it['details']['forms'] = [f for f in it['details']['forms'] if f.get('blank', {}).get('sha256') != '$OSHA']")"
expect_status "a write without it is 200" 200
check "one version was written" test "$(version)" = "$((V4 + 1))"
upload "$E2E_TMP/oops.pdf"
expect_status "the withdrawn file cannot be uploaded again (400)" 400

# --- 11. a version kept before its files were recorded is read from its body
sql "DELETE FROM catalog.item_version_files WHERE item_id = (SELECT id FROM catalog.items WHERE impl_code = '$ITEM') AND version = $VSEED"
download "$GW/v1/items/$ITEM/files/$BLANK?version=$VSEED"
check "?version=$VSEED with no recorded file set still serves its blank form" test "$S" = 200 -a "$(sha "$F")" = "$BLANK"
get "$GW/v1/items/$ITEM/files/$NEW?version=$VSEED"
expect_status "and not a file that version does not name" 404

# --- 12. a retired item's guide answers, and so do its files
RET="$(sql "SELECT impl_code FROM catalog.items WHERE status = 'retired' AND details->'forms'->0->'blank' IS NOT NULL ORDER BY impl_code LIMIT 1")"
e2e_item_files "$GA" "$RET" >/dev/null
RSHA="$(sql "SELECT details->'forms'->0->'blank'->>'sha256' FROM catalog.items WHERE impl_code = '$RET'")"
get "$GW/v1/items/$RET"
check "a retired item's guide answers, marked RETIRED ($RET)" holds "d['status'] == 'RETIRED'"
download "$GW/v1/items/$RET/files/$RSHA"
check "and its blank form downloads (200)" test "$S" = 200 -a "$(sha "$F")" = "$RSHA"

# --- 13. a department's daily quota (E2E_CATALOG_UPLOAD_DAILY_FILES)
USED="$(sql "SELECT count(*) FROM catalog.item_file_uploads WHERE department = '320700-MZ' AND source = 'upload' AND at >= date_trunc('day', now())")"
codes=""
for b in 1 2 3 4 5; do
  for i in 1 2 3 4 5 6 7 8 9 10; do
    printf '%%PDF-1.4\n%% quota %s %s %s\n%%%%EOF\n' "$$" "$b" "$i" >"$E2E_TMP/q$b.$i.pdf"
  done
  upload_as "$MZ" "$E2E_TMP"/q$b.{1,2,3,4,5,6,7,8,9,10}.pdf
  codes="$codes $S"
  [ "$S" = 200 ] || break
done
NOW="$(sql "SELECT count(*) FROM catalog.item_file_uploads WHERE department = '320700-MZ' AND source = 'upload' AND at >= date_trunc('day', now())")"
check "320700-MZ's upload past its quota of $E2E_CATALOG_UPLOAD_DAILY_FILES files a day is 429 (had $USED, then$codes)" \
  test "$S" = 429
check "every upload that fitted was taken, none past it ($NOW recorded)" \
  test "$NOW" -le "$E2E_CATALOG_UPLOAD_DAILY_FILES" -a "$((NOW + 10))" -gt "$E2E_CATALOG_UPLOAD_DAILY_FILES"
check "the refusal says RESOURCE_EXHAUSTED" holds "d['code'] == 'RESOURCE_EXHAUSTED'"
upload "$E2E_TMP/q1.1.pdf"
expect_status "320700-GA's own quota is not 320700-MZ's (200)" 200

finish
