/*
 * test_route.c - the gateway's route table: compilation against descriptors, matching
 * of templates with variables and custom verbs, 404 versus 405, percent-decoding,
 * variables that span segments, the body bound to one field, gRPC-only declarations
 * and the upstream a route names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_route.h"
#include "gw_routes.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_arena.h"
#include "yw_err.h"

/* Rows give the first fields of gw_route_def in order; the later ones are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const ProtobufCServiceDescriptor *const services[] = {
    &yiwang__catalog__v1__catalog_service__descriptor};

static void test_project_table_compiles_against_linked_services(void **state) {
  (void)state;
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(gw_route_defs, gw_route_defs_count, gw_services,
                                     gw_services_count, &t, err, sizeof err),
                   0);
  assert_int_equal(t.n, gw_route_defs_count);
  assert_string_equal(t.routes[0].upstream, "catalog");
  assert_string_equal(t.routes[1].grpc_path, "/yiwang.catalog.v1.CatalogService/GetItem");
  gw_routes_free(&t);
}

static void test_unknown_method_is_refused_at_compile_time(void **state) {
  (void)state;
  const gw_route_def defs[] = {
      {"GET", "/v1/x", "yiwang.catalog.v1.CatalogService/NoSuchMethod", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(defs, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "NoSuchMethod"));
}

static void test_unknown_service_is_refused_at_compile_time(void **state) {
  (void)state;
  const gw_route_def defs[] = {
      {"GET", "/v1/x", "yiwang.nothing.v1.Nope/Get", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(defs, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "unknown service"));
}

static void test_path_variable_must_name_a_scalar_field(void **state) {
  (void)state;
  const gw_route_def bad[] = {{"GET", "/v1/items/{nope}",
                               "yiwang.catalog.v1.CatalogService/GetItem", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  const gw_route_def message[] = {{"PUT", "/v1/items/{item}",
                                   "yiwang.catalog.v1.CatalogService/UpsertItem", "*",
                                   GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  const gw_route_def nested[] = {{"PUT", "/v1/items/{item.implCode}",
                                  "yiwang.catalog.v1.CatalogService/UpsertItem", "*",
                                  GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(bad, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "nope"));
  assert_int_equal(gw_routes_compile(message, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_int_equal(gw_routes_compile(nested, 1, services, 1, &t, err, sizeof err), 0);
  gw_routes_free(&t);
}

static gw_route_table table;

static int setup(void **state) {
  (void)state;
  static const gw_route_def defs[] = {
      {"GET", "/v1/items", "yiwang.catalog.v1.CatalogService/ListItems", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
      {"GET", "/v1/items/{code}", "yiwang.catalog.v1.CatalogService/GetItem", NULL,
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
      {"POST", "/v1/items:search", "yiwang.catalog.v1.CatalogService/ListItems", "*",
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
  };
  char err[256];
  return gw_routes_compile(defs, 3, services, 1, &table, err, sizeof err);
}

static int teardown(void **state) {
  (void)state;
  gw_routes_free(&table);
  return 0;
}

static void test_literal_and_variable_templates_match(void **state) {
  (void)state;
  const gw_route *r = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  assert_int_equal(gw_route_match(&table, "GET", "/v1/items", &r, vars, &n), GW_MATCH_OK);
  assert_string_equal(r->method->name, "ListItems");
  assert_int_equal(n, 0);
  assert_int_equal(gw_route_match(&table, "GET", "/v1/items/11320000-A", &r, vars, &n), GW_MATCH_OK);
  assert_string_equal(r->method->name, "GetItem");
  assert_int_equal(n, 1);
  assert_string_equal(vars[0].field, "code");
  assert_string_equal(vars[0].value, "11320000-A");
}

static void test_custom_verb_is_a_literal_segment(void **state) {
  (void)state;
  const gw_route *r = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  assert_int_equal(gw_route_match(&table, "POST", "/v1/items:search", &r, vars, &n), GW_MATCH_OK);
  assert_string_equal(r->def->path, "/v1/items:search");
}

/* A verb after a variable: "/v1/items/{code}:retire" binds code without the verb, and
 * a path whose last segment lacks the verb is another route's. */
static void test_verb_after_a_variable_binds_the_variable_only(void **state) {
  (void)state;
  static const gw_route_def defs[] = {
      {"GET", "/v1/items/{code}", "yiwang.catalog.v1.CatalogService/GetItem", NULL,
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
      {"POST", "/v1/items/{code}:retire", "yiwang.catalog.v1.CatalogService/GetItem", "*",
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
      {"POST", "/v1/items/{code}:re-open", "yiwang.catalog.v1.CatalogService/ListItemVersions", "*",
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
  };
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(defs, 3, services, 1, &t, err, sizeof err), 0);
  const gw_route *r = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  assert_int_equal(gw_route_match(&t, "POST", "/v1/items/A%2D1:retire", &r, vars, &n), GW_MATCH_OK);
  assert_string_equal(r->def->path, "/v1/items/{code}:retire");
  assert_int_equal(n, 1);
  assert_string_equal(vars[0].value, "A-1");
  assert_int_equal(gw_route_match(&t, "POST", "/v1/items/A-1:re-open", &r, vars, &n), GW_MATCH_OK);
  assert_string_equal(r->method->name, "ListItemVersions");
  assert_string_equal(vars[0].value, "A-1");
  /* the verb alone names no variable; without the verb it is the GET route's path */
  assert_int_equal(gw_route_match(&t, "POST", "/v1/items/:retire", &r, vars, &n), GW_MATCH_BAD_METHOD);
  assert_int_equal(gw_route_match(&t, "POST", "/v1/items/A-1", &r, vars, &n), GW_MATCH_BAD_METHOD);
  assert_int_equal(gw_route_match(&t, "POST", "/v1/items/A-1:other", &r, vars, &n), GW_MATCH_BAD_METHOD);
  assert_int_equal(gw_route_match(&t, "GET", "/v1/items/A-1", &r, vars, &n), GW_MATCH_OK);
  assert_string_equal(vars[0].value, "A-1");
  gw_routes_free(&t);
  /* a verb is last, of lower-case letters and '-' */
  const char *bad[] = {"/v1/items/{code}:", "/v1/items/{code}:Retire", "/v1/items/{code}:a/b",
                       "/v1/items/{code}:a b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const gw_route_def d[] = {{"POST", bad[i], "yiwang.catalog.v1.CatalogService/GetItem", "*",
                               GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
    if (gw_routes_compile(d, 1, services, 1, &t, err, sizeof err) != YW_EINVAL)
      fail_msg("template %s was accepted", bad[i]);
  }
}

static void test_wrong_method_is_405_and_unknown_path_is_404(void **state) {
  (void)state;
  const gw_route *r = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  assert_int_equal(gw_route_match(&table, "DELETE", "/v1/items/abc", &r, vars, &n),
                   GW_MATCH_BAD_METHOD);
  assert_int_equal(gw_route_match(&table, "GET", "/v1/nothing", &r, vars, &n), GW_MATCH_NONE);
  assert_int_equal(gw_route_match(&table, "GET", "/v1/items/a/b", &r, vars, &n), GW_MATCH_NONE);
  assert_int_equal(gw_route_match(&table, "GET", "/v1/items/", &r, vars, &n), GW_MATCH_NONE);
  assert_int_equal(gw_route_match(&table, "GET", "v1/items", &r, vars, &n), GW_MATCH_NONE);
}

static void test_variables_are_percent_decoded_utf8(void **state) {
  (void)state;
  const gw_route *r = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  /* 身份 in UTF-8 */
  assert_int_equal(gw_route_match(&table, "GET", "/v1/items/%E8%BA%AB%E4%BB%BD", &r, vars, &n),
                   GW_MATCH_OK);
  assert_string_equal(vars[0].value, "身份");
  assert_int_equal(gw_route_match(&table, "GET", "/v1/items/%zz", &r, vars, &n), GW_MATCH_BAD_PATH);
  assert_int_equal(gw_route_match(&table, "GET", "/v1/items/a%00b", &r, vars, &n),
                   GW_MATCH_BAD_PATH);
}

static void test_percent_decode_edges(void **state) {
  (void)state;
  char out[8];
  assert_int_equal(gw_percent_decode("a+b", 3, out, sizeof out, 1), 3);
  assert_string_equal(out, "a b");
  assert_int_equal(gw_percent_decode("a+b", 3, out, sizeof out, 0), 3);
  assert_string_equal(out, "a+b");
  assert_int_equal(gw_percent_decode("%4", 2, out, sizeof out, 0), -1);
  assert_int_equal(gw_percent_decode("%", 1, out, sizeof out, 0), -1);
  assert_int_equal(gw_percent_decode("12345678", 8, out, sizeof out, 0), -1); /* no room for NUL */
  assert_int_equal(gw_percent_decode("%41%42", 6, out, sizeof out, 0), 2);
  assert_string_equal(out, "AB");
}

static void test_grpc_path_lookup_finds_route(void **state) {
  (void)state;
  const gw_route *r = gw_route_by_grpc_path(&table, "/yiwang.catalog.v1.CatalogService/GetItem");
  assert_non_null(r);
  assert_string_equal(r->def->path, "/v1/items/{code}");
  assert_null(gw_route_by_grpc_path(&table, "/yiwang.catalog.v1.CatalogService/UpsertItem"));
}

/* ---- variables over several segments ---------------------------------------------- */

static gw_route_table multi;

static int setup_multi(void **state) {
  (void)state;
  static const gw_route_def defs[] = {
      {"GET", "/v1/{code=stores/*/apps/*}", "yiwang.catalog.v1.CatalogService/GetItem", NULL,
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
      {"GET", "/v1/{department=depts/*}/items/{topic}", "yiwang.catalog.v1.CatalogService/ListItems",
       NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
  };
  char err[256] = "";
  int rc = gw_routes_compile(defs, 2, services, 1, &multi, err, sizeof err);
  if (rc != 0) print_error("%s\n", err);
  return rc;
}

static int teardown_multi(void **state) {
  (void)state;
  gw_routes_free(&multi);
  return 0;
}

static void test_variable_spanning_segments_binds_their_text(void **state) {
  (void)state;
  const gw_route *r = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/stores/s1/apps/a2", &r, vars, &n),
                   GW_MATCH_OK);
  assert_string_equal(r->method->name, "GetItem");
  assert_int_equal(n, 1);
  assert_string_equal(vars[0].field, "code");
  assert_string_equal(vars[0].value, "stores/s1/apps/a2");
  /* a variable of several segments beside a plain one */
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/depts/d9/items/p3", &r, vars, &n),
                   GW_MATCH_OK);
  assert_string_equal(r->method->name, "ListItems");
  assert_int_equal(n, 2);
  assert_string_equal(vars[0].field, "department");
  assert_string_equal(vars[0].value, "depts/d9");
  assert_string_equal(vars[1].field, "topic");
  assert_string_equal(vars[1].value, "p3");
}

static void test_variable_pattern_literals_and_counts_must_match(void **state) {
  (void)state;
  const gw_route *r = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/shops/s1/apps/a2", &r, vars, &n),
                   GW_MATCH_NONE); /* literal of the pattern */
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/stores/s1/apps", &r, vars, &n),
                   GW_MATCH_NONE); /* too few segments */
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/stores/s1/apps/a2/x", &r, vars, &n),
                   GW_MATCH_NONE); /* too many */
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/stores//apps/a2", &r, vars, &n),
                   GW_MATCH_NONE); /* '*' is one segment, never an empty one */
  assert_int_equal(gw_route_match(&multi, "POST", "/v1/stores/s1/apps/a2", &r, vars, &n),
                   GW_MATCH_BAD_METHOD);
}

static void test_spanning_variable_segments_are_percent_decoded_one_by_one(void **state) {
  (void)state;
  const gw_route *r = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  assert_int_equal(
      gw_route_match(&multi, "GET", "/v1/stores/%E8%BA%AB/apps/a+b%20c", &r, vars, &n),
      GW_MATCH_OK);
  assert_string_equal(vars[0].value, "stores/身/apps/a+b c"); /* '+' stays '+' in a path */
  /* an encoded '/' inside one segment would name another resource */
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/stores/a%2Fb/apps/c", &r, vars, &n),
                   GW_MATCH_BAD_PATH);
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/stores/%zz/apps/c", &r, vars, &n),
                   GW_MATCH_BAD_PATH);
  assert_int_equal(gw_route_match(&multi, "GET", "/v1/stores/a%00/apps/c", &r, vars, &n),
                   GW_MATCH_BAD_PATH);
  /* a bound value past its room is refused, not cut */
  char path[400] = "/v1/stores/";
  memset(path + strlen(path), 'x', 250);
  memcpy(path + 11 + 250, "/apps/y", 8);
  assert_int_equal(gw_route_match(&multi, "GET", path, &r, vars, &n), GW_MATCH_BAD_PATH);
}

static void test_bad_variable_patterns_are_refused_at_compile_time(void **state) {
  (void)state;
  const char *bad[] = {"/v1/{code=stores/**}", "/v1/{code=stores//x}", "/v1/{code=}",
                       "/v1/{code=stores/*", "/v1/{code}x", "/v1/{=stores/*}", "/v1/a{code}",
                       "/v1/{nope=stores/*}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const gw_route_def defs[] = {{"GET", bad[i], "yiwang.catalog.v1.CatalogService/GetItem", NULL,
                                  GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
    gw_route_table t;
    char err[256] = "";
    if (gw_routes_compile(defs, 1, services, 1, &t, err, sizeof err) != YW_EINVAL)
      fail_msg("template %s was accepted", bad[i]);
    assert_non_null(strstr(err, bad[i]));
  }
}

/* ---- the body bound to one field -------------------------------------------------- */

static void test_body_field_binds_the_json_value_to_that_field(void **state) {
  (void)state;
  const gw_route_def defs[] = {
      {"PUT", "/v1/items/{item.impl_code}", "yiwang.catalog.v1.CatalogService/UpsertItem", "item",
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
      {"POST", "/v1/items:search", "yiwang.catalog.v1.CatalogService/ListItems", "q",
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
      {"POST", "/v1/items:all", "yiwang.catalog.v1.CatalogService/ListItems", "*",
       GW_ACCESS_PUBLIC, 0, NULL, 0, NULL},
  };
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(defs, 3, services, 1, &t, err, sizeof err), 0);
  assert_non_null(t.routes[0].body_field);
  assert_string_equal(t.routes[0].body_field->name, "item");
  assert_null(t.routes[2].body_field);
  yw_arena *a = yw_arena_new(1 << 20);
  assert_non_null(a);
  ProtobufCAllocator *alloc = yw_arena_allocator(a);
  ProtobufCMessage *m = NULL;

  /* the body is the Item itself, not {"item": ...} */
  const char item[] = "{\"implCode\":\"X-1\",\"name\":\"身份证\"}";
  assert_int_equal(gw_route_read_body(&t.routes[0], item, strlen(item), alloc, &m, err, sizeof err),
                   0);
  const Yiwang__Catalog__V1__UpsertItemRequest *up = (const void *)m;
  assert_non_null(up->item);
  assert_string_equal(up->item->impl_code, "X-1");
  assert_string_equal(up->item->name, "身份证");

  /* a scalar field takes a bare JSON value */
  assert_int_equal(gw_route_read_body(&t.routes[1], "\"passport\"", 10, alloc, &m, err, sizeof err),
                   0);
  assert_string_equal(((const Yiwang__Catalog__V1__ListItemsRequest *)m)->q, "passport");
  assert_int_equal(gw_route_read_body(&t.routes[1], "{\"q\":\"x\"}", 9, alloc, &m, err, sizeof err),
                   YW_EINVAL); /* an object is not a string */

  /* a field of the Item unknown to it, and JSON that is not JSON */
  assert_int_equal(gw_route_read_body(&t.routes[0], "{\"nope\":1}", 10, alloc, &m, err, sizeof err),
                   YW_EINVAL);
  assert_int_equal(gw_route_read_body(&t.routes[0], "{", 1, alloc, &m, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "not JSON"));

  /* "*" still wants the request as an object */
  assert_int_equal(gw_route_read_body(&t.routes[2], "{\"q\":\"tax\",\"pageSize\":3}", 24, alloc, &m,
                                      err, sizeof err),
                   0);
  assert_int_equal(((const Yiwang__Catalog__V1__ListItemsRequest *)m)->page_size, 3);
  assert_int_equal(gw_route_read_body(&t.routes[2], "\"tax\"", 5, alloc, &m, err, sizeof err),
                   YW_EINVAL);
  assert_non_null(strstr(err, "not a JSON object"));
  yw_arena_free(a);
  gw_routes_free(&t);
}

static void test_body_naming_a_missing_field_is_refused_at_compile_time(void **state) {
  (void)state;
  const gw_route_def defs[] = {{"PUT", "/v1/items", "yiwang.catalog.v1.CatalogService/UpsertItem",
                                "nope", GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(defs, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "nope"));
  assert_non_null(strstr(err, "PUT /v1/items"));
}

/* ---- raw bodies and headers ------------------------------------------------------- */

#define NOTIFY "yiwang.payment.v1.PaymentService/Notify"

static void test_raw_body_binds_a_bytes_field_and_named_headers(void **state) {
  (void)state;
  const ProtobufCServiceDescriptor *const pay[] = {&yiwang__payment__v1__payment_service__descriptor};
  const gw_route_def ok[] = {{"POST", "/v1/n/{channel}", NOTIFY, NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "payment",
                              .raw_body = "body", .headers = "yw-pay-nonce=nonce,yw-pay-signature=signature"}};
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(ok, 1, pay, 1, &t, err, sizeof err), 0);
  assert_non_null(t.routes[0].raw_body_field);
  assert_string_equal(t.routes[0].raw_body_field->name, "body");
  assert_int_equal(t.routes[0].raw_body_max, GW_RAW_BODY_DEFAULT_MAX);
  assert_int_equal(t.routes[0].n_headers, 2);
  assert_string_equal(t.routes[0].headers[1].name, "yw-pay-signature");
  assert_string_equal(t.routes[0].headers[1].field->name, "signature");
  gw_routes_free(&t);
  /* refused: a field that is not bytes, with a JSON body binding too, a header naming a
   * missing or non-string field, an upper-case header name, no '=' */
  const gw_route_def bad[] = {
      {"POST", "/v1/n/{channel}", NOTIFY, NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "payment", .raw_body = "nonce"},
      {"POST", "/v1/n/{channel}", NOTIFY, "*", GW_ACCESS_PUBLIC, 0, NULL, 0, "payment", .raw_body = "body"},
      {"POST", "/v1/n/{channel}", NOTIFY, NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "payment", .raw_body = "body",
       .headers = "yw-pay-nonce=nope"},
      {"POST", "/v1/n/{channel}", NOTIFY, NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "payment", .raw_body = "body",
       .headers = "yw-pay-nonce=body"},
      {"POST", "/v1/n/{channel}", NOTIFY, NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "payment", .raw_body = "body",
       .headers = "Yw-Pay-Nonce=nonce"},
      {"POST", "/v1/n/{channel}", NOTIFY, NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "payment", .raw_body = "body",
       .headers = "yw-pay-nonce"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(gw_routes_compile(&bad[i], 1, pay, 1, &t, err, sizeof err), YW_EINVAL);
    assert_non_null(strstr(err, "POST /v1/n/{channel}"));
  }
}

/* ---- gRPC-only declarations and upstreams ----------------------------------------- */

static void test_grpc_only_route_is_reachable_by_grpc_path_only(void **state) {
  (void)state;
  const gw_route_def defs[] = {
      {"GET", "/v1/items", "yiwang.catalog.v1.CatalogService/ListItems", NULL, GW_ACCESS_PUBLIC, 0,
       NULL, 0, "catalog"},
      {NULL, NULL, "yiwang.catalog.v1.CatalogService/UpsertItem", NULL, GW_ACCESS_STAFF, 0,
       "platform_admin", 0, "catalog_admin"},
  };
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(defs, 2, services, 1, &t, err, sizeof err), 0);
  const gw_route *r = gw_route_by_grpc_path(&t, "/yiwang.catalog.v1.CatalogService/UpsertItem");
  assert_non_null(r);
  assert_int_equal(r->def->access, GW_ACCESS_STAFF);
  assert_string_equal(r->def->roles, "platform_admin");
  assert_string_equal(r->upstream, "catalog_admin"); /* the route's own, not the package's */
  assert_string_equal(r->label, "grpc /yiwang.catalog.v1.CatalogService/UpsertItem");
  assert_int_equal(r->n_segments, 0);
  /* no REST path reaches it, whatever the method */
  const gw_route *m = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  assert_int_equal(gw_route_match(&t, "GET", "/v1/items", &m, vars, &n), GW_MATCH_OK);
  assert_string_equal(m->method->name, "ListItems");
  assert_int_equal(gw_route_match(&t, "PUT", "/v1/items", &m, vars, &n), GW_MATCH_BAD_METHOD);
  assert_int_equal(gw_route_match(&t, "POST", "/", &m, vars, &n), GW_MATCH_NONE);
  gw_routes_free(&t);
}

static void test_half_declared_and_badly_named_routes_are_refused(void **state) {
  (void)state;
  const gw_route_def no_path[] = {{"GET", NULL, "yiwang.catalog.v1.CatalogService/ListItems",
                                   NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  const gw_route_def grpc_body[] = {{NULL, NULL, "yiwang.catalog.v1.CatalogService/UpsertItem",
                                     "*", GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  const gw_route_def grpc_missing[] = {{NULL, NULL, "yiwang.catalog.v1.CatalogService/Nope", NULL,
                                        GW_ACCESS_PUBLIC, 0, NULL, 0, NULL}};
  const gw_route_def bad_upstream[] = {{"GET", "/v1/items", "yiwang.catalog.v1.CatalogService/ListItems",
                                        NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "Catalog"}};
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(no_path, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_int_equal(gw_routes_compile(grpc_body, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_int_equal(gw_routes_compile(grpc_missing, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "grpc /yiwang.catalog.v1.CatalogService/Nope"));
  assert_int_equal(gw_routes_compile(bad_upstream, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "Catalog"));
}

static void test_project_routes_name_their_upstreams(void **state) {
  (void)state;
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(gw_route_defs, gw_route_defs_count, gw_services,
                                     gw_services_count, &t, err, sizeof err),
                   0);
  for (size_t i = 0; i < t.n; i++) {
    assert_non_null(t.routes[i].def->upstream);
    assert_string_equal(t.routes[i].upstream, t.routes[i].def->upstream);
  }
  gw_routes_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_project_table_compiles_against_linked_services),
      cmocka_unit_test(test_unknown_method_is_refused_at_compile_time),
      cmocka_unit_test(test_unknown_service_is_refused_at_compile_time),
      cmocka_unit_test(test_path_variable_must_name_a_scalar_field),
      cmocka_unit_test_setup_teardown(test_literal_and_variable_templates_match, setup, teardown),
      cmocka_unit_test_setup_teardown(test_custom_verb_is_a_literal_segment, setup, teardown),
      cmocka_unit_test(test_verb_after_a_variable_binds_the_variable_only),
      cmocka_unit_test_setup_teardown(test_wrong_method_is_405_and_unknown_path_is_404, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_variables_are_percent_decoded_utf8, setup, teardown),
      cmocka_unit_test(test_percent_decode_edges),
      cmocka_unit_test_setup_teardown(test_grpc_path_lookup_finds_route, setup, teardown),
      cmocka_unit_test_setup_teardown(test_variable_spanning_segments_binds_their_text,
                                      setup_multi, teardown_multi),
      cmocka_unit_test_setup_teardown(test_variable_pattern_literals_and_counts_must_match,
                                      setup_multi, teardown_multi),
      cmocka_unit_test_setup_teardown(
          test_spanning_variable_segments_are_percent_decoded_one_by_one, setup_multi,
          teardown_multi),
      cmocka_unit_test(test_bad_variable_patterns_are_refused_at_compile_time),
      cmocka_unit_test(test_body_field_binds_the_json_value_to_that_field),
      cmocka_unit_test(test_body_naming_a_missing_field_is_refused_at_compile_time),
      cmocka_unit_test(test_raw_body_binds_a_bytes_field_and_named_headers),
      cmocka_unit_test(test_grpc_only_route_is_reachable_by_grpc_path_only),
      cmocka_unit_test(test_half_declared_and_badly_named_routes_are_refused),
      cmocka_unit_test(test_project_routes_name_their_upstreams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
