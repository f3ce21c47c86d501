/*
 * fees.c - an application's fee and its payment through unified payment (fees.h).
 *
 * The fee is the pinned item version's (Item.fee.amount_fen when Item.fee.required and
 * the item offers online payment, ItemDetails.online_payment 网上支付; the catalog refuses
 * a required fee of 0), kept on the application at filing (migration 020), so a later
 * version of the item never changes what a running case costs. A fee the item has paid
 * at the counter only is the department's to collect: it is kept as 0 here. The
 * fee_items tiers of ItemDetails are the guide's detail (which tier applies depends on
 * the case: 首次申领 or 补领) and are not charged from: Item.fee is the amount.
 *
 * A fee is due while the application is APPROVED and not paid. yw-payment asks for it
 * (GetApplicationFee, a call it forwards for the applicant: via=payment) before it issues
 * the order, and says it was paid on its own stream: payment.order_paid (source
 * APPLICATION) is recorded on the application (order id, amount, time) in the
 * transaction that records the event as processed (yw_events), with a timeline row, an
 * application.status_changed whose from_status equals its to_status (reason 已缴费) and a
 * feed.entry for the applicant. payment.refunded adds to the refunded amount; a refund
 * of the whole fee before completion makes it due again (已退费). payment.order_reversed
 * (reconciliation took back a payment the channel never had) of the order that paid the
 * fee is kept in fee_reversals (migration 021, one row per order, so a second event of
 * it changes nothing) and, while the application runs, clears the payment: the fee is
 * due again (a step 缴费已冲正 as above), and yw-payment issues a new order for it. An
 * application already completed keeps its payment (the CHECK below) and its department
 * is alerted by a log line written once the transaction commits (the consumer's
 * after_commit). A reversal of an order that paid nothing here changes nothing, but is
 * kept, so that the order's payment.order_paid read after it (two copies each took one)
 * is not recorded. Completion is refused (FAILED_PRECONDITION) while a fee is unpaid,
 * and the table's CHECK holds it for any writer.
 *
 * Offers: fees_file, fees_load, fees_check_completion, fees_get_application_fee,
 * fees_handle_payment_event, fees_consumer_config.
 */
#include "fees.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "application_status.h"
#include "yiwang/events/v1/applications.pb-c.h"
#include "yiwang/events/v1/feed.pb-c.h"
#include "yiwang/events/v1/payment.pb-c.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_log.h"
#include "yw_service.h"

#define SCHEMA "applications"
#define DB "the applications database"
#define TS(col) "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

typedef Yiwang__Applications__V1__ApplicationFee Fee;

/* The status's name in events ("APPROVED"). */
static const char *status_event_name(const char *db_name) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
      &yiwang__applications__v1__application_status__descriptor, (int)application_status_from_db(db_name));
  return v != NULL ? v->name : "";
}

int fees_file(PGconn *conn, const char *app_id, const Yiwang__Catalog__V1__Item *item, yw_pg_error *err) {
  /* a fee paid at the counter (the item offers no online payment, 网上支付) is the
   * department's to collect: nothing is due here and completion is not held for it */
  int online = item->details != NULL && item->details->online_payment;
  long long fen =
      online && item->fee != NULL && item->fee->required && item->fee->amount_fen > 0 ? item->fee->amount_fen : 0;
  if (fen == 0) return 0; /* the column's default */
  char f[24];
  snprintf(f, sizeof f, "%lld", fen);
  const char *p[] = {app_id, f};
  return yw_pg_query(conn, "UPDATE applications.applications SET fee_fen = $2::bigint WHERE id = $1::bigint", 2, p,
                     NULL, err);
}

/* columns of FEE_COLS */
enum { F_NUMBER, F_STATUS, F_FEN, F_ORDER, F_PAID_FEN, F_PAID_AT, F_REFUNDED, F_SUBJECT, F_ORG, F_LEAD, F_IMPL,
       F_ITEM_NAME, F_KIND };
#define FEE_COLS                                                                                          \
  "number, status, fee_fen, fee_order_id, fee_paid_fen, COALESCE(" TS("fee_paid_at") ", ''), "           \
  "fee_refunded_fen, applicant_subject, applicant_org, lead_department, impl_code, item_name, " \
  "applicant_kind "

/* The fee of row 0 of r (FEE_COLS) in a's memory; NULL on ENOMEM. full: with what
 * GetApplicationFee adds (applicant, payee, item, status). */
static Fee *fee_from_row(yw_arena *a, const PGresult *r, int full) {
  Fee *f = yw_arena_alloc(a, sizeof *f);
  if (f == NULL) return NULL;
  yiwang__applications__v1__application_fee__init(f);
  application_status st = application_status_from_db(PQgetvalue(r, 0, F_STATUS));
  f->number = yw_col_str(a, r, 0, F_NUMBER);
  f->amount_fen = yw_col_ll(r, 0, F_FEN);
  f->paid = PQgetvalue(r, 0, F_PAID_AT)[0] != '\0';
  f->due = f->amount_fen > 0 && !f->paid && st == YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED;
  f->order_id = yw_col_str(a, r, 0, F_ORDER);
  f->paid_at = yw_col_str(a, r, 0, F_PAID_AT);
  f->refunded_fen = yw_col_ll(r, 0, F_REFUNDED);
  if (full) {
    f->applicant_subject = yw_col_str(a, r, 0, F_SUBJECT);
    f->payee_department = yw_col_str(a, r, 0, F_LEAD);
    f->item_code = yw_col_str(a, r, 0, F_IMPL);
    f->item_name = yw_col_str(a, r, 0, F_ITEM_NAME);
    f->status = st;
    if (f->applicant_subject == NULL || f->payee_department == NULL || f->item_code == NULL || f->item_name == NULL)
      return NULL;
  }
  if (f->number == NULL || f->order_id == NULL || f->paid_at == NULL) return NULL;
  return f;
}

int fees_load(yw_rpc_call *call, PGconn *conn, const char *app_id, Yiwang__Applications__V1__Application *app,
              yw_pg_error *err) {
  const char *p[] = {app_id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, "SELECT " FEE_COLS "FROM applications.applications WHERE id = $1::bigint", 1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 1 && (app->fee = fee_from_row(yw_rpc_call_arena(call), r, 0)) == NULL) rc = YW_ENOMEM;
  PQclear(r);
  return rc;
}

int fees_check_completion(yw_rpc_call *call, PGconn *conn, const char *app_id, yw_pg_error *err) {
  const char *p[] = {app_id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT number, fee_fen FROM applications.applications WHERE id = $1::bigint"
                       " AND fee_fen > 0 AND fee_paid_at IS NULL",
                       1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 1) {
    long long fen = yw_col_ll(r, 0, 1);
    char number[24];
    snprintf(number, sizeof number, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return yw_rpc_call_fail(call, YW_EPRECOND,
                            "application %s cannot be completed before its fee of %lld.%02lld yuan is paid", number,
                            fen / 100, fen % 100);
  }
  PQclear(r);
  return 0;
}

/* 1 when the last service the call came through is name. */
static int came_through(const yw_caller *c, const char *name) {
  const char *last = strrchr(c->via, ',');
  last = last != NULL ? last + 1 : c->via;
  return strcmp(last, name) == 0;
}

int fees_get_application_fee(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  applications_ctx *ctx = data;
  const Yiwang__Applications__V1__GetApplicationFeeRequest *req = (const void *)reqm;
  yw_caller c;
  int rc = yw_service_caller(call, &ctx->caller_keys, &c);
  if (rc != 0) return rc;
  /* only yw-payment asks, and only for the applicant it serves */
  if (c.kind != YW_CALLER_PERSON || !came_through(&c, "payment"))
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no application %s", req->number);
  if (!application_number_valid(req->number))
    return yw_rpc_call_fail(call, YW_EINVAL, "number must be 20 digits");
  const char *p[] = {req->number};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " FEE_COLS "FROM applications.applications WHERE number = $1", 1, p, &r);
  if (rc != 0) return rc;
  /* the applicant as the application names them: the person's own, or a person acting
   * for the company with the scope pay (whoever filed it) */
  if (PQntuples(r) != 1) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no application %s", req->number);
  }
  rc = yw_service_require_applicant(call, &c, PQgetvalue(r, 0, F_KIND), PQgetvalue(r, 0, F_SUBJECT),
                                    PQgetvalue(r, 0, F_ORG), "pay", "application", req->number);
  if (rc != 0) {
    PQclear(r);
    return rc;
  }
  Fee *f = fee_from_row(yw_rpc_call_arena(call), r, 1);
  PQclear(r);
  if (f == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &f->base;
  return 0;
}

/* ---- payment's events ----------------------------------------------------------------- */

/* The step of application row r (columns of the handler's SELECT) that changes no status:
 * its timeline row, application.status_changed and the applicant's feed.entry. */
enum { S_ID, S_NUMBER, S_STATUS, S_IMPL, S_VERSION, S_SUBJECT, S_DEPTS, S_DUE, S_MAC, S_ITEM_NAME, S_FEN,
       S_ORDER, S_PAID, S_LEAD, S_KIND, S_ORG };
#define STEP_COLS                                                                                         \
  "id, number, status, impl_code, item_version, applicant_subject, array_to_string(departments, ','), " \
  "COALESCE(to_char(due_date, 'YYYY-MM-DD'), ''), query_code_mac, item_name, fee_fen, fee_order_id, "   \
  "fee_paid_at IS NOT NULL, lead_department, applicant_kind, applicant_org "

static int fee_step(PGconn *conn, const PGresult *r, const char *reason, int64_t at_ms, yw_pg_error *err) {
  const char *status = PQgetvalue(r, 0, S_STATUS);
  const char *pt[] = {PQgetvalue(r, 0, S_ID), status, reason};
  int rc = yw_pg_query(conn,
                       "INSERT INTO applications.application_transitions (application_id, from_status, to_status,"
                       " actor, reason) VALUES ($1::bigint, $2, $2, 'payment', $3)",
                       3, pt, NULL, err);
  if (rc != 0) return rc;
  const char *st = status_event_name(status);
  char depts_text[16 * 65 + 1];
  snprintf(depts_text, sizeof depts_text, "%s", PQgetvalue(r, 0, S_DEPTS));
  char *depts[16];
  size_t nd = 0;
  for (char *s = depts_text; *s != '\0' && nd < 16;) {
    depts[nd++] = s;
    char *comma = strchr(s, ',');
    if (comma == NULL) break;
    *comma = '\0';
    s = comma + 1;
  }
  Yiwang__Events__V1__ApplicationStatusChanged ev = YIWANG__EVENTS__V1__APPLICATION_STATUS_CHANGED__INIT;
  ev.number = PQgetvalue(r, 0, S_NUMBER);
  ev.impl_code = PQgetvalue(r, 0, S_IMPL);
  ev.item_version = (int32_t)yw_col_ll(r, 0, S_VERSION);
  ev.applicant_subject = PQgetvalue(r, 0, S_SUBJECT);
  ev.departments = depts;
  ev.n_departments = nd;
  ev.from_status = (char *)st;
  ev.to_status = (char *)st;
  ev.actor = "payment";
  ev.actor_department = "";
  ev.reason = (char *)reason;
  ev.occurred_at_unix_ms = at_ms;
  ev.due_date = PQgetvalue(r, 0, S_DUE);
  ev.query_code_mac = PQgetvalue(r, 0, S_MAC);
  ev.item_name = PQgetvalue(r, 0, S_ITEM_NAME);
  rc = yw_events_append(conn, SCHEMA, "application.status_changed", 1, ev.number, &ev.base, NULL, err);
  if (rc != 0) return rc;
  char title[96], link[64], body[256];
  snprintf(title, sizeof title, "办件 %s %s", ev.number, reason);
  snprintf(link, sizeof link, "applications/%s", ev.number);
  snprintf(body, sizeof body, "%.200s", ev.item_name);
  char to_whom[80]; /* a company's application: the company's feed */
  yw_feed_recipient(PQgetvalue(r, 0, S_KIND), ev.applicant_subject, PQgetvalue(r, 0, S_ORG),
                    to_whom, sizeof to_whom);
  Yiwang__Events__V1__FeedEntryAdded fe = YIWANG__EVENTS__V1__FEED_ENTRY_ADDED__INIT;
  fe.subject = to_whom;
  fe.type = "application.fee";
  fe.title = title;
  fe.body = body;
  fe.link = link;
  return yw_events_append(conn, SCHEMA, "feed.entry", 1, to_whom, &fe.base, NULL, err);
}

/* The application number, locked, with STEP_COLS into *r; 0 rows when there is none. */
static int lock_app(PGconn *conn, const char *number, PGresult **r, yw_pg_error *err) {
  const char *p[] = {number};
  return yw_pg_query(conn, "SELECT " STEP_COLS "FROM applications.applications WHERE number = $1 FOR UPDATE", 1, p,
                     r, err);
}

/* The application an event of an order names, locked, into *r (STEP_COLS, 0 rows when
 * there is none); *r stays NULL for a standalone notice's event (source NOTICE: not
 * ours). YW_EINVAL for an event that does not hold together. */
static int lock_event_app(PGconn *conn, const char *source, const char *number, const char *order_id,
                          int64_t amount_fen, PGresult **r, yw_pg_error *err) {
  *r = NULL;
  if (strcmp(source, "APPLICATION") != 0) return 0;
  if (!application_number_valid(number) || order_id[0] == '\0' || strlen(order_id) > 40 || amount_fen <= 0)
    return YW_EINVAL;
  return lock_app(conn, number, r, err);
}

static int order_paid(PGconn *conn, const Yiwang__Events__V1__PaymentOrderPaid *e, int64_t at_ms, yw_pg_error *err) {
  PGresult *r = NULL;
  int rc = lock_event_app(conn, e->source, e->application_number, e->order_id, e->amount_fen, &r, err);
  if (rc != 0 || r == NULL) return rc;
  /* no such application, or paid already (by this order: a copy of the event; by
   * another: the money is yw-payment's to give back, the application stays as paid) */
  if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, S_PAID), "t") == 0) {
    PQclear(r);
    return 0;
  }
  /* the order's reversal was read first (two copies each took one of the events): the
   * channel never had this money, so it pays nothing */
  PGresult *rv = NULL;
  const char *pr[] = {e->order_id};
  rc = yw_pg_query(conn, "SELECT 1 FROM applications.fee_reversals WHERE order_id = $1", 1, pr, &rv, err);
  int reversed = rc == 0 && PQntuples(rv) == 1;
  PQclear(rv);
  if (rc != 0 || reversed) {
    PQclear(r);
    return rc;
  }
  char amount[24], when[24];
  snprintf(amount, sizeof amount, "%lld", (long long)e->amount_fen);
  snprintf(when, sizeof when, "%lld", (long long)(e->paid_at_unix_ms > 0 ? e->paid_at_unix_ms : at_ms));
  const char *p[] = {PQgetvalue(r, 0, S_ID), e->order_id, amount, when};
  rc = yw_pg_query(conn,
                   "UPDATE applications.applications SET fee_order_id = $2, fee_paid_fen = $3::bigint,"
                   " fee_paid_at = to_timestamp($4::bigint / 1000.0) WHERE id = $1::bigint",
                   4, p, NULL, err);
  if (rc == 0) rc = fee_step(conn, r, "已缴费", at_ms, err);
  PQclear(r);
  return rc;
}

static int refunded(PGconn *conn, const Yiwang__Events__V1__PaymentRefunded *e, int64_t at_ms, yw_pg_error *err) {
  if (strcmp(e->source, "APPLICATION") != 0) return 0;
  if (!application_number_valid(e->application_number) || e->order_id[0] == '\0' || e->refunded_total_fen < 0)
    return YW_EINVAL;
  PGresult *r = NULL;
  int rc = lock_app(conn, e->application_number, &r, err);
  if (rc != 0) return rc;
  /* a refund of another order than the one that paid the fee changes nothing here */
  if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, S_ORDER), e->order_id) != 0) {
    PQclear(r);
    return 0;
  }
  char total[24];
  snprintf(total, sizeof total, "%lld", (long long)e->refunded_total_fen);
  /* refunded in full before completion: the fee is due again (a new order pays it) */
  const char *p[] = {PQgetvalue(r, 0, S_ID), total, e->fully_refunded ? "t" : "f"};
  rc = yw_pg_query(conn,
                   "UPDATE applications.applications SET fee_refunded_fen = GREATEST(fee_refunded_fen, $2::bigint),"
                   " fee_paid_at = CASE WHEN $3::boolean AND status <> 'completed' THEN NULL ELSE fee_paid_at END,"
                   " fee_order_id = CASE WHEN $3::boolean AND status <> 'completed' THEN '' ELSE fee_order_id END"
                   " WHERE id = $1::bigint",
                   3, p, NULL, err);
  if (rc == 0) rc = fee_step(conn, r, "已退费", at_ms, err);
  PQclear(r);
  return rc;
}

/* The alert of a reversal that came after completion, held until the event's
 * transaction commits: the handler fills it, the consumer's after_commit writes it, both
 * in the consumer's thread; a rolled-back handling leaves nothing written (its retry
 * fills it again). */
static _Thread_local struct {
  char event_id[YW_EVENTS_ID_MAX];
  char number[24], department[72], order_id[48], status[24];
  long long fen;
} pending_alert;

static int order_reversed(PGconn *conn, const Yiwang__Events__V1__PaymentOrderReversed *e, const char *event_id,
                          int64_t at_ms, yw_pg_error *err) {
  PGresult *r = NULL;
  int rc = lock_event_app(conn, e->source, e->application_number, e->order_id, e->amount_fen, &r, err);
  if (rc != 0 || r == NULL) return rc;
  if (PQntuples(r) != 1) { /* no such application */
    PQclear(r);
    return 0;
  }
  application_status st = application_status_from_db(PQgetvalue(r, 0, S_STATUS));
  int ours = strcmp(PQgetvalue(r, 0, S_PAID), "t") == 0 && strcmp(PQgetvalue(r, 0, S_ORDER), e->order_id) == 0;
  /* completed, or ended without a decision to pay for: the payment stays as recorded */
  int ended = application_status_final(st) && st != YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED;
  const char *effect = !ours ? "not_recorded" : ended ? "after_completion" : "due_again";
  char amount[24], when[24];
  snprintf(amount, sizeof amount, "%lld", (long long)e->amount_fen);
  snprintf(when, sizeof when, "%lld", (long long)(e->reversed_at_unix_ms > 0 ? e->reversed_at_unix_ms : at_ms));
  const char *p[] = {e->order_id, PQgetvalue(r, 0, S_ID), amount, effect, e->reason, when};
  PGresult *ins = NULL;
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.fee_reversals (order_id, application_id, amount_fen, effect, reason,"
                   " reversed_at) VALUES ($1, $2::bigint, $3::bigint, $4, left($5, 200),"
                   " to_timestamp($6::bigint / 1000.0)) ON CONFLICT (order_id) DO NOTHING RETURNING 1",
                   6, p, &ins, err);
  int inserted = rc == 0 && PQntuples(ins) == 1;
  PQclear(ins);
  /* recorded already (another event of the same reversal), or not the fee's payment */
  if (rc != 0 || !inserted || !ours) {
    PQclear(r);
    return rc;
  }
  if (!ended) {
    const char *pu[] = {PQgetvalue(r, 0, S_ID)};
    rc = yw_pg_query(conn,
                     "UPDATE applications.applications SET fee_order_id = '', fee_paid_fen = 0, fee_paid_at = NULL"
                     " WHERE id = $1::bigint",
                     1, pu, NULL, err);
    if (rc == 0) rc = fee_step(conn, r, "缴费已冲正", at_ms, err);
  } else {
    snprintf(pending_alert.event_id, sizeof pending_alert.event_id, "%s", event_id);
    snprintf(pending_alert.number, sizeof pending_alert.number, "%s", PQgetvalue(r, 0, S_NUMBER));
    snprintf(pending_alert.department, sizeof pending_alert.department, "%s", PQgetvalue(r, 0, S_LEAD));
    snprintf(pending_alert.order_id, sizeof pending_alert.order_id, "%s", e->order_id);
    snprintf(pending_alert.status, sizeof pending_alert.status, "%s", status_event_name(PQgetvalue(r, 0, S_STATUS)));
    pending_alert.fen = (long long)e->amount_fen;
  }
  PQclear(r);
  return rc;
}

int fees_handle_payment_event(PGconn *conn, const yw_event *ev, void *arg) {
  (void)arg;
  pending_alert.event_id[0] = '\0';
  const ProtobufCMessageDescriptor *d = NULL;
  if (strcmp(ev->type, "payment.order_paid") == 0)
    d = &yiwang__events__v1__payment_order_paid__descriptor;
  else if (strcmp(ev->type, "payment.refunded") == 0)
    d = &yiwang__events__v1__payment_refunded__descriptor;
  else if (strcmp(ev->type, "payment.order_reversed") == 0)
    d = &yiwang__events__v1__payment_order_reversed__descriptor;
  else
    return 0;                          /* not ours */
  if (ev->version != 1) return YW_EINVAL; /* a version this copy cannot read */
  ProtobufCMessage *m = NULL;
  if (yw_event_unpack(ev, d, NULL, &m) != 0) return YW_EINVAL;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t at_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  int rc;
  if (d == &yiwang__events__v1__payment_order_paid__descriptor)
    rc = order_paid(conn, (const void *)m, at_ms, &err);
  else if (d == &yiwang__events__v1__payment_refunded__descriptor)
    rc = refunded(conn, (const void *)m, at_ms, &err);
  else
    rc = order_reversed(conn, (const void *)m, ev->id, at_ms, &err);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* After an event's transaction committed: the alert it left, if any, for the department
 * (the log line operations route to it). */
static int alert_after_commit(void *arg, const yw_event *ev) {
  (void)arg;
  if (pending_alert.event_id[0] != '\0' && strcmp(pending_alert.event_id, ev->id) == 0) {
    /* completed: a certificate went out on that money; ended otherwise: none did */
    int completed = strstr(pending_alert.status, "COMPLETED") != NULL;
    yw_log(YW_LOG_WARN, "applications.fee_reversed_after_completion", NULL,
           "application %s of department %s is %s on a fee of %lld.%02lld yuan that yw-payment's reconciliation"
           " reversed (order %s: the channel never had the money): %s",
           pending_alert.number, pending_alert.department, pending_alert.status, pending_alert.fen / 100,
           pending_alert.fen % 100, pending_alert.order_id,
           completed ? "its certificate was issued on money never received; the department collects the fee"
                     : "it ended without a certificate; the department decides whether anything is owed");
  }
  pending_alert.event_id[0] = '\0';
  return 0;
}

void fees_consumer_config(const char *stream, const char *consumer, yw_events_consumer_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->stream = stream;
  cfg->group = "applications";
  cfg->consumer = consumer;
  cfg->schema = SCHEMA;
  cfg->handler = fees_handle_payment_event;
  cfg->after_commit = alert_after_commit;
}
