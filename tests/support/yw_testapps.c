/*
 * yw_testapps.c - yw-catalog and yw-applications served in a test's process
 * (yw_testapps.h).
 */
#include "yw_testapps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "fees.h"
#include "yiwang/events/v1/payment.pb-c.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yw_err.h"
#include "yw_json.h"
#include "yw_events.h"
#include "yw_idem.h"
#include "yw_testdb.h"

int yw_testapps_start(yw_testapps *t, int pool_size, int queue,
                      const yw_rpc_service *const *more, int n_more) {
  if (yw_testdb_create(t->dsn, sizeof t->dsn) != 0) return -1;
  yw_pg_error err;
  applications_ctx *app = &t->app;
  if (yw_pg_pool_new(t->dsn, pool_size, &app->pool, &err) != 0) {
    fprintf(stderr, "pool: %s\n", err.message);
    return -1;
  }
  t->cat.pool = app->pool;
  t->cat.db_wait_ms = app->db_wait_ms = 5000;
  uint8_t caller_key[YW_KEY_BYTES];
  for (size_t i = 0; i < sizeof caller_key; i++) caller_key[i] = (uint8_t)(i * 7 + 1);
  if (yw_caller_keys_init(&app->caller_keys, caller_key, NULL, 30) != 0) return -1;
  t->cat.caller_keys = app->caller_keys;
  for (size_t i = 0; i < YW_KEY_BYTES; i++) app->lookup_key[i] = (uint8_t)(i * 3 + 5);
  for (size_t i = 0; i < YW_KEY_BYTES; i++) app->data_key[i] = (uint8_t)(i * 5 + 9);
  const char *raddr = getenv("YW_TEST_REDIS_ADDR");
  if (raddr == NULL || yw_redis_open(raddr, 500, 2, &app->redis) != 0) {
    fprintf(stderr, "YW_TEST_REDIS_ADDR: no Redis (run with ./dev test)\n");
    return -1;
  }
  /* kept answers in Redis under keys of this database only */
  const char *db = NULL;
  for (const char *at = strstr(t->dsn, "dbname="); at != NULL; at = strstr(at + 1, "dbname="))
    db = at;
  snprintf(t->redis_prefix, sizeof t->redis_prefix, "%s", db != NULL ? db + 7 : "test");
  app->redis_prefix = t->redis_prefix;
  PGconn *c = yw_pg_pool_acquire(app->pool, 1000);
  int rc = yw_pg_migrate(c, "catalog", catalog_migrations, catalog_migrations_count, &err);
  if (rc == 0) rc = yw_idem_migrate(c, "catalog", &err);
  if (rc == 0)
    rc = yw_pg_migrate(c, "applications", applications_migrations, applications_migrations_count,
                       &err);
  if (rc == 0) rc = yw_events_migrate(c, "applications", &err); /* as .events = 1 does */
  if (rc == 0) rc = yw_idem_migrate(c, "applications", &err);   /* as .idempotency = 1 */
  if (rc == 0 && t->with_identity)
    rc = yw_pg_migrate(c, "identity", identity_migrations, identity_migrations_count, &err);
  yw_pg_pool_release(app->pool, c);
  if (rc != 0) {
    fprintf(stderr, "migrate: %s\n", err.message);
    return -1;
  }
  if (yw_testdb_run_file(t->dsn, "services/catalog/seed/demo.sql") != 0) return -1;
  catalog_service_init(&t->cat_svc, &t->cat);
  if (t->with_identity) {
    identity_ctx *idn = &t->idn;
    idn->pool = app->pool;
    idn->db_wait_ms = 5000;
    idn->redis = app->redis;
    idn->redis_prefix = t->redis_prefix;
    idn->caller_keys = app->caller_keys;
    for (size_t i = 0; i < YW_KEY_BYTES; i++) idn->data_key[i] = (uint8_t)(i * 11 + 3);
    memcpy(idn->lookup_key, app->lookup_key, YW_KEY_BYTES);
    identity_service_init(&t->idn_svc, idn);
  }
  if (yw_rpc_server_new("127.0.0.1:0", 4, &t->server) != 0) return -1;
  if (queue > 0 && yw_rpc_server_set_queue(t->server, queue) != 0) return -1;
  if (yw_rpc_server_set_caller(t->server, &app->caller_keys, "applications") != 0) return -1;
  if (yw_rpc_server_add_service(t->server, &t->cat_svc) != 0) return -1;
  if (t->with_identity && yw_rpc_server_add_service(t->server, &t->idn_svc) != 0) return -1;
  if (yw_rpc_client_new(&t->client) != 0) return -1;
  /* the service's channel to the catalog is made before the server starts, so its
   * port is known only after: the services are added first, then the channel is
   * pointed at the same server */
  app->catalog = NULL;
  /* the database's calendar, empty: weekends only */
  if ((app->calendar = applications_calendar_new(NULL, 0)) == NULL) return -1;
  applications_service_init(&t->app_svc, app);
  if (yw_rpc_server_add_service(t->server, &t->app_svc) != 0) return -1;
  for (int i = 0; i < n_more; i++)
    if (yw_rpc_server_add_service(t->server, more[i]) != 0) return -1;
  if (yw_rpc_server_start(t->server) != 0) return -1;
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(t->server));
  t->channel = yw_rpc_channel_new(t->client, target, 1, 4 << 20);
  app->catalog = t->channel;
  if (t->with_identity) app->identity = t->channel;
  return t->channel != NULL ? 0 : -1;
}

void yw_testapps_stop(yw_testapps *t) {
  yw_rpc_server_free(t->server);
  yw_rpc_channel_free(t->channel);
  yw_rpc_client_free(t->client);
  yw_redis_free(t->app.redis);
  yw_pg_pool_free(t->app.pool);
  applications_calendar_free(t->app.calendar);
  yw_testdb_drop();
}

grpc_status_code yw_testapps_call(yw_testapps *t, const yw_testapps_caller *who,
                                  const char *idem_key, const char *path,
                                  const ProtobufCMessage *req,
                                  const ProtobufCMessageDescriptor *out_desc,
                                  ProtobufCMessage **out, char *msg, size_t msglen) {
  yw_caller c;
  memset(&c, 0, sizeof c);
  c.kind = who->kind;
  snprintf(c.subject, sizeof c.subject, "%s", who->subject);
  snprintf(c.roles, sizeof c.roles, "%s", who->roles);
  snprintf(c.department, sizeof c.department, "%s", who->dept);
  snprintf(c.org, sizeof c.org, "%s", who->org != NULL ? who->org : "");
  snprintf(c.org_scope, sizeof c.org_scope, "%s", who->org_scope != NULL ? who->org_scope : "");
  snprintf(c.via, sizeof c.via, "%s", t->via);
  snprintf(c.session, sizeof c.session, "sid");
  snprintf(c.ip, sizeof c.ip, "192.0.2.7");
  c.level = who->level;
  c.ts = (long long)time(NULL);
  char value[YW_CALLER_VALUE_MAX], sig[65];
  if (yw_caller_encode(&c, t->app.caller_keys.current, path, "", value, sizeof value, sig) != 0)
    return GRPC_STATUS_INTERNAL;
  yw_rpc_md md[3];
  size_t nmd = 0;
  if (who->kind != YW_CALLER_ANONYMOUS) {
    md[nmd++] = (yw_rpc_md){"x-yw-caller", value, 0};
    md[nmd++] = (yw_rpc_md){"x-yw-caller-sig", sig, 0};
  }
  if (idem_key != NULL) md[nmd++] = (yw_rpc_md){YW_IDEM_METADATA, idem_key, 0};
  char ignored[256];
  if (msg == NULL) {
    msg = ignored;
    msglen = sizeof ignored;
  }
  ProtobufCMessage *got = NULL;
  grpc_status_code st =
      yw_rpc_call_sync(t->channel, path, req, out_desc, NULL, &got, md, nmd, 20000, msg, msglen);
  if (out != NULL)
    *out = got;
  else if (got != NULL)
    protobuf_c_message_free_unpacked(got, NULL);
  return st;
}

int yw_testapps_query1(yw_testapps *t, const char *sql, const char *param, char *out, size_t size) {
  PGconn *c = yw_pg_pool_acquire(t->app.pool, 2000);
  if (c == NULL) return -1;
  const char *p[] = {param};
  PGresult *r = NULL;
  yw_pg_error err;
  int rc = yw_pg_query(c, sql, param != NULL ? 1 : 0, p, &r, &err);
  yw_pg_pool_release(t->app.pool, c);
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", sql, err.message);
    return -1;
  }
  snprintf(out, size, "%s", r != NULL && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
  return 0;
}

Google__Protobuf__Struct *yw_testapps_struct(const char *json) {
  json_error_t jerr;
  json_t *j = json_loads(json, 0, &jerr);
  ProtobufCMessage *m = NULL;
  yw_json_error err;
  int rc = json_is_object(j)
               ? yw_json_to_message(&google__protobuf__struct__descriptor, j, NULL, &m, &err)
               : -1;
  json_decref(j);
  return rc == 0 ? (Google__Protobuf__Struct *)m : NULL;
}

grpc_status_code yw_testapps_submit(yw_testapps *t, const yw_testapps_caller *who,
                                    const char *item, const char *form, ProtobufCMessage **out,
                                    char *msg, size_t msglen) {
  Yiwang__Applications__V1__SubmitApplicationRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_APPLICATION_REQUEST__INIT;
  req.item_code = (char *)item;
  req.form = yw_testapps_struct(form);
  if (req.form == NULL) return GRPC_STATUS_INTERNAL;
  grpc_status_code st = yw_testapps_call(
      t, who, NULL, "/yiwang.applications.v1.ApplicationsService/SubmitApplication", &req.base,
      &yiwang__applications__v1__submit_application_response__descriptor, out, msg, msglen);
  protobuf_c_message_free_unpacked(&req.form->base, NULL);
  return st;
}

int yw_testapps_form(yw_testapps *t, const char *number, char *out, size_t size) {
  size_t cap = 2 * (64 * 1024 + 64) + 1;
  char *enc = malloc(cap);
  int rc = enc != NULL ? yw_testapps_query1(t,
                                            "SELECT form_enc FROM applications.applications"
                                            " WHERE number = $1",
                                            number, enc, cap)
                       : -1;
  if (rc == 0) rc = enc[0] != '\0' && yw_decrypt(t->app.data_key, enc, number, out, size) == 0 ? 0 : -1;
  free(enc);
  return rc;
}

int yw_testapps_fee_paid(yw_testapps *t, const char *number) {
  char fen[32] = "";
  if (yw_testapps_query1(t, "SELECT fee_fen FROM applications.applications WHERE number = $1", number, fen,
                         sizeof fen) != 0)
    return -1;
  if (strtoll(fen, NULL, 10) <= 0) return 0;
  char order_id[40], event_id[40];
  snprintf(order_id, sizeof order_id, "00000000-0000-4000-8000-%.12s", number + 8);
  snprintf(event_id, sizeof event_id, "00000000-0000-4000-9000-%.12s", number + 8);
  Yiwang__Events__V1__PaymentOrderPaid e = YIWANG__EVENTS__V1__PAYMENT_ORDER_PAID__INIT;
  e.order_id = order_id;
  e.source = "APPLICATION";
  e.application_number = (char *)number;
  e.amount_fen = strtoll(fen, NULL, 10);
  e.paid_at_unix_ms = (int64_t)time(NULL) * 1000;
  uint8_t buf[512];
  size_t len = protobuf_c_message_pack(&e.base, buf);
  yw_event ev = {.id = event_id, .type = "payment.order_paid", .version = 1, .aggregate_key = order_id,
                 .payload = buf, .payload_len = len, .occurred_at_ms = e.paid_at_unix_ms, .deliveries = 1};
  PGconn *c = yw_pg_pool_acquire(t->app.pool, 2000);
  if (c == NULL) return -1;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  int rc = yw_pg_query(c, "BEGIN", 0, NULL, NULL, &err);
  if (rc == 0) rc = fees_handle_payment_event(c, &ev, NULL);
  if (rc == 0) rc = yw_pg_query(c, "COMMIT", 0, NULL, NULL, &err);
  if (rc != 0) {
    PGresult *r = PQexec(c, "ROLLBACK");
    PQclear(r);
    fprintf(stderr, "yw_testapps_fee_paid %s: %s %s\n", number, yw_strerror(rc), err.message);
  }
  yw_pg_pool_release(t->app.pool, c);
  return rc == 0 ? 0 : -1;
}

grpc_status_code yw_testapps_approve(yw_testapps *t, const yw_testapps_caller *who, const char *number) {
  static const char *const steps[] = {"AcceptApplication", "StartReview"};
  for (size_t i = 0; i < 2; i++) {
    char path[128];
    snprintf(path, sizeof path, "/yiwang.applications.v1.ApplicationsService/%s", steps[i]);
    Yiwang__Applications__V1__TransitionRequest req = YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
    req.department = (char *)who->dept;
    req.number = (char *)number;
    req.reason = "";
    grpc_status_code st = yw_testapps_call(t, who, NULL, path, &req.base,
                                           &yiwang__applications__v1__application__descriptor, NULL, NULL, 0);
    if (st != GRPC_STATUS_OK) return st;
  }
  Yiwang__Applications__V1__DecideRequest d = YIWANG__APPLICATIONS__V1__DECIDE_REQUEST__INIT;
  d.department = (char *)who->dept;
  d.number = (char *)number;
  d.decision = YIWANG__APPLICATIONS__V1__DECISION__APPROVE;
  d.reason = "";
  return yw_testapps_call(t, who, NULL, "/yiwang.applications.v1.ApplicationsService/DecideApplication", &d.base,
                          &yiwang__applications__v1__application__descriptor, NULL, NULL, 0);
}
