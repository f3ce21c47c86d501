/*
 * test_service.c - the handler helpers of lib/yw_service on real PostgreSQL and the real
 * gRPC server: a transaction that commits, one refused by a rule and one broken by a
 * statement leave the table as they should; list paging with tokens walks every row
 * once and refuses tampered or foreign tokens; caller checks refuse who they should.
 *
 * The handlers are those of EchoService (tests/proto/yiwang/test/v1/echo.proto); the
 * request's text names what to do: "tx-ok:V", "tx-refuse:V", "tx-sqlerr:V",
 * "page:SIZE:FILTER:TOKEN", "staff:ROLES", "person:LEVEL".
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

#include "yiwang/test/v1/echo.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"
#include "yw_testdb.h"
#include "yw_testrpc.h"

#define DB "the test database"

static char dsn[512];
static yw_pg_pool *pool;
static yw_caller_keys keys;
static uint8_t caller_key[YW_KEY_BYTES];
static yw_test_rpc rpc;

/* ---- the service ------------------------------------------------------------------ */

struct insert_work {
  const char *value;
  int how; /* 0 commit, 1 refused by a rule after the insert, 2 a broken statement after */
};

static int insert_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct insert_work *w = arg;
  const char *p[] = {w->value};
  int rc = yw_pg_query(conn, "INSERT INTO svc_test.t (v) VALUES ($1)", 1, p, NULL, err);
  if (rc != 0) return rc;
  if (w->how == 1) return yw_rpc_call_fail(call, YW_EPRECOND, "refused after the insert");
  if (w->how == 2) return yw_pg_query(conn, "SELECT 1/0 FROM svc_test.t", 0, NULL, NULL, err);
  return 0;
}

static Yiwang__Test__V1__EchoReply *reply(yw_rpc_call *call, const char *text) {
  Yiwang__Test__V1__EchoReply *r = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *r);
  if (r == NULL) return NULL;
  yiwang__test__v1__echo_reply__init(r);
  r->text = yw_arena_strndup(yw_rpc_call_arena(call), text, (size_t)-1);
  return r->text != NULL ? r : NULL;
}

/* page:SIZE:FILTER:TOKEN -> "v1,v2,...#NEXT" over rows whose v starts with FILTER, by v */
static int page_handler(yw_rpc_call *call, char *spec, ProtobufCMessage **out) {
  char *size = spec, *filter = strchr(size, ':');
  if (filter == NULL) return YW_EINVAL;
  *filter++ = '\0';
  char *token = strchr(filter, ':');
  if (token == NULL) return YW_EINVAL;
  *token++ = '\0';
  const char *filters[] = {filter};
  yw_page page;
  int rc = yw_page_begin(call, (int32_t)strtol(size, NULL, 10), token, 3, 5, filters, 1, &page);
  if (rc != 0) return rc;
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {filter, page.cursor, limit};
  PGresult *r = NULL;
  rc = yw_service_query(call, pool, 1000, DB,
                        "SELECT v FROM svc_test.t WHERE starts_with(v, $1) AND v > $2"
                        " ORDER BY v LIMIT $3::int",
                        3, p, &r);
  if (rc != 0) return rc;
  char text[512] = "";
  size_t used = 0;
  int rows = PQntuples(r), n = rows > page.size ? page.size : rows;
  for (int i = 0; i < n; i++)
    used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", i > 0 ? "," : "",
                             PQgetvalue(r, i, 0));
  const char *next = "";
  if (rows > page.size) next = yw_page_token(yw_rpc_call_arena(call), &page, PQgetvalue(r, n - 1, 0));
  PQclear(r);
  if (next == NULL) return YW_ENOMEM;
  snprintf(text + used, sizeof text - used, "#%s", next);
  Yiwang__Test__V1__EchoReply *rep = reply(call, text);
  if (rep == NULL) return YW_ENOMEM;
  *out = &rep->base;
  return 0;
}

static int echo(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                void *data) {
  (void)data;
  const Yiwang__Test__V1__EchoRequest *req = (const void *)reqm;
  char spec[256];
  snprintf(spec, sizeof spec, "%s", req->text);
  char *arg = strchr(spec, ':');
  if (arg == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "no verb");
  *arg++ = '\0';
  int rc = 0;
  yw_caller c;
  if (strcmp(spec, "tx-ok") == 0 || strcmp(spec, "tx-refuse") == 0 ||
      strcmp(spec, "tx-sqlerr") == 0) {
    struct insert_work w = {arg, spec[3] == 'o' ? 0 : spec[3] == 'r' ? 1 : 2};
    rc = yw_service_tx(call, pool, 1000, DB, insert_tx, &w);
  } else if (strcmp(spec, "page") == 0) {
    return page_handler(call, arg, out);
  } else if (strcmp(spec, "staff") == 0) {
    rc = yw_service_require_staff(call, &keys, arg, "the test action", &c);
  } else if (strcmp(spec, "person") == 0) {
    rc = yw_service_require_person(call, &keys, (int)strtol(arg, NULL, 10), &c);
  } else {
    return yw_rpc_call_fail(call, YW_EINVAL, "unknown verb");
  }
  if (rc != 0) return rc;
  Yiwang__Test__V1__EchoReply *rep = reply(call, "ok");
  if (rep == NULL) return YW_ENOMEM;
  *out = &rep->base;
  return 0;
}

static const yw_rpc_method methods[] = {{.name = "Echo", .fn = echo}, {.name = "Other", .fn = echo}};
static yw_rpc_service svc = {&yiwang__test__v1__echo_service__descriptor, methods, 2, NULL};

/* ---- the client ------------------------------------------------------------------- */

static yw_caller as;
static int send_caller;

/* Calls Echo with text; *status_out the status, text of the reply into out. */
static grpc_status_code call_echo(const char *text, char *out, size_t size) {
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = (char *)text;
  ProtobufCMessage *resp = NULL;
  char msg[256] = "";
  yw_rpc_md md[3];
  size_t nmd = 0;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  static const char method[] = "/yiwang.test.v1.EchoService/Echo";
  md[nmd++] = (yw_rpc_md){"x-request-id", "req-test-service", 0};
  if (send_caller) {
    as.ts = (long long)time(NULL);
    assert_int_equal(
        yw_caller_encode(&as, caller_key, method, "req-test-service", value, sizeof value, sig), 0);
    md[nmd++] = (yw_rpc_md){"x-yw-caller", value, 0};
    md[nmd++] = (yw_rpc_md){"x-yw-caller-sig", sig, 0};
  }
  grpc_status_code st = yw_rpc_call_sync(rpc.channel, method, &req.base,
                                         &yiwang__test__v1__echo_reply__descriptor, NULL, &resp,
                                         md, nmd, 5000, msg, sizeof msg);
  if (st == GRPC_STATUS_OK) {
    snprintf(out, size, "%s", ((Yiwang__Test__V1__EchoReply *)resp)->text);
    protobuf_c_message_free_unpacked(resp, NULL);
  } else {
    snprintf(out, size, "%s", msg);
  }
  return st;
}

static long long count_rows(const char *v) {
  PGconn *c = yw_pg_pool_acquire(pool, 1000);
  assert_non_null(c);
  const char *p[] = {v};
  PGresult *r = NULL;
  assert_int_equal(yw_pg_query(c, "SELECT count(*) FROM svc_test.t WHERE v = $1", 1, p, &r, NULL),
                   0);
  long long n = yw_col_ll(r, 0, 0);
  PQclear(r);
  yw_pg_pool_release(pool, c);
  return n;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_tx_commits_or_leaves_nothing(void **state) {
  (void)state;
  char out[256];
  assert_int_equal(call_echo("tx-ok:committed", out, sizeof out), GRPC_STATUS_OK);
  assert_int_equal(count_rows("committed"), 1);

  /* a rule refused after the insert: its own status, and the insert rolled back */
  assert_int_equal(call_echo("tx-refuse:refused", out, sizeof out), GRPC_STATUS_FAILED_PRECONDITION);
  assert_string_equal(out, "refused after the insert");
  assert_int_equal(count_rows("refused"), 0);

  /* a statement broke after the insert: the database's failure, no details, rolled back */
  assert_int_equal(call_echo("tx-sqlerr:broken", out, sizeof out), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(count_rows("broken"), 0);

  /* the pool is whole afterwards: every branch released its connection */
  for (int i = 0; i < 8; i++) {
    char v[32];
    snprintf(v, sizeof v, "tx-refuse:again%d", i);
    assert_int_equal(call_echo(v, out, sizeof out), GRPC_STATUS_FAILED_PRECONDITION);
  }
  assert_int_equal(call_echo("tx-ok:after", out, sizeof out), GRPC_STATUS_OK);
  assert_int_equal(count_rows("after"), 1);
}

static void test_paging_walks_every_row_once(void **state) {
  (void)state;
  char out[256], spec[256];
  for (int i = 0; i < 11; i++) {
    snprintf(spec, sizeof spec, "tx-ok:p%02d", i);
    assert_int_equal(call_echo(spec, out, sizeof out), GRPC_STATUS_OK);
  }
  char seen[512] = "", token[200] = "";
  int pages = 0;
  do {
    snprintf(spec, sizeof spec, "page:4:p:%s", token);
    assert_int_equal(call_echo(spec, out, sizeof out), GRPC_STATUS_OK);
    char *hash = strchr(out, '#');
    assert_non_null(hash);
    *hash = '\0';
    snprintf(token, sizeof token, "%s", hash + 1);
    size_t used = strlen(seen);
    assert_true(used + strlen(out) + 2 <= sizeof seen);
    memcpy(seen + used, out, strlen(out));
    used += strlen(out);
    if (token[0] != '\0') seen[used++] = ',';
    seen[used] = '\0';
    pages++;
  } while (token[0] != '\0' && pages < 10);
  assert_int_equal(pages, 3);
  assert_string_equal(seen, "p00,p01,p02,p03,p04,p05,p06,p07,p08,p09,p10");

  /* the default size, and the bounds */
  assert_int_equal(call_echo("page:0:p:", out, sizeof out), GRPC_STATUS_OK);
  assert_int_equal(strncmp(out, "p00,p01,p02#", 12), 0);
  assert_int_equal(call_echo("page:6:p:", out, sizeof out), GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(out, "pageSize must be between 0 and 5"));
  assert_int_equal(call_echo("page:-1:p:", out, sizeof out), GRPC_STATUS_INVALID_ARGUMENT);

  /* a token of this query replayed with another filter */
  assert_int_equal(call_echo("page:4:p:", out, sizeof out), GRPC_STATUS_OK);
  snprintf(token, sizeof token, "%s", strchr(out, '#') + 1);
  snprintf(spec, sizeof spec, "page:4:p0:%s", token);
  assert_int_equal(call_echo(spec, out, sizeof out), GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(out, "pageToken belongs to another query");

  /* tampered, not base64url, empty cursor, too long */
  const char *bad[] = {"page:4:p:!!!!", "page:4:p:dj", "page:4:p:djF8MTIzfA",
                       "page:4:p:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(call_echo(bad[i], out, sizeof out), GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(out, "pageToken is not valid");
  }
  /* a token that decodes but whose hash is not ours */
  assert_int_equal(call_echo("page:4:p:djF8MTIzfHAwMw", out, sizeof out),
                   GRPC_STATUS_INVALID_ARGUMENT); /* "v1|123|p03" */
  assert_string_equal(out, "pageToken belongs to another query");
}

static void test_caller_checks(void **state) {
  (void)state;
  char out[256];
  send_caller = 0;
  assert_int_equal(call_echo("staff:", out, sizeof out), GRPC_STATUS_UNAUTHENTICATED);

  send_caller = 1;
  memset(&as, 0, sizeof as);
  as.kind = YW_CALLER_PERSON;
  snprintf(as.subject, sizeof as.subject, "p-1");
  as.level = 2;
  assert_int_equal(call_echo("staff:", out, sizeof out), GRPC_STATUS_PERMISSION_DENIED);
  assert_string_equal(out, "the test action is for staff");
  assert_int_equal(call_echo("person:2", out, sizeof out), GRPC_STATUS_OK);
  assert_int_equal(call_echo("person:3", out, sizeof out), GRPC_STATUS_PERMISSION_DENIED);

  as.kind = YW_CALLER_STAFF;
  as.level = 0;
  snprintf(as.roles, sizeof as.roles, "dept_staff,auditor");
  assert_int_equal(call_echo("staff:", out, sizeof out), GRPC_STATUS_OK);
  assert_int_equal(call_echo("staff:dept_admin,auditor", out, sizeof out), GRPC_STATUS_OK);
  assert_int_equal(call_echo("staff:dept_admin,platform_admin", out, sizeof out),
                   GRPC_STATUS_PERMISSION_DENIED);
  assert_string_equal(out, "the test action needs one of the roles dept_admin,platform_admin");
  assert_int_equal(call_echo("person:0", out, sizeof out), GRPC_STATUS_PERMISSION_DENIED);
  send_caller = 0;
}

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  if (yw_pg_pool_new(dsn, 2, &pool, &err) != 0) return -1;
  PGconn *c = yw_pg_pool_acquire(pool, 1000);
  int rc = yw_pg_query(c, "CREATE SCHEMA svc_test", 0, NULL, NULL, &err);
  if (rc == 0) rc = yw_pg_query(c, "CREATE TABLE svc_test.t (v text)", 0, NULL, NULL, &err);
  yw_pg_pool_release(pool, c);
  if (rc != 0) {
    fprintf(stderr, "schema: %s\n", err.message);
    return -1;
  }
  for (size_t i = 0; i < sizeof caller_key; i++) caller_key[i] = (uint8_t)(i * 5 + 3);
  if (yw_caller_keys_init(&keys, caller_key, NULL, 30) != 0) return -1;
  return yw_test_rpc_start(&svc, 2, 1, &rpc);
}

static int teardown(void **state) {
  (void)state;
  yw_test_rpc_stop(&rpc);
  yw_pg_pool_free(pool);
  yw_testdb_drop();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tx_commits_or_leaves_nothing),
      cmocka_unit_test(test_paging_walks_every_row_once),
      cmocka_unit_test(test_caller_checks),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
