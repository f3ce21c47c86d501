/*
 * test_catalog_service.c - yw-catalog on the real runtime against a real PostgreSQL:
 * the service runs in this process on yw_rpc_server (port 0), the test calls it with
 * yw_rpc_call_sync over a real gRPC connection, and the database is a fresh one with the
 * migrations and the demo seed applied.
 *
 * Proves: migrations apply once and are recorded; search ranking for Chinese keywords;
 * stable cursor pagination; filters; the guide with its materials and steps; 三级四同
 * refusal leaving the data unchanged, the legal basis compared normalised, codes derived
 * by the coding rule; versions that stay readable with their national fields; input validation; the health service;
 * search pages that follow the full ranking item for item, and total_size capped at 1001.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "catalog.h"
#include "yw_caller.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yw_err.h"
#include "yw_idem.h"
#include "yw_log.h"
#include "yw_testdb.h"

#define SVC "/yiwang.catalog.v1.CatalogService/"

static char dsn[512];
static catalog_ctx ctx;
static yw_rpc_service svc;
static yw_rpc_server *server;
static yw_rpc_client *client;
static yw_rpc_channel *channel;
static void act_as(enum yw_caller_kind kind, const char *roles, const char *dept);

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  if (yw_pg_pool_new(dsn, 4, &ctx.pool, &err) != 0) {
    fprintf(stderr, "pool: %s\n", err.message);
    return -1;
  }
  ctx.db_wait_ms = 2000;
  uint8_t caller_key[YW_KEY_BYTES];
  for (size_t i = 0; i < sizeof caller_key; i++) caller_key[i] = (uint8_t)(i * 7 + 1);
  if (yw_caller_keys_init(&ctx.caller_keys, caller_key, NULL, 30) != 0) return -1;
  act_as(YW_CALLER_STAFF, "platform_admin", "");
  /* the read cache on the test Redis, under keys of this database only */
  const char *raddr = getenv("YW_TEST_REDIS_ADDR");
  if (raddr == NULL || yw_redis_open(raddr, 500, 2, &ctx.redis) != 0) {
    fprintf(stderr, "YW_TEST_REDIS_ADDR: no Redis (run with ./dev test)\n");
    return -1;
  }
  ctx.cache_ttl_s = 60;
  static char prefix[128];
  const char *db = strstr(dsn, "dbname=");
  snprintf(prefix, sizeof prefix, "%s", db != NULL ? db + 7 : "test");
  ctx.cache_prefix = prefix;
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  int rc = yw_pg_migrate(c, "catalog", catalog_migrations, catalog_migrations_count, &err);
  if (rc == 0) rc = yw_idem_migrate(c, "catalog", &err); /* as .idempotency = 1 does */
  yw_pg_pool_release(ctx.pool, c);
  if (rc != 0) {
    fprintf(stderr, "migrate: %s\n", err.message);
    return -1;
  }
  if (yw_testdb_run_file(dsn, "services/catalog/seed/demo.sql") != 0) return -1;
  catalog_service_init(&svc, &ctx);
  if (yw_rpc_server_new("127.0.0.1:0", 4, &server) != 0) return -1;
  if (yw_rpc_server_add_service(server, &svc) != 0 || yw_rpc_server_start(server) != 0) return -1;
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(server));
  if (yw_rpc_client_new(&client) != 0) return -1;
  channel = yw_rpc_channel_new(client, target, 1, 4 << 20);
  return channel != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  yw_rpc_channel_free(channel);
  yw_rpc_client_free(client);
  yw_rpc_server_free(server);
  const char *del[] = {"DEL", "x", "y"};
  char k1[160], k2[160];
  snprintf(k1, sizeof k1, "{%s:cache}:list", ctx.cache_prefix);
  snprintf(k2, sizeof k2, "{%s:cache}:item", ctx.cache_prefix);
  del[1] = k1;
  del[2] = k2;
  redisReply *r = yw_redis_command(ctx.redis, 3, del, NULL, NULL, 0);
  if (r != NULL) freeReplyObject(r);
  yw_redis_free(ctx.redis);
  yw_pg_pool_free(ctx.pool);
  yw_testdb_drop();
  return 0;
}

/* The caller the next calls present, as the gateway would sign it ("" kind: none). */
static yw_caller as_caller;
static int send_caller;

static void act_as(enum yw_caller_kind kind, const char *roles, const char *dept) {
  memset(&as_caller, 0, sizeof as_caller);
  as_caller.kind = kind;
  snprintf(as_caller.subject, sizeof as_caller.subject, "s-test");
  snprintf(as_caller.roles, sizeof as_caller.roles, "%s", roles);
  snprintf(as_caller.department, sizeof as_caller.department, "%s", dept);
  snprintf(as_caller.session, sizeof as_caller.session, "sid");
  send_caller = 1;
}

static const char *idem_key; /* sent as idempotency-key when not NULL */

static grpc_status_code call(const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out,
                             char *msg, size_t msglen) {
  char path[128];
  snprintf(path, sizeof path, SVC "%s", method);
  char value[YW_CALLER_VALUE_MAX], sig[65];
  yw_rpc_md md[3];
  size_t nmd = 0;
  if (send_caller) {
    as_caller.ts = (long long)time(NULL);
    assert_int_equal(yw_caller_encode(&as_caller, ctx.caller_keys.current, path, "", value,
                                      sizeof value, sig),
                     0);
    md[0] = (yw_rpc_md){"x-yw-caller", value, 0};
    md[1] = (yw_rpc_md){"x-yw-caller-sig", sig, 0};
    nmd = 2;
  }
  if (idem_key != NULL) md[nmd++] = (yw_rpc_md){YW_IDEM_METADATA, idem_key, 0};
  return yw_rpc_call_sync(channel, path, req, out_desc, NULL, out, md, nmd, 5000, msg, msglen);
}

static Yiwang__Catalog__V1__ListItemsResponse *search(Yiwang__Catalog__V1__ListItemsRequest *req,
                                                      grpc_status_code *st, char *msg) {
  ProtobufCMessage *out = NULL;
  *st = call("ListItems", &req->base, &yiwang__catalog__v1__list_items_response__descriptor, &out,
             msg, 256);
  return (Yiwang__Catalog__V1__ListItemsResponse *)out;
}

static long long scalar(const char *sql) {
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  PGresult *r = NULL;
  long long v = -1;
  if (yw_pg_query(c, sql, 0, NULL, &r, NULL) == 0) v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  yw_pg_pool_release(ctx.pool, c);
  return v;
}

static void test_migrations_apply_once_and_are_recorded(void **state) {
  (void)state;
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  yw_pg_error err;
  assert_int_equal(yw_pg_migrate(c, "catalog", catalog_migrations, catalog_migrations_count, &err), 0);
  yw_pg_pool_release(ctx.pool, c);
  assert_int_equal(scalar("SELECT count(*) FROM catalog.schema_migrations"),
                   (long long)catalog_migrations_count + 1); /* and yw_idem_001.sql */
}

static void test_seed_has_the_size_of_a_city(void **state) {
  (void)state;
  assert_true(scalar("SELECT count(*) FROM catalog.items") >= 200);
  assert_true(scalar("SELECT count(*) FROM catalog.departments") >= 12);
  assert_int_equal(scalar("SELECT count(DISTINCT level) FROM catalog.items"
                          " WHERE level IN ('province','city','county')"),
                   3);
}

static void test_search_id_card_finds_renewal_first_among_matches(void **state) {
  (void)state;
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req.q = "身份证";
  req.page_size = 10;
  grpc_status_code st;
  char msg[256];
  Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_true(resp->n_items > 0);
  int found = 0;
  for (size_t i = 0; i < resp->n_items; i++)
    if (strcmp(resp->items[i]->name, "居民身份证换领") == 0) found = 1;
  assert_true(found);
  /* ranked by relevance: the first results carry the words in their names */
  assert_non_null(strstr(resp->items[0]->name, "身份证"));
  protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void test_search_business_license_finds_company_registration(void **state) {
  (void)state;
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req.q = "营业执照";
  req.page_size = 50;
  grpc_status_code st;
  char msg[256];
  Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  int found = 0;
  for (size_t i = 0; i < resp->n_items; i++)
    if (strcmp(resp->items[i]->name, "企业设立登记") == 0) found = 1;
  assert_true(found);
  assert_non_null(strstr(resp->items[0]->name, "营业执照"));
  protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void test_search_with_no_match_is_empty_not_an_error(void **state) {
  (void)state;
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req.q = "不存在的事项名称zzz";
  grpc_status_code st;
  char msg[256];
  Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_int_equal(resp->n_items, 0);
  assert_string_equal(resp->next_page_token, "");
  protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void test_sql_looking_query_is_just_text(void **state) {
  (void)state;
  long long before = scalar("SELECT count(*) FROM catalog.items");
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req.q = "'; DROP TABLE catalog.items; --";
  grpc_status_code st;
  char msg[256];
  Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_int_equal(resp->n_items, 0);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  assert_int_equal(scalar("SELECT count(*) FROM catalog.items"), before);
}

static void test_pages_cover_every_item_once_in_order(void **state) {
  (void)state;
  long long published = scalar("SELECT count(*) FROM catalog.items WHERE status = 'published'");
  char token[256] = "";
  static char seen[1000][64];
  size_t nseen = 0;
  int pages = 0;
  int32_t total = -1;
  do {
    Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
    req.page_size = 37;
    req.page_token = token;
    grpc_status_code st;
    char msg[256];
    Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
    assert_int_equal(st, GRPC_STATUS_OK);
    if (total < 0) total = resp->total_size;
    for (size_t i = 0; i < resp->n_items; i++) {
      for (size_t k = 0; k < nseen; k++) assert_string_not_equal(seen[k], resp->items[i]->impl_code);
      assert_true(nseen < 1000);
      snprintf(seen[nseen++], 64, "%s", resp->items[i]->impl_code);
    }
    snprintf(token, sizeof token, "%s", resp->next_page_token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    pages++;
  } while (token[0] != '\0' && pages < 50);
  assert_int_equal((long long)nseen, published);
  assert_int_equal(total, published);
}

/* The order every page of a search must follow, from the ranking's definition applied to
 * every published item (materials looked up, names lower-cased here), or to the items of
 * place and the regions above it (by the coding rule of region codes: province, city,
 * county, town): impl codes joined with ',' into out, and the number of matches. */
static long long reference_order(const char *q, const char *place, char *out, size_t size) {
  static const char sql[] =
      "SELECT count(*), coalesce(string_agg(impl_code, ',' ORDER BY rank DESC, impl_code), '')"
      " FROM (SELECT i.impl_code, (SELECT COALESCE(sum("
      "      CASE WHEN lower(i.name) = t THEN 1000 ELSE 0 END"
      "    + CASE WHEN strpos(lower(i.name), t) = 1 THEN 300 ELSE 0 END"
      "    + CASE WHEN strpos(lower(i.name), t) > 0"
      "           THEN 500 + 40 - least(char_length(i.name), 40) ELSE 0 END"
      "    + CASE WHEN strpos(lower(i.keywords), t) > 0 THEN 200 ELSE 0 END"
      "    + CASE WHEN EXISTS (SELECT 1 FROM catalog.item_materials im"
      "                        WHERE im.item_id = i.id AND strpos(lower(im.name), t) > 0)"
      "           THEN 80 ELSE 0 END"
      "    + CASE WHEN strpos(lower(d.name), t) > 0 THEN 50 ELSE 0 END"
      "    + CASE WHEN strpos(lower(i.conditions), t) > 0 THEN 20 ELSE 0 END), 0)"
      "    FROM unnest(p.terms) t) AS rank"
      "  FROM catalog.items i JOIN catalog.departments d ON d.code = i.department_code,"
      "       (SELECT regexp_split_to_array(lower(btrim($1)), '\\s+') AS terms) p"
      "  WHERE i.status = 'published'"
      "    AND ($2 = '' OR i.region_code IN (left($2, 2) || '0000', left($2, 4) || '00',"
      "                                      left($2, 6), $2))"
      "    AND NOT EXISTS (SELECT 1 FROM unnest(p.terms) t WHERE strpos(i.search_text, t) = 0)) x";
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  PGresult *r = NULL;
  const char *params[] = {q, place};
  long long n = -1;
  if (yw_pg_query(c, sql, 2, params, &r, NULL) == 0) {
    n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(out, size, "%s", PQgetvalue(r, 0, 1));
  }
  PQclear(r);
  yw_pg_pool_release(ctx.pool, c);
  return n;
}

/* Pages through q with pages of page_size; the impl codes joined with ',' into out.
 * Returns the total_size of the first page. */
static int32_t page_through(const char *q, const char *place, int page_size, char *out,
                            size_t size) {
  char token[256] = "";
  int32_t total = -1;
  size_t used = 0;
  out[0] = '\0';
  int pages = 0;
  do {
    Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
    req.q = (char *)q;
    req.place = (char *)place;
    req.page_size = page_size;
    req.page_token = token;
    grpc_status_code st;
    char msg[256];
    Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
    assert_int_equal(st, GRPC_STATUS_OK);
    if (total < 0) total = resp->total_size;
    for (size_t i = 0; i < resp->n_items; i++) {
      int w =
          snprintf(out + used, size - used, "%s%s", used > 0 ? "," : "", resp->items[i]->impl_code);
      assert_true(w > 0 && (size_t)w < size - used);
      used += (size_t)w;
    }
    snprintf(token, sizeof token, "%s", resp->next_page_token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  } while (token[0] != '\0' && ++pages < 1000);
  return total;
}

/* Search reads the gram sets and ranks the items whose name or keywords hold the word
 * before the others (migration 010, catalog.c): the pages must still be, item for item,
 * the order of the ranking over every match, for words of one, two and more characters,
 * words found only in materials, conditions or sub-cases, several words, and pages that
 * cross from the items with the word in their name or keywords to the rest. */
static void test_search_pages_follow_the_full_ranking(void **state) {
  (void)state;
  static const char *queries[] = {"社保",          "证",       "户口",      "身份证",
                                  "补领",          "海州",     "户口 迁移", "营业执照 设立",
                                  "出生 医学证明", "连云港市", "ETC",       "不存在的词"};
  static char want[65536], got[65536];
  int saved_ttl = ctx.cache_ttl_s;
  ctx.cache_ttl_s = 0; /* every page from the database */
  for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
    long long n = reference_order(queries[k], "", want, sizeof want);
    assert_true(n >= 0);
    for (int page_size = 3; page_size <= 20; page_size += 17) {
      int32_t total = page_through(queries[k], "", page_size, got, sizeof got);
      assert_string_equal(got, want);
      if (n > 0) assert_int_equal(total, n > 1001 ? 1001 : n);
    }
  }
  /* the words exercised both ways: one found by more than a page of names and keywords,
   * one whose pages go on past them into materials and conditions */
  assert_true(scalar("SELECT count(*) FROM catalog.items WHERE status = 'published'"
                     " AND strpos(lower(name || ' ' || keywords), '证') > 0") > 20);
  assert_true(scalar("SELECT count(*) FROM catalog.items WHERE status = 'published'"
                     " AND strpos(lower(name || ' ' || keywords), '身份证') > 0") <
              scalar("SELECT count(*) FROM catalog.items WHERE status = 'published'"
                     " AND strpos(search_text, '身份证') > 0"));
  /* the texts the rank reads follow writes: materials and a department renamed */
  assert_int_equal(scalar("WITH u AS (UPDATE catalog.item_materials SET name = name || '社保测'"
                          " WHERE (item_id, seq) IN (SELECT item_id, min(seq)"
                          " FROM catalog.item_materials GROUP BY item_id ORDER BY item_id LIMIT 3)"
                          " RETURNING 1) SELECT count(*) FROM u"),
                   3);
  assert_int_equal(scalar("WITH u AS (UPDATE catalog.departments SET name = name || '社保测'"
                          " WHERE code = (SELECT min(department_code) FROM catalog.items)"
                          " RETURNING 1) SELECT count(*) FROM u"),
                   1);
  long long n = reference_order("社保", "", want, sizeof want);
  int32_t total = page_through("社保", "", 4, got, sizeof got);
  assert_string_equal(got, want);
  assert_int_equal(total, n);
  assert_true(scalar("WITH u AS (UPDATE catalog.item_materials SET name = left(name, -3)"
                     " WHERE name LIKE '%社保测' RETURNING 1) SELECT count(*) FROM u") == 3);
  assert_true(scalar("WITH u AS (UPDATE catalog.departments SET name = left(name, -3)"
                     " WHERE name LIKE '%社保测' RETURNING 1) SELECT count(*) FROM u") == 1);
  ctx.cache_ttl_s = saved_ttl;
}

/* A place keeps the items of that region and of the regions above it, and the pages of a
 * search there are the ranking's order over those items; with no words, the same items by
 * code. A place the catalog does not know is refused, a known one with nothing to show is
 * an empty page. */
static void test_search_within_a_place_keeps_its_region_and_those_above(void **state) {
  (void)state;
  static const char *places[] = {"320706001", "320722", "320700"};
  static const char *queries[] = {"社保", "证", "户口", "户口 迁移", "海州", "不存在的词"};
  static char want[65536], got[65536], all[65536];
  int saved_ttl = ctx.cache_ttl_s;
  ctx.cache_ttl_s = 0;
  for (size_t p = 0; p < sizeof places / sizeof *places; p++) {
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
      long long n = reference_order(queries[k], places[p], want, sizeof want);
      assert_true(n >= 0);
      int32_t total = page_through(queries[k], places[p], 4, got, sizeof got);
      assert_string_equal(got, want);
      if (n > 0) assert_int_equal(total, n);
    }
    /* no words: every item of the place and above, by code */
    long long n = reference_order("", places[p], all, sizeof all);
    assert_true(n > 0);
    int32_t total = page_through("", places[p], 50, got, sizeof got);
    assert_int_equal(total, n > 1001 ? 1001 : n);
    assert_int_equal((long long)strlen(got) > 0 ? 1 : 0, 1);
    long long listed = 1;
    for (const char *c = got; *c != '\0'; c++) listed += *c == ',';
    assert_int_equal(listed, n);
  }
  /* a town sees its own items, which the whole catalog ranks among many more */
  long long in_town = reference_order("证", "320706001", want, sizeof want);
  long long everywhere = reference_order("证", "", all, sizeof all);
  assert_true(in_town > 0 && in_town < everywhere);
  assert_true(scalar("SELECT count(*) FROM catalog.items WHERE status = 'published'"
                     " AND region_code = '320706001'") > 0);
  /* an unknown place is refused; a known place with no match is an empty page */
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req.q = "社保";
  req.place = "329999";
  grpc_status_code st;
  char msg[256];
  Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "place"));
  if (resp != NULL) protobuf_c_message_free_unpacked(&resp->base, NULL);
  req.place = "32'0706";
  resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
  if (resp != NULL) protobuf_c_message_free_unpacked(&resp->base, NULL);
  req.q = "不存在的词";
  req.place = "320706";
  resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_int_equal(resp->n_items, 0);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  ctx.cache_ttl_s = saved_ttl;
}

/* total_size counts up to 1001, which means "more than 1,000": the demo doubled and
 * tripled by copies under other codes holds more than that. */
static void test_total_size_stops_counting_past_a_thousand(void **state) {
  (void)state;
  int saved_ttl = ctx.cache_ttl_s;
  ctx.cache_ttl_s = 0;
  assert_true(scalar("WITH c AS (INSERT INTO catalog.items (basic_code, impl_code, name, type,"
                     " department_code, region_code, level, legal_basis, conditions,"
                     " legal_limit_days, promised_limit_days, processing_kind, keywords)"
                     " SELECT basic_code, impl_code || '-T' || g, name, type, department_code,"
                     " region_code, level, legal_basis, conditions, legal_limit_days,"
                     " promised_limit_days, processing_kind, keywords"
                     " FROM catalog.items, generate_series(1, 2) g WHERE status = 'published'"
                     " RETURNING 1) SELECT count(*) FROM c") > 1000);
  long long published = scalar("SELECT count(*) FROM catalog.items WHERE status = 'published'");
  assert_true(published > 1001);
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req.page_size = 5;
  grpc_status_code st;
  char msg[256];
  Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_int_equal(resp->total_size, 1001);
  assert_int_equal(resp->n_items, 5);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  req.q = "连云港"; /* in the department names of most items and their copies */
  resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_true(scalar("SELECT count(*) FROM catalog.items WHERE status = 'published'"
                     " AND strpos(search_text, '连云港') > 0") > 1001);
  assert_int_equal(resp->total_size, 1001);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  req.q = "海州 户口"; /* fewer than a thousand: counted exactly */
  resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_int_equal(
      resp->total_size,
      scalar("SELECT count(*) FROM catalog.items WHERE status = 'published'"
             " AND strpos(search_text, '海州') > 0 AND strpos(search_text, '户口') > 0"));
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  assert_true(scalar("WITH d AS (DELETE FROM catalog.items WHERE impl_code ~ '-T[12]$' RETURNING 1)"
                     " SELECT count(*) FROM d") > 1000);
  ctx.cache_ttl_s = saved_ttl;
}

static void test_page_token_of_another_query_is_refused(void **state) {
  (void)state;
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req.q = "登记";
  req.page_size = 2;
  grpc_status_code st;
  char msg[256];
  Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_string_not_equal(resp->next_page_token, "");
  char token[256];
  snprintf(token, sizeof token, "%s", resp->next_page_token);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  req.q = "许可";
  req.page_token = token;
  resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "another query"));
  req.page_token = "not-a-token!";
  resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_filters_by_level_and_department(void **state) {
  (void)state;
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req.level = YIWANG__CATALOG__V1__REGION_LEVEL__COUNTY;
  req.page_size = 100;
  grpc_status_code st;
  char msg[256];
  Yiwang__Catalog__V1__ListItemsResponse *resp = search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_true(resp->n_items > 0);
  for (size_t i = 0; i < resp->n_items; i++)
    assert_int_equal(resp->items[i]->level, YIWANG__CATALOG__V1__REGION_LEVEL__COUNTY);
  char dept[64];
  snprintf(dept, sizeof dept, "%s", resp->items[0]->department_code);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  Yiwang__Catalog__V1__ListItemsRequest req2 = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  req2.department = dept;
  req2.page_size = 100;
  resp = search(&req2, &st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_true(resp->n_items > 0);
  for (size_t i = 0; i < resp->n_items; i++)
    assert_string_equal(resp->items[i]->department_code, dept);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void test_bad_list_input_is_invalid_argument(void **state) {
  (void)state;
  Yiwang__Catalog__V1__ListItemsRequest req = YIWANG__CATALOG__V1__LIST_ITEMS_REQUEST__INIT;
  grpc_status_code st;
  char msg[256];
  req.page_size = 101;
  search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
  req.page_size = -1;
  search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
  req.page_size = 10;
  req.department = "x' OR 1=1";
  search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
  req.department = "";
  char longq[400];
  memset(longq, 'a', sizeof longq - 1);
  longq[sizeof longq - 1] = '\0';
  req.q = longq;
  search(&req, &st, msg);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
}

/* The implementation code of the city-level item with this name. */
static void code_of(const char *name, char *out, size_t size) {
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  const char *p[] = {name};
  PGresult *r = NULL;
  assert_int_equal(yw_pg_query(c,
                               "SELECT impl_code FROM catalog.items WHERE name = $1"
                               " AND status = 'published' ORDER BY (level = 'city') DESC LIMIT 1",
                               1, p, &r, NULL),
                   0);
  assert_int_equal(PQntuples(r), 1);
  snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  yw_pg_pool_release(ctx.pool, c);
}

static void test_guide_has_materials_steps_and_fee(void **state) {
  (void)state;
  char code[64];
  code_of("居民身份证换领", code, sizeof code);
  Yiwang__Catalog__V1__GetItemRequest req = YIWANG__CATALOG__V1__GET_ITEM_REQUEST__INIT;
  req.code = code;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("GetItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__Item *it = (Yiwang__Catalog__V1__Item *)out;
  assert_string_equal(it->name, "居民身份证换领");
  assert_string_equal(it->impl_code, code);
  assert_true(it->n_materials >= 1);
  assert_true(it->n_steps >= 1);
  assert_non_null(it->fee);
  assert_true(it->department_name[0] != '\0');
  assert_true(it->updated_at[0] != '\0');
  assert_non_null(strstr(it->updated_at, "+08:00"));
  protobuf_c_message_free_unpacked(out, NULL);

  req.code = "NO-SUCH-CODE";
  assert_int_equal(call("GetItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_NOT_FOUND);
  req.code = "";
  assert_int_equal(call("GetItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

/* Builds a valid item at the given region that copies the basic code of an existing one. */
static void fill_item(Yiwang__Catalog__V1__Item *it, Yiwang__Catalog__V1__Fee *fee, PGresult *base,
                      const char *impl_code, const char *region, const char *dept) {
  it->basic_code = PQgetvalue(base, 0, 0);
  it->name = PQgetvalue(base, 0, 1);
  it->type = (Yiwang__Catalog__V1__ItemType)protobuf_c_enum_descriptor_get_value_by_name(
                 &yiwang__catalog__v1__item_type__descriptor, PQgetvalue(base, 0, 2))
                 ->value;
  it->legal_basis = PQgetvalue(base, 0, 3);
  it->impl_code = (char *)impl_code;
  it->region_code = (char *)region;
  it->department_code = (char *)dept;
  it->level = YIWANG__CATALOG__V1__REGION_LEVEL__COUNTY;
  it->legal_limit_days = 20;
  it->promised_limit_days = 5;
  it->processing_kind = YIWANG__CATALOG__V1__PROCESSING_KIND__PROMISED;
  it->online_depth = 3;
  it->status = YIWANG__CATALOG__V1__ITEM_STATUS__PUBLISHED;
  it->fee = fee;
}

static void test_same_four_refuses_another_name_and_keeps_data(void **state) {
  (void)state;
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  PGresult *base = NULL;
  assert_int_equal(yw_pg_query(c,
                               "SELECT i.basic_code, i.name, i.type, i.legal_basis, r.code, d.code,"
                               "       i.basic_code || '-' || d.code"
                               " FROM catalog.items i, catalog.regions r, catalog.departments d"
                               " WHERE r.level = 'county' AND d.region_code = r.code"
                               "   AND NOT EXISTS (SELECT 1 FROM catalog.items x"
                               "                   WHERE x.impl_code = i.basic_code || '-' || d.code)"
                               " ORDER BY i.id, r.code, d.code LIMIT 1",
                               0, NULL, &base, NULL),
                   0);
  yw_pg_pool_release(ctx.pool, c);
  assert_int_equal(PQntuples(base), 1);
  long long before = scalar("SELECT count(*) FROM catalog.items");

  Yiwang__Catalog__V1__Item it = YIWANG__CATALOG__V1__ITEM__INIT;
  Yiwang__Catalog__V1__Fee fee = YIWANG__CATALOG__V1__FEE__INIT;
  const char *impl = PQgetvalue(base, 0, 6); /* derived: basic code-department */
  fill_item(&it, &fee, base, impl, PQgetvalue(base, 0, 4), PQgetvalue(base, 0, 5));
  it.name = "另一个名字";
  Yiwang__Catalog__V1__UpsertItemRequest req = YIWANG__CATALOG__V1__UPSERT_ITEM_REQUEST__INIT;
  req.item = &it;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_FAILED_PRECONDITION);
  assert_non_null(strstr(msg, "every level"));
  assert_int_equal(scalar("SELECT count(*) FROM catalog.items"), before);

  /* the same basic code with the same name, type and basis is accepted at county level */
  it.name = PQgetvalue(base, 0, 1);
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__Item *saved = (Yiwang__Catalog__V1__Item *)out;
  assert_string_equal(saved->impl_code, impl);
  assert_int_equal(saved->version, 1);
  protobuf_c_message_free_unpacked(out, NULL);
  assert_int_equal(scalar("SELECT count(*) FROM catalog.items"), before + 1);

  /* an update bumps the version */
  it.conditions = "更新后的条件";
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  saved = (Yiwang__Catalog__V1__Item *)out;
  assert_int_equal(saved->version, 2);
  assert_string_equal(saved->conditions, "更新后的条件");
  protobuf_c_message_free_unpacked(out, NULL);

  /* a wrong type for the same basic code is refused too */
  it.type = it.type == YIWANG__CATALOG__V1__ITEM_TYPE__PUBLIC_SERVICE
                ? YIWANG__CATALOG__V1__ITEM_TYPE__ADMINISTRATIVE_LICENSE
                : YIWANG__CATALOG__V1__ITEM_TYPE__PUBLIC_SERVICE;
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(scalar("SELECT count(*) FROM catalog.items"), before + 1);

  /* a legal basis that differs only in punctuation width and white space is the same */
  it.type = (Yiwang__Catalog__V1__ItemType)protobuf_c_enum_descriptor_get_value_by_name(
                &yiwang__catalog__v1__item_type__descriptor, PQgetvalue(base, 0, 2))
                ->value;
  char basis[1024];
  snprintf(basis, sizeof basis, " %s\xe3\x80\x80", PQgetvalue(base, 0, 3)); /* U+3000 at the end */
  it.legal_basis = basis;
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(out, NULL);

  /* an implementation code that does not derive from its basic code and department */
  it.impl_code = "TEST-SAMEFOUR-2";
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "implCode"));
  assert_int_equal(scalar("SELECT count(*) FROM catalog.items"), before + 1);
  PQclear(base);
}

static void test_upsert_validates_its_input(void **state) {
  (void)state;
  Yiwang__Catalog__V1__UpsertItemRequest req = YIWANG__CATALOG__V1__UPSERT_ITEM_REQUEST__INIT;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  Yiwang__Catalog__V1__Item it = YIWANG__CATALOG__V1__ITEM__INIT;
  it.basic_code = "B1";
  it.impl_code = "I1";
  it.name = "测试事项";
  it.legal_basis = "某法";
  it.type = YIWANG__CATALOG__V1__ITEM_TYPE__PUBLIC_SERVICE;
  it.level = YIWANG__CATALOG__V1__REGION_LEVEL__CITY;
  it.processing_kind = YIWANG__CATALOG__V1__PROCESSING_KIND__PROMISED;
  it.online_depth = 2;
  it.legal_limit_days = 5;
  it.promised_limit_days = 9; /* more than the legal limit */
  req.item = &it;
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "promisedLimitDays"));
}

static void test_departments_regions_topics_are_listed(void **state) {
  (void)state;
  ProtobufCMessage *out = NULL;
  char msg[256];
  Yiwang__Catalog__V1__ListDepartmentsRequest dreq = YIWANG__CATALOG__V1__LIST_DEPARTMENTS_REQUEST__INIT;
  assert_int_equal(call("ListDepartments", &dreq.base,
                        &yiwang__catalog__v1__list_departments_response__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__ListDepartmentsResponse *d = (void *)out;
  assert_true(d->n_departments >= 12);
  protobuf_c_message_free_unpacked(out, NULL);
  /* one department by its code: the same row as the list's; unknown NOT_FOUND */
  Yiwang__Catalog__V1__GetDepartmentRequest greq = YIWANG__CATALOG__V1__GET_DEPARTMENT_REQUEST__INIT;
  greq.code = "320700-GA";
  assert_int_equal(call("GetDepartment", &greq.base, &yiwang__catalog__v1__department__descriptor, &out,
                        msg, sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__Department *one = (void *)out;
  assert_string_equal(one->code, "320700-GA");
  assert_string_equal(one->region_code, "320700");
  assert_true(one->name[0] != '\0' && one->item_count > 0);
  protobuf_c_message_free_unpacked(out, NULL);
  greq.code = "320700-NONE";
  assert_int_equal(call("GetDepartment", &greq.base, &yiwang__catalog__v1__department__descriptor, &out,
                        msg, sizeof msg),
                   GRPC_STATUS_NOT_FOUND);
  greq.code = "bad code!";
  assert_int_equal(call("GetDepartment", &greq.base, &yiwang__catalog__v1__department__descriptor, &out,
                        msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);

  Yiwang__Catalog__V1__ListRegionsRequest rreq = YIWANG__CATALOG__V1__LIST_REGIONS_REQUEST__INIT;
  rreq.level = YIWANG__CATALOG__V1__REGION_LEVEL__COUNTY;
  assert_int_equal(call("ListRegions", &rreq.base,
                        &yiwang__catalog__v1__list_regions_response__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__ListRegionsResponse *g = (void *)out;
  assert_true(g->n_regions >= 3);
  for (size_t i = 0; i < g->n_regions; i++)
    assert_int_equal(g->regions[i]->level, YIWANG__CATALOG__V1__REGION_LEVEL__COUNTY);
  protobuf_c_message_free_unpacked(out, NULL);

  Yiwang__Catalog__V1__ListTopicsRequest treq = YIWANG__CATALOG__V1__LIST_TOPICS_REQUEST__INIT;
  treq.audience = "company";
  assert_int_equal(call("ListTopics", &treq.base, &yiwang__catalog__v1__list_topics_response__descriptor,
                        &out, msg, sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__ListTopicsResponse *t = (void *)out;
  assert_true(t->n_topics >= 3);
  for (size_t i = 0; i < t->n_topics; i++) assert_string_equal(t->topics[i]->audience, "company");
  protobuf_c_message_free_unpacked(out, NULL);
  treq.audience = "alien";
  assert_int_equal(call("ListTopics", &treq.base, &yiwang__catalog__v1__list_topics_response__descriptor,
                        &out, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

static Yiwang__Catalog__V1__Item *get_item(const char *code) {
  Yiwang__Catalog__V1__GetItemRequest req = YIWANG__CATALOG__V1__GET_ITEM_REQUEST__INIT;
  req.code = (char *)code;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("GetItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  return (Yiwang__Catalog__V1__Item *)out;
}

static int cached(const char *which, const char *field) {
  char key[160];
  snprintf(key, sizeof key, "{%s:cache}:%s", ctx.cache_prefix, which); /* one hash tag */
  const char *argv[] = {"HEXISTS", key, field};
  redisReply *r = yw_redis_command(ctx.redis, 3, argv, NULL, NULL, 0);
  int v = r != NULL && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
  if (r != NULL) freeReplyObject(r);
  return v;
}

static void test_a_write_clears_cached_answers(void **state) {
  (void)state;
  char code[64];
  code_of("结婚登记", code, sizeof code);
  Yiwang__Catalog__V1__Item *before = get_item(code);
  assert_int_equal(cached("item", code), 1); /* the read filled the cache */
  int version = before->version;
  Yiwang__Catalog__V1__UpsertItemRequest req = YIWANG__CATALOG__V1__UPSERT_ITEM_REQUEST__INIT;
  char *original = before->conditions;
  before->conditions = "缓存失效测试条件";
  req.item = before;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(out, NULL);
  before->conditions = original; /* give back what free_unpacked owns */
  protobuf_c_message_free_unpacked(&before->base, NULL);
  assert_int_equal(cached("item", code), 0); /* the write emptied it */
  Yiwang__Catalog__V1__Item *after = get_item(code);
  assert_string_equal(after->conditions, "缓存失效测试条件");
  assert_int_equal(after->version, version + 1);
  protobuf_c_message_free_unpacked(&after->base, NULL);
}

/* UpsertItem sent twice with one Idempotency-Key (a client retrying after a lost
 * answer): one write, one audit record, one new version, the same answer twice. */
static void test_a_write_repeated_with_its_key_writes_once(void **state) {
  (void)state;
  char code[64];
  code_of("结婚登记", code, sizeof code);
  Yiwang__Catalog__V1__Item *item = get_item(code);
  int version = item->version;
  char *original = item->conditions;
  item->conditions = "重复提交测试条件";
  Yiwang__Catalog__V1__UpsertItemRequest req = YIWANG__CATALOG__V1__UPSERT_ITEM_REQUEST__INIT;
  req.item = item;
  long long audited = scalar("SELECT count(*) FROM catalog.audit_log");
  ProtobufCMessage *first = NULL, *again = NULL, *other = NULL;
  char msg[256];
  idem_key = "catalog-retry-1";
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &first,
                        msg, sizeof msg),
                   GRPC_STATUS_OK);
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &again,
                        msg, sizeof msg),
                   GRPC_STATUS_OK);
  item->conditions = "另一份请求";
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &other,
                        msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT); /* the same key, another body */
  idem_key = NULL;
  item->conditions = original; /* give back what free_unpacked owns */
  assert_int_equal(scalar("SELECT count(*) FROM catalog.audit_log"), audited + 1);
  const Yiwang__Catalog__V1__Item *a = (const void *)first, *b = (const void *)again;
  assert_int_equal(a->version, version + 1);
  assert_int_equal(b->version, version + 1);
  assert_string_equal(b->conditions, "重复提交测试条件");
  Yiwang__Catalog__V1__Item *after = get_item(code);
  assert_int_equal(after->version, version + 1);
  protobuf_c_message_free_unpacked(&after->base, NULL);
  protobuf_c_message_free_unpacked(first, NULL);
  protobuf_c_message_free_unpacked(again, NULL);
  protobuf_c_message_free_unpacked(&item->base, NULL);
}

static void test_writes_need_a_vouched_administrator(void **state) {
  (void)state;
  char code[64];
  code_of("结婚登记", code, sizeof code);
  Yiwang__Catalog__V1__Item *item = get_item(code);
  Yiwang__Catalog__V1__UpsertItemRequest req = YIWANG__CATALOG__V1__UPSERT_ITEM_REQUEST__INIT;
  req.item = item;
  ProtobufCMessage *out = NULL;
  char msg[256];
  send_caller = 0; /* straight to the service, no metadata */
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_UNAUTHENTICATED);
  /* forged: signed with another key */
  uint8_t other[YW_KEY_BYTES];
  memcpy(other, ctx.caller_keys.current, sizeof other);
  act_as(YW_CALLER_STAFF, "platform_admin", "");
  other[0] ^= 1;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  as_caller.ts = (long long)time(NULL);
  assert_int_equal(
      yw_caller_encode(&as_caller, other, SVC "UpsertItem", "", value, sizeof value, sig), 0);
  yw_rpc_md md[] = {{"x-yw-caller", value, 0}, {"x-yw-caller-sig", sig, 0}};
  assert_int_equal(yw_rpc_call_sync(channel, SVC "UpsertItem", &req.base,
                                    &yiwang__catalog__v1__item__descriptor, NULL, &out, md, 2, 5000,
                                    msg, sizeof msg),
                   GRPC_STATUS_UNAUTHENTICATED);
  /* replayed: signed with the right key for a read, sent to a write */
  assert_int_equal(yw_caller_encode(&as_caller, ctx.caller_keys.current, SVC "GetItem", "", value,
                                    sizeof value, sig),
                   0);
  assert_int_equal(yw_rpc_call_sync(channel, SVC "UpsertItem", &req.base,
                                    &yiwang__catalog__v1__item__descriptor, NULL, &out, md, 2, 5000,
                                    msg, sizeof msg),
                   GRPC_STATUS_UNAUTHENTICATED);
  act_as(YW_CALLER_PERSON, "", "");
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_PERMISSION_DENIED);
  act_as(YW_CALLER_STAFF, "dept_admin", "320700-GA"); /* another department */
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_PERMISSION_DENIED);
  long long audited = scalar("SELECT count(*) FROM catalog.audit_log");
  act_as(YW_CALLER_STAFF, "dept_admin", item->department_code); /* its own department */
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  /* the privileged write left its record, and only the accepted one did */
  assert_int_equal(scalar("SELECT count(*) FROM catalog.audit_log"), audited + 1);
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  PGresult *last = NULL;
  assert_int_equal(yw_pg_query(c,
                               "SELECT actor, department, action, target FROM catalog.audit_log"
                               " ORDER BY id DESC LIMIT 1",
                               0, NULL, &last, NULL),
                   0);
  yw_pg_pool_release(ctx.pool, c);
  assert_string_equal(PQgetvalue(last, 0, 0), "s-test");
  assert_string_equal(PQgetvalue(last, 0, 1), item->department_code);
  assert_string_equal(PQgetvalue(last, 0, 2), "item_upsert");
  assert_string_equal(PQgetvalue(last, 0, 3), item->impl_code);
  PQclear(last);
  protobuf_c_message_free_unpacked(out, NULL);
  protobuf_c_message_free_unpacked(&item->base, NULL);
  act_as(YW_CALLER_STAFF, "platform_admin", "");
}

/* Every write is a new version; the one before stays readable as it was, with its
 * window closed where the new one begins, and the national fields go with each. */
static void test_versions_and_details_stay_readable(void **state) {
  (void)state;
  char code[64];
  code_of("居民身份证换领", code, sizeof code);
  Yiwang__Catalog__V1__Item *item = get_item(code);
  int version = item->version;
  assert_non_null(item->details);
  assert_true(item->details->n_halls >= 1 && item->details->n_fee_items >= 1);
  assert_string_equal(item->details->complaint_phone, "12345");
  char *original = item->conditions;
  item->conditions = "新版本的条件";
  Yiwang__Catalog__V1__Faq faq = YIWANG__CATALOG__V1__FAQ__INIT, *faqs[] = {&faq};
  faq.question = "问题";
  faq.answer = "回答";
  Yiwang__Catalog__V1__Faq **old_faqs = item->details->faqs;
  size_t old_n = item->details->n_faqs;
  item->details->faqs = faqs;
  item->details->n_faqs = 1;
  Yiwang__Catalog__V1__UpsertItemRequest req = YIWANG__CATALOG__V1__UPSERT_ITEM_REQUEST__INIT;
  req.item = item;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(out, NULL);
  /* bad details are refused and write nothing */
  item->details->max_visits = 3;
  item->details->at_most_one_visit = 1;
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "atMostOneVisit"));
  item->details->max_visits = 1;
  static char long_answer[70000]; /* details of more than 64 KiB as JSON */
  memset(long_answer, 'a', sizeof long_answer - 1);
  faq.answer = long_answer;
  assert_int_equal(call("UpsertItem", &req.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "longer than"));
  item->conditions = original; /* give back what free_unpacked owns */
  item->details->faqs = old_faqs;
  item->details->n_faqs = old_n;
  protobuf_c_message_free_unpacked(&item->base, NULL);

  Yiwang__Catalog__V1__Item *now = get_item(code);
  assert_int_equal(now->version, version + 1);
  assert_string_equal(now->conditions, "新版本的条件");
  assert_int_equal(now->details->n_faqs, 1);
  assert_string_equal(now->details->faqs[0]->question, "问题");
  assert_string_equal(now->effective_to, "");

  Yiwang__Catalog__V1__GetItemRequest gr = YIWANG__CATALOG__V1__GET_ITEM_REQUEST__INIT;
  gr.code = code;
  gr.version = version;
  assert_int_equal(call("GetItem", &gr.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__Item *then = (Yiwang__Catalog__V1__Item *)out;
  assert_int_equal(then->version, version);
  assert_string_not_equal(then->conditions, "新版本的条件");
  assert_true(then->details->n_faqs != 1 || strcmp(then->details->faqs[0]->question, "问题") != 0);
  assert_string_equal(then->effective_to, now->effective_from);
  protobuf_c_message_free_unpacked(out, NULL);

  Yiwang__Catalog__V1__ListItemVersionsRequest lr = YIWANG__CATALOG__V1__LIST_ITEM_VERSIONS_REQUEST__INIT;
  lr.code = code;
  assert_int_equal(call("ListItemVersions", &lr.base,
                        &yiwang__catalog__v1__list_item_versions_response__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__ListItemVersionsResponse *vs = (void *)out;
  assert_true(vs->n_versions >= 2);
  assert_int_equal(vs->versions[0]->version, version + 1);
  assert_int_equal(vs->versions[1]->version, version);
  protobuf_c_message_free_unpacked(out, NULL);
  protobuf_c_message_free_unpacked(&now->base, NULL);

  gr.version = version + 5;
  assert_int_equal(call("GetItem", &gr.base, &yiwang__catalog__v1__item__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_NOT_FOUND);
  lr.code = "NO-SUCH-CODE";
  assert_int_equal(call("ListItemVersions", &lr.base,
                        &yiwang__catalog__v1__list_item_versions_response__descriptor, &out, msg,
                        sizeof msg),
                   GRPC_STATUS_NOT_FOUND);
}

/* 一件事一次办: the seeded bundles list their members in order and the materials more
 * than one member asks for; GetBundle gives each member's guide; a bundle with a member
 * not published is not offered; bad codes are refused. */
static void test_bundles_list_members_and_shared_materials(void **state) {
  (void)state;
  Yiwang__Catalog__V1__ListBundlesRequest lreq = YIWANG__CATALOG__V1__LIST_BUNDLES_REQUEST__INIT;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("ListBundles", &lreq.base, &yiwang__catalog__v1__list_bundles_response__descriptor,
                        &out, msg, sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__ListBundlesResponse *list = (void *)out;
  assert_int_equal(list->n_bundles, 2);
  assert_string_equal(list->bundles[0]->code, "company-start");
  Yiwang__Catalog__V1__Bundle *nb = list->bundles[1];
  assert_string_equal(nb->code, "newborn");
  assert_string_equal(nb->audience, "person");
  assert_int_equal(nb->n_members, 3);
  assert_string_equal(nb->members[0]->impl_code, "GG00050000-320700-WJ");
  assert_string_equal(nb->members[1]->impl_code, "QR00001000-320700-GA");
  assert_string_equal(nb->members[2]->impl_code, "GG00032000-320700-YB");
  assert_int_equal(nb->n_shared_materials, 2);
  assert_string_equal(nb->shared_materials[0], "父母双方居民身份证");
  assert_string_equal(nb->shared_materials[1], "出生医学证明");
  assert_int_equal(nb->n_items, 0); /* guides only from GetBundle */
  assert_int_equal(list->bundles[0]->n_shared_materials, 1);
  assert_string_equal(list->bundles[0]->shared_materials[0], "营业执照");
  protobuf_c_message_free_unpacked(out, NULL);

  Yiwang__Catalog__V1__GetBundleRequest greq = YIWANG__CATALOG__V1__GET_BUNDLE_REQUEST__INIT;
  greq.code = "newborn";
  assert_int_equal(call("GetBundle", &greq.base, &yiwang__catalog__v1__bundle__descriptor, &out,
                        msg, sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__Bundle *b = (void *)out;
  assert_int_equal(b->n_items, 3);
  assert_string_equal(b->items[1]->impl_code, "QR00001000-320700-GA");
  assert_string_equal(b->items[1]->name, "出生登记");
  assert_true(b->items[1]->n_materials >= 3);
  protobuf_c_message_free_unpacked(out, NULL);

  /* a member unpublished: the bundle is not offered until it is back */
  assert_int_equal(scalar("WITH u AS (UPDATE catalog.items SET status = 'draft'"
                          " WHERE impl_code = 'GG00032000-320700-YB' RETURNING 1) SELECT count(*) FROM u"),
                   1);
  assert_int_equal(call("GetBundle", &greq.base, &yiwang__catalog__v1__bundle__descriptor, &out,
                        msg, sizeof msg),
                   GRPC_STATUS_NOT_FOUND);
  assert_int_equal(call("ListBundles", &lreq.base, &yiwang__catalog__v1__list_bundles_response__descriptor,
                        &out, msg, sizeof msg),
                   GRPC_STATUS_OK);
  assert_int_equal(((Yiwang__Catalog__V1__ListBundlesResponse *)out)->n_bundles, 1);
  protobuf_c_message_free_unpacked(out, NULL);
  assert_int_equal(scalar("WITH u AS (UPDATE catalog.items SET status = 'published'"
                          " WHERE impl_code = 'GG00032000-320700-YB' RETURNING 1) SELECT count(*) FROM u"),
                   1);
  greq.code = "no-such-bundle";
  assert_int_equal(call("GetBundle", &greq.base, &yiwang__catalog__v1__bundle__descriptor, &out,
                        msg, sizeof msg),
                   GRPC_STATUS_NOT_FOUND);
  greq.code = "Bad Code!";
  assert_int_equal(call("GetBundle", &greq.base, &yiwang__catalog__v1__bundle__descriptor, &out,
                        msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  lreq.region = "32'07";
  assert_int_equal(call("ListBundles", &lreq.base, &yiwang__catalog__v1__list_bundles_response__descriptor,
                        &out, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_health_check_answers_serving(void **state) {
  (void)state;
  assert_int_equal(yw_rpc_health_check(channel, 2000), 0);
}

static void test_unknown_method_is_unimplemented(void **state) {
  (void)state;
  Yiwang__Catalog__V1__GetItemRequest req = YIWANG__CATALOG__V1__GET_ITEM_REQUEST__INIT;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(yw_rpc_call_sync(channel, "/yiwang.catalog.v1.CatalogService/Nope", &req.base,
                                    &yiwang__catalog__v1__item__descriptor, NULL, &out, NULL, 0,
                                    2000, msg, sizeof msg),
                   GRPC_STATUS_UNIMPLEMENTED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_migrations_apply_once_and_are_recorded),
      cmocka_unit_test(test_seed_has_the_size_of_a_city),
      cmocka_unit_test(test_search_id_card_finds_renewal_first_among_matches),
      cmocka_unit_test(test_search_business_license_finds_company_registration),
      cmocka_unit_test(test_search_with_no_match_is_empty_not_an_error),
      cmocka_unit_test(test_sql_looking_query_is_just_text),
      cmocka_unit_test(test_pages_cover_every_item_once_in_order),
      cmocka_unit_test(test_search_pages_follow_the_full_ranking),
      cmocka_unit_test(test_search_within_a_place_keeps_its_region_and_those_above),
      cmocka_unit_test(test_total_size_stops_counting_past_a_thousand),
      cmocka_unit_test(test_page_token_of_another_query_is_refused),
      cmocka_unit_test(test_filters_by_level_and_department),
      cmocka_unit_test(test_bad_list_input_is_invalid_argument),
      cmocka_unit_test(test_guide_has_materials_steps_and_fee),
      cmocka_unit_test(test_same_four_refuses_another_name_and_keeps_data),
      cmocka_unit_test(test_upsert_validates_its_input),
      cmocka_unit_test(test_departments_regions_topics_are_listed),
      cmocka_unit_test(test_a_write_clears_cached_answers),
      cmocka_unit_test(test_a_write_repeated_with_its_key_writes_once),
      cmocka_unit_test(test_writes_need_a_vouched_administrator),
      cmocka_unit_test(test_versions_and_details_stay_readable),
      cmocka_unit_test(test_bundles_list_members_and_shared_materials),
      cmocka_unit_test(test_health_check_answers_serving),
      cmocka_unit_test(test_unknown_method_is_unimplemented),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
