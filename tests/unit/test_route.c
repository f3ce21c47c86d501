/*
 * test_route.c - the gateway's route table: compilation against descriptors, matching
 * of templates with variables and custom verbs, 404 versus 405, percent-decoding.
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
#include "yw_err.h"

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
      {"GET", "/v1/x", "yiwang.catalog.v1.CatalogService/NoSuchMethod", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0}};
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(defs, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "NoSuchMethod"));
}

static void test_unknown_service_is_refused_at_compile_time(void **state) {
  (void)state;
  const gw_route_def defs[] = {
      {"GET", "/v1/x", "yiwang.nothing.v1.Nope/Get", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0}};
  gw_route_table t;
  char err[256] = "";
  assert_int_equal(gw_routes_compile(defs, 1, services, 1, &t, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "unknown service"));
}

static void test_path_variable_must_name_a_scalar_field(void **state) {
  (void)state;
  const gw_route_def bad[] = {{"GET", "/v1/items/{nope}",
                               "yiwang.catalog.v1.CatalogService/GetItem", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0}};
  const gw_route_def message[] = {{"PUT", "/v1/items/{item}",
                                   "yiwang.catalog.v1.CatalogService/UpsertItem", "*",
                                   GW_ACCESS_PUBLIC, 0, NULL, 0}};
  const gw_route_def nested[] = {{"PUT", "/v1/items/{item.implCode}",
                                  "yiwang.catalog.v1.CatalogService/UpsertItem", "*",
                                  GW_ACCESS_PUBLIC, 0, NULL, 0}};
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
      {"GET", "/v1/items", "yiwang.catalog.v1.CatalogService/ListItems", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0},
      {"GET", "/v1/items/{code}", "yiwang.catalog.v1.CatalogService/GetItem", NULL,
       GW_ACCESS_PUBLIC, 0, NULL, 0},
      {"POST", "/v1/items:search", "yiwang.catalog.v1.CatalogService/ListItems", "*",
       GW_ACCESS_PUBLIC, 0, NULL, 0},
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_project_table_compiles_against_linked_services),
      cmocka_unit_test(test_unknown_method_is_refused_at_compile_time),
      cmocka_unit_test(test_unknown_service_is_refused_at_compile_time),
      cmocka_unit_test(test_path_variable_must_name_a_scalar_field),
      cmocka_unit_test_setup_teardown(test_literal_and_variable_templates_match, setup, teardown),
      cmocka_unit_test_setup_teardown(test_custom_verb_is_a_literal_segment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_method_is_405_and_unknown_path_is_404, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_variables_are_percent_decoded_utf8, setup, teardown),
      cmocka_unit_test(test_percent_decode_edges),
      cmocka_unit_test_setup_teardown(test_grpc_path_lookup_finds_route, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
