/*
 * bundles.c - 一件事一次办: life-event bundles of the catalog.
 *
 * A bundle (catalog.bundles, migration 013) names implementation items a resident files
 * together once (catalog.bundle_items, in order). ListBundles answers the published ones
 * of a region with their members; GetBundle one of them with each member's guide as
 * GetItem gives it, which yw-applications files as the bundle's applications. Both also
 * answer the materials more than one member asks for (by name): a resident gives each of
 * them once for all; GetBundle also answers the members' forms merged into one
 * (yw_form_merge), the form a resident fills once. A bundle whose member is not published is not offered (NOT_FOUND for
 * GetBundle, left out of ListBundles): filing it would fail half way.
 *
 * Offers: catalog_list_bundles, catalog_get_bundle.
 */
#include "bundles.h"

#include <stdio.h>
#include <string.h>

#include "yw_err.h"
#include "yw_form.h"
#include "yw_json.h"
#include "yw_service.h"

#define DB "the catalog database"
#define MEMBERS_MAX 10

typedef Yiwang__Catalog__V1__Bundle Bundle;

/* Bundles (one, or those of a region, or all) whose members are all published: a row per
 * member in order, with the bundle's columns and its shared materials */
static const char BUNDLES_SQL[] =
    "SELECT b.code, b.name, b.description, b.region_code, b.audience,"
    "       bi.impl_code, i.name, i.department_code,"
    "       ARRAY(SELECT m.name FROM catalog.bundle_items x"
    "             JOIN catalog.items xi ON xi.impl_code = x.impl_code"
    "             JOIN catalog.item_materials m ON m.item_id = xi.id"
    "             WHERE x.bundle_code = b.code GROUP BY m.name"
    "             HAVING count(DISTINCT x.impl_code) > 1 ORDER BY min(x.seq), m.name)"
    " FROM catalog.bundles b"
    " JOIN catalog.bundle_items bi ON bi.bundle_code = b.code"
    " JOIN catalog.items i ON i.impl_code = bi.impl_code"
    " WHERE b.status = 'published' AND ($1 = '' OR b.code = $1) AND ($2 = '' OR b.region_code = $2)"
    "   AND NOT EXISTS (SELECT 1 FROM catalog.bundle_items y JOIN catalog.items yi"
    "                   ON yi.impl_code = y.impl_code"
    "                   WHERE y.bundle_code = b.code AND yi.status <> 'published')"
    " ORDER BY b.code, bi.seq";

/* Postgres text[] output ({a,"b c"}) to strings in a; NULL on ENOMEM */
static char **text_array(yw_arena *a, const char *v, size_t *n) {
  size_t cap = 1;
  for (const char *p = v; *p != '\0'; p++) cap += *p == ',';
  char **out = yw_arena_calloc(a, cap + 1, sizeof *out);
  *n = 0;
  if (out == NULL || v[0] != '{') return out;
  const char *p = v + 1;
  while (*p != '\0' && *p != '}') {
    char buf[512];
    size_t len = 0;
    if (*p == '"') {
      for (p++; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0') p++;
        if (len + 1 < sizeof buf) buf[len++] = *p;
      }
      if (*p == '"') p++;
    } else {
      for (; *p != '\0' && *p != ',' && *p != '}'; p++)
        if (len + 1 < sizeof buf) buf[len++] = *p;
    }
    out[*n] = yw_arena_strndup(a, buf, len);
    if (out[*n] == NULL) return NULL;
    (*n)++;
    if (*p == ',') p++;
  }
  return out;
}

/* Rows of BUNDLES_SQL to bundles; returns how many, or -1 on ENOMEM */
static int bundles_from_rows(yw_arena *a, const PGresult *r, Bundle ***out) {
  int rows = PQntuples(r), n = 0;
  Bundle **list = yw_arena_calloc(a, (size_t)rows + 1, sizeof *list);
  if (list == NULL) return -1;
  for (int i = 0; i < rows; i++) {
    Bundle *b = n > 0 ? list[n - 1] : NULL;
    if (b == NULL || strcmp(b->code, PQgetvalue(r, i, 0)) != 0) {
      b = yw_arena_alloc(a, sizeof *b);
      if (b == NULL) return -1;
      yiwang__catalog__v1__bundle__init(b);
      b->code = yw_col_str(a, r, i, 0);
      b->name = yw_col_str(a, r, i, 1);
      b->description = yw_col_str(a, r, i, 2);
      b->region_code = yw_col_str(a, r, i, 3);
      b->audience = yw_col_str(a, r, i, 4);
      b->members = yw_arena_calloc(a, MEMBERS_MAX + 1, sizeof *b->members);
      b->shared_materials = text_array(a, PQgetvalue(r, i, 8), &b->n_shared_materials);
      if (b->code == NULL || b->name == NULL || b->description == NULL ||
          b->region_code == NULL || b->audience == NULL || b->members == NULL ||
          b->shared_materials == NULL)
        return -1;
      list[n++] = b;
    }
    if (b->n_members >= MEMBERS_MAX) continue;
    Yiwang__Catalog__V1__BundleMember *m = yw_arena_alloc(a, sizeof *m);
    if (m == NULL) return -1;
    yiwang__catalog__v1__bundle_member__init(m);
    m->impl_code = yw_col_str(a, r, i, 5);
    m->name = yw_col_str(a, r, i, 6);
    m->department_code = yw_col_str(a, r, i, 7);
    if (m->impl_code == NULL || m->name == NULL || m->department_code == NULL) return -1;
    b->members[b->n_members++] = m;
  }
  *out = list;
  return n;
}

static int code_ok(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n > max) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) return 0;
  return 1;
}

int catalog_list_bundles(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                         void *data) {
  const Yiwang__Catalog__V1__ListBundlesRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  size_t rl = strlen(req->region);
  if (rl > 12 || strspn(req->region, "0123456789") != rl)
    return yw_rpc_call_fail(call, YW_EINVAL, "region must be a region code (digits)");
  const char *p[] = {"", req->region};
  PGresult *r = NULL;
  int rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, BUNDLES_SQL, 2, p, &r);
  if (rc != 0) return rc;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Catalog__V1__ListBundlesResponse *resp = yw_arena_alloc(a, sizeof *resp);
  if (resp != NULL) yiwang__catalog__v1__list_bundles_response__init(resp);
  int n = resp != NULL ? bundles_from_rows(a, r, &resp->bundles) : -1;
  PQclear(r);
  if (n < 0) return YW_ENOMEM;
  resp->n_bundles = (size_t)n;
  *out = &resp->base;
  return 0;
}

/* b->form: the forms of b's items merged, titled with b's name, in the arena; left NULL
 * when no item has one or two define a field otherwise. Returns 0 or YW_ENOMEM. */
static int merge_forms(yw_arena *a, Bundle *b) {
  const json_t **defs = yw_arena_calloc(a, b->n_items + 1, sizeof *defs);
  if (defs == NULL) return YW_ENOMEM;
  size_t n = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < b->n_items; i++) {
    if (b->items[i]->form == NULL) continue;
    defs[n] = yw_json_from_message(&b->items[i]->form->base, 0);
    if (defs[n] == NULL) rc = YW_ENOMEM;
    n += defs[n] != NULL;
  }
  json_t *merged = NULL;
  yw_form_error ferr;
  if (rc == 0 && n > 0) rc = yw_form_merge(defs, n, b->name, &merged, &ferr);
  if (rc == YW_EINVAL) rc = 0; /* members that disagree: no merged form */
  for (size_t i = 0; i < n; i++) json_decref((json_t *)defs[i]);
  if (rc == 0 && merged != NULL) {
    ProtobufCMessage *m = NULL;
    yw_json_error jerr;
    rc = yw_json_to_message(&google__protobuf__struct__descriptor, merged, yw_arena_allocator(a),
                            &m, &jerr) == 0
             ? 0
             : YW_ENOMEM;
    b->form = (Google__Protobuf__Struct *)m;
  }
  json_decref(merged);
  return rc;
}

struct get_bundle_work {
  const char *code;
  Bundle *bundle;
};

static int get_bundle_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct get_bundle_work *w = arg;
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {w->code, ""};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, BUNDLES_SQL, 2, p, &r, err);
  if (rc != 0) return rc;
  Bundle **list = NULL;
  int n = bundles_from_rows(a, r, &list);
  PQclear(r);
  if (n < 0) return YW_ENOMEM;
  if (n == 0) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no bundle %s", w->code);
  Bundle *b = list[0];
  b->items = yw_arena_calloc(a, b->n_members + 1, sizeof *b->items);
  if (b->items == NULL) return YW_ENOMEM;
  for (size_t i = 0; i < b->n_members; i++) {
    rc = catalog_load_item(conn, a, b->members[i]->impl_code, &b->items[i], err);
    if (rc == YW_ENOTFOUND)
      return yw_rpc_call_fail(call, rc, "bundle %s: no item %s", w->code, b->members[i]->impl_code);
    if (rc != 0) return rc;
    b->n_items++;
  }
  if ((rc = merge_forms(a, b)) != 0) return rc;
  w->bundle = b;
  return 0;
}

int catalog_get_bundle(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  const Yiwang__Catalog__V1__GetBundleRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  if (req->code[0] == '\0' || !code_ok(req->code, 32))
    return yw_rpc_call_fail(call, YW_EINVAL, "code must be 1 to 32 of a-z, 0-9 and '-'");
  struct get_bundle_work w = {req->code, NULL};
  int rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, get_bundle_tx, &w);
  if (rc != 0) return rc;
  *out = &w.bundle->base;
  return 0;
}
