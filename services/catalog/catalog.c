/*
 * catalog.c - handlers of yiwang.catalog.v1.CatalogService.
 *
 * Search: the query is split on white space in SQL; every term must appear in the item's
 * name, keywords, materials, department or conditions, and the item's rank is the sum of
 * weights of where each term appears (exact name, name prefix, name, keywords, material
 * names, department, conditions). Ranks are integers so that the page cursor
 * (rank, implementation code) is exact: the next page starts strictly after the last
 * row of the previous one whatever is inserted meanwhile. A page token carries a hash
 * of the filters and is refused with another query. Filters besides the query:
 * department, region, level, type, topic, 最多跑一次 and 通办范围 (from the details).
 *
 * Writes (UpsertItem) are checked against the stored row, the coding rule and the
 * basic list, and every write is a new version kept in item_versions (README.md). The
 * items row is the version in effect: a draft edit of a published or retired item is
 * kept in item_versions only, after being written and checked like its publication
 * under a savepoint that is then rolled back (keep_aside).
 *
 * Reads go through a Redis cache (see catalog.h): the packed answer of a ListItems or
 * GetItem is kept in a hash field named by the request; UpsertItem deletes both hashes
 * after its commit. A reader that raced a write can put back an older answer, so the
 * hashes also expire a fixed time after they were first filled: staleness is bounded
 * by cache_ttl_s. Answers say which it was in the trailer x-cache: hit or miss.
 *
 * Every answer is allocated from the call's arena.
 *
 * Offers: catalog_service_init.
 */
#include "catalog.h"
#include "bundles.h"
#include "item_files.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_form.h"
#include "yw_idem.h"
#include "yw_json.h"
#include "yw_log.h"
#include "yw_service.h"

#define PAGE_SIZE_DEFAULT 20
#define PAGE_SIZE_MAX 100
#define QUERY_MAX_BYTES 200
#define CODE_MAX_BYTES 64
#define DETAILS_MAX_BYTES 65536 /* an item's national fields as JSON */
#define FORM_DEF_MAX_BYTES 32768 /* an item's form definition as JSON */
#define DB "the catalog database"

typedef Yiwang__Catalog__V1__Item Item;
typedef Yiwang__Catalog__V1__ItemSummary ItemSummary;

/* ---- small helpers --------------------------------------------------------------- */

static int check_code(yw_rpc_call *call, const char *field, const char *value) {
  size_t n = strlen(value);
  if (n > CODE_MAX_BYTES)
    return yw_rpc_call_fail(call, YW_EINVAL, "%s is longer than %d bytes", field, CODE_MAX_BYTES);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)value[i];
    if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.')
      return yw_rpc_call_fail(call, YW_EINVAL, "%s may hold only letters, digits, '-', '_' and '.'",
                              field);
  }
  return 0;
}

/* ---- cache ----------------------------------------------------------------------- */

/* Every cache key carries the same hash tag ({<prefix>:cache}), so all of them live in
 * one Redis Cluster slot and cache_clear deletes them with one DEL, which a cluster
 * refuses for keys in different slots. */
static void cache_key(const catalog_ctx *ctx, const char *which, char *key, size_t size) {
  snprintf(key, size, "{%s:cache}:%s", ctx->cache_prefix != NULL ? ctx->cache_prefix : "yw:catalog",
           which);
}

/* Answers call with the cached answer for field as it was packed (no unpacking and
 * packing again), marked x-cache: hit; returns what the handler returns then
 * (YW_RPC_PACKED), or 0 when there is none (or Redis is away), marked miss. */
static int cache_answer(catalog_ctx *ctx, yw_rpc_call *call, const char *which,
                        const char *field, size_t flen) {
  redisReply *r = NULL;
  if (ctx->redis != NULL && ctx->cache_ttl_s > 0 && flen > 0) {
    char key[128];
    cache_key(ctx, which, key, sizeof key);
    const char *argv[] = {"HGET", key, field};
    size_t lens[] = {4, strlen(key), flen};
    r = yw_redis_command(ctx->redis, 3, argv, lens, NULL, 0);
  }
  int rc = 0;
  if (r != NULL && r->type == REDIS_REPLY_STRING) {
    rc = yw_rpc_call_answer_packed(call, r->str, r->len);
    if (rc == YW_RPC_PACKED) yw_rpc_call_add_trailer(call, "x-cache", "hit");
  }
  if (r != NULL) freeReplyObject(r);
  if (rc == 0) yw_rpc_call_add_trailer(call, "x-cache", "miss");
  return rc;
}

static void cache_put(catalog_ctx *ctx, const char *which, const char *field, size_t flen,
                      const ProtobufCMessage *msg) {
  if (ctx->redis == NULL || ctx->cache_ttl_s <= 0) return;
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(len + 1);
  if (buf == NULL) return;
  protobuf_c_message_pack(msg, buf);
  char key[128], ttl[16];
  cache_key(ctx, which, key, sizeof key);
  snprintf(ttl, sizeof ttl, "%d", ctx->cache_ttl_s);
  const char *hset[] = {"HSET", key, field, (const char *)buf};
  size_t hlen[] = {4, strlen(key), flen, len};
  redisReply *r = yw_redis_command(ctx->redis, 4, hset, hlen, NULL, 0);
  if (r != NULL) {
    freeReplyObject(r);
    /* NX: the hash expires ttl after its first entry, not after its last */
    const char *exp[] = {"EXPIRE", key, ttl, "NX"};
    r = yw_redis_command(ctx->redis, 4, exp, NULL, NULL, 0);
    if (r != NULL) freeReplyObject(r);
  }
  free(buf);
}

static void cache_clear(catalog_ctx *ctx, const char *request_id) {
  if (ctx->redis == NULL) return;
  char list[128], item[128];
  cache_key(ctx, "list", list, sizeof list);
  cache_key(ctx, "item", item, sizeof item);
  const char *argv[] = {"DEL", list, item};
  redisReply *r = yw_redis_command(ctx->redis, 3, argv, NULL, NULL, 0);
  if (r != NULL)
    freeReplyObject(r);
  else
    yw_log(YW_LOG_WARN, "catalog.cache_not_cleared", request_id,
           "Redis unreachable: cached answers may be stale until they expire");
}

/* ---- ListItems ------------------------------------------------------------------- */

/* Search, in three statements that share their parts (bench/README.md, "province", has
 * the measurements that shaped them):
 *
 * - SEARCH_HEAD_SQL ranks only the items whose name or keywords hold every term, found
 *   through head_grams (migration 010). A term found elsewhere only (materials,
 *   department, conditions) weighs at most 80 + 50 + 20 = 150 and any term at most
 *   RANK_TERM_MAX, so an item outside this tier ranks at most 150 + RANK_TERM_MAX * (n - 1)
 *   for n terms. When the tier fills the page and its last row ranks above that bound,
 *   the page is the exact one; that is the usual case for a single word, and it ranks
 *   thousands of rows instead of every match.
 * - SEARCH_ALL_SQL ranks every match: when the first does not decide the page, and for
 *   queries of several words, whose matches (all words somewhere) are usually few.
 * - BROWSE_SQL lists by implementation code when there is no query (every rank is 0).
 * - With a place (ListItemsRequest.place), PLACE_SEARCH_SQL ranks every match among the
 *   items of the place and the regions above it, and PLACE_BROWSE_SQL lists them.
 *
 * Every term must appear in the item's search document: the document's gram set
 * (search_grams) must hold the term's grams, which the GIN index serves for terms of any
 * length, then strpos is the exact rule. total_size counts the matches up to
 * TOTAL_SIZE_CAP (CatalogService.ListItems in catalog.proto). Ranks are integers, so the
 * cursor (rank, implementation code) is exact across pages and statements.
 */
#define TOTAL_SIZE_CAP 1001
#define RANK_TERM_MAX 2190 /* 1000 + 300 + 540 + 200 + 80 + 50 + 20 */
#define RANK_OUTSIDE_HEAD 150

/* the query's terms: lower-cased, split on white space, none empty */
#define SEARCH_TERMS "array_remove(regexp_split_to_array(lower(btrim($1)), '\\s+'), '')"
#define SEARCH_FILTERS                                                                \
  " i.status = 'published'"                                                           \
  " AND ($2 = '' OR i.department_code = $2)"                                          \
  " AND ($3 = '' OR i.region_code = $3)"                                              \
  " AND ($4 = '' OR i.level = $4)"                                                    \
  " AND ($5 = '' OR i.type = $5)"                                                     \
  " AND ($6 = '' OR EXISTS (SELECT 1 FROM catalog.item_topics it"                     \
  "                         WHERE it.item_id = i.id AND it.topic_code = $6))"         \
  " AND (NOT $10::boolean OR i.details @> '{\"atMostOneVisit\": true}')"              \
  " AND ($11::int = 0 OR COALESCE(array_position(ARRAY['CITY_WIDE', 'PROVINCE_WIDE'," \
  "      'CROSS_PROVINCE'], i.details->>'tongbanScope'), 0) >= $11::int)"
/* every term is in the search document */
#define SEARCH_MATCH                                         \
  " AND i.search_grams @> catalog.query_grams(" SEARCH_TERMS \
  ")"                                                        \
  " AND NOT EXISTS (SELECT 1 FROM unnest(" SEARCH_TERMS      \
  ") t"                                                      \
  "                 WHERE strpos(i.search_text, t) = 0)"
/* the one word of a query of one word (an InitPlan: computed once per statement) */
#define SEARCH_WORD "(SELECT lower(btrim($1)))"
/* the word is in the name or the keywords; with no word, or more than one, nothing is */
#define SEARCH_HEAD_MATCH                                       \
  " AND i.head_grams @> catalog.query_grams(ARRAY[" SEARCH_WORD \
  "])"                                                          \
  " AND (strpos(i.name_text, " SEARCH_WORD                      \
  ") > 0"                                                       \
  "      OR strpos(i.keywords_text, " SEARCH_WORD               \
  ") > 0)"                                                      \
  " AND " SEARCH_WORD " <> '' AND " SEARCH_WORD " !~ '\\s'"
/* the weight of where term t appears, from the lower-cased texts of migration 010 */
#define SEARCH_WEIGHT(t)                                               \
  "    CASE WHEN i.name_text = " t                                     \
  " THEN 1000 ELSE 0 END"                                              \
  "  + CASE WHEN strpos(i.name_text, " t                               \
  ") = 1 THEN 300 ELSE 0 END"                                          \
  "  + CASE WHEN strpos(i.name_text, " t                               \
  ") > 0"                                                              \
  "         THEN 500 + 40 - least(char_length(i.name), 40) ELSE 0 END" \
  "  + CASE WHEN strpos(i.keywords_text, " t                           \
  ") > 0 THEN 200 ELSE 0 END"                                          \
  "  + CASE WHEN strpos(i.materials_text, " t                          \
  ") > 0 THEN 80 ELSE 0 END"                                           \
  "  + CASE WHEN strpos(i.department_text, " t                         \
  ") > 0 THEN 50 ELSE 0 END"                                           \
  "  + CASE WHEN strpos(i.conditions_text, " t ") > 0 THEN 20 ELSE 0 END"
/* the rank: the sum over the terms */
#define SEARCH_RANK \
  "(SELECT COALESCE(sum(" SEARCH_WEIGHT("t") "), 0) FROM unnest(" SEARCH_TERMS ") t)::int"
#define SEARCH_WORD_RANK "(" SEARCH_WEIGHT(SEARCH_WORD) ")"
/* the number of matches, counted up to the cap: the rows the page query ranked after
 * the cursor when they are that many already, else a count that stops at the cap (a
 * subquery PostgreSQL runs only when the CASE reaches it) */
#define SEARCH_TOTAL(match, exact) \
  " CASE WHEN r.tier >= " SQL_STR(TOTAL_SIZE_CAP) " THEN " SQL_STR(TOTAL_SIZE_CAP) exact   \
  " ELSE (SELECT count(*) FROM (SELECT 1 FROM catalog.items i WHERE" SEARCH_FILTERS match  \
  "       LIMIT " SQL_STR(TOTAL_SIZE_CAP) ") c) END"
/* for a statement that ranks every match: on page one (no cursor) the rows it ranked
 * are the matches, counted already */
#define SEARCH_TOTAL_RANKED " WHEN $7 = '' THEN r.tier"
#define SQL_STR2(x) #x
#define SQL_STR(x) SQL_STR2(x)
/* the page: the rows after the cursor, best first, and how many there were (tier; 0
 * where counting them would read every row); the department's name joined last */
#define SEARCH_PAGE(rank, tier, match, total_match, exact, cursor, order) \
  "SELECT r.impl_code, r.basic_code, r.name, r.type, r.department_code, d.name,"           \
  "       r.region_code, r.level, r.processing_kind, r.promised_limit_days,"               \
  "       r.online_depth, r.fee_required, r.rank,"                                         \
  SEARCH_TOTAL(total_match, exact) ","                                                     \
  " cardinality(" SEARCH_TERMS ")"                                                         \
  " FROM (SELECT m.*, " tier " AS tier"                                                    \
  "       FROM (SELECT i.impl_code, i.basic_code, i.name, i.type, i.department_code,"      \
  "                    i.region_code, i.level, i.processing_kind, i.promised_limit_days,"  \
  "                    i.online_depth, i.fee_required, " rank " AS rank"                   \
  "             FROM catalog.items i WHERE" SEARCH_FILTERS match ") m"                     \
  "       WHERE " cursor                                                                   \
  "       ORDER BY " order                                                                 \
  "       LIMIT $9::int) r"                                                                \
  " JOIN catalog.departments d ON d.code = r.department_code"                              \
  " ORDER BY " order
#define SEARCH_CURSOR "($7 = '' OR m.rank < $8::int OR (m.rank = $8::int AND m.impl_code > $7))"
#define SEARCH_ORDER "rank DESC, impl_code ASC"

/* a place ($12): the region and its ancestors (migration 011), computed once per
 * statement and looked up in the region's index. A place holds a few hundred items
 * however large the catalog is, so its statements test those with strpos and leave the
 * gram indexes alone: intersecting a common word's posting list (13,000 items of a
 * province) with the place's would cost more than the place's rows. They are separate
 * statements, not "$12 = '' OR ...", so that the generic plan of a prepared statement
 * keeps the region's index. */
#define SEARCH_PLACE " AND i.region_code = ANY((SELECT catalog.region_chain($12))::text[])"
#define SEARCH_PLACE_MATCH                                                     \
  SEARCH_PLACE " AND NOT EXISTS (SELECT 1 FROM unnest(" SEARCH_TERMS ") t" \
  "                 WHERE strpos(i.search_text, t) = 0)"

/* clang-format off */
static const char SEARCH_HEAD_SQL[] = SEARCH_PAGE(SEARCH_WORD_RANK, "count(*) OVER ()",
    SEARCH_HEAD_MATCH, SEARCH_MATCH, "", SEARCH_CURSOR, SEARCH_ORDER);
static const char SEARCH_ALL_SQL[] = SEARCH_PAGE(SEARCH_RANK, "count(*) OVER ()",
    SEARCH_MATCH, SEARCH_MATCH, SEARCH_TOTAL_RANKED, SEARCH_CURSOR, SEARCH_ORDER);
/* no query: every rank is 0, the order is the implementation code's, which its index
 * gives; $8 is the cursor's rank, 0 */
static const char BROWSE_SQL[] = SEARCH_PAGE("0", "0", "", "", "",
    "($7 = '' OR m.impl_code > $7) AND $8::int = 0", "impl_code ASC");
static const char PLACE_SEARCH_SQL[] = SEARCH_PAGE(SEARCH_RANK, "count(*) OVER ()",
    SEARCH_PLACE_MATCH, SEARCH_PLACE_MATCH, SEARCH_TOTAL_RANKED, SEARCH_CURSOR, SEARCH_ORDER);
static const char PLACE_BROWSE_SQL[] = SEARCH_PAGE("0", "0", SEARCH_PLACE, SEARCH_PLACE, "",
    "($7 = '' OR m.impl_code > $7) AND $8::int = 0", "impl_code ASC");
/* clang-format on */

static int list_items(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                      void *data) {
  const Yiwang__Catalog__V1__ListItemsRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);

  if (strlen(req->q) > QUERY_MAX_BYTES)
    return yw_rpc_call_fail(call, YW_EINVAL, "q is longer than %d bytes", QUERY_MAX_BYTES);
  int rc;
  if ((rc = check_code(call, "department", req->department)) != 0) return rc;
  if ((rc = check_code(call, "region", req->region)) != 0) return rc;
  if ((rc = check_code(call, "topic", req->topic)) != 0) return rc;
  if ((rc = check_code(call, "place", req->place)) != 0) return rc;
  int placed = req->place[0] != '\0';
  const char *level = "";
  if (req->level != 0) {
    level = yw_enum_to_db(a, &yiwang__catalog__v1__region_level__descriptor, req->level, 1);
    if (level == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "unknown level");
  }
  const char *type = "";
  if (req->type != 0) {
    type = yw_enum_to_db(a, &yiwang__catalog__v1__item_type__descriptor, req->type, 0);
    if (type == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "unknown type");
  }
  if (req->tongban < 0 || req->tongban > YIWANG__CATALOG__V1__TONGBAN_SCOPE__CROSS_PROVINCE)
    return yw_rpc_call_fail(call, YW_EINVAL, "unknown tongban");
  const char *visits = req->at_most_one_visit ? "true" : "false";
  char tongban[8];
  snprintf(tongban, sizeof tongban, "%d", (int)req->tongban);
  /* the cursor of a page is "rank|implementation code" of its last row */
  const char *filters[] = {req->q,  req->department, req->region, level,     type,
                           req->topic, visits,          tongban,     req->place};
  yw_page page;
  rc = yw_page_begin(call, req->page_size, req->page_token, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX,
                     filters, 9, &page);
  if (rc != 0) return rc;
  int page_size = page.size;
  char after_code[CODE_MAX_BYTES + 1] = "";
  char after_rank[16] = "0";
  if (page.has_cursor) {
    long rank = 0;
    int consumed = 0;
    if (sscanf(page.cursor, "%ld|%n", &rank, &consumed) != 1 || consumed == 0 ||
        page.cursor[consumed] == '\0' || strlen(page.cursor + consumed) > CODE_MAX_BYTES)
      return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
    snprintf(after_code, sizeof after_code, "%s", page.cursor + consumed);
    snprintf(after_rank, sizeof after_rank, "%ld", rank);
  }
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page_size + 1);

  /* the cache field names the whole request: filters, page size and token */
  char field[QUERY_MAX_BYTES + 4 * CODE_MAX_BYTES + 300];
  int flen =
      snprintf(field, sizeof field, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%d\x1f%s\x1f%s\x1f%s\x1f%s",
               req->q, req->department, req->region, level, type, req->topic, page_size,
               req->page_token, visits, tongban, req->place);
  if (flen < 0 || (size_t)flen >= sizeof field) flen = 0;
  if ((rc = cache_answer(ctx, call, "list", field, (size_t)flen)) != 0) return rc;

  const char *params[] = {req->q,     req->department, req->region, level,  type,    req->topic,
                          after_code, after_rank,      limit,       visits, tongban, req->place};
  /* the statements with a place take it as $12 */
  int nparams = placed ? 12 : 11;
  PGresult *r = NULL;
  const char *q = req->q;
  while (*q != '\0' && isspace((unsigned char)*q)) q++;
  const char *word_end = q;
  while (*word_end != '\0' && !isspace((unsigned char)*word_end)) word_end++;
  while (*word_end != '\0' && isspace((unsigned char)*word_end)) word_end++;
  if (*q == '\0') {
    rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                          placed ? PLACE_BROWSE_SQL : BROWSE_SQL, nparams, params, &r);
    if (rc != 0) return rc;
  } else {
    if (*word_end == '\0' && !placed) { /* one word: its head tier first */
      rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                            SEARCH_HEAD_SQL, nparams, params, &r);
      if (rc != 0) return rc;
      int got = PQntuples(r);
      long long terms = got > 0 ? yw_col_ll(r, 0, 14) : 0;
      if (got < page_size + 1 || terms < 1 ||
          yw_col_ll(r, got - 1, 12) <= RANK_OUTSIDE_HEAD + RANK_TERM_MAX * (terms - 1)) {
        PQclear(r);
        r = NULL;
      }
    }
    if (r == NULL) {
      rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                            placed ? PLACE_SEARCH_SQL : SEARCH_ALL_SQL, nparams, params, &r);
      if (rc != 0) return rc;
    }
  }

  int rows = PQntuples(r);
  if (rows == 0 && placed) { /* nothing there, or no such place */
    PQclear(r);
    r = NULL;
    const char *code[] = {req->place};
    rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                          "SELECT 1 FROM catalog.regions WHERE code = $1", 1, code, &r);
    if (rc != 0) return rc;
    int known = PQntuples(r) > 0;
    PQclear(r);
    if (!known) return yw_rpc_call_fail(call, YW_EINVAL, "place: no region has the code %s", req->place);
    r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    if (r == NULL) return YW_ENOMEM;
  }
  Yiwang__Catalog__V1__ListItemsResponse *resp = yw_arena_alloc(a, sizeof *resp);
  if (resp == NULL) goto nomem;
  yiwang__catalog__v1__list_items_response__init(resp);
  int n = rows > page_size ? page_size : rows;
  resp->items = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->items);
  if (resp->items == NULL) goto nomem;
  for (int i = 0; i < n; i++) {
    ItemSummary *s = yw_arena_alloc(a, sizeof *s);
    if (s == NULL) goto nomem;
    yiwang__catalog__v1__item_summary__init(s);
    s->impl_code = yw_col_str(a, r, i, 0);
    s->basic_code = yw_col_str(a, r, i, 1);
    s->name = yw_col_str(a, r, i, 2);
    s->type = yw_enum_from_db(&yiwang__catalog__v1__item_type__descriptor, PQgetvalue(r, i, 3));
    s->department_code = yw_col_str(a, r, i, 4);
    s->department_name = yw_col_str(a, r, i, 5);
    s->region_code = yw_col_str(a, r, i, 6);
    s->level = yw_enum_from_db(&yiwang__catalog__v1__region_level__descriptor, PQgetvalue(r, i, 7));
    s->processing_kind =
        yw_enum_from_db(&yiwang__catalog__v1__processing_kind__descriptor, PQgetvalue(r, i, 8));
    s->promised_limit_days = (int32_t)yw_col_ll(r, i, 9);
    s->online_depth = (int32_t)yw_col_ll(r, i, 10);
    s->fee_required = yw_col_bool(r, i, 11);
    if (s->impl_code == NULL || s->name == NULL || s->department_name == NULL) goto nomem;
    resp->items[i] = s;
  }
  resp->n_items = (size_t)n;
  if (rows > 0) resp->total_size = (int32_t)yw_col_ll(r, 0, 13);
  if (rows > page_size) {
    char cursor[CODE_MAX_BYTES + 24];
    snprintf(cursor, sizeof cursor, "%s|%s", PQgetvalue(r, n - 1, 12), PQgetvalue(r, n - 1, 0));
    resp->next_page_token = yw_page_token(a, &page, cursor);
    if (resp->next_page_token == NULL) goto nomem;
  }
  PQclear(r);
  if (flen > 0) cache_put(ctx, "list", field, (size_t)flen, &resp->base);
  *out = &resp->base;
  return 0;
nomem:
  PQclear(r);
  return YW_ENOMEM;
}

/* ---- GetItem --------------------------------------------------------------------- */

/* A timestamptz column as RFC 3339 with the session's offset (Asia/Shanghai). */
#define TS(col) "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SSOF:\"00\"')"

static const char ITEM_SQL[] =
    "SELECT i.id, i.basic_code, i.impl_code, i.name, i.type, i.department_code, d.name,"
    "       i.region_code, r.name, i.level, i.legal_basis, i.conditions, i.fee_required,"
    "       i.fee_amount_fen, i.fee_basis, i.legal_limit_days, i.promised_limit_days,"
    "       i.processing_kind, i.online_depth, array_to_json(i.channels)::text,"
    "       i.consult_phone, i.version, i.status, " TS("i.updated_at") ", i.keywords,"
    "       " TS("i.effective_from") ", i.details::text, i.form::text"
    " FROM catalog.items i"
    " JOIN catalog.departments d ON d.code = i.department_code"
    " JOIN catalog.regions r ON r.code = i.region_code"
    " WHERE i.impl_code = $1 AND (i.status <> 'draft' OR $2::boolean)";

static const char MATERIALS_SQL[] =
    "SELECT name, form, copies, required, license_replaceable, note"
    " FROM catalog.item_materials WHERE item_id = $1 ORDER BY seq";

static const char STEPS_SQL[] =
    "SELECT seq, name, description FROM catalog.item_steps WHERE item_id = $1 ORDER BY seq";

static const char TOPICS_SQL[] =
    "SELECT topic_code FROM catalog.item_topics WHERE item_id = $1 ORDER BY topic_code";

/* Splits the JSON array text of channels (["app","window"]) into strings. */
static int parse_channels(yw_arena *a, const char *json, Item *it) {
  json_error_t jerr;
  json_t *arr = json_loads(json, 0, &jerr);
  if (arr == NULL || !json_is_array(arr)) {
    json_decref(arr);
    return YW_EINTERNAL;
  }
  size_t n = json_array_size(arr);
  it->channels = yw_arena_calloc(a, n + 1, sizeof *it->channels);
  if (it->channels == NULL) {
    json_decref(arr);
    return YW_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    it->channels[i] = yw_arena_strndup(a, s != NULL ? s : "", (size_t)-1);
    if (it->channels[i] == NULL) {
      json_decref(arr);
      return YW_ENOMEM;
    }
  }
  it->n_channels = n;
  json_decref(arr);
  return 0;
}

/* The details column (proto3 JSON of ItemDetails) into it->details, in the arena. */
static int parse_details(yw_arena *a, const char *text, Item *it) {
  json_error_t jerr;
  json_t *obj = json_loads(text, 0, &jerr);
  if (obj == NULL) return YW_EINTERNAL;
  ProtobufCMessage *m = NULL;
  yw_json_error err;
  int rc = yw_json_to_message(&yiwang__catalog__v1__item_details__descriptor, obj,
                              yw_arena_allocator(a), &m, &err);
  json_decref(obj);
  if (rc != 0) return rc == YW_ENOMEM ? rc : YW_EINTERNAL;
  it->details = (Yiwang__Catalog__V1__ItemDetails *)m;
  return 0;
}

/* The form column (a definition's JSON object, or NULL) into it->form, in the arena. */
static int parse_form(yw_arena *a, const PGresult *r, int col, Item *it) {
  if (PQgetisnull(r, 0, col)) return 0;
  json_error_t jerr;
  json_t *obj = json_loads(PQgetvalue(r, 0, col), 0, &jerr);
  if (obj == NULL) return YW_EINTERNAL;
  ProtobufCMessage *m = NULL;
  yw_json_error err;
  int rc = yw_json_to_message(&google__protobuf__struct__descriptor, obj, yw_arena_allocator(a),
                              &m, &err);
  json_decref(obj);
  if (rc != 0) return rc == YW_ENOMEM ? rc : YW_EINTERNAL;
  it->form = (Google__Protobuf__Struct *)m;
  return 0;
}

/* Loads the newest version of an item by implementation code into *out (arena); a
 * draft only when drafts is set. Returns 0, YW_ENOTFOUND or a database error (err set). */
static int load_item(PGconn *conn, yw_arena *a, const char *code, int drafts, Item **out,
                     yw_pg_error *err) {
  const char *p1[] = {code, drafts ? "true" : "false"};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, ITEM_SQL, 2, p1, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return YW_ENOTFOUND;
  }
  Item *it = yw_arena_alloc(a, sizeof *it);
  Yiwang__Catalog__V1__Fee *fee = yw_arena_alloc(a, sizeof *fee);
  if (it == NULL || fee == NULL) {
    PQclear(r);
    return YW_ENOMEM;
  }
  yiwang__catalog__v1__item__init(it);
  yiwang__catalog__v1__fee__init(fee);
  const char *id = yw_arena_strndup(a, PQgetvalue(r, 0, 0), (size_t)-1);
  it->basic_code = yw_col_str(a, r, 0, 1);
  it->impl_code = yw_col_str(a, r, 0, 2);
  it->name = yw_col_str(a, r, 0, 3);
  it->type = yw_enum_from_db(&yiwang__catalog__v1__item_type__descriptor, PQgetvalue(r, 0, 4));
  it->department_code = yw_col_str(a, r, 0, 5);
  it->department_name = yw_col_str(a, r, 0, 6);
  it->region_code = yw_col_str(a, r, 0, 7);
  it->region_name = yw_col_str(a, r, 0, 8);
  it->level = yw_enum_from_db(&yiwang__catalog__v1__region_level__descriptor, PQgetvalue(r, 0, 9));
  it->legal_basis = yw_col_str(a, r, 0, 10);
  it->conditions = yw_col_str(a, r, 0, 11);
  fee->required = yw_col_bool(r, 0, 12);
  fee->amount_fen = yw_col_ll(r, 0, 13);
  fee->basis = yw_col_str(a, r, 0, 14);
  it->fee = fee;
  it->legal_limit_days = (int32_t)yw_col_ll(r, 0, 15);
  it->promised_limit_days = (int32_t)yw_col_ll(r, 0, 16);
  it->processing_kind =
      yw_enum_from_db(&yiwang__catalog__v1__processing_kind__descriptor, PQgetvalue(r, 0, 17));
  it->online_depth = (int32_t)yw_col_ll(r, 0, 18);
  rc = parse_channels(a, PQgetvalue(r, 0, 19), it);
  it->consult_phone = yw_col_str(a, r, 0, 20);
  it->version = (int32_t)yw_col_ll(r, 0, 21);
  it->status = yw_enum_from_db(&yiwang__catalog__v1__item_status__descriptor, PQgetvalue(r, 0, 22));
  it->updated_at = yw_col_str(a, r, 0, 23);
  it->keywords = yw_col_str(a, r, 0, 24);
  it->effective_from = yw_col_str(a, r, 0, 25);
  if (rc == 0) rc = parse_details(a, PQgetvalue(r, 0, 26), it);
  if (rc == 0) rc = parse_form(a, r, 27, it);
  PQclear(r);
  if (rc != 0) return rc;
  if (id == NULL || it->updated_at == NULL || fee->basis == NULL || it->keywords == NULL ||
      it->effective_from == NULL)
    return YW_ENOMEM;

  const char *p2[] = {id};
  rc = yw_pg_query(conn, MATERIALS_SQL, 1, p2, &r, err);
  if (rc != 0) return rc;
  int n = PQntuples(r);
  it->materials = yw_arena_calloc(a, (size_t)n + 1, sizeof *it->materials);
  for (int i = 0; it->materials != NULL && i < n; i++) {
    Yiwang__Catalog__V1__Material *m = yw_arena_alloc(a, sizeof *m);
    if (m == NULL) break;
    yiwang__catalog__v1__material__init(m);
    m->name = yw_col_str(a, r, i, 0);
    m->form = yw_enum_from_db(&yiwang__catalog__v1__material_form__descriptor, PQgetvalue(r, i, 1));
    m->copies = (int32_t)yw_col_ll(r, i, 2);
    m->required = yw_col_bool(r, i, 3);
    m->license_replaceable = yw_col_bool(r, i, 4);
    m->note = yw_col_str(a, r, i, 5);
    if (m->name == NULL || m->note == NULL) break;
    it->materials[it->n_materials++] = m;
  }
  PQclear(r);
  if ((int)it->n_materials != n) return YW_ENOMEM;

  rc = yw_pg_query(conn, STEPS_SQL, 1, p2, &r, err);
  if (rc != 0) return rc;
  n = PQntuples(r);
  it->steps = yw_arena_calloc(a, (size_t)n + 1, sizeof *it->steps);
  for (int i = 0; it->steps != NULL && i < n; i++) {
    Yiwang__Catalog__V1__ProcessStep *s = yw_arena_alloc(a, sizeof *s);
    if (s == NULL) break;
    yiwang__catalog__v1__process_step__init(s);
    s->seq = (int32_t)yw_col_ll(r, i, 0);
    s->name = yw_col_str(a, r, i, 1);
    s->description = yw_col_str(a, r, i, 2);
    if (s->name == NULL || s->description == NULL) break;
    it->steps[it->n_steps++] = s;
  }
  PQclear(r);
  if ((int)it->n_steps != n) return YW_ENOMEM;

  rc = yw_pg_query(conn, TOPICS_SQL, 1, p2, &r, err);
  if (rc != 0) return rc;
  n = PQntuples(r);
  it->topics = yw_arena_calloc(a, (size_t)n + 1, sizeof *it->topics);
  for (int i = 0; it->topics != NULL && i < n; i++) {
    it->topics[i] = yw_col_str(a, r, i, 0);
    if (it->topics[i] == NULL) break;
    it->n_topics++;
  }
  PQclear(r);
  if ((int)it->n_topics != n) return YW_ENOMEM;
  *out = it;
  return 0;
}

/* A stored version: its status, the packed item, its window. */
static const char VERSION_SQL[] =
    "SELECT v.status, v.body, " TS("v.effective_from") ", COALESCE(" TS("v.effective_to") ", '')"
    " FROM catalog.item_versions v JOIN catalog.items i ON i.id = v.item_id"
    " WHERE i.impl_code = $1 AND v.version = $2::int";

/* The packed Item of row 0, column col of r (an item_versions body), in the arena;
 * NULL when it cannot be read. */
static Item *unpack_item(yw_arena *a, const PGresult *r, int col) {
  size_t blen = 0;
  unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, col), &blen);
  Item *it = NULL;
  if (bytes != NULL)
    it = (Item *)protobuf_c_message_unpack(&yiwang__catalog__v1__item__descriptor,
                                           yw_arena_allocator(a), blen, bytes);
  PQfreemem(bytes);
  return it;
}

/* Reads version `version` of an item into *out: the stored version, or the newest
 * when it is that version and was never stored (an item seeded and not written since).
 * Drafts are not served. Returns 0, YW_ENOTFOUND or a database error. */
static int load_version(PGconn *conn, yw_arena *a, const char *code, int version, Item **out,
                        yw_pg_error *err) {
  char v[16];
  snprintf(v, sizeof v, "%d", version);
  const char *p[] = {code, v};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, VERSION_SQL, 2, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    rc = load_item(conn, a, code, 0, out, err);
    return rc == 0 && (*out)->version != version ? YW_ENOTFOUND : rc;
  }
  if (strcmp(PQgetvalue(r, 0, 0), "draft") == 0) {
    PQclear(r);
    return YW_ENOTFOUND;
  }
  Item *it = unpack_item(a, r, 1);
  if (it == NULL) {
    PQclear(r);
    return YW_EINTERNAL;
  }
  it->effective_from = yw_col_str(a, r, 0, 2);
  it->effective_to = yw_col_str(a, r, 0, 3);
  PQclear(r);
  if (it->effective_from == NULL || it->effective_to == NULL) return YW_ENOMEM;
  *out = it;
  return 0;
}

/* The item and its lists, read in one transaction. */
struct get_item_work {
  const char *code;
  int version;
  Item *item;
};

static int get_item_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct get_item_work *w = arg;
  yw_arena *a = yw_rpc_call_arena(call);
  int rc = w->version > 0 ? load_version(conn, a, w->code, w->version, &w->item, err)
                          : load_item(conn, a, w->code, 0, &w->item, err);
  if (rc == YW_ENOTFOUND && w->version > 0)
    return yw_rpc_call_fail(call, rc, "no version %d of item %s", w->version, w->code);
  if (rc == YW_ENOTFOUND) return yw_rpc_call_fail(call, rc, "no item with code %s", w->code);
  return rc;
}

static int get_item(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                    void *data) {
  const Yiwang__Catalog__V1__GetItemRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  if (req->code[0] == '\0') return yw_rpc_call_fail(call, YW_EINVAL, "code is required");
  int rc = check_code(call, "code", req->code);
  if (rc != 0) return rc;
  if (req->version < 0) return yw_rpc_call_fail(call, YW_EINVAL, "version must be 1 or more");
  /* the cache field: the code for the newest version, "code@N" for version N */
  char field[CODE_MAX_BYTES + 16];
  int flen = req->version > 0 ? snprintf(field, sizeof field, "%s@%d", req->code, req->version)
                              : snprintf(field, sizeof field, "%s", req->code);
  if ((rc = cache_answer(ctx, call, "item", field, (size_t)flen)) != 0) return rc;
  struct get_item_work w = {req->code, req->version, NULL};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, get_item_tx, &w);
  if (rc != 0) return rc;
  Item *it = w.item;
  cache_put(ctx, "item", field, (size_t)flen, &it->base);
  *out = &it->base;
  return 0;
}

int catalog_read_item(yw_rpc_call *call, catalog_ctx *ctx, const char *code, int version,
                      Item **out) {
  int rc = check_code(call, "code", code);
  if (rc != 0) return rc;
  struct get_item_work w = {code, version, NULL};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, get_item_tx, &w);
  if (rc == 0) *out = w.item;
  return rc;
}

/* ---- ListItemVersions ------------------------------------------------------------ */

/* The stored versions, and the newest when it was never stored (a seeded item). */
static const char VERSIONS_SQL[] =
    "SELECT v.version, v.status, " TS("v.effective_from") ", COALESCE(" TS("v.effective_to") ", '')"
    " FROM catalog.item_versions v JOIN catalog.items i ON i.id = v.item_id"
    " WHERE i.impl_code = $1 AND v.status <> 'draft'"
    " UNION ALL"
    " SELECT i.version, i.status, " TS("i.effective_from") ", ''"
    " FROM catalog.items i WHERE i.impl_code = $1 AND i.status <> 'draft'"
    "  AND NOT EXISTS (SELECT 1 FROM catalog.item_versions v"
    "                  WHERE v.item_id = i.id AND v.version = i.version)"
    " ORDER BY 1 DESC LIMIT 200";

static int list_item_versions(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  const Yiwang__Catalog__V1__ListItemVersionsRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  if (req->code[0] == '\0') return yw_rpc_call_fail(call, YW_EINVAL, "code is required");
  int rc = check_code(call, "code", req->code);
  if (rc != 0) return rc;
  const char *params[] = {req->code};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, VERSIONS_SQL, 1, params, &r);
  if (rc != 0) return rc;
  int n = PQntuples(r);
  if (n == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no item with code %s", req->code);
  }
  Yiwang__Catalog__V1__ListItemVersionsResponse *resp = yw_arena_alloc(a, sizeof *resp);
  if (resp != NULL) {
    yiwang__catalog__v1__list_item_versions_response__init(resp);
    resp->versions = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->versions);
  }
  for (int i = 0; resp != NULL && resp->versions != NULL && i < n; i++) {
    Yiwang__Catalog__V1__ItemVersion *v = yw_arena_alloc(a, sizeof *v);
    if (v == NULL) break;
    yiwang__catalog__v1__item_version__init(v);
    v->version = (int32_t)yw_col_ll(r, i, 0);
    v->status = yw_enum_from_db(&yiwang__catalog__v1__item_status__descriptor, PQgetvalue(r, i, 1));
    v->effective_from = yw_col_str(a, r, i, 2);
    v->effective_to = yw_col_str(a, r, i, 3);
    if (v->effective_from == NULL || v->effective_to == NULL) break;
    resp->versions[resp->n_versions++] = v;
  }
  PQclear(r);
  if (resp == NULL || (int)resp->n_versions != n) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

/* ---- departments, regions, topics ------------------------------------------------ */

#define DEPARTMENT_COLS                                                  \
  "SELECT d.code, d.name, d.region_code, d.phone,"                       \
  "       (SELECT count(*) FROM catalog.items i"                         \
  "        WHERE i.department_code = d.code AND i.status = 'published')" \
  " FROM catalog.departments d"
static const char DEPARTMENTS_SQL[] =
    DEPARTMENT_COLS " WHERE $1 = '' OR d.region_code = $1 ORDER BY d.region_code, d.sort, d.code";

/* Row i of a DEPARTMENT_COLS answer, in a (NULL on ENOMEM). */
static Yiwang__Catalog__V1__Department *department_from_row(yw_arena *a, const PGresult *r, int i) {
  Yiwang__Catalog__V1__Department *d = yw_arena_alloc(a, sizeof *d);
  if (d == NULL) return NULL;
  yiwang__catalog__v1__department__init(d);
  d->code = yw_col_str(a, r, i, 0);
  d->name = yw_col_str(a, r, i, 1);
  d->region_code = yw_col_str(a, r, i, 2);
  d->phone = yw_col_str(a, r, i, 3);
  d->item_count = (int32_t)yw_col_ll(r, i, 4);
  if (d->code == NULL || d->name == NULL || d->region_code == NULL || d->phone == NULL) return NULL;
  return d;
}

static int get_department(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  const Yiwang__Catalog__V1__GetDepartmentRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  if (req->code[0] == '\0') return yw_rpc_call_fail(call, YW_EINVAL, "code is required");
  int rc = check_code(call, "code", req->code);
  if (rc != 0) return rc;
  const char *params[] = {req->code};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, DEPARTMENT_COLS " WHERE d.code = $1", 1,
                        params, &r);
  if (rc != 0) return rc;
  Yiwang__Catalog__V1__Department *d =
      PQntuples(r) == 1 ? department_from_row(yw_rpc_call_arena(call), r, 0) : NULL;
  int found = PQntuples(r) == 1;
  PQclear(r);
  if (!found) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no department %s", req->code);
  if (d == NULL) return YW_ENOMEM;
  *out = &d->base;
  return 0;
}

static int list_departments(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                            void *data) {
  const Yiwang__Catalog__V1__ListDepartmentsRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  int rc = check_code(call, "region", req->region);
  if (rc != 0) return rc;
  const char *params[] = {req->region};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, DEPARTMENTS_SQL, 1, params, &r);
  if (rc != 0) return rc;
  Yiwang__Catalog__V1__ListDepartmentsResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int n = PQntuples(r);
  if (resp != NULL) {
    yiwang__catalog__v1__list_departments_response__init(resp);
    resp->departments = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->departments);
  }
  for (int i = 0; resp != NULL && resp->departments != NULL && i < n; i++) {
    Yiwang__Catalog__V1__Department *d = department_from_row(a, r, i);
    if (d == NULL) break;
    resp->departments[resp->n_departments++] = d;
  }
  PQclear(r);
  if (resp == NULL || (int)resp->n_departments != n) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

static const char REGIONS_SQL[] =
    "SELECT code, name, level, COALESCE(parent_code, '') FROM catalog.regions"
    " WHERE ($1 = '' OR level = $1) AND ($2 = '' OR parent_code = $2)"
    " ORDER BY code";

static int list_regions(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                        void *data) {
  const Yiwang__Catalog__V1__ListRegionsRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  int rc = check_code(call, "parent", req->parent);
  if (rc != 0) return rc;
  const char *level = "";
  if (req->level != 0) {
    level = yw_enum_to_db(a, &yiwang__catalog__v1__region_level__descriptor, req->level, 1);
    if (level == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "unknown level");
  }
  const char *params[] = {level, req->parent};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, REGIONS_SQL, 2, params, &r);
  if (rc != 0) return rc;
  Yiwang__Catalog__V1__ListRegionsResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int n = PQntuples(r);
  if (resp != NULL) {
    yiwang__catalog__v1__list_regions_response__init(resp);
    resp->regions = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->regions);
  }
  for (int i = 0; resp != NULL && resp->regions != NULL && i < n; i++) {
    Yiwang__Catalog__V1__Region *g = yw_arena_alloc(a, sizeof *g);
    if (g == NULL) break;
    yiwang__catalog__v1__region__init(g);
    g->code = yw_col_str(a, r, i, 0);
    g->name = yw_col_str(a, r, i, 1);
    g->level = yw_enum_from_db(&yiwang__catalog__v1__region_level__descriptor, PQgetvalue(r, i, 2));
    g->parent_code = yw_col_str(a, r, i, 3);
    if (g->code == NULL || g->name == NULL || g->parent_code == NULL) break;
    resp->regions[resp->n_regions++] = g;
  }
  PQclear(r);
  if (resp == NULL || (int)resp->n_regions != n) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

static const char TOPICS_LIST_SQL[] =
    "SELECT t.code, t.name, t.audience,"
    "       (SELECT count(*) FROM catalog.item_topics it JOIN catalog.items i ON i.id = it.item_id"
    "        WHERE it.topic_code = t.code AND i.status = 'published')"
    " FROM catalog.topics t WHERE $1 = '' OR t.audience = $1 ORDER BY t.sort, t.code";

static int list_topics(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  const Yiwang__Catalog__V1__ListTopicsRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  if (req->audience[0] != '\0' && strcmp(req->audience, "person") != 0 &&
      strcmp(req->audience, "company") != 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "audience must be person or company");
  const char *params[] = {req->audience};
  PGresult *r = NULL;
  int rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, TOPICS_LIST_SQL, 1, params, &r);
  if (rc != 0) return rc;
  Yiwang__Catalog__V1__ListTopicsResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int n = PQntuples(r);
  if (resp != NULL) {
    yiwang__catalog__v1__list_topics_response__init(resp);
    resp->topics = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->topics);
  }
  for (int i = 0; resp != NULL && resp->topics != NULL && i < n; i++) {
    Yiwang__Catalog__V1__Topic *t = yw_arena_alloc(a, sizeof *t);
    if (t == NULL) break;
    yiwang__catalog__v1__topic__init(t);
    t->code = yw_col_str(a, r, i, 0);
    t->name = yw_col_str(a, r, i, 1);
    t->audience = yw_col_str(a, r, i, 2);
    t->item_count = (int32_t)yw_col_ll(r, i, 3);
    if (t->code == NULL || t->name == NULL || t->audience == NULL) break;
    resp->topics[resp->n_topics++] = t;
  }
  PQclear(r);
  if (resp == NULL || (int)resp->n_topics != n) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

/* ---- UpsertItem ------------------------------------------------------------------ */

static const char UPSERT_SQL[] =
    "INSERT INTO catalog.items (basic_code, impl_code, name, type, department_code, region_code,"
    "  level, legal_basis, conditions, fee_required, fee_amount_fen, fee_basis, legal_limit_days,"
    "  promised_limit_days, processing_kind, online_depth, channels, consult_phone, status,"
    "  keywords, details, form)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::boolean, $11::bigint, $12, $13::int,"
    "  $14::int, $15, $16::int, $17::text[], $18, COALESCE(NULLIF($19, ''), 'draft'), $20,"
    "  COALESCE($21::jsonb, '{}'), NULLIF($22::jsonb, 'null'))"
    " ON CONFLICT (impl_code) DO UPDATE SET basic_code = EXCLUDED.basic_code,"
    "  name = EXCLUDED.name, type = EXCLUDED.type, department_code = EXCLUDED.department_code,"
    "  region_code = EXCLUDED.region_code, level = EXCLUDED.level,"
    "  legal_basis = EXCLUDED.legal_basis, conditions = EXCLUDED.conditions,"
    "  fee_required = EXCLUDED.fee_required, fee_amount_fen = EXCLUDED.fee_amount_fen,"
    "  fee_basis = EXCLUDED.fee_basis, legal_limit_days = EXCLUDED.legal_limit_days,"
    "  promised_limit_days = EXCLUDED.promised_limit_days,"
    "  processing_kind = EXCLUDED.processing_kind, online_depth = EXCLUDED.online_depth,"
    "  channels = EXCLUDED.channels, consult_phone = EXCLUDED.consult_phone,"
    /* no status in the request ('') keeps the stored one */
    "  status = COALESCE(NULLIF($19, ''), catalog.items.status), keywords = EXCLUDED.keywords,"
    /* no details or form in the request (NULL) keeps the stored ones; a form of JSON
     * null removes it */
    "  details = COALESCE($21::jsonb, catalog.items.details),"
    "  form = CASE WHEN $22::jsonb IS NULL THEN catalog.items.form ELSE EXCLUDED.form END,"
    "  version = catalog.next_version(catalog.items.id, catalog.items.version),"
    "  updated_at = now(), effective_from = now()"
    " RETURNING id";

/* The level of a region must be the item's level. */
static const char REGION_LEVEL_SQL[] = "SELECT level FROM catalog.regions WHERE code = $1";

/* The stored item, locked for the rest of the write: who holds it is decided by this
 * row, never by the department or region the request names. */
static const char STORED_SQL[] =
    "SELECT i.department_code, i.region_code, i.basic_code, i.status,"
    "       EXISTS (SELECT 1 FROM catalog.item_versions v"
    "               WHERE v.item_id = i.id AND v.version > i.version)"
    " FROM catalog.items i WHERE i.impl_code = $1 FOR UPDATE OF i";

/* Builds a PostgreSQL array literal of channel names, which validate_item restricted to
 * [a-z-], so no element needs quoting. */
static char *channels_literal(yw_arena *a, const Item *it) {
  size_t len = 3;
  for (size_t i = 0; i < it->n_channels; i++) len += strlen(it->channels[i]) + 1;
  char *s = yw_arena_alloc(a, len);
  if (s == NULL) return NULL;
  size_t o = 0;
  s[o++] = '{';
  for (size_t i = 0; i < it->n_channels; i++) {
    if (i > 0) s[o++] = ',';
    size_t n = strlen(it->channels[i]);
    memcpy(s + o, it->channels[i], n);
    o += n;
  }
  s[o++] = '}';
  s[o] = '\0';
  return s;
}

/* A file reference names a stored file by its SHA-256 (64 lower-case hex digits). */
static int check_file(yw_rpc_call *call, const char *field, const Yiwang__Files__V1__FileRef *f) {
  if (f == NULL) return 0;
  if (strlen(f->sha256) != 64 || strspn(f->sha256, "0123456789abcdef") != 64 || f->size < 0 ||
      strlen(f->name) > 200 || strlen(f->content_type) > 100)
    return yw_rpc_call_fail(
        call, YW_EINVAL, "%s must name a stored file (sha256 of 64 hex digits, size >= 0)", field);
  return 0;
}

/* Bounds of the national fields: list lengths, the visits, the real-name level, fees. */
static int validate_details(yw_rpc_call *call, const Yiwang__Catalog__V1__ItemDetails *d) {
  if (d == NULL) return 0;
  if (d->n_halls > 20 || d->n_sub_cases > 30 || d->n_results > 10 || d->n_intermediaries > 10 ||
      d->n_faqs > 50 || d->n_forms > 20 || d->n_fee_items > 20 || d->n_joint_departments > 20 ||
      d->n_audiences > 2)
    return yw_rpc_call_fail(call, YW_EINVAL, "too many entries in item.details");
  if (d->max_visits < 0 || d->max_visits > 10)
    return yw_rpc_call_fail(call, YW_EINVAL, "item.details.maxVisits must be 0 to 10");
  if (d->at_most_one_visit && d->max_visits > 1)
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "item.details.atMostOneVisit needs maxVisits of 0 or 1");
  if (d->min_realname_level < 0 || d->min_realname_level > 3)
    return yw_rpc_call_fail(call, YW_EINVAL, "item.details.minRealnameLevel must be 0 to 3");
  for (size_t i = 0; i < d->n_halls; i++)
    if (d->halls[i]->name[0] == '\0' || d->halls[i]->address[0] == '\0')
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "item.details.halls[%zu] needs a name and an address", i);
  for (size_t i = 0; i < d->n_sub_cases; i++)
    if (d->sub_cases[i]->name[0] == '\0')
      return yw_rpc_call_fail(call, YW_EINVAL, "item.details.subCases[%zu] needs a name", i);
  for (size_t i = 0; i < d->n_faqs; i++)
    if (d->faqs[i]->question[0] == '\0' || d->faqs[i]->answer[0] == '\0')
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "item.details.faqs[%zu] needs a question and an answer", i);
  int rc;
  for (size_t i = 0; i < d->n_results; i++)
    if ((rc = check_file(call, "item.details.results[].sample", d->results[i]->sample)) != 0)
      return rc;
  for (size_t i = 0; i < d->n_forms; i++) {
    if (d->forms[i]->name[0] == '\0')
      return yw_rpc_call_fail(call, YW_EINVAL, "item.details.forms[%zu] needs a name", i);
    if ((rc = check_file(call, "item.details.forms[].blank", d->forms[i]->blank)) != 0 ||
        (rc = check_file(call, "item.details.forms[].sample", d->forms[i]->sample)) != 0)
      return rc;
  }
  for (size_t i = 0; i < d->n_fee_items; i++) {
    const Yiwang__Catalog__V1__FeeItem *f = d->fee_items[i];
    if (f->name[0] == '\0' || f->n_tiers == 0 || f->n_tiers > 10)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "item.details.feeItems[%zu] needs a name and 1 to 10 tiers", i);
    for (size_t j = 0; j < f->n_tiers; j++)
      if (f->tiers[j]->amount_fen < 0)
        return yw_rpc_call_fail(call, YW_EINVAL, "item.details.feeItems[%zu] has a negative amount",
                                i);
  }
  return 0;
}

static int validate_item(yw_rpc_call *call, const Item *it) {
  int rc;
  if (it->basic_code[0] == '\0' || it->impl_code[0] == '\0')
    return yw_rpc_call_fail(call, YW_EINVAL, "item.basicCode and item.implCode are required");
  if ((rc = check_code(call, "item.basicCode", it->basic_code)) != 0) return rc;
  if ((rc = check_code(call, "item.implCode", it->impl_code)) != 0) return rc;
  if ((rc = check_code(call, "item.departmentCode", it->department_code)) != 0) return rc;
  if ((rc = check_code(call, "item.regionCode", it->region_code)) != 0) return rc;
  if (it->name[0] == '\0' || strlen(it->name) > 600)
    return yw_rpc_call_fail(call, YW_EINVAL, "item.name is required (at most 200 characters)");
  if (it->legal_basis[0] == '\0')
    return yw_rpc_call_fail(call, YW_EINVAL, "item.legalBasis is required");
  if (it->type == 0 || it->level == 0 || it->processing_kind == 0)
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "item.type, item.level and item.processingKind are required");
  if (it->legal_limit_days < 0 || it->promised_limit_days < 0 ||
      (it->legal_limit_days > 0 && it->promised_limit_days > it->legal_limit_days))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "item.promisedLimitDays must be between 0 and item.legalLimitDays");
  if (it->processing_kind == YIWANG__CATALOG__V1__PROCESSING_KIND__INSTANT &&
      it->promised_limit_days != 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "an instant item has no promised days");
  if (it->online_depth < 1 || it->online_depth > 4)
    return yw_rpc_call_fail(call, YW_EINVAL, "item.onlineDepth must be 1 to 4");
  if (it->fee != NULL && it->fee->required && it->fee->amount_fen <= 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "a required fee needs a positive item.fee.amountFen");
  if (it->fee != NULL && it->fee->amount_fen < 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "item.fee.amountFen cannot be negative");
  if (it->n_channels > 8) return yw_rpc_call_fail(call, YW_EINVAL, "at most 8 channels");
  for (size_t i = 0; i < it->n_channels; i++) {
    const char *c = it->channels[i];
    if (c[0] == '\0' || strlen(c) > 32 || strspn(c, "abcdefghijklmnopqrstuvwxyz-") != strlen(c))
      return yw_rpc_call_fail(call, YW_EINVAL, "channels are lower-case words such as app, window");
  }
  if (strlen(it->keywords) > 2000)
    return yw_rpc_call_fail(call, YW_EINVAL, "item.keywords is longer than 2000 bytes");
  if (it->n_materials > 50 || it->n_steps > 30 || it->n_topics > 10)
    return yw_rpc_call_fail(call, YW_EINVAL, "too many materials, steps or topics");
  for (size_t i = 0; i < it->n_materials; i++)
    if (it->materials[i]->name[0] == '\0' || it->materials[i]->form == 0 ||
        it->materials[i]->copies < 0)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "item.materials[%zu] needs a name, a form and copies >= 0", i);
  for (size_t i = 0; i < it->n_topics; i++)
    if ((rc = check_code(call, "item.topics", it->topics[i])) != 0) return rc;
  return validate_details(call, it->details);
}

static int upsert_children(PGconn *conn, yw_arena *a, const char *id, const Item *it,
                           yw_pg_error *err) {
  const char *pid[] = {id};
  int rc =
      yw_pg_query(conn, "DELETE FROM catalog.item_materials WHERE item_id = $1", 1, pid, NULL, err);
  if (rc == 0)
    rc = yw_pg_query(conn, "DELETE FROM catalog.item_steps WHERE item_id = $1", 1, pid, NULL, err);
  if (rc == 0)
    rc = yw_pg_query(conn, "DELETE FROM catalog.item_topics WHERE item_id = $1", 1, pid, NULL, err);
  for (size_t i = 0; rc == 0 && i < it->n_materials; i++) {
    const Yiwang__Catalog__V1__Material *m = it->materials[i];
    char seq[24], copies[16];
    snprintf(seq, sizeof seq, "%zu", i + 1);
    snprintf(copies, sizeof copies, "%d", m->copies);
    const char *p[] = {
        id,
        seq,
        m->name,
        yw_enum_to_db(a, &yiwang__catalog__v1__material_form__descriptor, m->form, 0),
        copies,
        m->required ? "true" : "false",
        m->license_replaceable ? "true" : "false",
        m->note};
    rc = yw_pg_query(conn,
                     "INSERT INTO catalog.item_materials (item_id, seq, name, form, copies,"
                     " required, license_replaceable, note)"
                     " VALUES ($1::bigint, $2::int, $3, $4, $5::int, $6::boolean, $7::boolean, $8)",
                     8, p, NULL, err);
  }
  for (size_t i = 0; rc == 0 && i < it->n_steps; i++) {
    char seq[24];
    snprintf(seq, sizeof seq, "%zu", i + 1);
    const char *p[] = {id, seq, it->steps[i]->name, it->steps[i]->description};
    rc = yw_pg_query(conn,
                     "INSERT INTO catalog.item_steps (item_id, seq, name, description)"
                     " VALUES ($1::bigint, $2::int, $3, $4)",
                     4, p, NULL, err);
  }
  for (size_t i = 0; rc == 0 && i < it->n_topics; i++) {
    const char *p[] = {id, it->topics[i]};
    rc = yw_pg_query(conn,
                     "INSERT INTO catalog.item_topics (item_id, topic_code) VALUES ($1::bigint, $2)"
                     " ON CONFLICT DO NOTHING",
                     2, p, NULL, err);
  }
  return rc;
}

/* The write of UpsertItem, in one transaction: the region checked, the item and its
 * lists written, the audit record, and the item read back as it is now. */
struct upsert_work {
  const yw_caller *caller;
  const Item *it;
  const char *text[9]; /* type, level, kind, status, channels, fee, legal, promised, depth */
  const char *details; /* the ItemDetails as JSON; NULL keeps the stored ones */
  const char *form;    /* the form definition as JSON, "null" to remove it, NULL to keep it */
  Item *saved;
};

/* One record of the catalog's audit log for the caller of w: action on target, with
 * detail (NULL: none), in the write's transaction. */
static int audit(yw_rpc_call *call, PGconn *conn, const struct upsert_work *w, const char *action,
                 const char *target, const char *detail, yw_pg_error *err) {
  return catalog_audit(call, conn, w->caller, action, target, detail, err);
}

int catalog_audit(yw_rpc_call *call, PGconn *conn, const yw_caller *caller, const char *action,
                  const char *target, const char *detail, yw_pg_error *err) {
  const char *p[] = {caller->subject,
                     caller->department,
                     action,
                     target,
                     yw_rpc_call_request_id(call),
                     caller->ip,
                     detail != NULL ? detail : ""};
  return yw_pg_query(conn,
                     "INSERT INTO catalog.audit_log (actor, department, action, target,"
                     " request_id, source_ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                     7, p, NULL, err);
}

/* The stored item a write replaces, as check_holder read it (strings in the call's
 * arena). basic is NULL when the item is new. */
struct stored_item {
  char *basic;      /* its basic code */
  char *status;     /* the status of its row, the version in effect */
  int pending;      /* a draft newer than the row is kept in item_versions */
  char *moved_from; /* the department a platform administrator's move takes it from */
};

/* Checks the write against the stored row (locked until the transaction ends) and
 * fills *st. A department administrator writes only items its department holds, and
 * keeps their department and region; a platform administrator may move an item, and
 * st->moved_from then names the department it leaves. */
static int check_holder(yw_rpc_call *call, PGconn *conn, const struct upsert_work *w,
                        struct stored_item *st, yw_pg_error *err) {
  const Item *it = w->it;
  const char *p[] = {it->impl_code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, STORED_SQL, 1, p, &r, err);
  if (rc != 0) return rc;
  memset(st, 0, sizeof *st);
  if (PQntuples(r) == 0) { /* a new item: upsert_item checked the department it names */
    PQclear(r);
    return 0;
  }
  st->basic = yw_col_str(yw_rpc_call_arena(call), r, 0, 2);
  st->status = yw_col_str(yw_rpc_call_arena(call), r, 0, 3);
  st->pending = yw_col_bool(r, 0, 4);
  if (st->basic == NULL || st->status == NULL) {
    PQclear(r);
    return YW_ENOMEM;
  }
  const char *dept = PQgetvalue(r, 0, 0), *region = PQgetvalue(r, 0, 1);
  if (!yw_caller_has_role(w->caller, "platform_admin")) {
    if (strcmp(dept, w->caller->department) != 0)
      rc =
          yw_rpc_call_fail(call, YW_EPERM, "item %s belongs to department %s", it->impl_code, dept);
    else if (strcmp(it->department_code, dept) != 0)
      rc = yw_rpc_call_fail(
          call, YW_EPERM, "moving an item to another department is a platform administrator's act");
    else if (strcmp(it->region_code, region) != 0)
      rc = yw_rpc_call_fail(call, YW_EPERM, "item %s stays in region %s", it->impl_code, region);
  } else if (strcmp(it->department_code, dept) != 0) {
    st->moved_from = yw_arena_strndup(yw_rpc_call_arena(call), dept, (size_t)-1);
    if (st->moved_from == NULL) rc = YW_ENOMEM;
  }
  PQclear(r);
  return rc;
}

/* Keeps the item as it is now (it, its newest version, as load_item read it) in
 * item_versions, once, and closes the window of the versions before it where this one
 * begins. */
static const char SNAPSHOT_SQL[] =
    "WITH s AS ("
    "  INSERT INTO catalog.item_versions (item_id, version, status, effective_from, body, actor)"
    "  SELECT id, version, status, effective_from, $2::bytea, $3 FROM catalog.items"
    "  WHERE impl_code = $1"
    "  ON CONFLICT (item_id, version) DO NOTHING RETURNING item_id, version, effective_from)"
    " UPDATE catalog.item_versions v SET effective_to = s.effective_from FROM s"
    " WHERE v.item_id = s.item_id AND v.version < s.version AND v.effective_to IS NULL";

/* The packed item as a bytea parameter (hex), in the arena; NULL when out of memory. */
static const char *packed_param(yw_arena *a, const Item *it) {
  size_t len = protobuf_c_message_get_packed_size(&it->base);
  uint8_t *buf = yw_arena_alloc(a, len + 1);
  char *hex = yw_arena_alloc(a, 2 * len + 3);
  if (buf == NULL || hex == NULL) return NULL;
  protobuf_c_message_pack(&it->base, buf);
  return yw_pg_bytea_hex(hex, buf, len);
}

static int snapshot_item(PGconn *conn, yw_arena *a, const Item *it, const char *actor,
                         yw_pg_error *err) {
  const char *body = packed_param(a, it);
  if (body == NULL) return YW_ENOMEM;
  const char *p[] = {it->impl_code, body, actor};
  return yw_pg_query(conn, SNAPSHOT_SQL, 3, p, NULL, err);
}

/* A draft of an item in effect, kept aside: a version of its own in item_versions that
 * is never served, its window never opened (README.md, "Drafts"). */
static const char DRAFT_SQL[] =
    "INSERT INTO catalog.item_versions (item_id, version, status, effective_from, body, actor)"
    " SELECT id, $2::int, 'draft', now(), $3::bytea, $4 FROM catalog.items WHERE impl_code = $1";

/* The newest draft kept aside for the item, if any. */
static const char PENDING_SQL[] =
    "SELECT v.body FROM catalog.item_versions v JOIN catalog.items i ON i.id = v.item_id"
    " WHERE i.impl_code = $1 AND v.version > i.version ORDER BY v.version DESC LIMIT 1";

/* An update without details or form keeps those of the item's newest version; when a
 * draft is pending that is the draft's, set here into w (the row's are kept by
 * UPSERT_SQL). */
static int keep_draft_fields(PGconn *conn, yw_arena *a, struct upsert_work *w,
                             yw_pg_error *err) {
  if (w->details != NULL && w->form != NULL) return 0;
  const char *p[] = {w->it->impl_code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, PENDING_SQL, 1, p, &r, err);
  if (rc != 0) return rc;
  int rows = PQntuples(r);
  Item *d = rows > 0 ? unpack_item(a, r, 0) : NULL;
  PQclear(r);
  if (rows == 0) return 0;
  if (d == NULL) return YW_EINTERNAL;
  char *json = NULL;
  size_t len = 0;
  if (w->details == NULL) {
    if (d->details != NULL && yw_json_write(&d->details->base, 0, &json, &len) != 0)
      return YW_EINTERNAL;
    w->details = yw_arena_strndup(a, json != NULL ? json : "{}", (size_t)-1);
    free(json);
    json = NULL;
    if (w->details == NULL) return YW_ENOMEM;
  }
  if (w->form == NULL && d->form == NULL) w->form = "null";
  if (w->form == NULL) {
    json_t *def = yw_json_from_message(&d->form->base, 0);
    json = def != NULL ? json_dumps(def, JSON_COMPACT) : NULL;
    json_decref(def);
    w->form = json != NULL ? yw_arena_strndup(a, json, (size_t)-1) : NULL;
    free(json);
    if (w->form == NULL) return YW_ENOMEM;
  }
  return 0;
}

/* snapshot_item of the item with this code as it is stored now. */
static int snapshot_code(PGconn *conn, yw_arena *a, const char *code, const char *actor,
                         yw_pg_error *err) {
  Item *it = NULL;
  int rc = load_item(conn, a, code, 1, &it, err);
  return rc == 0 ? snapshot_item(conn, a, it, actor, err) : rc;
}

/* The coding rule (services/catalog/README.md): a basic code is two capital letters and
 * eight digits; the implementation code of a new item is its basic code, "-", and the
 * code of the implementing department. Codes are identifiers that applications keep:
 * a stored item's basic code never changes (stored_basic, NULL for a new item), and an
 * item a platform administrator moves keeps its implementation code, which must still
 * derive from the basic code and the item's region (a move stays in the region). Every
 * item's department is in the item's region. */
static int check_codes(yw_rpc_call *call, PGconn *conn, const Item *it, const char *stored_basic,
                       yw_pg_error *err) {
  const char *b = it->basic_code;
  if (stored_basic != NULL) {
    size_t nb = strlen(b), nr = strlen(it->region_code);
    if (strcmp(b, stored_basic) != 0)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "item.basicCode of item %s is %s and never changes: its"
                              " implementation code derives from it",
                              it->impl_code, stored_basic);
    if (strncmp(it->impl_code, b, nb) != 0 || it->impl_code[nb] != '-' ||
        strncmp(it->impl_code + nb + 1, it->region_code, nr) != 0 ||
        it->impl_code[nb + 1 + nr] != '-')
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "item.regionCode: item %s derives from its region and moves only"
                              " within it, not to %s",
                              it->impl_code, it->region_code);
  } else {
    int layout = strlen(b) == 10 && isupper((unsigned char)b[0]) && isupper((unsigned char)b[1]);
    for (size_t i = 2; layout && i < 10; i++) layout = isdigit((unsigned char)b[i]) != 0;
    if (!layout)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "item.basicCode %s is not two capital letters and eight digits", b);
    size_t nb = strlen(b);
    if (strncmp(it->impl_code, b, nb) != 0 || it->impl_code[nb] != '-' ||
        strcmp(it->impl_code + nb + 1, it->department_code) != 0)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "item.implCode must be %s-%s (basic code-department)", b,
                              it->department_code);
  }
  const char *p[] = {it->department_code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, "SELECT region_code FROM catalog.departments WHERE code = $1", 1, p,
                       &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0)
    rc = yw_rpc_call_fail(call, YW_EPRECOND, "no department with code %s", it->department_code);
  else if (strcmp(PQgetvalue(r, 0, 0), it->region_code) != 0)
    rc = yw_rpc_call_fail(call, YW_EINVAL, "department %s is in region %s, not %s",
                          it->department_code, PQgetvalue(r, 0, 0), it->region_code);
  PQclear(r);
  return rc;
}

/* The suffix of a department code, which names the kind of department at every level
 * ("SCJG" of "320700-SCJG"); the whole code when it has no '-'. */
static const char *department_suffix(const char *code) {
  const char *dash = strrchr(code, '-');
  return dash != NULL ? dash + 1 : code;
}

/* A basic code belongs to one department (basic_items.owner, its suffix): above the
 * towns only that department's items implement it, so no other department sets or
 * changes its entry either. A town's one 便民服务中心 implements the items of every
 * department. A platform administrator may have another department implement a code;
 * that is audited as basic_owner_override with "owner -> department". A code not in
 * the list has no owner yet: set_basic starts its entry or the schema refuses it. */
static int check_owner(yw_rpc_call *call, PGconn *conn, const struct upsert_work *w,
                       yw_pg_error *err) {
  const Item *it = w->it;
  if (strcmp(w->text[1], "town") == 0) return 0;
  const char *p[] = {it->basic_code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT COALESCE(owner, '') FROM catalog.basic_items WHERE basic_code = $1",
                       1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0 ||
      strcmp(PQgetvalue(r, 0, 0), department_suffix(it->department_code)) == 0) {
    PQclear(r);
    return 0;
  }
  char detail[2 * CODE_MAX_BYTES + 8];
  snprintf(detail, sizeof detail, "%s -> %s", PQgetvalue(r, 0, 0), it->department_code);
  if (!yw_caller_has_role(w->caller, "platform_admin")) {
    rc = yw_rpc_call_fail(call, YW_EPERM,
                          "basic code %s belongs to the %s departments: only they implement it",
                          it->basic_code, PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
  }
  PQclear(r);
  return audit(call, conn, w, "basic_owner_override", it->impl_code, detail, err);
}

/* The basic list (基本目录) entry of the item's basic code. A published province-level
 * item sets it (`published`; a draft or a retired one only starts an entry not listed
 * yet), and the items of that code at every other level follow (their name, type and
 * legal basis are rewritten, with a new version); a platform administrator's item at
 * any level may start an entry that does not exist yet. An entry started belongs to the
 * item's department (its suffix, $6; check_owner let only that department's province
 * item reach an entry that exists). Any other write leaves the list alone, and the
 * schema's trigger then refuses an item that differs from it. */
static const char BASIC_SET_SQL[] =
    "INSERT INTO catalog.basic_items (basic_code, name, type, legal_basis, owner)"
    " VALUES ($1, $2, $3, $4, $6)"
    " ON CONFLICT (basic_code) DO UPDATE SET name = EXCLUDED.name, type = EXCLUDED.type,"
    "  legal_basis = EXCLUDED.legal_basis"
    " WHERE $5::boolean AND (catalog.basic_items.name, catalog.basic_items.type,"
    "  catalog.normalize_basis(catalog.basic_items.legal_basis))"
    "  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.type, "
    "catalog.normalize_basis(EXCLUDED.legal_basis))"
    " RETURNING basic_code";

static const char BASIC_FOLLOW_SQL[] =
    "UPDATE catalog.items SET name = $2, type = $3, legal_basis = $4,"
    "  version = catalog.next_version(id, version), updated_at = now(), effective_from = now()"
    " WHERE basic_code = $1 AND impl_code <> $5"
    "   AND (name, type, catalog.normalize_basis(legal_basis))"
    "       IS DISTINCT FROM ($2, $3, catalog.normalize_basis($4))"
    " RETURNING impl_code";

/* The items BASIC_FOLLOW_SQL will rewrite, locked. */
static const char BASIC_FOLLOWERS_SQL[] =
    "SELECT impl_code FROM catalog.items"
    " WHERE basic_code = $1 AND impl_code <> $5"
    "   AND (name, type, catalog.normalize_basis(legal_basis))"
    "       IS DISTINCT FROM ($2, $3, catalog.normalize_basis($4))"
    " ORDER BY impl_code FOR UPDATE";

static int set_basic(yw_rpc_call *call, PGconn *conn, const struct upsert_work *w, int published,
                     yw_pg_error *err) {
  const Item *it = w->it;
  int province = strcmp(w->text[1], "province") == 0;
  if (!province && !yw_caller_has_role(w->caller, "platform_admin")) return 0;
  const char *p[] = {it->basic_code, it->name, w->text[0], it->legal_basis,
                     province && published ? "true" : "false",
                     department_suffix(it->department_code)};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, BASIC_SET_SQL, 6, p, &r, err);
  if (rc != 0) return rc;
  int changed = PQntuples(r) > 0;
  PQclear(r);
  if (!changed) return 0;
  /* every version of the followers is kept: the one they leave, and the new one */
  yw_arena *a = yw_rpc_call_arena(call);
  const char *pf[] = {it->basic_code, it->name, w->text[0], it->legal_basis, it->impl_code};
  rc = yw_pg_query(conn, BASIC_FOLLOWERS_SQL, 5, pf, &r, err);
  for (int i = 0; rc == 0 && i < PQntuples(r); i++)
    rc = snapshot_code(conn, a, PQgetvalue(r, i, 0), w->caller->subject, err);
  PQclear(r);
  r = NULL;
  if (rc == 0) rc = yw_pg_query(conn, BASIC_FOLLOW_SQL, 5, pf, &r, err);
  for (int i = 0; rc == 0 && i < PQntuples(r); i++)
    rc = snapshot_code(conn, a, PQgetvalue(r, i, 0), w->caller->subject, err);
  char detail[64];
  snprintf(detail, sizeof detail, "%d items followed", r != NULL ? PQntuples(r) : 0);
  PQclear(r);
  if (rc != 0) return rc;
  return audit(call, conn, w, "basic_item_set", it->basic_code, detail, err);
}

/* Keeps the draft that upsert_tx just wrote under SAVEPOINT draft as a version of its
 * own: reads it back into w->saved, undoes the write (the row stays the version in
 * effect, the basic list as it was), and stores the draft in item_versions. */
static int keep_aside(yw_rpc_call *call, PGconn *conn, struct upsert_work *w, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *code = w->it->impl_code;
  int rc = load_item(conn, a, code, 1, &w->saved, err);
  if (rc == 0) rc = yw_pg_query(conn, "ROLLBACK TO SAVEPOINT draft", 0, NULL, NULL, err);
  if (rc == 0) rc = yw_pg_query(conn, "RELEASE SAVEPOINT draft", 0, NULL, NULL, err);
  if (rc != 0) return rc;
  char version[16];
  snprintf(version, sizeof version, "%d", w->saved->version);
  const char *body = packed_param(a, w->saved);
  if (body == NULL) return YW_ENOMEM;
  const char *p[] = {code, version, body, w->caller->subject};
  rc = yw_pg_query(conn, DRAFT_SQL, 4, p, NULL, err);
  return rc == 0 ? audit(call, conn, w, "item_upsert", code, "draft", err) : rc;
}

static int upsert_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct upsert_work *w = arg;
  const Item *it = w->it;
  const char *const *t = w->text;
  yw_arena *a = yw_rpc_call_arena(call);
  PGresult *r = NULL;
  struct stored_item st;
  int rc = check_holder(call, conn, w, &st, err);
  if (rc == 0) rc = check_codes(call, conn, it, st.basic, err);
  if (rc != 0) return rc;
  /* the status written: the request's, else the newest version's (a pending draft's) */
  const char *status = t[3];
  if (status[0] == '\0') status = st.basic == NULL || st.pending ? "draft" : st.status;
  /* a draft of an item in effect is kept aside, the item left as it is (keep_aside) */
  int aside = st.basic != NULL && strcmp(st.status, "draft") != 0 && strcmp(status, "draft") == 0;
  if (st.pending) rc = keep_draft_fields(conn, a, w, err);
  /* the version this write replaces stays readable (kept once; a seeded item's first) */
  if (rc == 0 && st.basic != NULL && !aside)
    rc = snapshot_code(conn, a, it->impl_code, w->caller->subject, err);
  if (rc != 0) return rc;
  const char *pr[] = {it->region_code};
  rc = yw_pg_query(conn, REGION_LEVEL_SQL, 1, pr, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_EPRECOND, "no region with code %s", it->region_code);
  }
  if (strcmp(PQgetvalue(r, 0, 0), t[1]) != 0) {
    rc = yw_rpc_call_fail(call, YW_EINVAL, "region %s is a %s, not a %s", it->region_code,
                          PQgetvalue(r, 0, 0), t[1]);
    PQclear(r);
    return rc;
  }
  PQclear(r);
  rc = check_owner(call, conn, w, err);
  /* a draft kept aside is written and checked as its publication would be, then undone */
  if (rc == 0 && aside) rc = yw_pg_query(conn, "SAVEPOINT draft", 0, NULL, NULL, err);
  if (rc == 0) rc = set_basic(call, conn, w, aside || strcmp(status, "published") == 0, err);
  if (rc != 0) return rc;
  const char *p[] = {it->basic_code,
                     it->impl_code,
                     it->name,
                     t[0],
                     it->department_code,
                     it->region_code,
                     t[1],
                     it->legal_basis,
                     it->conditions,
                     it->fee != NULL && it->fee->required ? "true" : "false",
                     t[5],
                     it->fee != NULL ? it->fee->basis : "",
                     t[6],
                     t[7],
                     t[2],
                     t[8],
                     t[4],
                     it->consult_phone,
                     status,
                     it->keywords,
                     w->details,
                     w->form};
  rc = yw_pg_query(conn, UPSERT_SQL, 22, p, &r, err);
  if (rc != 0) return rc;
  char *id = yw_col_str(a, r, 0, 0);
  PQclear(r);
  if (id == NULL) return YW_ENOMEM;
  rc = upsert_children(conn, a, id, it, err);
  if (rc != 0) return rc;
  if (aside) return keep_aside(call, conn, w, err);
  rc = audit(call, conn, w, "item_upsert", it->impl_code, NULL, err);
  if (rc == 0 && st.moved_from != NULL) {
    char detail[2 * CODE_MAX_BYTES + 8];
    snprintf(detail, sizeof detail, "%s -> %s", st.moved_from, it->department_code);
    rc = audit(call, conn, w, "item_move", it->impl_code, detail, err);
  }
  if (rc != 0) return rc;
  rc = load_item(conn, a, it->impl_code, 1, &w->saved, err);
  if (rc == 0) rc = snapshot_item(conn, a, w->saved, w->caller->subject, err);
  return rc;
}

/* UpsertItem's write under the call's Idempotency-Key (lib/yw_idem.h): the write and the
 * kept answer commit together, so a repeated request is answered without writing again. */
static int upsert_idem(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *req,
                       ProtobufCMessage **out, void *arg) {
  (void)req;
  struct upsert_work *w = arg;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  int rc = upsert_tx(call, conn, w, &err);
  if (rc != 0) return err.message[0] != '\0' ? yw_service_db_fail(call, rc, &err) : rc;
  *out = &w->saved->base;
  return 0;
}

/* The item's form definition, checked by yw_form, as JSON text into *out (malloc; NULL
 * when the request has none, which keeps the stored one; "null" for an empty one, which
 * removes it). A bad one is INVALID_ARGUMENT naming item.form.<path> (also as the
 * call's field violations). */
static int check_form(yw_rpc_call *call, const Google__Protobuf__Struct *form, char **out) {
  *out = NULL;
  if (form == NULL) return 0;
  if (form->n_fields == 0) {
    *out = strdup("null");
    return *out != NULL ? 0 : YW_ENOMEM;
  }
  json_t *def = yw_json_from_message(&form->base, 0);
  if (def == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "item.form cannot be read as JSON");
  char *text = json_dumps(def, JSON_COMPACT);
  size_t len = text != NULL ? strlen(text) : 0;
  yw_form *parsed = NULL;
  yw_form_error ferr;
  int rc = text == NULL ? YW_ENOMEM : len > FORM_DEF_MAX_BYTES ? YW_ETOOBIG
                                                                 : yw_form_parse(def, &parsed, &ferr);
  json_decref(def);
  yw_form_free(parsed);
  if (rc == YW_ETOOBIG) {
    free(text);
    return yw_rpc_call_fail(call, YW_EINVAL, "item.form is longer than %d bytes as JSON",
                            FORM_DEF_MAX_BYTES);
  }
  if (rc == YW_EINVAL) {
    free(text);
    char path[YW_FORM_PATH_MAX + 16], message[YW_FORM_PATH_MAX + 200];
    snprintf(path, sizeof path, "item.form%s%s", ferr.path[0] != '\0' ? "." : "", ferr.path);
    snprintf(message, sizeof message, "%s: %s", path, ferr.reason);
    json_t *fields = json_pack("[{s:s, s:s}]", "field", path, "reason", "INVALID_DEFINITION");
    rc = yw_service_fail_fields(call, message, fields);
    json_decref(fields);
    return rc;
  }
  if (rc != 0) {
    free(text);
    return rc;
  }
  *out = text;
  return 0;
}

/* A write on its way: what upsert_item prepared, kept in the call's arena while the
 * item's file references are checked (the strings are malloc'd: upsert_write frees). */
struct upsert_call {
  catalog_ctx *ctx;
  const ProtobufCMessage *req; /* the call's request */
  yw_caller caller;
  struct upsert_work w;
  char *details, *form;
};

/* Writes the item under the call's Idempotency-Key, then empties the read cache.
 * Returns 0 with *out, or the code (status set). */
static int upsert_write(yw_rpc_call *call, const ProtobufCMessage *reqm, struct upsert_call *u,
                        ProtobufCMessage **out) {
  catalog_ctx *ctx = u->ctx;
  /* a key, when the caller sends one, makes a repeated request answer the first result */
  const yw_idem_opts idem = {.schema = "catalog",
                             .keys = &ctx->caller_keys,
                             .response = &yiwang__catalog__v1__item__descriptor,
                             .db_wait_ms = ctx->db_wait_ms,
                             .redis = ctx->redis,
                             .redis_prefix = ctx->cache_prefix};
  ProtobufCMessage *saved = NULL;
  int rc = yw_idem_run(call, reqm, &saved, ctx->pool, &idem, upsert_idem, &u->w);
  free(u->details);
  free(u->form);
  u->details = u->form = NULL;
  if (rc != 0) return rc;
  cache_clear(ctx, yw_rpc_call_request_id(call));
  yw_log(YW_LOG_INFO, "catalog.item_saved", yw_rpc_call_request_id(call), "item %s saved by %s",
         u->w.it->impl_code, u->caller.subject);
  *out = saved;
  return 0;
}

/* The item's file references are checked (catalog_files_check): write, and answer. */
static void upsert_checked(yw_rpc_call *call, int rc, void *arg) {
  struct upsert_call *u = arg;
  ProtobufCMessage *out = NULL;
  if (rc == 0) {
    rc = upsert_write(call, u->req, u, &out);
  } else {
    free(u->details);
    free(u->form);
    u->details = u->form = NULL;
  }
  yw_rpc_call_finish(call, rc, rc == 0 ? out : NULL);
}

static int upsert_item(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  const Yiwang__Catalog__V1__UpsertItemRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  const Item *it = req->item;
  struct upsert_call *u = yw_arena_calloc(a, 1, sizeof *u);
  if (u == NULL) return YW_ENOMEM;
  u->ctx = ctx;
  u->req = reqm;
  /* who writes: a platform administrator, or an administrator of the item's department */
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "platform_admin,dept_admin",
                                    "editing items", &u->caller);
  if (rc != 0) return rc;
  if (it == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "item is required");
  if (!yw_caller_has_role(&u->caller, "platform_admin") &&
      strcmp(u->caller.department, it->department_code) != 0)
    return yw_rpc_call_fail(call, YW_EPERM, "department %s edits only its own items",
                            u->caller.department);
  rc = validate_item(call, it);
  if (rc != 0) return rc;

  const char *type = yw_enum_to_db(a, &yiwang__catalog__v1__item_type__descriptor, it->type, 0);
  const char *level =
      yw_enum_to_db(a, &yiwang__catalog__v1__region_level__descriptor, it->level, 1);
  const char *kind =
      yw_enum_to_db(a, &yiwang__catalog__v1__processing_kind__descriptor, it->processing_kind, 0);
  const char *status =
      it->status != 0
          ? yw_enum_to_db(a, &yiwang__catalog__v1__item_status__descriptor, it->status, 1)
          : ""; /* keep the stored status */
  char *channels = channels_literal(a, it);
  if (type == NULL || level == NULL || kind == NULL || status == NULL)
    return yw_rpc_call_fail(call, YW_EINVAL, "unknown enum value in item");
  if (channels == NULL) return YW_ENOMEM;
  char *fee_amount = yw_arena_alloc(a, 32), *legal = yw_arena_alloc(a, 16),
       *promised = yw_arena_alloc(a, 16), *depth = yw_arena_alloc(a, 16);
  if (fee_amount == NULL || legal == NULL || promised == NULL || depth == NULL) return YW_ENOMEM;
  snprintf(fee_amount, 32, "%lld", (long long)(it->fee != NULL ? it->fee->amount_fen : 0));
  snprintf(legal, 16, "%d", it->legal_limit_days);
  snprintf(promised, 16, "%d", it->promised_limit_days);
  snprintf(depth, 16, "%d", it->online_depth);

  size_t details_len = 0;
  if (it->details != NULL && yw_json_write(&it->details->base, 0, &u->details, &details_len) != 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "item.details cannot be written as JSON");
  if (details_len > DETAILS_MAX_BYTES) {
    free(u->details);
    return yw_rpc_call_fail(call, YW_EINVAL, "item.details is longer than %d bytes as JSON",
                            DETAILS_MAX_BYTES);
  }
  if ((rc = check_form(call, it->form, &u->form)) != 0) {
    free(u->details);
    return rc;
  }
  u->w = (struct upsert_work){&u->caller,
                              it,
                              {type, level, kind, status, channels, fee_amount, legal, promised,
                               depth},
                              u->details,
                              u->form,
                              NULL};
  /* the files the item names must be in the store as it says, before anything is written */
  rc = catalog_files_check(call, ctx, &u->caller, it, upsert_checked, u);
  if (rc == YW_RPC_DEFERRED) return rc;
  if (rc != 0) {
    free(u->details);
    free(u->form);
    return rc;
  }
  return upsert_write(call, reqm, u, out);
}

/* ---- GetItemDraft ---------------------------------------------------------------- */

/* The newest version of an item, a pending draft included, for its department. */
struct draft_work {
  const yw_caller *caller;
  const char *code;
  Item *item;
};

static int get_item_draft_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct draft_work *w = arg;
  const char *p[] = {w->code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, "SELECT department_code FROM catalog.items WHERE impl_code = $1", 1,
                       p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) rc = yw_rpc_call_fail(call, YW_ENOTFOUND, "no item with code %s", w->code);
  else if (!yw_caller_has_role(w->caller, "platform_admin") &&
           strcmp(PQgetvalue(r, 0, 0), w->caller->department) != 0)
    rc = yw_rpc_call_fail(call, YW_EPERM, "item %s belongs to department %s", w->code,
                          PQgetvalue(r, 0, 0));
  PQclear(r);
  if (rc != 0) return rc;
  rc = yw_pg_query(conn, PENDING_SQL, 1, p, &r, err);
  if (rc != 0) return rc;
  int pending = PQntuples(r) > 0;
  w->item = pending ? unpack_item(yw_rpc_call_arena(call), r, 0) : NULL;
  PQclear(r);
  if (pending) return w->item != NULL ? 0 : YW_EINTERNAL;
  return load_item(conn, yw_rpc_call_arena(call), w->code, 1, &w->item, err);
}

static int get_item_draft(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  const Yiwang__Catalog__V1__GetItemDraftRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "platform_admin,dept_admin,dept_staff",
                                    "reading drafts", &caller);
  if (rc != 0) return rc;
  if (req->code[0] == '\0') return yw_rpc_call_fail(call, YW_EINVAL, "code is required");
  if ((rc = check_code(call, "code", req->code)) != 0) return rc;
  struct draft_work w = {&caller, req->code, NULL};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, get_item_draft_tx, &w);
  if (rc != 0) return rc;
  *out = &w.item->base;
  return 0;
}

/* ---- the table ------------------------------------------------------------------- */

int catalog_load_item(PGconn *conn, yw_arena *a, const char *code, Item **out, yw_pg_error *err) {
  return load_item(conn, a, code, 0, out, err);
}

static const yw_rpc_method catalog_methods[] = {
    {"ListItems", list_items, NULL},
    {"GetItem", get_item, NULL},
    {"ListDepartments", list_departments, NULL},
    {"GetDepartment", get_department, NULL},
    {"ListRegions", list_regions, NULL},
    {"ListTopics", list_topics, NULL},
    {"UpsertItem", upsert_item, NULL},
    {"ListItemVersions", list_item_versions, NULL},
    {"GetItemDraft", get_item_draft, NULL},
    {"ListBundles", catalog_list_bundles, NULL},
    {"GetBundle", catalog_get_bundle, NULL},
    {"GetItemFile", catalog_get_item_file, NULL},
    {"UploadItemFiles", catalog_upload_item_files, NULL},
    {"WithdrawItemFile", catalog_withdraw_item_file, NULL},
};

void catalog_service_init(yw_rpc_service *svc, catalog_ctx *ctx) {
  svc->descriptor = &yiwang__catalog__v1__catalog_service__descriptor;
  svc->methods = catalog_methods;
  svc->n_methods = sizeof catalog_methods / sizeof catalog_methods[0];
  svc->data = ctx;
}
