/*
 * test_progress_service.c - yw-progress on the real runtime, PostgreSQL and Redis: events
 * appended to a producer's outbox, relayed to a real stream and consumed by the
 * service's consumer into its projection; lookups over a real gRPC connection.
 *
 * Proves: a journey's events give the status, the departments, the due date and the
 * timeline in order; a replayed event changes nothing, and an application's events apply
 * in the order of the producer's outbox, not of their clocks (a later status change
 * and colour with earlier times are applied; an earlier one handed again, the copies a
 * dying relay published twice, and an event without its position change nothing; a
 * replay from nothing gives the same projection); a wrong query code and an unknown
 * number answer alike, and past the limits per number and per address even the right
 * code is refused; a lookup
 * is cached in Redis and an event drops it; without Redis the lookup reads PostgreSQL;
 * supervision colours as the applications service's job marked them (on time, due soon,
 * overdue; none once the limit stops running), and red and yellow counted in the
 * statistics; the applicant's list newest
 * first with paging, and the batch in the order asked, never another's applications; a
 * bundle filing (一件事一次办) looked up as one by its number and query code: every member
 * in the bundle's order with its status, due date and colour as its events move it, the
 * filing's overall status, wrong code and unknown number alike and limited by the same
 * counters as an application's lookup.
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

#include "progress.h"
#include "yiwang/events/v1/applications.pb-c.h"
#include "yiwang/events/v1/ratings.pb-c.h"
#include "yiwang/progress/v1/progress.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_testdb.h"

#define SVC "/yiwang.progress.v1.ProgressService/"
#define SRC "apps_src" /* the producer's outbox schema, as yw-applications has */

typedef Yiwang__Progress__V1__Progress Progress;

static char dsn[512], stream[200], prefix[128];
static progress_ctx ctx;
static yw_rpc_service svc;
static yw_rpc_server *server;
static yw_rpc_client *client;
static yw_rpc_channel *channel;
static yw_caller as_caller;

static void act_as(enum yw_caller_kind kind, const char *subject, const char *ip) {
  memset(&as_caller, 0, sizeof as_caller);
  as_caller.kind = kind;
  snprintf(as_caller.subject, sizeof as_caller.subject, "%s", subject);
  snprintf(as_caller.ip, sizeof as_caller.ip, "%s", ip);
  if (kind == YW_CALLER_PERSON) as_caller.level = 2;
}

static grpc_status_code call(const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out) {
  char path[128], value[YW_CALLER_VALUE_MAX], sig[65], msg[256];
  snprintf(path, sizeof path, SVC "%s", method);
  as_caller.ts = (long long)time(NULL);
  assert_int_equal(yw_caller_encode(&as_caller, ctx.caller_keys.current, path, "", value,
                                    sizeof value, sig), 0);
  yw_rpc_md md[2] = {{"x-yw-caller", value, 0}, {"x-yw-caller-sig", sig, 0}};
  *out = NULL;
  return yw_rpc_call_sync(channel, path, req, out_desc, NULL, out, md, 2, 5000, msg, sizeof msg);
}

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  if (yw_pg_pool_new(dsn, 4, &ctx.pool, &err) != 0) return -1;
  ctx.db_wait_ms = 2000;
  uint8_t key[YW_KEY_BYTES];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 7 + 1);
  if (yw_caller_keys_init(&ctx.caller_keys, key, NULL, 30) != 0) return -1;
  for (size_t i = 0; i < sizeof key; i++) ctx.lookup_key[i] = (uint8_t)(i * 3 + 5);
  const char *raddr = getenv("YW_TEST_REDIS_ADDR");
  if (raddr == NULL || yw_redis_open(raddr, 1000, 4, &ctx.redis) != 0) return -1;
  const char *db = strstr(dsn, "dbname=");
  snprintf(prefix, sizeof prefix, "%s", db != NULL ? db + 7 : "test");
  snprintf(stream, sizeof stream, "yw:events:{%s-apps}", prefix);
  ctx.redis_prefix = prefix;
  ctx.cache_ttl_s = 60;
  ctx.guesses_per_address = 5;
  ctx.guesses_per_number = 3;
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  int rc = yw_pg_migrate(c, "progress", progress_migrations, progress_migrations_count, &err);
  if (rc == 0) rc = yw_events_migrate(c, "progress", &err);
  if (rc == 0) rc = yw_events_migrate(c, SRC, &err);
  yw_pg_pool_release(ctx.pool, c);
  if (rc != 0) {
    fprintf(stderr, "migrate: %s\n", err.message);
    return -1;
  }
  yw_events_consumer_config cfg;
  progress_consumer_config(&ctx, stream, "test", &cfg);
  cfg.block_ms = 50;
  if (yw_events_consumer_new(ctx.pool, ctx.redis, &cfg, &ctx.consumer) != 0) return -1;
  progress_service_init(&svc, &ctx);
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
  yw_events_consumer_free(ctx.consumer);
  const char *del[] = {"DEL", stream};
  redisReply *r = yw_redis_command(ctx.redis, 2, del, NULL, NULL, 0);
  if (r != NULL) freeReplyObject(r);
  yw_redis_free(ctx.redis);
  yw_pg_pool_free(ctx.pool);
  yw_testdb_drop();
  return 0;
}

/* ---- the producer's side ---- */

static void mac_of(const char *number, const char *code, char out[65]) {
  char m[64];
  snprintf(m, sizeof m, "%s:%s", number, code);
  yw_hmac_hex(ctx.lookup_key, m, strlen(m), out);
}

/* YYYY-MM-DD in Asia/Shanghai, days from today */
static void day(int days, char out[11]) {
  time_t t = time(NULL) + 8 * 3600 + (time_t)days * 86400;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}

static char *deps_ga[] = {"320700-GA", "320700-MZ"};
static char **deps = deps_ga; /* the departments the next events name */
static size_t n_deps = 2;

static void append(const char *type, const ProtobufCMessage *m, const char *number) {
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  assert_non_null(c);
  yw_pg_error err;
  assert_int_equal(yw_pg_begin(c, NULL), 0);
  assert_int_equal(yw_events_append(c, SRC, type, 1, number, m, NULL, &err), 0);
  assert_int_equal(yw_pg_commit(c, NULL), 0);
  yw_pg_pool_release(ctx.pool, c);
}

static void submitted(const char *number, const char *subject, const char *code, long long at_ms) {
  Yiwang__Events__V1__ApplicationSubmitted e = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;
  char mac[65];
  mac_of(number, code, mac);
  e.application_id = (char *)number;
  e.impl_code = "GG00002000-320700-GA";
  e.department_code = deps[0];
  e.applicant_subject = (char *)subject;
  e.submitted_at_unix_ms = at_ms;
  e.item_version = 1;
  e.item_name = "居民身份证换领";
  e.departments = deps;
  e.n_departments = n_deps;
  e.query_code_mac = mac;
  e.applicant_kind = "person";
  e.status = "SUBMITTED";
  e.promised_days = 10;
  append("application.submitted", &e.base, number);
}

static void changed(const char *number, const char *subject, const char *code, const char *from,
                    const char *to, const char *due, long long at_ms) {
  Yiwang__Events__V1__ApplicationStatusChanged e = YIWANG__EVENTS__V1__APPLICATION_STATUS_CHANGED__INIT;
  char mac[65];
  mac_of(number, code, mac);
  e.number = (char *)number;
  e.impl_code = "GG00002000-320700-GA";
  e.item_version = 1;
  e.applicant_subject = (char *)subject;
  e.departments = deps;
  e.n_departments = n_deps;
  e.from_status = (char *)from;
  e.to_status = (char *)to;
  e.actor = "staff-1";
  e.actor_department = deps[0];
  e.reason = "材料齐全";
  e.occurred_at_unix_ms = at_ms;
  e.due_date = (char *)due;
  e.query_code_mac = mac;
  e.item_name = "居民身份证换领";
  append("application.status_changed", &e.base, number);
}

/* the applicant's rating of number ("" : a hall's, keyed by the rating) as yw-applications
 * writes it */
static void rated(const char *number, const char *level) {
  Yiwang__Events__V1__ApplicationRated e = YIWANG__EVENTS__V1__APPLICATION_RATED__INIT;
  e.rating_id = "1";
  e.number = (char *)number;
  e.item_code = "GG00002000-320700-GA";
  e.departments = deps;
  e.n_departments = n_deps;
  e.level = (char *)level;
  e.channel = number[0] != '\0' ? "APP" : "HALL";
  e.occurred_at_unix_ms = (long long)time(NULL) * 1000;
  append("application.rated", &e.base, number[0] != '\0' ? number : "rating-1");
}

/* the supervision job's colour for number (as yw-applications writes it) */
static void supervised(const char *number, const char *colour, const char *due, long long at_ms) {
  Yiwang__Events__V1__ApplicationSupervisionChanged e =
      YIWANG__EVENTS__V1__APPLICATION_SUPERVISION_CHANGED__INIT;
  e.number = (char *)number;
  e.colour = (char *)colour;
  e.due_date = (char *)due;
  e.at_unix_ms = at_ms;
  e.status = "IN_REVIEW";
  e.departments = deps;
  e.n_departments = n_deps;
  append("application.supervision_changed", &e.base, number);
}

/* relays what was appended and lets the service consume it all */
static void deliver(void) {
  yw_events_relay_config rc = {.schema = SRC, .stream = stream};
  yw_pg_error err;
  while (yw_events_relay_run_once(ctx.pool, ctx.redis, &rc, 5000, &err) > 0) {
  }
  for (int i = 0; i < 3; i++) assert_true(yw_events_consumer_poll(ctx.consumer) >= 0);
  yw_events_consumer_stats st;
  yw_events_consumer_stats_get(ctx.consumer, &st);
  if (st.last_error != 0) fprintf(stderr, "consumer: %d %s\n", st.last_error, st.last_message);
  assert_int_equal(st.failures, 0);
}

static long long now_ms(void) { return (long long)time(NULL) * 1000; }

static grpc_status_code lookup(const char *number, const char *code, Progress **out) {
  Yiwang__Progress__V1__GetProgressRequest req = YIWANG__PROGRESS__V1__GET_PROGRESS_REQUEST__INIT;
  req.number = (char *)number;
  req.query_code = (char *)code;
  return call("GetProgress", &req.base, &yiwang__progress__v1__progress__descriptor, (ProtobufCMessage **)out);
}

/* ---- tests ---- */

static void test_journey_status_timeline_due_date(void **state) {
  (void)state;
  const char *n = "32070020261130000001";
  char due[11];
  day(10, due);
  long long t = now_ms() - 60000;
  submitted(n, "p-1", "123456", t);
  changed(n, "p-1", "123456", "SUBMITTED", "ACCEPTED", due, t + 1000);
  changed(n, "p-1", "123456", "ACCEPTED", "IN_REVIEW", due, t + 2000);
  supervised(n, "GREEN", due, t + 3000);
  deliver();
  act_as(YW_CALLER_ANONYMOUS, "", "10.1.1.1");
  Progress *p = NULL;
  assert_int_equal(lookup(n, "123456", &p), GRPC_STATUS_OK);
  assert_string_equal(p->status, "IN_REVIEW");
  assert_string_equal(p->item_name, "居民身份证换领");
  assert_string_equal(p->department_code, "320700-GA");
  assert_int_equal(p->n_departments, 2);
  assert_string_equal(p->departments[1], "320700-MZ");
  assert_string_equal(p->due_date, due);
  assert_int_equal(p->supervision, YIWANG__PROGRESS__V1__SUPERVISION__ON_TIME);
  assert_int_equal(p->n_timeline, 3);
  assert_string_equal(p->timeline[0]->status, "SUBMITTED");
  assert_string_equal(p->timeline[1]->status, "ACCEPTED");
  assert_string_equal(p->timeline[1]->reason, "材料齐全");
  assert_string_equal(p->timeline[2]->status, "IN_REVIEW");
  assert_true(p->timeline[0]->time->seconds <= p->timeline[2]->time->seconds);
  protobuf_c_message_free_unpacked(&p->base, NULL);
}

static long long count(const char *sql, const char *param) {
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  PGresult *r = NULL;
  const char *p[] = {param};
  assert_int_equal(yw_pg_query(c, sql, 1, p, &r, NULL), 0);
  long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  yw_pg_pool_release(ctx.pool, c);
  return v;
}

static void test_replay_and_older_events_change_nothing(void **state) {
  (void)state;
  const char *n = "32070020261130000002";
  long long t = now_ms() - 60000;
  submitted(n, "p-1", "222222", t);
  changed(n, "p-1", "222222", "SUBMITTED", "ACCEPTED", "", t + 5000);
  deliver();
  /* the same event handled again (a redelivery that passed the consumer's record) */
  Yiwang__Events__V1__ApplicationSubmitted e = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;
  char mac[65];
  mac_of(n, "222222", mac);
  e.application_id = (char *)n;
  e.impl_code = "x";
  e.applicant_subject = "p-1";
  e.departments = deps;
  e.n_departments = 1;
  e.query_code_mac = mac;
  e.item_name = "x";
  e.status = "SUBMITTED";
  uint8_t buf[512];
  size_t len = protobuf_c_message_pack(&e.base, buf);
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  PGresult *r = NULL;
  assert_int_equal(yw_pg_query(c, "SELECT event_id::text FROM progress.steps WHERE number = $1 AND status = 'SUBMITTED'",
                               1, (const char *[]){n}, &r, NULL), 0);
  char id[64];
  snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  yw_event ev = {.id = id, .type = "application.submitted", .version = 1, .aggregate_key = n,
                 .payload = buf, .payload_len = len, .occurred_at_ms = t};
  assert_int_equal(yw_pg_begin(c, NULL), 0);
  assert_int_equal(progress_handle_event(c, &ev, &ctx), 0);
  assert_int_equal(yw_pg_commit(c, NULL), 0);
  yw_pg_pool_release(ctx.pool, c);
  assert_int_equal(count("SELECT count(*) FROM progress.steps WHERE number = $1", n), 2);
  assert_int_equal(count("SELECT count(*) FROM progress.applications WHERE number = $1 AND status = 'ACCEPTED' AND impl_code <> 'x'", n), 1);
  /* an event without its outbox position (relayed before the relay carried it) never
   * goes over one applied with its position */
  changed(n, "p-1", "222222", "ACCEPTED", "IN_REVIEW", "", t + 9000);
  deliver();
  Yiwang__Events__V1__ApplicationStatusChanged ch = YIWANG__EVENTS__V1__APPLICATION_STATUS_CHANGED__INIT;
  ch.number = (char *)n;
  ch.impl_code = "x";
  ch.applicant_subject = "p-1";
  ch.departments = deps;
  ch.n_departments = 1;
  ch.from_status = "IN_REVIEW";
  ch.to_status = "REJECTED";
  ch.occurred_at_unix_ms = t + 20000;
  ch.query_code_mac = mac;
  ch.item_name = "x";
  len = protobuf_c_message_pack(&ch.base, buf);
  yw_event old = {.id = "6f0e7c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", .type = "application.status_changed",
                  .version = 1, .aggregate_key = n, .payload = buf, .payload_len = len,
                  .occurred_at_ms = t + 20000};
  /* handled in a transaction that is rolled back, so that the stream stays the record
   * of everything the projection holds (test_replay_rebuilds_the_projection) */
  c = yw_pg_pool_acquire(ctx.pool, 1000);
  assert_int_equal(yw_pg_begin(c, NULL), 0);
  assert_int_equal(progress_handle_event(c, &old, &ctx), 0);
  r = NULL;
  assert_int_equal(yw_pg_query(c, "SELECT status FROM progress.applications WHERE number = $1", 1,
                               (const char *[]){n}, &r, NULL), 0);
  assert_string_equal(PQgetvalue(r, 0, 0), "IN_REVIEW");
  PQclear(r);
  yw_pg_rollback(c);
  yw_pg_pool_release(ctx.pool, c);
}

static void test_wrong_codes_answer_alike_and_are_limited(void **state) {
  (void)state;
  const char *n = "32070020261130000003";
  submitted(n, "p-2", "333333", now_ms());
  deliver();
  act_as(YW_CALLER_ANONYMOUS, "", "10.2.2.2");
  Progress *p = NULL;
  assert_int_equal(lookup(n, "000000", &p), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(lookup("32070020261130999999", "333333", &p), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(lookup(n, "12345", &p), GRPC_STATUS_INVALID_ARGUMENT);
  act_as(YW_CALLER_ANONYMOUS, "", "10.2.2.3");
  assert_int_equal(lookup(n, "000001", &p), GRPC_STATUS_NOT_FOUND);
  act_as(YW_CALLER_ANONYMOUS, "", "10.2.2.4");
  assert_int_equal(lookup(n, "000002", &p), GRPC_STATUS_NOT_FOUND);
  /* three wrong tries on the number from three addresses: the number is locked, the
   * right code included */
  act_as(YW_CALLER_ANONYMOUS, "", "10.2.2.5");
  assert_int_equal(lookup(n, "333333", &p), GRPC_STATUS_RESOURCE_EXHAUSTED);
  /* one address guessing across numbers is stopped at its own limit */
  act_as(YW_CALLER_ANONYMOUS, "", "10.3.3.3");
  const char *m = "32070020261130000004";
  submitted(m, "p-2", "444444", now_ms());
  deliver();
  char other[32];
  for (int i = 0; i < 5; i++) {
    snprintf(other, sizeof other, "3207002026113001%04d", i);
    assert_int_equal(lookup(other, "444444", &p), GRPC_STATUS_NOT_FOUND);
  }
  assert_int_equal(lookup(m, "444444", &p), GRPC_STATUS_RESOURCE_EXHAUSTED);
  act_as(YW_CALLER_ANONYMOUS, "", "10.3.3.4");
  assert_int_equal(lookup(m, "444444", &p), GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&p->base, NULL);
  /* an IPv6 client is counted by its /64: a new address inside it for every try does
   * not give it a new budget */
  const char *v6 = "32070020261130000071";
  submitted(v6, "p-2", "919191", now_ms());
  deliver();
  char ip[64];
  for (int i = 0; i < 5; i++) {
    snprintf(ip, sizeof ip, "2001:db8:1:2::%x", i + 1);
    act_as(YW_CALLER_ANONYMOUS, "", ip);
    snprintf(other, sizeof other, "3207002026113002%04d", i);
    assert_int_equal(lookup(other, "919191", &p), GRPC_STATUS_NOT_FOUND);
  }
  act_as(YW_CALLER_ANONYMOUS, "", "2001:db8:1:2:aaaa:bbbb:cccc:dddd");
  assert_int_equal(lookup(v6, "919191", &p), GRPC_STATUS_RESOURCE_EXHAUSTED);
  act_as(YW_CALLER_ANONYMOUS, "", "2001:db8:1:3::1");
  assert_int_equal(lookup(v6, "919191", &p), GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* whether the answer of number is cached: kind "view" (an application) or "bundle" */
static int cached_as(const char *kind, const char *number) {
  char key[200];
  snprintf(key, sizeof key, "{%s:progress}:%s:%s", prefix, kind, number);
  const char *argv[] = {"EXISTS", key};
  redisReply *r = yw_redis_command(ctx.redis, 2, argv, NULL, NULL, 0);
  int v = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  if (r != NULL) freeReplyObject(r);
  return v;
}

static int cached(const char *number) { return cached_as("view", number); }

static void test_cache_is_dropped_by_an_event_and_redis_is_optional(void **state) {
  (void)state;
  const char *n = "32070020261130000005";
  long long t = now_ms() - 10000;
  submitted(n, "p-3", "555555", t);
  deliver();
  act_as(YW_CALLER_ANONYMOUS, "", "10.5.5.5");
  Progress *p = NULL;
  assert_false(cached(n));
  assert_int_equal(lookup(n, "555555", &p), GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&p->base, NULL);
  assert_true(cached(n));
  changed(n, "p-3", "555555", "SUBMITTED", "REJECTED", "", t + 1000);
  deliver();
  assert_false(cached(n));
  assert_int_equal(lookup(n, "555555", &p), GRPC_STATUS_OK);
  assert_string_equal(p->status, "REJECTED");
  assert_int_equal(p->supervision, YIWANG__PROGRESS__V1__SUPERVISION__SUPERVISION_NONE);
  protobuf_c_message_free_unpacked(&p->base, NULL);
  /* no Redis handle: answers come from PostgreSQL */
  yw_redis *r = ctx.redis;
  ctx.redis = NULL;
  assert_int_equal(lookup(n, "555555", &p), GRPC_STATUS_OK);
  assert_string_equal(p->status, "REJECTED");
  protobuf_c_message_free_unpacked(&p->base, NULL);
  assert_int_equal(lookup(n, "000000", &p), GRPC_STATUS_NOT_FOUND);
  ctx.redis = r;
}

/* The colours come from the applications service's supervision job
 * (application.supervision_changed), whatever the due date and today say; a limit that
 * no longer runs shows none; an older colour does not overwrite a newer one. */
static void test_supervision_colours(void **state) {
  (void)state;
  struct { const char *n; int days; const char *status; const char *colour; int want; } cases[] = {
      {"32070020261130000011", -1, "IN_REVIEW", "RED", YIWANG__PROGRESS__V1__SUPERVISION__OVERDUE},
      {"32070020261130000012", 3, "ACCEPTED", "YELLOW", YIWANG__PROGRESS__V1__SUPERVISION__DUE_SOON},
      {"32070020261130000013", 30, "RESUBMITTED", "GREEN", YIWANG__PROGRESS__V1__SUPERVISION__ON_TIME},
      {"32070020261130000014", -5, "COMPLETED", "RED", YIWANG__PROGRESS__V1__SUPERVISION__SUPERVISION_NONE},
      {"32070020261130000015", 1, "ACCEPTED", NULL, YIWANG__PROGRESS__V1__SUPERVISION__SUPERVISION_NONE},
  };
  long long t = now_ms() - 100000;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char due[11];
    day(cases[i].days, due);
    submitted(cases[i].n, "p-4", "777777", t);
    changed(cases[i].n, "p-4", "777777", "SUBMITTED", cases[i].status, due, t + 1000);
    if (cases[i].colour != NULL) supervised(cases[i].n, cases[i].colour, due, t + 2000);
  }
  deliver();
  act_as(YW_CALLER_ANONYMOUS, "", "10.7.7.7");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Progress *p = NULL;
    assert_int_equal(lookup(cases[i].n, "777777", &p), GRPC_STATUS_OK);
    assert_int_equal(p->supervision, cases[i].want);
    protobuf_c_message_free_unpacked(&p->base, NULL);
  }
}

static void test_mine_and_batch_are_the_applicants_only(void **state) {
  (void)state;
  long long t = now_ms() - 500000;
  submitted("32070020261130000021", "p-5", "111111", t);
  submitted("32070020261130000022", "p-5", "111111", t + 1000);
  submitted("32070020261130000023", "p-6", "111111", t + 2000);
  deliver();
  act_as(YW_CALLER_PERSON, "p-5", "10.8.8.8");
  Yiwang__Progress__V1__ListMyProgressRequest lr = YIWANG__PROGRESS__V1__LIST_MY_PROGRESS_REQUEST__INIT;
  lr.page_size = 1;
  Yiwang__Progress__V1__ListMyProgressResponse *l = NULL;
  assert_int_equal(call("ListMyProgress", &lr.base, &yiwang__progress__v1__list_my_progress_response__descriptor,
                        (ProtobufCMessage **)&l), GRPC_STATUS_OK);
  assert_int_equal(l->n_applications, 1);
  assert_string_equal(l->applications[0]->number, "32070020261130000022"); /* newest first */
  assert_true(l->next_page_token[0] != '\0');
  lr.page_token = l->next_page_token;
  Yiwang__Progress__V1__ListMyProgressResponse *l2 = NULL;
  assert_int_equal(call("ListMyProgress", &lr.base, &yiwang__progress__v1__list_my_progress_response__descriptor,
                        (ProtobufCMessage **)&l2), GRPC_STATUS_OK);
  assert_int_equal(l2->n_applications, 1);
  assert_string_equal(l2->applications[0]->number, "32070020261130000021");
  assert_string_equal(l2->next_page_token, "");
  protobuf_c_message_free_unpacked(&l->base, NULL);
  protobuf_c_message_free_unpacked(&l2->base, NULL);

  char *nums[] = {"32070020261130000021", "32070020261130000023", "32070020261130000022",
                  "32070020261130000021"};
  Yiwang__Progress__V1__BatchGetProgressRequest br = YIWANG__PROGRESS__V1__BATCH_GET_PROGRESS_REQUEST__INIT;
  br.numbers = nums;
  br.n_numbers = 4;
  Yiwang__Progress__V1__BatchGetProgressResponse *b = NULL;
  assert_int_equal(call("BatchGetProgress", &br.base, &yiwang__progress__v1__batch_get_progress_response__descriptor,
                        (ProtobufCMessage **)&b), GRPC_STATUS_OK);
  assert_int_equal(b->n_applications, 2); /* another's number left out, a repeat once */
  assert_string_equal(b->applications[0]->number, "32070020261130000021");
  assert_string_equal(b->applications[1]->number, "32070020261130000022");
  protobuf_c_message_free_unpacked(&b->base, NULL);
  char *bad[] = {"3207002026113000002x"};
  br.numbers = bad;
  br.n_numbers = 1;
  assert_int_equal(call("BatchGetProgress", &br.base, &yiwang__progress__v1__batch_get_progress_response__descriptor,
                        (ProtobufCMessage **)&b), GRPC_STATUS_INVALID_ARGUMENT);
  /* an anonymous caller has no list (the gateway answers 401 before it gets here) */
  act_as(YW_CALLER_ANONYMOUS, "", "10.8.8.8");
  lr.page_token = ""; /* the token pointed into an answer freed above */
  assert_int_equal(call("ListMyProgress", &lr.base, &yiwang__progress__v1__list_my_progress_response__descriptor,
                        (ProtobufCMessage **)&l), GRPC_STATUS_PERMISSION_DENIED);
}

static grpc_status_code statistics(const char *dept, const char *from, const char *to,
                                   Yiwang__Progress__V1__GetStatisticsResponse **out) {
  Yiwang__Progress__V1__GetStatisticsRequest req = YIWANG__PROGRESS__V1__GET_STATISTICS_REQUEST__INIT;
  req.department_code = (char *)dept;
  req.from_date = (char *)from;
  req.to_date = (char *)to;
  return call("GetStatistics", &req.base, &yiwang__progress__v1__get_statistics_response__descriptor,
              (ProtobufCMessage **)out);
}

static void test_statistics_add_up_by_department_and_item(void **state) {
  (void)state;
  static char *deps_tj[] = {"320700-TJ"};
  deps = deps_tj;
  n_deps = 1;
  char soon[11], later[11], past[11], today[11];
  day(5, later);
  day(-3, past);
  day(0, soon);
  day(0, today);
  long long t = now_ms() - 3 * 86400 * 1000LL; /* filed three days ago */
  /* completed on time, completed late, rejected, withdrawn, open overdue, open due soon,
   * open not accepted */
  const char *n[] = {"32070020261130000031", "32070020261130000032", "32070020261130000033",
                     "32070020261130000034", "32070020261130000035", "32070020261130000036",
                     "32070020261130000037"};
  for (int i = 0; i < 7; i++) submitted(n[i], "p-9", "999999", t);
  changed(n[0], "p-9", "999999", "SUBMITTED", "ACCEPTED", later, t + 1000);
  changed(n[0], "p-9", "999999", "ACCEPTED", "COMPLETED", "", now_ms());
  changed(n[1], "p-9", "999999", "SUBMITTED", "ACCEPTED", past, t + 1000);
  changed(n[1], "p-9", "999999", "ACCEPTED", "COMPLETED", "", now_ms());
  changed(n[2], "p-9", "999999", "SUBMITTED", "REJECTED", "", t + 1000);
  changed(n[3], "p-9", "999999", "SUBMITTED", "WITHDRAWN", "", t + 1000);
  changed(n[4], "p-9", "999999", "SUBMITTED", "IN_REVIEW", past, t + 1000);
  changed(n[5], "p-9", "999999", "SUBMITTED", "ACCEPTED", soon, t + 1000);
  /* the supervision job's colours: red and yellow are counted per department */
  supervised(n[4], "RED", past, t + 2000);
  supervised(n[5], "YELLOW", soon, t + 2000);
  supervised(n[1], "RED", past, t + 2000); /* completed since: not counted */
  /* 好差评: two satisfied of three rated; a hall's rating is not an application's */
  rated(n[0], "VERY_SATISFIED");
  rated(n[1], "DISSATISFIED");
  rated(n[2], "BASICALLY_SATISFIED");
  rated("", "VERY_DISSATISFIED");
  deliver();
  deps = deps_ga;
  n_deps = 2;
  char from[11];
  day(-7, from);
  Yiwang__Progress__V1__GetStatisticsResponse *st = NULL;
  act_as(YW_CALLER_STAFF, "s-tj", "10.9.9.9");
  snprintf(as_caller.roles, sizeof as_caller.roles, "dept_staff");
  snprintf(as_caller.department, sizeof as_caller.department, "320700-TJ");
  assert_int_equal(statistics("320700-TJ", from, today, &st), GRPC_STATUS_OK);
  assert_int_equal(st->n_rows, 1);
  Yiwang__Progress__V1__StatisticsRow *r = st->rows[0];
  assert_string_equal(r->department_code, "320700-TJ");
  assert_string_equal(r->impl_code, "GG00002000-320700-GA");
  assert_int_equal(r->received, 7);
  assert_int_equal(r->completed, 2);
  assert_int_equal(r->refused, 1);
  assert_int_equal(r->withdrawn, 1);
  assert_int_equal(r->open, 3);
  assert_int_equal(r->received, r->completed + r->refused + r->withdrawn + r->open);
  assert_int_equal(r->completed_on_time, 1);
  assert_int_equal(r->overdue_now, 1);
  assert_int_equal(r->due_soon_now, 1);
  assert_true(r->on_time_rate > 0.49 && r->on_time_rate < 0.51);
  assert_true(r->average_days > 2.9 && r->average_days < 3.1); /* filed 3 days before */
  assert_int_equal(r->rated, 3);
  assert_int_equal(r->rated_satisfied, 2);
  assert_true(r->satisfaction_rate > 0.666 && r->satisfaction_rate < 0.667);
  assert_int_equal(st->total->received, 7);
  assert_int_equal(st->total->rated, 3);
  assert_true(st->total->satisfaction_rate > 0.666 && st->total->satisfaction_rate < 0.667);
  protobuf_c_message_free_unpacked(&st->base, NULL);
  /* a period before any filing: nothing */
  char long_ago[11];
  day(-300, long_ago);
  assert_int_equal(statistics("320700-TJ", long_ago, long_ago, &st), GRPC_STATUS_OK);
  assert_int_equal(st->n_rows, 0);
  assert_int_equal(st->total->received, 0);
  protobuf_c_message_free_unpacked(&st->base, NULL);
  /* another department's, or all: administrators and auditors only */
  assert_int_equal(statistics("320700-GA", from, today, &st), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(statistics("", from, today, &st), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(statistics("320700-TJ", today, from, &st), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(statistics("320700-TJ", "2026-13-01", today, &st), GRPC_STATUS_INVALID_ARGUMENT);
  snprintf(as_caller.roles, sizeof as_caller.roles, "auditor");
  as_caller.department[0] = '\0';
  assert_int_equal(statistics("", from, today, &st), GRPC_STATUS_OK);
  int tj = 0, sum = 0;
  for (size_t i = 0; i < st->n_rows; i++) {
    sum += st->rows[i]->received;
    if (strcmp(st->rows[i]->department_code, "320700-TJ") == 0) tj = st->rows[i]->received;
  }
  assert_int_equal(tj, 7);
  assert_int_equal(st->total->received, sum); /* the total adds the rows up */
  protobuf_c_message_free_unpacked(&st->base, NULL);
  /* a resident has none */
  act_as(YW_CALLER_PERSON, "p-9", "10.9.9.9");
  assert_int_equal(statistics("320700-TJ", from, today, &st), GRPC_STATUS_PERMISSION_DENIED);
}

static grpc_status_code replay(const char *after, int max, int clear,
                               Yiwang__Progress__V1__ReplayEventsResponse **out) {
  Yiwang__Progress__V1__ReplayEventsRequest req = YIWANG__PROGRESS__V1__REPLAY_EVENTS_REQUEST__INIT;
  req.after_entry_id = (char *)after;
  req.max_events = max;
  req.clear = clear;
  return call("ReplayEvents", &req.base, &yiwang__progress__v1__replay_events_response__descriptor,
              (ProtobufCMessage **)out);
}

/* what the projection holds, as one text: every row and step in order */
static void projection_text(char *out, size_t size) {
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  PGresult *r = NULL;
  assert_int_equal(
      yw_pg_query(c,
                  "SELECT coalesce((SELECT string_agg(concat_ws('|', number, status, impl_code,"
                  " item_name, departments::text, due_date::text, last_event_ms::text, supervision,"
                  " supervision_ms::text, last_seq::text, supervision_seq::text), ';'"
                  " ORDER BY number) FROM progress.applications), '') || '#' ||"
                  " coalesce((SELECT string_agg(concat_ws('|', event_id::text, number, status,"
                  " at::text, reason, source_seq::text), ';' ORDER BY event_id)"
                  " FROM progress.steps), '')",
                  0, NULL, &r, NULL),
      0);
  snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  yw_pg_pool_release(ctx.pool, c);
}

/* Replaying the stream rebuilds the projection: rows lost or changed come back as the
 * events make them, in batches a call at a time; with clear, from nothing. Only platform
 * administrators may, each call is recorded, and bad input is refused. */
static void test_replay_rebuilds_the_projection(void **state) {
  (void)state;
  static char *deps_one[] = {"320700-GA", "320700-MZ"};
  deps = deps_one;
  n_deps = 2;
  const char *n1 = "32070020261130000051", *n2 = "32070020261130000052";
  long long t = now_ms() - 60000;
  submitted(n1, "p-51", "515151", t);
  changed(n1, "p-51", "515151", "SUBMITTED", "ACCEPTED", "", t + 1000);
  submitted(n2, "p-52", "525252", t + 2000);
  changed(n2, "p-52", "525252", "SUBMITTED", "REJECTED", "", t + 3000);
  deliver();
  static char before[1 << 16], after[1 << 16];
  projection_text(before, sizeof before);
  assert_non_null(strstr(before, n1));

  /* a row and its steps lost, another row's status wrong */
  assert_int_equal(count("WITH d AS (DELETE FROM progress.steps WHERE number = $1 RETURNING 1)"
                         " SELECT count(*) FROM d", n1), 2);
  assert_int_equal(count("WITH d AS (DELETE FROM progress.applications WHERE number = $1"
                         " RETURNING 1) SELECT count(*) FROM d", n1), 1);
  assert_int_equal(count("WITH u AS (UPDATE progress.applications SET status = 'SUBMITTED'"
                         " WHERE number = $1 RETURNING 1) SELECT count(*) FROM u", n2), 1);
  projection_text(after, sizeof after);
  assert_string_not_equal(after, before);

  /* not for department staff or residents */
  Yiwang__Progress__V1__ReplayEventsResponse *res = NULL;
  act_as(YW_CALLER_STAFF, "s-ga", "10.9.9.9");
  snprintf(as_caller.roles, sizeof as_caller.roles, "dept_admin");
  snprintf(as_caller.department, sizeof as_caller.department, "320700-GA");
  assert_int_equal(replay("", 0, 0, &res), GRPC_STATUS_PERMISSION_DENIED);
  act_as(YW_CALLER_PERSON, "p-51", "10.9.9.9");
  assert_int_equal(replay("", 0, 0, &res), GRPC_STATUS_PERMISSION_DENIED);
  act_as(YW_CALLER_STAFF, "s-admin", "10.9.9.9");
  snprintf(as_caller.roles, sizeof as_caller.roles, "platform_admin");
  assert_int_equal(replay("1-0'", 0, 0, &res), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(replay("1-0", 0, 1, &res), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(replay("", 10001, 0, &res), GRPC_STATUS_INVALID_ARGUMENT);
  long long recorded = count("SELECT count(*) FROM progress.replays WHERE actor_subject <> $1", "");
  assert_int_equal(recorded, 0);

  /* three entries a call, to the end */
  const char *xlen[] = {"XLEN", stream};
  redisReply *xr = yw_redis_command(ctx.redis, 2, xlen, NULL, NULL, 0);
  assert_non_null(xr);
  long long entries = xr->integer;
  freeReplyObject(xr);
  assert_true(entries >= 4);
  char from[48] = "";
  long long total = 0;
  int calls = 0, done = 0;
  while (!done && calls < 1000) {
    assert_int_equal(replay(from, 3, 0, &res), GRPC_STATUS_OK);
    assert_true(res->replayed <= 3);
    assert_string_equal(res->stopped, "");
    total += res->replayed + res->skipped;
    done = res->done;
    snprintf(from, sizeof from, "%s", res->last_entry_id);
    protobuf_c_message_free_unpacked(&res->base, NULL);
    calls++;
  }
  assert_true(done);
  assert_int_equal(total, entries);
  assert_true(calls >= (int)((entries + 2) / 3));
  projection_text(after, sizeof after);
  assert_string_equal(after, before);
  Progress *p = NULL;
  act_as(YW_CALLER_ANONYMOUS, "", "10.5.5.5");
  assert_int_equal(lookup(n1, "515151", &p), GRPC_STATUS_OK);
  assert_string_equal(p->status, "ACCEPTED");
  assert_int_equal(p->n_timeline, 2);
  protobuf_c_message_free_unpacked(&p->base, NULL);

  /* from nothing */
  act_as(YW_CALLER_STAFF, "s-admin", "10.9.9.9");
  snprintf(as_caller.roles, sizeof as_caller.roles, "platform_admin");
  assert_int_equal(replay("", 10000, 1, &res), GRPC_STATUS_OK);
  assert_true(res->done);
  assert_int_equal(res->replayed + res->skipped, entries);
  protobuf_c_message_free_unpacked(&res->base, NULL);
  projection_text(after, sizeof after);
  assert_string_equal(after, before);
  /* every call recorded, by whom */
  assert_int_equal(count("SELECT count(*) FROM progress.replays WHERE actor_subject = $1", "s-admin"),
                   calls + 1);
  assert_int_equal(count("SELECT count(*) FROM progress.replays WHERE cleared AND done AND"
                         " to_entry <> '' AND actor_subject = $1", "s-admin"), 1);
}

/* ---- 一件事一次办 ---- */

typedef Yiwang__Progress__V1__BundleProgress BundleProgress;

/* A member of bundle filing bundle (its code shared) as yw-applications writes it. */
static void bundle_member(const char *number, const char *bundle, const char *code, int position,
                          char *dept, const char *item, long long at_ms) {
  Yiwang__Events__V1__ApplicationSubmitted e = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;
  char mac[65], bmac[65];
  mac_of(number, code, mac);
  mac_of(bundle, code, bmac);
  char *d[] = {dept};
  e.application_id = (char *)number;
  e.impl_code = "GG00032000-320700-YB";
  e.department_code = dept;
  e.applicant_subject = "p-bundle";
  e.submitted_at_unix_ms = at_ms;
  e.item_version = 1;
  e.item_name = (char *)item;
  e.departments = d;
  e.n_departments = 1;
  e.query_code_mac = mac;
  e.applicant_kind = "person";
  e.status = "SUBMITTED";
  e.promised_days = 10;
  e.bundle_number = (char *)bundle;
  e.bundle_query_code_mac = bmac;
  e.bundle_code = "newborn";
  e.bundle_name = "新生儿出生一件事";
  e.bundle_position = position;
  append("application.submitted", &e.base, number);
}

static grpc_status_code bundle_lookup(const char *number, const char *code, BundleProgress **out) {
  Yiwang__Progress__V1__GetBundleProgressRequest req =
      YIWANG__PROGRESS__V1__GET_BUNDLE_PROGRESS_REQUEST__INIT;
  req.number = (char *)number;
  req.query_code = (char *)code;
  return call("GetBundleProgress", &req.base, &yiwang__progress__v1__bundle_progress__descriptor,
              (ProtobufCMessage **)out);
}


static void test_a_bundle_filing_is_looked_up_as_one(void **state) {
  (void)state;
  const char *b = "32070020261130000090", *code = "909090";
  const char *m[] = {"32070020261130000093", "32070020261130000091", "32070020261130000092"};
  char *dept[] = {"320700-WJ", "320700-GA", "320700-YB"};
  const char *items[] = {"出生医学证明办理", "出生登记", "城乡居民基本医疗保险参保登记"};
  long long t = now_ms() - 60000;
  /* filed in the bundle's order (numbers of other regions need not sort so) */
  for (int i = 0; i < 3; i++) bundle_member(m[i], b, code, i + 1, dept[i], items[i], t);
  deliver();
  act_as(YW_CALLER_ANONYMOUS, "", "10.9.0.1");
  BundleProgress *p = NULL;
  assert_int_equal(bundle_lookup(b, code, &p), GRPC_STATUS_OK);
  assert_string_equal(p->number, b);
  assert_string_equal(p->bundle_code, "newborn");
  assert_string_equal(p->bundle_name, "新生儿出生一件事");
  assert_string_equal(p->status, "IN_PROGRESS");
  assert_int_equal(p->n_members, 3);
  for (int i = 0; i < 3; i++) {
    assert_string_equal(p->members[i]->number, m[i]);
    assert_string_equal(p->members[i]->item_name, items[i]);
    assert_string_equal(p->members[i]->department_code, dept[i]);
    assert_string_equal(p->members[i]->status, "SUBMITTED");
    assert_string_equal(p->members[i]->due_date, "");
    assert_int_equal(p->members[i]->n_timeline, 0);
  }
  protobuf_c_message_free_unpacked(&p->base, NULL);
  assert_true(cached_as("bundle", b));

  /* the registration is accepted and marked: the cached filing is dropped, and the lookup
   * answers its new status, due date and colour beside the others' */
  char due[11];
  day(10, due);
  char *ga[] = {dept[1]};
  deps = ga;
  n_deps = 1;
  changed(m[1], "p-bundle", code, "SUBMITTED", "ACCEPTED", due, t + 1000);
  deliver();
  assert_false(cached_as("bundle", b));
  assert_int_equal(bundle_lookup(b, code, &p), GRPC_STATUS_OK);
  assert_string_equal(p->members[0]->status, "SUBMITTED");
  assert_string_equal(p->members[1]->status, "ACCEPTED");
  assert_string_equal(p->members[1]->due_date, due);
  assert_int_equal(p->members[1]->supervision, YIWANG__PROGRESS__V1__SUPERVISION__SUPERVISION_NONE);
  assert_string_equal(p->members[2]->status, "SUBMITTED");
  assert_string_equal(p->status, "IN_PROGRESS");
  protobuf_c_message_free_unpacked(&p->base, NULL);
  supervised(m[1], "YELLOW", due, t + 2000);
  deliver();
  assert_int_equal(bundle_lookup(b, code, &p), GRPC_STATUS_OK);
  assert_int_equal(p->members[1]->supervision, YIWANG__PROGRESS__V1__SUPERVISION__DUE_SOON);
  protobuf_c_message_free_unpacked(&p->base, NULL);
  /* each member is still looked up on its own with the filing's code */
  Progress *one = NULL;
  assert_int_equal(lookup(m[1], code, &one), GRPC_STATUS_OK);
  assert_string_equal(one->status, "ACCEPTED");
  protobuf_c_message_free_unpacked(&one->base, NULL);

  /* every member ended, not all completed: ENDED; all completed: COMPLETED */
  changed(m[0], "p-bundle", code, "SUBMITTED", "WITHDRAWN", "", t + 3000);
  changed(m[1], "p-bundle", code, "ACCEPTED", "COMPLETED", due, t + 3000);
  changed(m[2], "p-bundle", code, "SUBMITTED", "REJECTED", "", t + 3000);
  deliver();
  deps = deps_ga;
  n_deps = 2;
  assert_int_equal(bundle_lookup(b, code, &p), GRPC_STATUS_OK);
  assert_string_equal(p->status, "ENDED");
  assert_int_equal(p->members[1]->supervision, YIWANG__PROGRESS__V1__SUPERVISION__SUPERVISION_NONE);
  protobuf_c_message_free_unpacked(&p->base, NULL);

  /* a wrong code and an unknown number answer alike; a member's number is not a filing's,
   * nor the filing's an application's */
  act_as(YW_CALLER_ANONYMOUS, "", "10.9.0.2");
  assert_int_equal(bundle_lookup(b, "000000", &p), GRPC_STATUS_NOT_FOUND);
  act_as(YW_CALLER_ANONYMOUS, "", "10.9.0.3");
  assert_int_equal(bundle_lookup("32070020261130099999", code, &p), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(bundle_lookup(m[0], code, &p), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(lookup(b, code, &one), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(bundle_lookup(b, "12345", &p), GRPC_STATUS_INVALID_ARGUMENT);
  /* the same counters as an application's lookup: the single lookup's wrong try on the
   * filing's number (above) and one more make three, which lock the filing, the right
   * code included; this address's wrong tries of either lookup add up to its limit of 5 */
  act_as(YW_CALLER_ANONYMOUS, "", "10.9.0.4");
  assert_int_equal(lookup(b, "000002", &one), GRPC_STATUS_NOT_FOUND);
  act_as(YW_CALLER_ANONYMOUS, "", "10.9.0.5");
  assert_int_equal(bundle_lookup(b, code, &p), GRPC_STATUS_RESOURCE_EXHAUSTED);
  act_as(YW_CALLER_ANONYMOUS, "", "10.9.0.3");
  assert_int_equal(lookup("32070020261130099998", code, &one), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(bundle_lookup("32070020261130099997", code, &p), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(bundle_lookup("32070020261130099996", code, &p), GRPC_STATUS_RESOURCE_EXHAUSTED);
  /* without Redis the filing is read from PostgreSQL */
  yw_redis *r = ctx.redis;
  ctx.redis = NULL;
  assert_int_equal(bundle_lookup(b, code, &p), GRPC_STATUS_OK);
  assert_int_equal(p->n_members, 3);
  protobuf_c_message_free_unpacked(&p->base, NULL);
  ctx.redis = r;
}

/* ---- order: the outbox's, not the sender's clock ---- */

/* Relay hook: the relay dies after its n-th XADD, before marking anything. */
static int die_after(void *arg, const char *event_id) {
  (void)event_id;
  int *left = arg;
  return --*left <= 0;
}

/* The event of number with outbox row position k (1: its first) handed to the handler
 * once more, as a delivery past the consumer's record would (seq from the outbox). */
static void hand_again(const char *number, int k) {
  PGconn *c = yw_pg_pool_acquire(ctx.pool, 1000);
  assert_non_null(c);
  char off[16];
  snprintf(off, sizeof off, "%d", k - 1);
  const char *p[] = {number, off};
  PGresult *r = NULL;
  assert_int_equal(yw_pg_query(c,
                               "SELECT id::text, event_id::text, type, encode(payload, 'hex'),"
                               " (extract(epoch FROM created_at) * 1000)::bigint::text"
                               " FROM " SRC ".outbox WHERE aggregate_key = $1 ORDER BY id"
                               " OFFSET $2::int LIMIT 1",
                               2, p, &r, NULL),
                   0);
  assert_int_equal(PQntuples(r), 1);
  size_t hlen = strlen(PQgetvalue(r, 0, 3));
  uint8_t *buf = malloc(hlen / 2 + 1);
  assert_non_null(buf);
  assert_int_equal(yw_hex_decode(PQgetvalue(r, 0, 3), hlen, buf), 0);
  yw_event ev = {.id = PQgetvalue(r, 0, 1), .type = PQgetvalue(r, 0, 2), .version = 1,
                 .aggregate_key = number, .payload = buf, .payload_len = hlen / 2,
                 .occurred_at_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10),
                 .seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10), .entry_id = "0-1", .deliveries = 1};
  assert_true(ev.seq > 0);
  assert_int_equal(yw_pg_begin(c, NULL), 0);
  assert_int_equal(progress_handle_event(c, &ev, &ctx), 0);
  assert_int_equal(yw_pg_commit(c, NULL), 0);
  PQclear(r);
  free(buf);
  yw_pg_pool_release(ctx.pool, c);
}

/* The projection follows each application's events in the order the producer's outbox
 * gave them, whatever their clocks say (two copies of yw-applications a little apart,
 * or a clock stepped back): a later status change and a later colour with earlier
 * times are applied, and shown with their own times; every event delivered twice by a
 * relay that died before marking (the stream holds each twice), and an event handed to
 * the handler again, change nothing; a replay from nothing gives the same projection. */
static void test_order_is_the_outbox_not_the_clock(void **state) {
  (void)state;
  deps = deps_ga;
  n_deps = 2;
  const char *n = "32070020261130000061";
  char due[11];
  day(10, due);
  long long t = now_ms() - 60000;
  submitted(n, "p-61", "616161", t);
  changed(n, "p-61", "616161", "SUBMITTED", "ACCEPTED", due, t + 5000);  /* a clock ahead */
  changed(n, "p-61", "616161", "ACCEPTED", "IN_REVIEW", due, t + 1000);  /* then behind */
  supervised(n, "RED", due, t + 5000);
  supervised(n, "GREEN", due, t + 1000);
  /* the relay dies after XADDing all five, before marking them: all go out again */
  yw_events_relay_config rc = {.schema = SRC, .stream = stream};
  int left = 5;
  rc.after_publish = die_after;
  rc.hook_arg = &left;
  yw_pg_error err;
  assert_int_equal(yw_events_relay_run_once(ctx.pool, ctx.redis, &rc, 5000, &err), YW_ECANCELED);
  deliver();
  assert_int_equal(count("SELECT count(*) FROM " SRC ".outbox WHERE aggregate_key = $1"
                         " AND published_at IS NOT NULL", n), 5);

  act_as(YW_CALLER_ANONYMOUS, "", "10.6.6.1");
  Progress *p = NULL;
  assert_int_equal(lookup(n, "616161", &p), GRPC_STATUS_OK);
  assert_string_equal(p->status, "IN_REVIEW");
  assert_int_equal(p->supervision, YIWANG__PROGRESS__V1__SUPERVISION__ON_TIME);
  assert_int_equal(p->n_timeline, 3);
  assert_string_equal(p->timeline[0]->status, "SUBMITTED");
  assert_string_equal(p->timeline[1]->status, "ACCEPTED");
  assert_string_equal(p->timeline[2]->status, "IN_REVIEW");
  /* the clocks only for display: each step with its own time */
  assert_int_equal(p->timeline[1]->time->seconds, (t + 5000) / 1000);
  assert_int_equal(p->timeline[2]->time->seconds, (t + 1000) / 1000);
  protobuf_c_message_free_unpacked(&p->base, NULL);

  static char before[1 << 16], after[1 << 16];
  projection_text(before, sizeof before);
  /* an earlier status change and an earlier colour handed again: nothing changes */
  hand_again(n, 2); /* ACCEPTED */
  hand_again(n, 4); /* RED */
  hand_again(n, 1); /* the submission */
  projection_text(after, sizeof after);
  assert_string_equal(after, before);
  assert_int_equal(lookup(n, "616161", &p), GRPC_STATUS_OK);
  assert_string_equal(p->status, "IN_REVIEW");
  assert_int_equal(p->supervision, YIWANG__PROGRESS__V1__SUPERVISION__ON_TIME);
  assert_int_equal(p->n_timeline, 3);
  protobuf_c_message_free_unpacked(&p->base, NULL);

  /* the newest handed again writes what it wrote: still the same */
  hand_again(n, 5);
  hand_again(n, 3);
  projection_text(after, sizeof after);
  assert_string_equal(after, before);

  /* a replay from nothing, through the stream with every entry of n twice */
  act_as(YW_CALLER_STAFF, "s-admin", "10.9.9.9");
  snprintf(as_caller.roles, sizeof as_caller.roles, "platform_admin");
  Yiwang__Progress__V1__ReplayEventsResponse *res = NULL;
  assert_int_equal(replay("", 10000, 1, &res), GRPC_STATUS_OK);
  assert_true(res->done);
  protobuf_c_message_free_unpacked(&res->base, NULL);
  projection_text(after, sizeof after);
  assert_string_equal(after, before);
  act_as(YW_CALLER_ANONYMOUS, "", "10.6.6.1");
  assert_int_equal(lookup(n, "616161", &p), GRPC_STATUS_OK);
  assert_string_equal(p->status, "IN_REVIEW");
  assert_int_equal(p->supervision, YIWANG__PROGRESS__V1__SUPERVISION__ON_TIME);
  assert_int_equal(p->n_timeline, 3);
  assert_string_equal(p->timeline[2]->status, "IN_REVIEW");
  protobuf_c_message_free_unpacked(&p->base, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_journey_status_timeline_due_date),
      cmocka_unit_test(test_replay_and_older_events_change_nothing),
      cmocka_unit_test(test_wrong_codes_answer_alike_and_are_limited),
      cmocka_unit_test(test_cache_is_dropped_by_an_event_and_redis_is_optional),
      cmocka_unit_test(test_supervision_colours),
      cmocka_unit_test(test_mine_and_batch_are_the_applicants_only),
      cmocka_unit_test(test_statistics_add_up_by_department_and_item),
      cmocka_unit_test(test_replay_rebuilds_the_projection),
      cmocka_unit_test(test_a_bundle_filing_is_looked_up_as_one),
      cmocka_unit_test(test_order_is_the_outbox_not_the_clock),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
