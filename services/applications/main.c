/*
 * yw-applications - serves yiwang.applications.v1.ApplicationsService (办件).
 *
 * Start-up: the settings every service has (yw_service_start), the applications schema's
 * migrations with the outbox and the kept answers, the working-day calendar
 * (YW_APPLICATIONS_HOLIDAYS), channels to yw-catalog (the items applications are filed
 * for) and yw-identity (the applicant's verified values for prefilled fields), the relay of the outbox to the stream
 * <prefix>:events:{applications}, the consumer of yw-payment's stream (fees paid and
 * refunded, fees.c); serve until SIGINT/SIGTERM.
 *
 * Usage: yw-applications [--migrate-only] [--help]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "applications.h"
#include "calendar.h"
#include "fees.h"
#include "supervision.h"
#include "licenses.h"
#include "alerts.h"
#include "ratings.h"
#include "yw_events.h"
#include "yw_err.h"
#include "yw_service.h"
#include "yw_workdays.h"

static char *cfg_payment_stream;
static char *cfg_catalog, *cfg_identity, *cfg_lookup_key, *cfg_data_key, *cfg_holidays, *cfg_seal_key, *cfg_seal_keys;
static long cfg_supervise_s, cfg_calendar_check_ms, cfg_rectify_days;

static const yw_cfg_entry settings[] = {
    {"YW_APPLICATIONS_CATALOG", YW_CFG_STR, "127.0.0.1:50052", 0, 0,
     "yw-catalog's gRPC target: the items applications are filed for", &cfg_catalog},
    {"YW_APPLICATIONS_IDENTITY", YW_CFG_STR, "127.0.0.1:50051", 0, 0,
     "yw-identity's gRPC target: the applicant's verified name, masked ID number and "
     "company for a form's prefilled fields, and a license holder's masked name", &cfg_identity},
    {"YW_LOOKUP_KEY", YW_CFG_STR, "", 0, 0,
     "64 hex: the key of the query codes' HMAC (never stored in clear)", &cfg_lookup_key},
    {"YW_APPLICATIONS_DATA_KEY", YW_CFG_STR, "", 0, 0,
     "64 hex: the key that encrypts applications' forms at rest (AES-256-GCM)", &cfg_data_key},
    {"YW_APPLICATIONS_HOLIDAYS", YW_CFG_STR, "", 0, 0,
     "a CSV file of statutory holidays and make-up working days (date,holiday|workday,name) "
     "for due dates, stored when the database has no calendar yet (PUT /v1/calendar/{year} "
     "loads a year); empty: none", &cfg_holidays},
    {"YW_APPLICATIONS_SUPERVISE_S", YW_CFG_INT, "60", 1, 86400,
     "seconds between passes of the supervision job (yellow and red by due date)", &cfg_supervise_s},
    {"YW_APPLICATIONS_CALENDAR_CHECK_MS", YW_CFG_INT, "5000", 0, 600000,
     "the longest a copy goes without asking whether the calendar changed", &cfg_calendar_check_ms},
    {"YW_APPLICATIONS_SEAL_KEY", YW_CFG_STR, "", 0, 0,
     "a PEM file of the SM2 private key that seals electronic licenses (openssl genpkey "
     "-algorithm SM2) of the deployment, for departments without their own; empty: none",
     &cfg_seal_key},
    {"YW_APPLICATIONS_SEAL_KEYS", YW_CFG_STR, "", 0, 0,
     "a folder of departments' own seals: <department code>.key, each a PEM SM2 private key; "
     "empty: none", &cfg_seal_keys},
    {"YW_APPLICATIONS_RECTIFY_DAYS", YW_CFG_INT, "15", 1, 3650,
     "working days a department has to answer the rectification case a bad rating opens",
     &cfg_rectify_days},
    {"YW_APPLICATIONS_PAYMENT_STREAM", YW_CFG_STR, "yw:events:{payment}", 0, 0,
     "yw-payment's event stream: payment.order_paid and payment.refunded of applications' "
     "fees are recorded on the applications (consumer group applications)",
     &cfg_payment_stream},
};

/* The working-day calendar from the CSV file at path ("": none, weekends only) in *out.
 * Returns 0, or 2 after saying why on stderr. */
static int load_calendar(const char *path, struct yw_workdays **out) {
  struct yw_workdays *cal = yw_workdays_new();
  if (cal == NULL) return 2;
  if (path[0] == '\0') {
    *out = cal;
    return 0;
  }
  FILE *f = fopen(path, "rb");
  char *text = f != NULL ? malloc(YW_WORKDAYS_CSV_MAX + 1) : NULL;
  size_t len = text != NULL ? fread(text, 1, YW_WORKDAYS_CSV_MAX + 1, f) : 0;
  int line = 0;
  const char *reason = "cannot be read";
  int rc = text == NULL || ferror(f) ? YW_EIO
           : len > YW_WORKDAYS_CSV_MAX ? (reason = "is larger than 4 MiB", YW_ETOOBIG)
           : yw_workdays_parse_csv(cal, text, len, &line, &reason);
  if (f != NULL) fclose(f);
  free(text);
  if (rc != 0) {
    fprintf(stderr, "yw-applications: YW_APPLICATIONS_HOLIDAYS %s: line %d %s\n", path, line,
            reason != NULL ? reason : "");
    yw_workdays_free(cal);
    return 2;
  }
  *out = cal;
  return 0;
}

static yw_events_relay *relay;
static supervision_job *supervision;
static yw_events_consumer *payments;

/* /metrics: the relay's counters and the outbox's backlog (rows not yet published, age of
 * the oldest), so a stuck relay shows before residents miss their feed entries. */
static int relay_metrics(void *arg, char *buf, size_t len) {
  yw_pg_pool *pool = arg;
  yw_events_relay_stats st;
  yw_events_relay_stats_get(relay, &st);
  long long rows = -1, oldest_ms = -1;
  if (yw_events_outbox_backlog(pool, "applications", 1000, &rows, &oldest_ms) != 0) rows = oldest_ms = -1;
  int n = snprintf(buf, len,
                   "# TYPE yw_events_relay_published_total counter\n"
                   "yw_events_relay_published_total %lld\n"
                   "# TYPE yw_events_relay_failures_total counter\n"
                   "yw_events_relay_failures_total %lld\n"
                   "# HELP yw_events_outbox_backlog rows not yet published (-1: unknown)\n"
                   "# TYPE yw_events_outbox_backlog gauge\n"
                   "yw_events_outbox_backlog %lld\n"
                   "# TYPE yw_events_outbox_oldest_ms gauge\n"
                   "yw_events_outbox_oldest_ms %lld\n",
                   st.published, st.failures, rows, oldest_ms);
  if (n < 0 || (size_t)n >= len) return YW_ETOOBIG;
  int m = supervision_metrics(supervision, buf + n, len - (size_t)n);
  if (m < 0) return m;
  int k = applications_calendar_metrics(buf + n + m, len - (size_t)(n + m));
  if (k < 0) return k;
  int c = payments != NULL ? yw_events_consumer_metrics(payments, 200, buf + n + m + k, len - (size_t)(n + m + k)) : 0;
  return c < 0 ? c : n + m + k + c;
}

static void stop_relay(void *arg) {
  (void)arg;
  supervision_stop(supervision);
  supervision = NULL;
  yw_events_consumer_free(payments); /* stops its thread first */
  payments = NULL;
  yw_events_relay_stop(relay);
}

int main(int argc, char **argv) {
  static yw_service_proc proc = {
      .name = "applications",
      .listen = "127.0.0.1:50055",
      .schema = "applications",
      .migrations = applications_migrations,
      .events = 1,
      .idempotency = 1, /* SubmitApplication keeps its answers by Idempotency-Key */
      .redis_timeout_ms = 500,
      .redis_use = "events wait in the outbox; kept answers come from PostgreSQL",
      .calls_out = 1,
      .settings = settings,
      .n_settings = sizeof settings / sizeof settings[0],
  };
  proc.n_migrations = applications_migrations_count;
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;

  static applications_ctx ctx;
  ctx.pool = proc.pool;
  ctx.db_wait_ms = (int)proc.db_wait_ms;
  ctx.redis = proc.redis;
  ctx.redis_prefix = proc.redis_prefix;
  ctx.caller_keys = proc.caller_keys;
  if (yw_key_from_hex(cfg_lookup_key, ctx.lookup_key) != 0) {
    fprintf(stderr, "yw-applications: YW_LOOKUP_KEY must be 64 hex characters\n");
    yw_service_stop(&proc);
    return 2;
  }
  if (yw_key_from_hex(cfg_data_key, ctx.data_key) != 0) {
    fprintf(stderr, "yw-applications: YW_APPLICATIONS_DATA_KEY must be 64 hex characters\n");
    yw_service_stop(&proc);
    return 2;
  }
  /* forms still kept in clear (before migration 013) are encrypted before serving */
  long long sealed = 0;
  yw_pg_error ferr;
  memset(&ferr, 0, sizeof ferr);
  if (applications_forms_encrypt(&ctx, 500, &sealed, &ferr) != 0) {
    fprintf(stderr, "yw-applications: the forms kept in clear cannot be encrypted: %s\n",
            ferr.message);
    yw_service_stop(&proc);
    return 1;
  }
  if (sealed > 0) fprintf(stderr, "yw-applications: %lld forms encrypted at rest\n", sealed);
  struct yw_workdays *seed = NULL;
  if (load_calendar(cfg_holidays, &seed) != 0) {
    yw_service_stop(&proc);
    return 2;
  }
  /* the database's calendar: the CSV file only seeds an empty one */
  PGconn *conn = yw_pg_pool_acquire(proc.pool, ctx.db_wait_ms);
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  int seeded = 0;
  ctx.calendar = applications_calendar_new(NULL, (int)cfg_calendar_check_ms);
  rc = conn == NULL || ctx.calendar == NULL ? YW_EUNAVAIL
                                            : applications_calendar_seed(conn, seed, &seeded, &err);
  if (rc == 0) rc = applications_calendar_refresh(ctx.calendar, conn, 1, &err);
  yw_pg_pool_release(proc.pool, conn);
  yw_workdays_free(seed);
  if (rc != 0) {
    fprintf(stderr, "yw-applications: the working-day calendar cannot be loaded: %s\n", err.message);
    yw_service_stop(&proc);
    return 1;
  }
  if (seeded > 0) fprintf(stderr, "yw-applications: %d calendar days stored from %s\n", seeded, cfg_holidays);
  if ((ctx.catalog = yw_service_channel(&proc, cfg_catalog)) == NULL ||
      (ctx.identity = yw_service_channel(&proc, cfg_identity)) == NULL) {
    yw_service_stop(&proc);
    return 2;
  }
  char why[320];
  if (licenses_seals_load(&ctx, cfg_seal_key, cfg_seal_keys, why, sizeof why) != 0) {
    fprintf(stderr, "yw-applications: %s\n", why);
    yw_service_stop(&proc);
    return 2;
  }
  if (ctx.seal == NULL && ctx.n_dept_seals == 0)
    fprintf(stderr, "yw-applications: no seal configured (YW_APPLICATIONS_SEAL_KEY, "
                    "YW_APPLICATIONS_SEAL_KEYS): no licenses are issued\n");
  yw_rpc_service svc;
  applications_service_init(&svc, &ctx);
  static yw_rpc_service licenses_svc;
  licenses_service_init(&licenses_svc, &ctx);
  proc.more[proc.n_more++] = &licenses_svc;
  static ratings_ctx ratings;
  static yw_rpc_service ratings_svc;
  ratings.app = &ctx;
  ratings.rectify_days = (int)cfg_rectify_days;
  ratings_service_init(&ratings_svc, &ratings);
  proc.more[proc.n_more++] = &ratings_svc;
  static yw_rpc_service alerts_svc;
  alerts_service_init(&alerts_svc, &ctx);
  proc.more[proc.n_more++] = &alerts_svc;

  /* the stream under the deployment's prefix: copies of one deployment share it */
  static char stream[128];
  snprintf(stream, sizeof stream, "%s:events:{applications}", proc.redis_prefix);
  yw_events_relay_config rcfg = {
      .schema = "applications", .stream = stream, .listen = 1, .interval_ms = 500};
  if (proc.redis == NULL || yw_events_relay_start(proc.pool, proc.redis, &rcfg, &relay) != 0) {
    fprintf(stderr, "yw-applications: the relay of events needs Redis at start\n");
    yw_service_stop(&proc);
    return 1;
  }
  /* fees paid, refunded and reversed, from yw-payment's stream (one name per copy) */
  static char consumer[128];
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  snprintf(consumer, sizeof consumer, "%s-%d", host, (int)getpid());
  yw_events_consumer_config ccfg;
  fees_consumer_config(cfg_payment_stream, consumer, &ccfg);
  ccfg.block_ms = 250; /* 200 ms or more under the Redis handle's timeout (500) */
  if (yw_events_consumer_new(proc.pool, proc.redis, &ccfg, &payments) != 0 ||
      yw_events_consumer_start(payments) != 0) {
    fprintf(stderr, "yw-applications: the consumer of %s cannot start\n", cfg_payment_stream);
    yw_events_consumer_free(payments);
    yw_events_relay_stop(relay);
    yw_service_stop(&proc);
    return 1;
  }
  if (supervision_start(&ctx, (int)cfg_supervise_s, &supervision) != 0) {
    fprintf(stderr, "yw-applications: the supervision job cannot start\n");
    yw_events_consumer_free(payments);
    yw_events_relay_stop(relay);
    yw_service_stop(&proc);
    return 1;
  }
  proc.on_stop = stop_relay;
  proc.metrics_fn = relay_metrics;
  proc.metrics_arg = proc.pool;
  return yw_service_run(&proc, &svc);
}
