/*
 * test_sse.c - the text of Server-Sent Events (gw_sse_format.c) and the route table's
 * check that a route streams exactly when its method does (gw_route.c, against the
 * table of method kinds built from the .proto files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_route.h"
#include "gw_sse.h"
#include "yiwang/test/v1/echo.pb-c.h"
#include "yiwang/test/v1/feed.pb-c.h"
#include "yw_err.h"

static void event_text(const char *id, const char *event, const char *data, const char *want) {
  size_t len = 0;
  char *ev = gw_sse_event(id, event, data, strlen(data), &len);
  assert_non_null(ev);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(ev, want, len);
  free(ev);
}

static void test_event_has_id_name_and_one_data_line(void **state) {
  (void)state;
  event_text("7", "feed", "{\"seq\":\"7\"}", "id: 7\nevent: feed\ndata: {\"seq\":\"7\"}\n\n");
}

static void test_event_without_id_or_name_is_data_only(void **state) {
  (void)state;
  event_text(NULL, NULL, "x", "data: x\n\n");
  event_text("", "", "x", "data: x\n\n");
}

static void test_every_line_of_data_is_a_data_line(void **state) {
  (void)state;
  /* LF, CR LF and a lone CR each end a line, as SSE parsers read them */
  event_text(NULL, "e", "a\nb\r\nc\rd", "event: e\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  event_text(NULL, NULL, "", "data: \n\n");
  event_text(NULL, NULL, "\r\r\r", "data: \ndata: \ndata: \ndata: \n\n");
}

static void test_event_ids_are_short_printable_lines(void **state) {
  (void)state;
  assert_true(gw_sse_id_ok("42", 2));
  assert_true(gw_sse_id_ok("a-b_c.9", 7));
  assert_false(gw_sse_id_ok("", 0));
  assert_false(gw_sse_id_ok("4\n2", 3));
  assert_false(gw_sse_id_ok("4\r2", 3));
  assert_false(gw_sse_id_ok("\xe4\xb8\x80", 3));
  char longid[130];
  memset(longid, '1', sizeof longid);
  assert_true(gw_sse_id_ok(longid, 128));
  assert_false(gw_sse_id_ok(longid, 129));
}

static const ProtobufCServiceDescriptor *const services[] = {
    &yiwang__test__v1__feed_service__descriptor,
    &yiwang__test__v1__echo_service__descriptor,
};

static int compile(const gw_route_def *def, char *err, size_t errlen) {
  gw_route_table t;
  int rc = gw_routes_compile(def, 1, services, 2, &t, err, errlen);
  if (rc == 0) gw_routes_free(&t);
  return rc;
}

static void test_a_streaming_method_needs_a_streaming_route(void **state) {
  (void)state;
  char err[512];
  gw_route_def ok = {.http_method = "GET",
                     .path = "/v1/feed",
                     .rpc = "yiwang.test.v1.FeedService/Watch",
                     .upstream = "test",
                     .stream = 1,
                     .event_id = "seq"};
  assert_int_equal(compile(&ok, err, sizeof err), 0);
  gw_route_def unary = ok;
  unary.stream = 0;
  unary.event_id = NULL;
  assert_int_equal(compile(&unary, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "server streaming"));
  gw_route_def grpc_only = {.rpc = "yiwang.test.v1.FeedService/Watch", .upstream = "test"};
  assert_int_equal(compile(&grpc_only, err, sizeof err), YW_EINVAL);
  grpc_only.stream = 1;
  assert_int_equal(compile(&grpc_only, err, sizeof err), 0);
}

static void test_a_unary_method_cannot_be_declared_a_stream(void **state) {
  (void)state;
  char err[512];
  gw_route_def def = {.http_method = "POST",
                      .path = "/v1/echo",
                      .rpc = "yiwang.test.v1.EchoService/Echo",
                      .body = "*",
                      .upstream = "test",
                      .stream = 1};
  assert_int_equal(compile(&def, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "unary"));
}

static void test_the_event_id_must_be_a_field_of_the_answer(void **state) {
  (void)state;
  char err[512];
  gw_route_def def = {.http_method = "GET",
                      .path = "/v1/feed",
                      .rpc = "yiwang.test.v1.FeedService/Watch",
                      .upstream = "test",
                      .stream = 1,
                      .event_id = "nope"};
  assert_int_equal(compile(&def, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "event_id"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_event_has_id_name_and_one_data_line),
      cmocka_unit_test(test_event_without_id_or_name_is_data_only),
      cmocka_unit_test(test_every_line_of_data_is_a_data_line),
      cmocka_unit_test(test_event_ids_are_short_printable_lines),
      cmocka_unit_test(test_a_streaming_method_needs_a_streaming_route),
      cmocka_unit_test(test_a_unary_method_cannot_be_declared_a_stream),
      cmocka_unit_test(test_the_event_id_must_be_a_field_of_the_answer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
