/*
 * yw_testpay.c - yw-payment in a test's process (yw_testpay.h).
 */
#include "yw_testpay.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ledger.h"
#include "yw_events.h"
#include "yw_idem.h"
#include "yw_log.h"
#include "yw_testdb.h"
#include "yw_testrpc.h"

payment_ctx yw_testpay_ctx;
static yw_rpc_service svc;
static yw_test_rpc rpc;
static yw_caller as;
static char dsn[512], prefix[128];

int yw_testpay_start(void) {
  payment_ctx *ctx = &yw_testpay_ctx;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  if (yw_pg_pool_new(dsn, 8, &ctx->pool, &err) != 0) return -1;
  ctx->db_wait_ms = 2000;
  uint8_t key[YW_KEY_BYTES];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 7 + 1);
  if (yw_caller_keys_init(&ctx->caller_keys, key, NULL, 30) != 0) return -1;
  for (size_t i = 0; i < sizeof ctx->data_key; i++) ctx->data_key[i] = (uint8_t)(i * 5 + 3);
  if (yw_test_redis_open(1000, 4, &ctx->redis) != 0) return -1;
  const char *db = strstr(dsn, "dbname=");
  snprintf(prefix, sizeof prefix, "%s", db != NULL ? db + 7 : "test");
  ctx->redis_prefix = prefix;
  PGconn *c = yw_pg_pool_acquire(ctx->pool, 2000);
  int rc = yw_pg_migrate(c, "payment", payment_migrations, payment_migrations_count, &err);
  if (rc == 0) rc = yw_events_migrate(c, "payment", &err);
  if (rc == 0) rc = yw_idem_migrate(c, "payment", &err);
  yw_pg_pool_release(ctx->pool, c);
  if (rc != 0) {
    fprintf(stderr, "migrate: %s\n", err.message);
    return -1;
  }
  payment_service_init(&svc, ctx);
  return yw_test_rpc_start(&svc, 8, 2, &rpc);
}

void yw_testpay_stop(void) {
  yw_test_rpc_stop(&rpc);
  yw_redis_free(yw_testpay_ctx.redis);
  yw_pg_pool_free(yw_testpay_ctx.pool);
  yw_testdb_drop();
}

void yw_testpay_as_person(const char *subject) {
  memset(&as, 0, sizeof as);
  as.kind = YW_CALLER_PERSON;
  as.level = 2;
  snprintf(as.subject, sizeof as.subject, "%s", subject);
  snprintf(as.ip, sizeof as.ip, "10.0.0.1");
}

void yw_testpay_as_staff(const char *subject, const char *department, const char *roles) {
  memset(&as, 0, sizeof as);
  as.kind = YW_CALLER_STAFF;
  snprintf(as.subject, sizeof as.subject, "%s", subject);
  snprintf(as.department, sizeof as.department, "%s", department);
  snprintf(as.roles, sizeof as.roles, "%s", roles);
  snprintf(as.ip, sizeof as.ip, "10.0.0.2");
}

void yw_testpay_as_anonymous(void) {
  memset(&as, 0, sizeof as);
  as.kind = YW_CALLER_ANONYMOUS;
  snprintf(as.ip, sizeof as.ip, "10.0.0.3");
}

grpc_status_code yw_testpay_call(const char *method, const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *out_desc, const char *idem_key,
                                 ProtobufCMessage **out, char *msg) {
  yw_caller c = as;
  return yw_testpay_call_as(&c, method, req, out_desc, idem_key, out, msg);
}

grpc_status_code yw_testpay_call_as(yw_caller *caller, const char *method, const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *out_desc, const char *idem_key,
                                    ProtobufCMessage **out, char *msg) {
  char path[128], value[YW_CALLER_VALUE_MAX], sig[65], m[256];
  snprintf(path, sizeof path, "/yiwang.payment.v1.PaymentService/%s", method);
  caller->ts = (long long)time(NULL);
  if (yw_caller_encode(caller, yw_testpay_ctx.caller_keys.current, path, "", value, sizeof value, sig) != 0)
    return GRPC_STATUS_INTERNAL;
  yw_rpc_md md[3] = {{"x-yw-caller", value, 0}, {"x-yw-caller-sig", sig, 0}, {"idempotency-key", idem_key, 0}};
  *out = NULL;
  grpc_status_code st = yw_rpc_call_sync(rpc.channel, path, req, out_desc, NULL, out, md, idem_key != NULL ? 3 : 2,
                                         10000, m, sizeof m);
  if (msg != NULL) snprintf(msg, 256, "%s", m);
  return st;
}

long long yw_testpay_count_(const char *const *sql_and_params) {
  const char *sql = sql_and_params[0];
  int n = 0;
  while (sql_and_params[1 + n] != NULL) n++;
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  if (c == NULL) return -1;
  PGresult *r = PQexecParams(c, sql, n, NULL, sql_and_params + 1, NULL, NULL, 0);
  long long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
  if (v == -1) fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
  PQclear(r);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
  return v;
}

void yw_testpay_assert_ledger_ok(void) {
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  ledger_report r;
  yw_pg_error err;
  assert_int_equal(ledger_check(c, &r, &err), 0);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
  if (!ledger_report_ok(&r)) fprintf(stderr, "ledger: %s\n", r.first);
  assert_true(ledger_report_ok(&r));
}
