/*
 * licenses.c - electronic licenses (电子证照): yiwang.applications.v1.LicensesService and
 * the pieces of filing and completion that concern licenses.
 *
 *   licenses_file       at filing: the item's license result kept on the application; the
 *                       materials replaced by the applicant's licenses recorded
 *   licenses_issue      at completion: number, content, SM2 seal, the holder's name as
 *                       yw-identity gave it (encrypted, outside the content),
 *                       license.issued and the holder's feed.entry, in the completion's
 *                       transaction
 *   ListMyLicenses      the holder's, newest first, keyset paged
 *   GetLicense          the holder, or staff of the issuing department; NOT_FOUND to others
 *   VerifyLicense       public: by number and the code printed on the license
 *   VerifyLicenseContent  public: by the content and signature as presented
 *   GetSealPublicKey    public: the public key (PEM) of a department's seal, to verify
 *                       offline
 *   RevokeLicense       the issuing department's administrators, audited, license.revoked
 *
 * A license's content is its canonical JSON (licenses.proto documents it field by
 * field), built once at issuance and kept byte for byte with its signature: a
 * verification compares the presented bytes with the kept ones after checking the
 * signature, so a copy changed in any byte is NOT_GENUINE. Verification answers say what
 * the license itself shows (number, type, name, issuer, validity, status), never who
 * holds it.
 *
 * Seals: a department's own key (YW_APPLICATIONS_SEAL_KEYS/<department>.key) signs its
 * licenses, the deployment's (YW_APPLICATIONS_SEAL_KEY) those of the others; the issuer
 * inside the content says which seal verifies it.
 *
 * Offers: licenses_service_init, licenses_check_request, licenses_file,
 * licenses_load_materials, licenses_issue, licenses_can_seal, licenses_seals_load,
 * licenses_seals_free.
 */
#include "licenses.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yiwang/applications/v1/licenses.pb-c.h"
#include "yiwang/events/v1/feed.pb-c.h"
#include "yiwang/events/v1/licenses.pb-c.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_seal.h"
#include "yw_service.h"

#define DB "the applications database"
#define SCHEMA "applications"
#define NUMBER_LEN 26
#define CODE_LEN 16
#define MATERIALS_MAX 32
#define MATERIAL_NAME_MAX 200
#define CONTENT_MAX 4096
#define REASON_MAX 500
#define PAGE_DEFAULT 20
#define PAGE_MAX 100
#define LICENSE_RESULT "证照"
#define FORMAT "yiwang.license.v1"

typedef Yiwang__Applications__V1__License License;
typedef Yiwang__Applications__V1__LicenseVerification Verification;
#define LS(x) YIWANG__APPLICATIONS__V1__LICENSE_STATUS__LICENSE_##x

/* ---- forms of values --------------------------------------------------------------- */

/* A license number: 6 digits (region), 10 capitals or digits (type), 10 digits (year
 * and sequence). */
static int valid_license_number(const char *s) {
  if (strlen(s) != NUMBER_LEN) return 0;
  for (int i = 0; i < NUMBER_LEN; i++) {
    unsigned char c = (unsigned char)s[i];
    int ok = (i >= 6 && i < 16) ? (isdigit(c) || (c >= 'A' && c <= 'Z')) : isdigit(c);
    if (!ok) return 0;
  }
  return 1;
}

/* A license type: the item's basic code, 10 capitals or digits. */
static int valid_type(const char *s) {
  if (strlen(s) != 10) return 0;
  for (int i = 0; i < 10; i++)
    if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'A' && s[i] <= 'Z')) return 0;
  return 1;
}

/* The code printed on a license: 16 hex of HMAC-SHA256(lookup key, "license:<number>"). */
static void verify_code(const applications_ctx *ctx, const char *number, char out[CODE_LEN + 1]) {
  char in[64], mac[65];
  snprintf(in, sizeof in, "license:%s", number);
  yw_hmac_hex(ctx->lookup_key, in, strlen(in), mac);
  memcpy(out, mac, CODE_LEN);
  out[CODE_LEN] = '\0';
}

/* ---- seals -------------------------------------------------------------------------- */

#define SEALS_MAX 256

/* The seal of department dept: its own, else the deployment's; NULL: none. */
static const yw_seal *seal_of(const applications_ctx *ctx, const char *dept) {
  for (size_t i = 0; i < ctx->n_dept_seals; i++)
    if (strcmp(ctx->dept_seals[i].department, dept) == 0) return ctx->dept_seals[i].seal;
  return ctx->seal;
}

/* A seal from the PEM file at path into *out. Returns 0 or -1 with why. */
int licenses_can_seal(const applications_ctx *ctx, const char *dept) {
  return seal_of(ctx, dept) != NULL;
}

static int seal_file(const char *path, yw_seal **out, char *why, size_t whylen) {
  enum { PEM_MAX = 16 * 1024 };
  FILE *f = fopen(path, "rb");
  char *pem = f != NULL ? malloc(PEM_MAX + 1) : NULL;
  size_t len = pem != NULL ? fread(pem, 1, PEM_MAX + 1, f) : 0;
  int rc = pem == NULL || ferror(f) || len > PEM_MAX ? YW_EIO : yw_seal_from_pem(pem, len, out);
  if (f != NULL) fclose(f);
  free(pem);
  /* it must sign: a public key alone is refused here, not at the first completion */
  char sig[YW_SEAL_SIG_MAX];
  if (rc == 0 && yw_seal_sign(*out, "x", 1, sig, sizeof sig) != 0) {
    yw_seal_free(*out);
    rc = YW_EINVAL;
  }
  if (rc != 0) {
    *out = NULL;
    snprintf(why, whylen, "%s: not a readable SM2 private key (PEM)", path);
    return -1;
  }
  return 0;
}

void licenses_seals_free(applications_ctx *ctx) {
  for (size_t i = 0; i < ctx->n_dept_seals; i++) yw_seal_free(ctx->dept_seals[i].seal);
  free((void *)ctx->dept_seals);
  yw_seal_free((yw_seal *)ctx->seal);
  ctx->dept_seals = NULL;
  ctx->n_dept_seals = 0;
  ctx->seal = NULL;
}

int licenses_seals_load(applications_ctx *ctx, const char *key_path, const char *dir, char *why,
                        size_t whylen) {
  yw_seal *s = NULL;
  ctx->seal = NULL;
  ctx->dept_seals = NULL;
  ctx->n_dept_seals = 0;
  if (key_path[0] != '\0') {
    if (seal_file(key_path, &s, why, whylen) != 0) return -1;
    ctx->seal = s;
  }
  if (dir[0] == '\0') return 0;
  DIR *d = opendir(dir);
  struct applications_dept_seal *seals = calloc(SEALS_MAX, sizeof *seals);
  size_t n = 0;
  int rc = d != NULL && seals != NULL ? 0 : -1;
  if (rc != 0) snprintf(why, whylen, "YW_APPLICATIONS_SEAL_KEYS %s cannot be read", dir);
  for (struct dirent *e = rc == 0 ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
    size_t len = strlen(e->d_name);
    if (len <= 4 || strcmp(e->d_name + len - 4, ".key") != 0) continue;
    int ok = len - 4 < sizeof seals[0].department;
    for (size_t i = 0; ok && i < len - 4; i++)
      ok = isalnum((unsigned char)e->d_name[i]) || e->d_name[i] == '-' || e->d_name[i] == '_' ||
           e->d_name[i] == '.';
    if (!ok || n == SEALS_MAX) {
      snprintf(why, whylen, "YW_APPLICATIONS_SEAL_KEYS: %.100s is not <department code>.key, or "
               "more than %d keys", e->d_name, SEALS_MAX);
      rc = -1;
      break;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if ((rc = seal_file(path, &seals[n].seal, why, whylen)) != 0) break;
    memcpy(seals[n].department, e->d_name, len - 4);
    seals[n].department[len - 4] = '\0';
    n++;
  }
  if (d != NULL) closedir(d);
  ctx->dept_seals = seals;
  ctx->n_dept_seals = n;
  if (rc != 0) licenses_seals_free(ctx);
  return rc;
}

/* ---- licenses from rows ------------------------------------------------------------ */

#define LTS(col) \
  "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

/* Where a license stands now: revoked, expired (past its last day in Asia/Shanghai) or
 * valid. */
#define LICENSE_STATE                                                                   \
  "CASE WHEN l.revoked_at IS NOT NULL THEN 'revoked'"                                   \
  " WHEN l.valid_until < (now() AT TIME ZONE 'Asia/Shanghai')::date THEN 'expired'"     \
  " ELSE 'valid' END"

#define LICENSE_COLS                                                                       \
  "l.number, l.type, l.name, l.holder_subject, l.holder_kind, l.holder_org, l.issuer, "    \
  LTS("l.issued_at") ", to_char(l.valid_from, 'YYYY-MM-DD'),"                              \
  " to_char(l.valid_until, 'YYYY-MM-DD'), l.application_number, l.content, l.signature, "  \
  LICENSE_STATE ", COALESCE(" LTS("l.revoked_at") ", ''), COALESCE(l.revoke_reason, ''), l.id," \
  " COALESCE(l.holder_name_enc, '')"

enum { L_NUMBER, L_TYPE, L_NAME, L_SUBJECT, L_KIND, L_ORG, L_ISSUER, L_ISSUED, L_FROM, L_UNTIL,
       L_APP, L_CONTENT, L_SIG, L_STATE, L_REVOKED, L_REASON, L_ID, L_HOLDER_NAME };

static Yiwang__Applications__V1__LicenseStatus state_of(const char *s) {
  if (strcmp(s, "revoked") == 0) return LS(REVOKED);
  if (strcmp(s, "expired") == 0) return LS(EXPIRED);
  return LS(VALID);
}

/* The license of row (LICENSE_COLS), with its verify code. NULL on ENOMEM. */
static License *license_from_row(yw_rpc_call *call, const applications_ctx *ctx,
                                 const PGresult *r, int row) {
  yw_arena *a = yw_rpc_call_arena(call);
  License *l = yw_arena_alloc(a, sizeof *l);
  char *code = yw_arena_alloc(a, CODE_LEN + 1);
  if (l == NULL || code == NULL) return NULL;
  yiwang__applications__v1__license__init(l);
  char **f[] = {&l->number,    &l->type,      &l->name,        &l->holder_subject,
                &l->holder_kind, &l->holder_org, &l->issuer,   &l->issued_at,
                &l->valid_from,  &l->valid_until, &l->application_number, &l->content,
                &l->signature};
  for (int i = 0; i < (int)(sizeof f / sizeof f[0]); i++)
    if ((*f[i] = yw_col_str(a, r, row, i)) == NULL) return NULL;
  l->status = state_of(PQgetvalue(r, row, L_STATE));
  l->revoked_at = yw_col_str(a, r, row, L_REVOKED);
  l->revoke_reason = yw_col_str(a, r, row, L_REASON);
  verify_code(ctx, l->number, code);
  l->verify_code = code;
  /* the holder's name, kept encrypted with the license's number as associated data ("":
   * issued without one; one that does not decrypt is left out) */
  const char *enc = PQgetvalue(r, row, L_HOLDER_NAME);
  size_t size = strlen(enc) / 2 + 1;
  char *name = yw_arena_alloc(a, size);
  if (name == NULL) return NULL;
  name[0] = '\0';
  if (enc[0] != '\0' && yw_decrypt(ctx->data_key, enc, l->number, name, size) != 0) name[0] = '\0';
  l->holder_name = name;
  return l->revoked_at != NULL && l->revoke_reason != NULL ? l : NULL;
}

/* What a verification may tell of the license of row (LICENSE_COLS): never its holder. */
static Verification *verification_from_row(yw_arena *a, const PGresult *r, int row) {
  Verification *v = yw_arena_alloc(a, sizeof *v);
  if (v == NULL) return NULL;
  yiwang__applications__v1__license_verification__init(v);
  v->status = state_of(PQgetvalue(r, row, L_STATE));
  v->number = yw_col_str(a, r, row, L_NUMBER);
  v->type = yw_col_str(a, r, row, L_TYPE);
  v->name = yw_col_str(a, r, row, L_NAME);
  v->issuer = yw_col_str(a, r, row, L_ISSUER);
  v->valid_from = yw_col_str(a, r, row, L_FROM);
  v->valid_until = yw_col_str(a, r, row, L_UNTIL);
  v->revoked_at = yw_col_str(a, r, row, L_REVOKED);
  if (v->number == NULL || v->type == NULL || v->name == NULL || v->issuer == NULL ||
      v->valid_from == NULL || v->valid_until == NULL || v->revoked_at == NULL)
    return NULL;
  return v;
}

/* ---- filing -------------------------------------------------------------------------- */

int licenses_check_request(yw_rpc_call *call,
                           const Yiwang__Applications__V1__SubmitApplicationRequest *req) {
  if (req->n_material_licenses > MATERIALS_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "materialLicenses: at most %d", MATERIALS_MAX);
  for (size_t i = 0; i < req->n_material_licenses; i++) {
    const Yiwang__Applications__V1__MaterialLicense *m = req->material_licenses[i];
    size_t n = strlen(m->material);
    if (n == 0 || n > MATERIAL_NAME_MAX)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "materialLicenses[%zu].material: must be 1 to %d bytes", i,
                              MATERIAL_NAME_MAX);
    if (!valid_license_number(m->license_number))
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "materialLicenses[%zu].licenseNumber: not a license number "
                              "(26 characters)", i);
    for (size_t j = 0; j < i; j++)
      if (strcmp(req->material_licenses[j]->material, m->material) == 0)
        return yw_rpc_call_fail(call, YW_EINVAL, "materialLicenses[%zu].material: given twice",
                                i);
  }
  return 0;
}

/* The application's snapshot of the item's license result: its first result of type 证照
 * (none: nothing to keep). */
static int keep_license_result(PGconn *conn, const char *app_id,
                               const Yiwang__Catalog__V1__Item *item, yw_pg_error *err) {
  const Yiwang__Catalog__V1__ApprovalResult *res = NULL;
  size_t nr = item->details != NULL ? item->details->n_results : 0;
  for (size_t i = 0; i < nr && res == NULL; i++)
    if (strcmp(item->details->results[i]->type, LICENSE_RESULT) == 0) res = item->details->results[i];
  /* a result the service could not number or name within bounds issues nothing */
  if (res == NULL || !valid_type(item->basic_code) || res->name[0] == '\0' ||
      strlen(res->name) > 200)
    return 0;
  const char *p[] = {app_id, item->basic_code, res->name};
  return yw_pg_query(conn,
                     "UPDATE applications.applications SET license_type = $2, license_name = $3"
                     " WHERE id = $1::bigint",
                     3, p, NULL, err);
}

int licenses_file(yw_rpc_call *call, PGconn *conn, const char *app_id, const char *subject,
                  const Yiwang__Catalog__V1__Item *item,
                  const Yiwang__Applications__V1__SubmitApplicationRequest *req, yw_pg_error *err) {
  int rc = keep_license_result(conn, app_id, item, err);
  if (rc != 0) return rc;
  size_t nm = item->n_materials;
  for (size_t i = 0; i < req->n_material_licenses; i++) {
    const Yiwang__Applications__V1__MaterialLicense *m = req->material_licenses[i];
    size_t seq = 0;
    for (size_t j = 0; j < nm && seq == 0; j++)
      if (strcmp(item->materials[j]->name, m->material) == 0) seq = j + 1;
    if (seq == 0)
      return yw_rpc_call_fail(call, YW_EINVAL, "materialLicenses[%zu].material: item %s lists no such material",
                              i, item->impl_code);
    if (!item->materials[seq - 1]->license_replaceable)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "materialLicenses[%zu].material: item %s does not take a license for it",
                              i, item->impl_code);
    /* held by the applicant as this application names it: a person's license for a
     * person's application, a company's (whoever filed for it) for that company's */
    const char *pl[] = {m->license_number, subject, app_id};
    PGresult *r = NULL;
    rc = yw_pg_query(conn,
                     "SELECT " LICENSE_STATE " FROM applications.licenses l"
                     " JOIN applications.applications a ON a.id = $3::bigint"
                     " WHERE l.number = $1 AND l.holder_kind = a.applicant_kind"
                     " AND CASE a.applicant_kind WHEN 'company' THEN l.holder_org = a.applicant_org"
                     "   ELSE l.holder_subject = $2 END"
                     " FOR SHARE OF l",
                     3, pl, &r, err);
    if (rc != 0) return rc;
    const char *state = PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
    int valid = strcmp(state, "valid") == 0;
    char why[32];
    snprintf(why, sizeof why, "%s", state[0] != '\0' ? state : "none");
    PQclear(r);
    if (!valid)
      return yw_rpc_call_fail(call, YW_EINVAL, "materialLicenses[%zu].licenseNumber: %s",
                              i,
                              strcmp(why, "revoked") == 0   ? "the license is revoked"
                              : strcmp(why, "expired") == 0 ? "the license has expired"
                                                            : "the applicant holds no such license");
    char sq[24];
    snprintf(sq, sizeof sq, "%zu", seq);
    const char *pm[] = {app_id, sq, m->material, m->license_number};
    rc = yw_pg_query(conn,
                     "INSERT INTO applications.application_materials (application_id, seq, name,"
                     " source, license_number) VALUES ($1::bigint, $2::int, $3, 'license', $4)",
                     4, pm, NULL, err);
    if (rc != 0) return rc;
  }
  return 0;
}

int licenses_load_materials(yw_rpc_call *call, PGconn *conn, const char *app_id,
                            Yiwang__Applications__V1__Application *app, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {app_id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT seq, name, upper(source), COALESCE(license_number, '')"
                       " FROM applications.application_materials WHERE application_id = $1::bigint"
                       " ORDER BY seq",
                       1, p, &r, err);
  if (rc != 0) return rc;
  int rows = PQntuples(r);
  app->n_materials = 0;
  app->materials = yw_arena_calloc(a, (size_t)rows + 1, sizeof *app->materials);
  for (int i = 0; app->materials != NULL && i < rows; i++) {
    Yiwang__Applications__V1__ApplicationMaterial *m = yw_arena_alloc(a, sizeof *m);
    if (m == NULL) break;
    yiwang__applications__v1__application_material__init(m);
    m->seq = (int32_t)yw_col_ll(r, i, 0);
    m->name = yw_col_str(a, r, i, 1);
    m->source = yw_col_str(a, r, i, 2);
    m->license_number = yw_col_str(a, r, i, 3);
    if (m->name == NULL || m->source == NULL || m->license_number == NULL) break;
    app->materials[app->n_materials++] = m;
  }
  PQclear(r);
  return (int)app->n_materials == rows ? 0 : YW_ENOMEM;
}

/* ---- issuance ------------------------------------------------------------------------ */

/* The canonical content of a license (licenses.proto), allocated (free it). NULL on
 * ENOMEM. */
static char *license_content(const char *const v[11]) {
  enum { NUM, TYPE, NAME, SUBJ, KIND, ORG, ISSUER, ISSUED, FROM, UNTIL, APP };
  json_t *holder = json_pack("{s:s, s:s, s:s}", "kind", v[KIND], "org", v[ORG], "subject", v[SUBJ]);
  json_t *o = holder == NULL ? NULL
              : json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                          "applicationNumber", v[APP], "format", FORMAT, "holder", holder,
                          "issuedAt", v[ISSUED], "issuer", v[ISSUER], "name", v[NAME],
                          "number", v[NUM], "type", v[TYPE], "validFrom", v[FROM],
                          "validUntil", v[UNTIL]);
  char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(o);
  char *canon = NULL;
  if (text != NULL && yw_seal_canonical_json(text, strlen(text), &canon) != 0) canon = NULL;
  free(text);
  return canon;
}

/* license.issued or license.revoked of the license of row (LICENSE_COLS). */
static int append_license_event(PGconn *conn, const char *type, const PGresult *r,
                                const char *reason, yw_pg_error *err) {
  Yiwang__Events__V1__LicenseIssued ev = YIWANG__EVENTS__V1__LICENSE_ISSUED__INIT;
  ev.number = PQgetvalue(r, 0, L_NUMBER);
  ev.type = PQgetvalue(r, 0, L_TYPE);
  ev.name = PQgetvalue(r, 0, L_NAME);
  ev.holder_subject = PQgetvalue(r, 0, L_SUBJECT);
  ev.holder_kind = PQgetvalue(r, 0, L_KIND);
  ev.issuer = PQgetvalue(r, 0, L_ISSUER);
  ev.application_number = PQgetvalue(r, 0, L_APP);
  ev.valid_from = PQgetvalue(r, 0, L_FROM);
  ev.valid_until = PQgetvalue(r, 0, L_UNTIL);
  ev.reason = (char *)reason;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  ev.occurred_at_unix_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  return yw_events_append(conn, SCHEMA, type, 1, ev.application_number, &ev.base, NULL, err);
}

int licenses_issue(yw_rpc_call *call, PGconn *conn, applications_ctx *ctx, const char *app_id,
                   const char *holder_name, yw_pg_error *err) {
  const char *pa[] = {app_id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT number, license_type, license_name, region_code, lead_department,"
                       " applicant_subject, applicant_kind, applicant_org"
                       " FROM applications.applications WHERE id = $1::bigint AND license_name <> ''",
                       1, pa, &r, err);
  if (rc != 0) return rc;
  const yw_seal *seal = PQntuples(r) == 1 ? seal_of(ctx, PQgetvalue(r, 0, 4)) : NULL;
  if (seal == NULL) { /* the item issues none, or its department has no seal */
    PQclear(r);
    return 0;
  }
  char app_number[24], type[12], name[208], region[8], issuer[72], subject[72], kind[16],
      org[40];
  snprintf(app_number, sizeof app_number, "%s", PQgetvalue(r, 0, 0));
  snprintf(type, sizeof type, "%s", PQgetvalue(r, 0, 1));
  snprintf(name, sizeof name, "%s", PQgetvalue(r, 0, 2));
  snprintf(region, sizeof region, "%s", PQgetvalue(r, 0, 3));
  snprintf(issuer, sizeof issuer, "%s", PQgetvalue(r, 0, 4));
  snprintf(subject, sizeof subject, "%s", PQgetvalue(r, 0, 5));
  snprintf(kind, sizeof kind, "%s", PQgetvalue(r, 0, 6));
  snprintf(org, sizeof org, "%s", PQgetvalue(r, 0, 7));
  PQclear(r);

  /* the next number of the region, type and year; the row stays locked until the commit */
  const char *ps[] = {region, type};
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.license_sequences AS s (region, type, year, last)"
                   " VALUES ($1, $2, to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY'), 1)"
                   " ON CONFLICT (region, type, year) DO UPDATE SET last = s.last + 1"
                   " RETURNING s.region || s.type || s.year || lpad(s.last::text, 6, '0'),"
                   " to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'),"
                   " to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),"
                   " to_char(((now() AT TIME ZONE 'Asia/Shanghai')::date + make_interval(years =>"
                   "   COALESCE((SELECT v.years FROM applications.license_validity v"
                   "   WHERE v.license_type = $2), 5)) - interval '1 day')::date, 'YYYY-MM-DD')",
                   2, ps, &r, err);
  if (rc != 0) return rc;
  char number[32], issued[32], from[16], until[16];
  snprintf(number, sizeof number, "%s", PQgetvalue(r, 0, 0));
  snprintf(issued, sizeof issued, "%s", PQgetvalue(r, 0, 1));
  snprintf(from, sizeof from, "%s", PQgetvalue(r, 0, 2));
  snprintf(until, sizeof until, "%s", PQgetvalue(r, 0, 3));
  PQclear(r);
  if (!valid_license_number(number))
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the license numbers of %s %s are used up this year",
                            region, type);

  const char *v[11] = {number, type, name, subject, kind, org, issuer, issued, from, until,
                       app_number};
  char *content = license_content(v);
  char sig[YW_SEAL_SIG_MAX];
  if (content == NULL) return YW_ENOMEM;
  if (yw_seal_sign(seal, content, strlen(content), sig, sizeof sig) != 0) {
    free(content);
    return yw_rpc_call_fail(call, YW_EINTERNAL, "license %s could not be sealed", number);
  }
  /* the holder's name encrypted, the license's number as associated data */
  char holder_enc[2 * (12 + 256 + 16) + 1] = "";
  if (holder_name != NULL && holder_name[0] != '\0' &&
      (strlen(holder_name) > 256 || yw_encrypt(ctx->data_key, holder_name, strlen(holder_name),
                                               number, holder_enc, sizeof holder_enc) != 0)) {
    free(content);
    return yw_rpc_call_fail(call, YW_EINTERNAL, "the holder of license %s cannot be kept", number);
  }
  const char *pi[] = {number, type, name, subject, kind, org, issuer, issued, from, until,
                      app_number, content, sig, holder_enc};
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.licenses AS l (number, type, name, holder_subject,"
                   " holder_kind, holder_org, issuer, issued_at, valid_from, valid_until,"
                   " application_number, content, signature, holder_name_enc) VALUES ($1, $2,"
                   " $3, $4, $5, $6, $7, $8::timestamptz, $9::date, $10::date, $11, $12, $13,"
                   " NULLIF($14, '')) RETURNING " LICENSE_COLS,
                   14, pi, &r, err);
  free(content);
  if (rc != 0) return rc;
  rc = append_license_event(conn, "license.issued", r, "", err);
  PQclear(r);
  if (rc != 0) return rc;
  /* the holder hears of it in their feed (a company in the company's) */
  char to_whom[80];
  yw_feed_recipient(kind, subject, org, to_whom, sizeof to_whom);
  char title[256], body[128], link[64];
  snprintf(title, sizeof title, "电子证照已签发：%s", name);
  snprintf(body, sizeof body, "证照编号 %s，有效期至 %s", number, until);
  snprintf(link, sizeof link, "licenses/%s", number);
  Yiwang__Events__V1__FeedEntryAdded fe = YIWANG__EVENTS__V1__FEED_ENTRY_ADDED__INIT;
  fe.subject = to_whom;
  fe.type = "license.issued";
  fe.title = title;
  fe.body = body;
  fe.link = link;
  return yw_events_append(conn, SCHEMA, "feed.entry", 1, to_whom, &fe.base, NULL, err);
}

/* ---- reads ----------------------------------------------------------------------------- */

static int list_my_licenses(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                            void *data) {
  const Yiwang__Applications__V1__ListMyLicensesRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  /* acting for a company: the company's licenses; else the person's own */
  const char *kind = NULL, *key = NULL;
  rc = yw_service_applicant_key(call, &caller, &kind, &key);
  if (rc != 0) return rc;
  const char *filters[] = {kind, key};
  yw_page page;
  rc = yw_page_begin_id(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters,
                        2, &page);
  if (rc != 0) return rc;
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {kind, key, page.has_cursor ? page.cursor : NULL, limit};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " LICENSE_COLS " FROM applications.licenses l"
                        " WHERE " YW_APPLICANT_SQL("l.holder", "$1", "$2")
                        " AND ($3::bigint IS NULL OR l.id < $3::bigint)"
                        " ORDER BY l.id DESC LIMIT $4::int",
                        4, p, &r);
  if (rc != 0) return rc;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Applications__V1__ListLicensesResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int rows = PQntuples(r), n = rows > page.size ? page.size : rows;
  if (resp != NULL) {
    yiwang__applications__v1__list_licenses_response__init(resp);
    resp->licenses = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->licenses);
  }
  for (int i = 0; resp != NULL && resp->licenses != NULL && i < n; i++) {
    License *l = license_from_row(call, ctx, r, i);
    if (l == NULL) break;
    resp->licenses[resp->n_licenses++] = l;
  }
  if (resp != NULL && rows > page.size)
    resp->next_page_token = yw_page_token(a, &page, PQgetvalue(r, n - 1, L_ID));
  PQclear(r);
  if (resp == NULL || (int)resp->n_licenses != n || resp->next_page_token == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

/* The license number (LICENSE_COLS) into *out; NULL when there is none. */
static int query_license(yw_rpc_call *call, applications_ctx *ctx, const char *number,
                         PGresult **out) {
  const char *p[] = {number};
  return yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                          "SELECT " LICENSE_COLS " FROM applications.licenses l WHERE l.number = $1",
                          1, p, out);
}

static int get_license(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  const Yiwang__Applications__V1__GetLicenseRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_caller(call, &ctx->caller_keys, &caller);
  if (rc != 0) return rc;
  if (caller.kind == YW_CALLER_ANONYMOUS)
    return yw_rpc_call_fail(call, YW_EUNAUTH, "reading a license needs a signed-in caller");
  if (!valid_license_number(req->number))
    return yw_rpc_call_fail(call, YW_EINVAL, "number is not a license number (26 characters)");
  PGresult *r = NULL;
  if ((rc = query_license(call, ctx, req->number, &r)) != 0) return rc;
  if (PQntuples(r) == 1 && caller.kind == YW_CALLER_PERSON) {
    /* a company's license: a person acting for the company with the scope read */
    rc = yw_service_require_applicant(call, &caller, PQgetvalue(r, 0, L_KIND),
                                      PQgetvalue(r, 0, L_SUBJECT), PQgetvalue(r, 0, L_ORG), "read",
                                      "license", req->number);
    if (rc != 0) {
      PQclear(r);
      return rc;
    }
  }
  int may = PQntuples(r) == 1 &&
            (caller.kind == YW_CALLER_PERSON ||
             (caller.kind == YW_CALLER_STAFF &&
              yw_service_has_any_role(&caller, "dept_staff,dept_admin") &&
              strcmp(PQgetvalue(r, 0, L_ISSUER), caller.department) == 0));
  License *l = may ? license_from_row(call, ctx, r, 0) : NULL;
  PQclear(r);
  if (!may) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no license %s", req->number);
  if (l == NULL) return YW_ENOMEM;
  *out = &l->base;
  return 0;
}

/* ---- verification ------------------------------------------------------------------------ */

static int verify_license(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  const Yiwang__Applications__V1__VerifyLicenseRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  if (!valid_license_number(req->number))
    return yw_rpc_call_fail(call, YW_EINVAL, "number is not a license number (26 characters)");
  if (strlen(req->code) != CODE_LEN)
    return yw_rpc_call_fail(call, YW_EINVAL, "code must be the %d characters printed on the license",
                            CODE_LEN);
  char want[CODE_LEN + 1];
  verify_code(ctx, req->number, want);
  char got[CODE_LEN + 1];
  for (int i = 0; i <= CODE_LEN; i++) got[i] = (char)tolower((unsigned char)req->code[i]);
  /* a wrong code and an unknown number answer alike */
  if (!yw_secure_equal(want, got))
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no license %s with that code", req->number);
  PGresult *r = NULL;
  int rc = query_license(call, ctx, req->number, &r);
  if (rc != 0) return rc;
  Verification *v = PQntuples(r) == 1 ? verification_from_row(yw_rpc_call_arena(call), r, 0) : NULL;
  int found = PQntuples(r) == 1;
  PQclear(r);
  if (!found) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no license %s with that code", req->number);
  if (v == NULL) return YW_ENOMEM;
  *out = &v->base;
  return 0;
}

static int verify_license_content(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                  ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__VerifyLicenseContentRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  size_t n = strlen(req->content);
  if (n == 0 || n > CONTENT_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "content must be 1 to %d bytes", CONTENT_MAX);
  if (req->signature[0] == '\0' || strlen(req->signature) >= YW_SEAL_SIG_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "signature must be 1 to %d bytes of base64",
                            YW_SEAL_SIG_MAX - 1);
  if (ctx->seal == NULL && ctx->n_dept_seals == 0)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "no seal is configured to verify with");
  Verification *v = yw_arena_alloc(a, sizeof *v);
  if (v == NULL) return YW_ENOMEM;
  yiwang__applications__v1__license_verification__init(v);
  v->status = LS(NOT_GENUINE);
  *out = &v->base;
  /* the issuer's seal must verify it ... */
  json_t *o = json_loadb(req->content, n, 0, NULL);
  const char *number = json_string_value(json_object_get(o, "number"));
  const char *issuer = json_string_value(json_object_get(o, "issuer"));
  char num[NUMBER_LEN + 1] = "";
  const yw_seal *seal = issuer != NULL ? seal_of(ctx, issuer) : NULL;
  if (number != NULL && valid_license_number(number)) snprintf(num, sizeof num, "%s", number);
  int sealed = seal != NULL && yw_seal_verify(seal, req->content, n, req->signature) == 0;
  json_decref(o);
  if (!sealed || num[0] == '\0') return 0;
  /* ... and it must still be, byte for byte, the content kept for its number */
  PGresult *r = NULL;
  int rc = query_license(call, ctx, num, &r);
  if (rc != 0) return rc;
  if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, L_CONTENT), req->content) == 0) {
    Verification *got = verification_from_row(a, r, 0);
    if (got == NULL) {
      PQclear(r);
      return YW_ENOMEM;
    }
    *out = &got->base;
  }
  PQclear(r);
  return 0;
}

static int get_seal_public_key(yw_rpc_call *call, const ProtobufCMessage *reqm,
                               ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__GetSealPublicKeyRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  if (strlen(req->department) > 64)
    return yw_rpc_call_fail(call, YW_EINVAL, "department is longer than 64 bytes");
  const yw_seal *seal = req->department[0] != '\0' ? seal_of(ctx, req->department) : ctx->seal;
  if (seal == NULL)
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no seal is configured%s%s",
                            req->department[0] != '\0' ? " for department " : "", req->department);
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Applications__V1__SealPublicKey *k = yw_arena_alloc(a, sizeof *k);
  char *pem = NULL;
  if (k == NULL || yw_seal_public_pem(seal, &pem) != 0) return YW_ENOMEM;
  yiwang__applications__v1__seal_public_key__init(k);
  k->department = seal != ctx->seal ? req->department : "";
  k->pem = yw_arena_strndup(a, pem, strlen(pem));
  free(pem);
  k->algorithm = "SM2";
  k->digest = "SM3";
  k->distinguishing_id = YW_SEAL_ID;
  if (k->pem == NULL) return YW_ENOMEM;
  *out = &k->base;
  return 0;
}

/* ---- revocation ----------------------------------------------------------------------------- */

struct revoke_work {
  applications_ctx *ctx;
  yw_caller caller;
  const Yiwang__Applications__V1__RevokeLicenseRequest *req;
  License *license;
};

static int revoke_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct revoke_work *w = arg;
  const char *p[] = {w->req->number, w->req->department, w->caller.subject, w->req->reason};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT l.revoked_at IS NOT NULL FROM applications.licenses l"
                       " WHERE l.number = $1 AND l.issuer = $2 FOR UPDATE",
                       2, p, &r, err);
  if (rc != 0) return rc;
  int found = PQntuples(r) == 1, revoked = found && PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (!found)
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "department %s issued no license %s",
                            w->req->department, w->req->number);
  if (revoked)
    return yw_rpc_call_fail(call, YW_EPRECOND, "license %s is already revoked", w->req->number);
  rc = yw_pg_query(conn,
                   "UPDATE applications.licenses AS l SET revoked_at = now(), revoked_by = $3,"
                   " revoke_reason = $4 WHERE l.number = $1 AND l.issuer = $2 RETURNING " LICENSE_COLS,
                   4, p, &r, err);
  if (rc != 0) return rc;
  w->license = license_from_row(call, w->ctx, r, 0);
  rc = w->license != NULL ? append_license_event(conn, "license.revoked", r, w->req->reason, err)
                          : YW_ENOMEM;
  PQclear(r);
  if (rc != 0) return rc;
  const char *pa[] = {w->caller.subject, w->req->department, w->req->number, w->req->reason,
                      yw_rpc_call_request_id(call), w->caller.ip};
  return yw_pg_query(conn,
                     "INSERT INTO applications.license_audit (actor, department, action, target,"
                     " reason, request_id, source_ip) VALUES ($1, $2, 'license_revoke', $3, $4, $5, $6)",
                     6, pa, NULL, err);
}

static int revoke_license(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  const Yiwang__Applications__V1__RevokeLicenseRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  struct revoke_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "dept_admin", "revoking a license",
                                    &w->caller);
  if (rc != 0) return rc;
  if (strcmp(w->caller.department, req->department) != 0)
    return yw_rpc_call_fail(call, YW_EPERM, "revoking a license is for administrators of department %s",
                            req->department);
  if (!valid_license_number(req->number))
    return yw_rpc_call_fail(call, YW_EINVAL, "number is not a license number (26 characters)");
  size_t n = strlen(req->reason);
  if (n == 0 || n > REASON_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "reason is required, at most %d bytes", REASON_MAX);
  w->ctx = ctx;
  w->req = req;
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, revoke_tx, w);
  if (rc != 0) return rc;
  *out = &w->license->base;
  return 0;
}

/* ---- the table -------------------------------------------------------------------------------- */

static const yw_rpc_method methods[] = {
    {.name = "ListMyLicenses", .fn = list_my_licenses},
    {.name = "GetLicense", .fn = get_license},
    {.name = "VerifyLicense", .fn = verify_license},
    {.name = "VerifyLicenseContent", .fn = verify_license_content},
    {.name = "GetSealPublicKey", .fn = get_seal_public_key},
    {.name = "RevokeLicense", .fn = revoke_license},
};

void licenses_service_init(yw_rpc_service *svc, applications_ctx *ctx) {
  svc->descriptor = &yiwang__applications__v1__licenses_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
}
