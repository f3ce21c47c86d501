/*
 * payment.c - PaymentService: payment orders, paying them on a channel, the channels'
 * notifications and refunds (payment/README.md).
 *
 * Orders. Department staff issue a standalone notice (a fine or a fee) payable to their
 * own department; the order gets a notice code (notice_code.h) and is CREATED. The
 * payer's name is kept encrypted (AES-256-GCM, the notice code as associated data) and
 * answered in clear only to the payer, the payee department and finance.
 *
 * Status. Every change is a compare-and-set on the locked row (UPDATE ... WHERE status
 * = ANY(allowed) RETURNING) whose order_events row is written by the same statement
 * (pay_order_transition; on the hot path, where the caller holds the row's lock and knows
 * its status, statements that also write the change's other columns); a trigger refuses
 * a change the allow-list of migrations/001_orders.sql does not hold, whoever writes it.
 *
 * Offers: payment_service_init, pay_order_transition, pay_book_paid, pay_book_refund,
 * pay_refund_failed, pay_refund_refused, pay_uuid_ok, payment_metrics, pay_notify_refused,
 * pay_notify_priority, payment_priority_gate.
 */
#include "payment.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qrencode.h>

#include "ledger.h"
#include "app_fee.h"
#include "notice_code.h"
#include "yiwang/events/v1/payment.pb-c.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_events.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

#define SCHEMA "payment"
#define DB "the payment database"
#define AMOUNT_MAX_FEN 10000000000LL /* 100 million yuan */
#define PAYER_NAME_MAX PAY_PAYER_NAME_MAX
#define ITEM_NAME_MAX 200
#define EXPIRY_DEFAULT_DAYS 2
#define EXPIRY_MAX_DAYS 30

typedef Yiwang__Payment__V1__Order Order;

/* ---- small checks ------------------------------------------------------------------ */

/* 1 when s is 1..max bytes of [A-Za-z0-9_.-] (a code that may stand in an account name). */
static int code_ok(const char *s, size_t max) {
  size_t n = s != NULL ? strlen(s) : 0;
  if (n == 0 || n > max) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return 0;
  }
  return 1;
}

/* 1 when s is 1..max bytes of UTF-8 text without control characters. */
static int text_ok(const char *s, size_t max) {
  size_t n = s != NULL ? strlen(s) : 0;
  if (n == 0 || n > max) return 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n || (len == 1 && c < 0x20) || c == 0x7f) return 0;
    for (size_t k = 1; k < len; k++)
      if (((unsigned char)s[i + k] >> 6) != 2) return 0;
    i += len;
  }
  return 1;
}

/* 1 when s looks like a uuid (36 characters of hex and dashes in the 8-4-4-4-12 shape). */
int pay_uuid_ok(const char *s) {
  if (s == NULL || strlen(s) != 36) return 0;
  for (int i = 0; i < 36; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = s[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
      return 0;
  }
  return 1;
}

/* ---- the status machine ------------------------------------------------------------ */

int pay_order_transition(PGconn *conn, const char *order_id, const char *from_set, const char *to,
                         const char *reason, const char *actor, char old[PAY_STATUS_MAX], yw_pg_error *err) {
  /* One round trip: the row locked by the subquery (its status then is the one the
   * compare-and-set reads and the event records), updated when that status is in
   * from_set, and the order_events row written by the same statement. */
  const char *p[5] = {order_id, from_set, to, reason != NULL ? reason : "", actor != NULL ? actor : ""};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn,
                             "WITH u AS (UPDATE payment.orders o SET status = $3, updated_at = now() "
                             "  FROM (SELECT id, status FROM payment.orders WHERE id = $1::uuid FOR UPDATE) cur "
                             "  WHERE o.id = cur.id AND cur.status = ANY(string_to_array($2, ',')) "
                             "  RETURNING o.id, cur.status), "
                             "e AS (INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor) "
                             "  SELECT id, status, $3, $4, $5 FROM u) "
                             "SELECT status FROM u",
                             5, p, &res, err);
  if (rc != 0) return rc;
  if (PQntuples(res) == 1) {
    if (old != NULL) snprintf(old, PAY_STATUS_MAX, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
  }
  PQclear(res);
  /* not changed: no such order, or its status (locked above) is not in from_set */
  const char *p1[1] = {order_id};
  rc = yw_pg_query_write(conn, "SELECT status FROM payment.orders WHERE id = $1::uuid", 1, p1, &res, err);
  if (rc != 0) return rc;
  int found = PQntuples(res) == 1;
  if (found && old != NULL) snprintf(old, PAY_STATUS_MAX, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  return found ? YW_EPRECOND : YW_ENOTFOUND;
}

/* ---- orders as answers --------------------------------------------------------------- */

/* The columns of an order answer, over an orders relation o (ORDER_FROM's). */
#define ORDER_FIELDS                                                                                   \
  "o.id, o.notice_code, o.status, o.source, o.application_number, o.amount_fen, o.refunded_fen, "     \
  "o.payee_department, o.item_code, o.item_name, o.payer_name_enc, o.payer_subject, "                  \
  "extract(epoch FROM o.expires_at)::bigint, extract(epoch FROM o.created_at)::bigint, "              \
  "coalesce(extract(epoch FROM o.paid_at)::bigint, 0), o.exception_reason, coalesce(c.channel, ''), " \
  "coalesce(c.out_trade_no, '') "
#define ORDER_FROM(rel)                                                                                \
  "FROM " rel " o LEFT JOIN LATERAL (SELECT channel, out_trade_no FROM payment.channel_orders "        \
  "WHERE order_id = o.id ORDER BY attempt DESC LIMIT 1) c ON true "
#define ORDER_COLS ORDER_FIELDS ORDER_FROM("payment.orders")

enum { C_ID, C_CODE, C_STATUS, C_SOURCE, C_APP, C_AMOUNT, C_REFUNDED, C_DEPT, C_ITEM, C_ITEM_NAME,
       C_PAYER_ENC, C_PAYER_SUBJECT, C_EXPIRES, C_CREATED, C_PAID, C_EXC, C_CHANNEL, C_OUT_TRADE_NO };

static Google__Protobuf__Timestamp *ts(yw_arena *a, long long unix_s) {
  if (unix_s <= 0) return NULL;
  Google__Protobuf__Timestamp *t = yw_arena_alloc(a, sizeof *t);
  if (t == NULL) return NULL;
  google__protobuf__timestamp__init(t);
  t->seconds = unix_s;
  return t;
}

/* Who may see an order's payer in clear. */
enum view { VIEW_PUBLIC, VIEW_FULL };

/* 1 when the caller may read the order (payer, staff of the payee department, finance). */
static int may_read(const yw_caller *c, const char *payee, const char *payer_subject) {
  if (c->kind == YW_CALLER_PERSON) return payer_subject[0] != '\0' && strcmp(c->subject, payer_subject) == 0;
  if (c->kind == YW_CALLER_STAFF)
    return yw_service_has_any_role(c, "finance,auditor") || (c->department[0] != '\0' && strcmp(c->department, payee) == 0);
  return 0;
}

/* What a caller may_read lets read sees of the payer: in clear for the payer, finance and
 * staff of the payee department; masked for anyone else (an auditor). */
static enum view view_of(const yw_caller *c, const char *payee) {
  if (c->kind == YW_CALLER_PERSON) return VIEW_FULL; /* may_read: the payer */
  if (c->kind == YW_CALLER_STAFF &&
      (yw_service_has_any_role(c, "finance") || (c->department[0] != '\0' && strcmp(c->department, payee) == 0)))
    return VIEW_FULL;
  return VIEW_PUBLIC;
}

/* Row row of res (ORDER_COLS) as an Order from the call's arena; the payer's name in clear
 * for VIEW_FULL, masked otherwise (and the payer's subject left out). NULL on ENOMEM. */
static Order *order_from_row(payment_ctx *ctx, yw_arena *a, const PGresult *res, int row, enum view v) {
  Order *o = yw_arena_alloc(a, sizeof *o);
  if (o == NULL) return NULL;
  yiwang__payment__v1__order__init(o);
  o->id = yw_col_str(a, res, row, C_ID);
  o->notice_code = yw_col_str(a, res, row, C_CODE);
  char st[48];
  snprintf(st, sizeof st, "ORDER_STATUS_%s", PQgetvalue(res, row, C_STATUS));
  o->status = yw_enum_from_db(&yiwang__payment__v1__order_status__descriptor, st);
  snprintf(st, sizeof st, "ORDER_SOURCE_%s", PQgetvalue(res, row, C_SOURCE));
  o->source = yw_enum_from_db(&yiwang__payment__v1__order_source__descriptor, st);
  o->application_number = yw_col_str(a, res, row, C_APP);
  o->amount_fen = yw_col_ll(res, row, C_AMOUNT);
  o->refunded_fen = yw_col_ll(res, row, C_REFUNDED);
  o->payee_department = yw_col_str(a, res, row, C_DEPT);
  o->item_code = yw_col_str(a, res, row, C_ITEM);
  o->item_name = yw_col_str(a, res, row, C_ITEM_NAME);
  char name[PAYER_NAME_MAX * 2 + 8] = "";
  if (yw_decrypt(ctx->data_key, PQgetvalue(res, row, C_PAYER_ENC), o->notice_code, name, sizeof name) != 0)
    snprintf(name, sizeof name, "?");
  if (v == VIEW_FULL) {
    o->payer_name = yw_arena_strndup(a, name, strlen(name));
    o->payer_subject = yw_col_str(a, res, row, C_PAYER_SUBJECT);
  } else {
    char masked[sizeof name];
    yw_mask_name(name, masked, sizeof masked);
    o->payer_name = yw_arena_strndup(a, masked, strlen(masked));
    o->payer_subject = "";
  }
  o->expires_at = ts(a, yw_col_ll(res, row, C_EXPIRES));
  o->created_at = ts(a, yw_col_ll(res, row, C_CREATED));
  o->paid_at = ts(a, yw_col_ll(res, row, C_PAID));
  o->exception_reason = yw_col_str(a, res, row, C_EXC);
  o->channel = yw_col_str(a, res, row, C_CHANNEL);
  o->out_trade_no = yw_col_str(a, res, row, C_OUT_TRADE_NO);
  if (o->id == NULL || o->notice_code == NULL || o->payer_name == NULL || o->item_name == NULL ||
      o->channel == NULL || o->out_trade_no == NULL)
    return NULL;
  return o;
}

/* Reads the order whose column col ("o.id" or "o.notice_code") is key on conn. Returns 0
 * and *out, YW_ENOTFOUND, or a query code. *res is the caller's to PQclear. */
static int order_select(PGconn *conn, int by_code, const char *key, PGresult **res, yw_pg_error *err) {
  const char *p[1] = {key};
  int rc = yw_pg_query_read(conn,
                            by_code ? "SELECT " ORDER_COLS "WHERE o.notice_code = $1"
                                    : "SELECT " ORDER_COLS "WHERE o.id = $1::uuid",
                            1, p, res, err);
  if (rc != 0) return rc;
  if (PQntuples(*res) != 1) {
    PQclear(*res);
    *res = NULL;
    return YW_ENOTFOUND;
  }
  return 0;
}

int pay_order_read(payment_ctx *ctx, yw_arena *a, PGconn *conn, const char *order_id, Order **out,
                   yw_pg_error *err) {
  PGresult *res = NULL;
  int rc = order_select(conn, 0, order_id, &res, err);
  if (rc != 0) return rc;
  *out = order_from_row(ctx, a, res, 0, VIEW_FULL);
  PQclear(res);
  return *out != NULL ? 0 : YW_ENOMEM;
}

/* ---- CreateOrder ------------------------------------------------------------------- */

struct create_work {
  payment_ctx *ctx;
  const Yiwang__Payment__V1__CreateOrderRequest *req;
  yw_caller caller;
};

static int create_tx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                     void *arg) {
  (void)reqm;
  struct create_work *w = arg;
  const Yiwang__Payment__V1__CreateOrderRequest *r = w->req;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  int days = r->expires_in_days == 0 ? EXPIRY_DEFAULT_DAYS : r->expires_in_days;
  char amount[24], days_s[8], order_id[40] = "";
  snprintf(amount, sizeof amount, "%lld", (long long)r->amount_fen);
  snprintf(days_s, sizeof days_s, "%d", days);
  size_t enc_size = 2 * (12 + strlen(r->payer_name) + 16) + 1;
  char *enc = yw_arena_alloc(yw_rpc_call_arena(call), enc_size);
  if (enc == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  PGresult *res = NULL;
  int rc;
  /* a code already taken (one in 10^16) is drawn again */
  for (int attempt = 0; attempt < 5 && order_id[0] == '\0'; attempt++) {
    char code[NOTICE_CODE_LEN + 1];
    if (notice_code_new(1900 + tm.tm_year, 1, code, sizeof code) != 0 ||
        yw_encrypt(w->ctx->data_key, r->payer_name, strlen(r->payer_name), code, enc, enc_size) != 0)
      return yw_rpc_call_fail(call, YW_EINTERNAL, "the notice cannot be issued");
    const char *rid = yw_rpc_call_request_id(call);
    const char *p[11] = {code, amount, w->caller.department, r->item_code, r->item_name, enc,
                         r->payer_subject, w->caller.subject, days_s, rid != NULL ? rid : "", w->caller.ip};
    /* one statement: the order, its CREATED event, its audit record, and the order as
     * answered */
    rc = yw_pg_query_write(conn,
                           "WITH n AS (INSERT INTO payment.orders (notice_code, source, amount_fen, payee_department, "
                           "  item_code, item_name, payer_name_enc, payer_subject, created_by, expires_at) "
                           "  VALUES ($1, 'NOTICE', $2::bigint, $3, $4, $5, $6, $7, $8, "
                           "  now() + make_interval(days => $9::int)) "
                           "  ON CONFLICT (notice_code) DO NOTHING RETURNING *), "
                           "e AS (INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor) "
                           "  SELECT id, '', 'CREATED', 'notice issued', $8 FROM n), "
                           "a AS (INSERT INTO payment.audit_log (actor, department, action, target, detail, request_id, "
                           "  source_ip) SELECT $8, $3, 'notice.issue', id::text, 'amount_fen=' || $2 || ' item_code=' "
                           "  || $4 || ' notice_code=' || $1, $10, $11 FROM n) "
                           "SELECT " ORDER_FIELDS ORDER_FROM("n"),
                           11, p, &res, &err);
    if (rc != 0) return yw_service_db_fail(call, rc, &err);
    if (PQntuples(res) == 1) snprintf(order_id, sizeof order_id, "%s", PQgetvalue(res, 0, 0));
    else PQclear(res);
  }
  if (order_id[0] == '\0') return yw_rpc_call_fail(call, YW_EUNAVAIL, "no free notice code; try again");
  Order *o = order_from_row(w->ctx, yw_rpc_call_arena(call), res, 0, VIEW_FULL);
  PQclear(res);
  if (o == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &o->base;
  return 0;
}

static int create_order(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  payment_ctx *ctx = data;
  const Yiwang__Payment__V1__CreateOrderRequest *r = (const void *)reqm;
  if (r->application_number[0] != '\0') return app_fee_create_order(call, ctx, reqm, out); /* app_fee.c */
  struct create_work w = {.ctx = ctx, .req = r};
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "dept_staff,dept_admin", "issuing a payment notice",
                                    &w.caller);
  if (rc != 0) return rc;
  if (!code_ok(w.caller.department, 64))
    return yw_rpc_call_fail(call, YW_EPERM, "issuing a payment notice needs a department");
  if (!code_ok(r->item_code, 32))
    return yw_rpc_call_fail(call, YW_EINVAL, "itemCode must be 1 to 32 of A-Z, a-z, 0-9, '_', '.', '-'");
  if (!text_ok(r->item_name, ITEM_NAME_MAX))
    return yw_rpc_call_fail(call, YW_EINVAL, "itemName must be 1 to 200 bytes of text");
  if (r->amount_fen <= 0 || r->amount_fen > AMOUNT_MAX_FEN)
    return yw_rpc_call_fail(call, YW_EINVAL, "amountFen must be 1 to %lld", AMOUNT_MAX_FEN);
  if (!text_ok(r->payer_name, PAYER_NAME_MAX))
    return yw_rpc_call_fail(call, YW_EINVAL, "payerName must be 1 to 100 bytes of text");
  if (r->payer_subject[0] != '\0' && !text_ok(r->payer_subject, 63))
    return yw_rpc_call_fail(call, YW_EINVAL, "payerSubject must be at most 63 bytes");
  if (r->expires_in_days < 0 || r->expires_in_days > EXPIRY_MAX_DAYS)
    return yw_rpc_call_fail(call, YW_EINVAL, "expiresInDays must be 0 (2 days) to 30");
  return yw_idem_run(call, reqm, out, ctx->pool, &ctx->idem_create, create_tx, &w);
}

/* ---- GetOrder, GetNotice ----------------------------------------------------------- */

static int get_order(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  payment_ctx *ctx = data;
  const Yiwang__Payment__V1__GetOrderRequest *r = (const void *)reqm;
  yw_caller c;
  int rc = yw_service_caller(call, &ctx->caller_keys, &c);
  if (rc != 0) return rc;
  if (!pay_uuid_ok(r->id)) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, DB " is busy");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *res = NULL;
  rc = order_select(conn, 0, r->id, &res, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == YW_ENOTFOUND) return yw_rpc_call_fail(call, rc, "no such order");
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  if (!may_read(&c, PQgetvalue(res, 0, C_DEPT), PQgetvalue(res, 0, C_PAYER_SUBJECT))) {
    PQclear(res);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  }
  Order *o = order_from_row(ctx, yw_rpc_call_arena(call), res, 0, view_of(&c, PQgetvalue(res, 0, C_DEPT)));
  PQclear(res);
  if (o == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &o->base;
  return 0;
}

static int get_notice(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  payment_ctx *ctx = data;
  const Yiwang__Payment__V1__GetNoticeRequest *r = (const void *)reqm;
  /* a mistyped code is told at once, without a lookup */
  if (!notice_code_valid(r->code))
    return yw_rpc_call_fail(call, YW_EINVAL, "code is not a notice code (20 digits with a check digit)");
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, DB " is busy");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *res = NULL;
  int rc = order_select(conn, 1, r->code, &res, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == YW_ENOTFOUND) return yw_rpc_call_fail(call, rc, "no such notice");
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  Order *o = order_from_row(ctx, yw_rpc_call_arena(call), res, 0, VIEW_PUBLIC);
  PQclear(res);
  if (o == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &o->base;
  return 0;
}

/* ---- booking what the channel says ---------------------------------------------------- */

static atomic_llong alerts_total;
static atomic_llong notify_refused_total, notify_demoted_total; /* Notify's priority (below) */

int payment_metrics(char *buf, size_t len) {
  int n = snprintf(buf, len,
                   "# HELP yw_payment_alerts_total money and records disagreed: amount or merchant "
                   "mismatch, paid after close, paid twice (payment.alert log lines)\n"
                   "# TYPE yw_payment_alerts_total counter\nyw_payment_alerts_total %lld\n"
                   "# HELP yw_payment_notify_refused_total notifications refused for their signature, "
                   "time or shape\n"
                   "# TYPE yw_payment_notify_refused_total counter\nyw_payment_notify_refused_total %lld\n"
                   "# HELP yw_payment_notify_demoted_total notifications admitted without priority (an "
                   "unknown channel, or one past its refused notifications' bound)\n"
                   "# TYPE yw_payment_notify_demoted_total counter\nyw_payment_notify_demoted_total %lld\n",
                   (long long)atomic_load(&alerts_total), (long long)atomic_load(&notify_refused_total),
                   (long long)atomic_load(&notify_demoted_total));
  return n < 0 || (size_t)n >= len ? YW_ETOOBIG : n;
}

/* ---- Notify's priority ------------------------------------------------------------- */

#define NOTIFY_GUARD_CHANNELS 16

/* Per channel name: the window of refused notifications (begun at the first refusal
 * after the last window ended) and how many it holds. Only configured channels are
 * counted (Notify refuses other names before); past NOTIFY_GUARD_CHANNELS of them the
 * rest share the last slot, so every channel is bounded, some together. */
static struct {
  pthread_mutex_t mu;
  struct {
    char name[PAY_CHANNEL_NAME_MAX];
    int64_t since;
    int refused;
  } ch[NOTIFY_GUARD_CHANNELS + 1];
  int n;
} notify_guard = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The slot of channel (added when add), the shared last slot when the table is full, or
 * -1 (not added yet, or a name too long to be a channel's). Under notify_guard.mu. */
static int guard_slot(const char *channel, int add) {
  for (int i = 0; i < notify_guard.n; i++)
    if (strcmp(notify_guard.ch[i].name, channel) == 0) return i;
  if (strlen(channel) >= PAY_CHANNEL_NAME_MAX) return -1;
  if (notify_guard.n == NOTIFY_GUARD_CHANNELS) return NOTIFY_GUARD_CHANNELS; /* shared */
  if (!add) return -1;
  int i = notify_guard.n++;
  snprintf(notify_guard.ch[i].name, sizeof notify_guard.ch[i].name, "%s", channel);
  notify_guard.ch[i].since = 0;
  notify_guard.ch[i].refused = 0;
  return i;
}

void pay_notify_refused(const char *channel, int64_t now) {
  atomic_fetch_add(&notify_refused_total, 1);
  pthread_mutex_lock(&notify_guard.mu);
  int i = guard_slot(channel, 1);
  if (i >= 0) {
    if (notify_guard.ch[i].refused == 0 || now - notify_guard.ch[i].since >= PAY_NOTIFY_REFUSED_WINDOW_S) {
      notify_guard.ch[i].since = now; /* a new window */
      notify_guard.ch[i].refused = 0;
    }
    notify_guard.ch[i].refused++;
  }
  pthread_mutex_unlock(&notify_guard.mu);
}

int pay_notify_priority(const char *channel, int64_t now) {
  pthread_mutex_lock(&notify_guard.mu);
  int i = guard_slot(channel, 0);
  int keep = i < 0 || notify_guard.ch[i].refused < PAY_NOTIFY_REFUSED_MAX ||
             now - notify_guard.ch[i].since >= PAY_NOTIFY_REFUSED_WINDOW_S;
  pthread_mutex_unlock(&notify_guard.mu);
  return keep;
}

/* The string field 1 of a protobuf message (NotifyRequest.channel) into out: its last
 * occurrence, the one protobuf-c keeps when it unpacks the call. 0, or -1 when it is
 * absent, too long or the bytes are not a message. */
static int field1_string(const uint8_t *p, size_t len, char *out, size_t size) {
  size_t i = 0;
  int found = 0;
  while (i < len) {
    uint64_t key = 0, v = 0;
    for (int sh = 0; i < len && sh < 64; sh += 7) { /* the key */
      key |= (uint64_t)(p[i] & 0x7f) << sh;
      if ((p[i++] & 0x80) == 0) break;
    }
    switch (key & 7) {
    case 0: /* varint */
      while (i < len && (p[i++] & 0x80) != 0) {}
      break;
    case 1: i += 8; break;
    case 5: i += 4; break;
    case 2:
      for (int sh = 0; i < len && sh < 64; sh += 7) {
        v |= (uint64_t)(p[i] & 0x7f) << sh;
        if ((p[i++] & 0x80) == 0) break;
      }
      if (v > len - i) return -1;
      if ((key >> 3) == 1) {
        if (v >= size) return -1;
        memcpy(out, p + i, (size_t)v);
        out[v] = '\0';
        found = 1;
      }
      i += (size_t)v;
      break;
    default: return -1;
    }
  }
  return found && i == len ? 0 : -1;
}

int payment_priority_gate(void *arg, const char *method, const uint8_t *req, size_t len) {
  const payment_ctx *ctx = arg;
  if (strcmp(method, "/yiwang.payment.v1.PaymentService/Notify") != 0) return 1;
  char channel[PAY_CHANNEL_NAME_MAX];
  int keep = req != NULL && field1_string(req, len, channel, sizeof channel) == 0 && ctx->channels != NULL &&
             pay_channels_find(ctx->channels, channel) != NULL && pay_notify_priority(channel, (int64_t)time(NULL));
  if (!keep) atomic_fetch_add(&notify_demoted_total, 1);
  return keep;
}

static void alert(const char *what, const char *out_trade_no, const char *detail) {
  /* an operator's attention: money and records disagree (no personal data) */
  atomic_fetch_add(&alerts_total, 1);
  yw_log(YW_LOG_ERROR, "payment.alert", NULL, "%s: %s %s", what, out_trade_no, detail != NULL ? detail : "");
}

void pay_alert(const char *what, const char *ref, const char *detail) { alert(what, ref, detail); }

const char *pay_paid_mismatch(const char *currency, int64_t total_fen, int64_t payer_total_fen) {
  if (currency == NULL || strcmp(currency, "CNY") != 0) return "the currency is not CNY";
  if (payer_total_fen != total_fen) return "the payer paid other than the total";
  return NULL;
}

const char *pay_refund_mismatch(const pay_refund_req *asked, const pay_refund_res *answer) {
  if (strcmp(answer->out_refund_no, asked->out_refund_no) != 0) return "the channel answered another refund";
  if (answer->refund_fen != asked->refund_fen) return "the channel refunded another amount";
  if (strcmp(answer->currency, "CNY") != 0) return "the refund's currency is not CNY";
  return NULL;
}

int pay_refund_refused(int rc) { return rc == YW_EPRECOND || rc == YW_ENOTFOUND; }

int pay_order_exception(PGconn *conn, const char *channel, const char *out_trade_no, const char *reason,
                        const char *actor, yw_pg_error *err) {
  const char *p[2] = {out_trade_no, channel};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(conn, "SELECT order_id FROM payment.channel_orders WHERE out_trade_no = $1 AND channel = $2",
                             2, p, &r, err);
  if (rc != 0 || PQntuples(r) != 1) {
    PQclear(r);
    return rc;
  }
  char order_id[40];
  snprintf(order_id, sizeof order_id, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  rc = pay_order_transition(conn, order_id, "CREATED,PAYING,UNKNOWN,CLOSING,CLOSED", "EXCEPTION", reason, actor, NULL,
                            err);
  if (rc == 0) {
    const char *pe[2] = {order_id, reason};
    rc = yw_pg_query_write(conn, "UPDATE payment.orders SET exception_reason = $2 WHERE id = $1::uuid", 2, pe, &r, err);
    PQclear(r);
  }
  return rc == YW_EPRECOND ? 0 : rc;
}

static int append_paid_event(PGconn *conn, const PGresult *o, const char *channel, const char *out_trade_no,
                             const char *transaction_id, int64_t success_unix, yw_pg_error *err) {
  Yiwang__Events__V1__PaymentOrderPaid ev = YIWANG__EVENTS__V1__PAYMENT_ORDER_PAID__INIT;
  ev.order_id = PQgetvalue(o, 0, 0);
  ev.notice_code = PQgetvalue(o, 0, 7);
  ev.source = PQgetvalue(o, 0, 8);
  ev.application_number = PQgetvalue(o, 0, 9);
  ev.payee_department = PQgetvalue(o, 0, 5);
  ev.item_code = PQgetvalue(o, 0, 6);
  ev.amount_fen = strtoll(PQgetvalue(o, 0, 11), NULL, 10);
  ev.channel = (char *)channel;
  ev.out_trade_no = (char *)out_trade_no;
  ev.transaction_id = (char *)transaction_id;
  ev.payer_subject = PQgetvalue(o, 0, 10);
  ev.paid_at_unix_ms = success_unix * 1000;
  return yw_events_append(conn, SCHEMA, "payment.order_paid", 1, ev.order_id, &ev.base, NULL, err);
}

/* The channel's success time as RFC 3339 in iso, or NULL when the channel gave none. */
static const char *channel_time(int64_t success_unix, char iso[40]) {
  if (success_unix <= 0) return NULL;
  time_t t = (time_t)success_unix;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(iso, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return iso;
}

int pay_book_paid(PGconn *conn, const char *channel, const char *out_trade_no, const char *transaction_id,
                  int64_t total_fen, int64_t success_unix, int closing_paid, const char *actor,
                  pay_book_outcome *outcome, yw_pg_error *err) {
  const char *p1[1] = {out_trade_no};
  PGresult *o = NULL;
  /* columns: 0 order id, 1 channel order amount, 2 its status, 3 its channel, 4 order
   * status, 5 payee, 6 item, 7 notice code, 8 source, 9 application, 10 payer subject,
   * 11 order amount, 12 whether a payment of the order is booked */
  int rc = yw_pg_query_write(conn,
                             "SELECT o.id, c.amount_fen, c.status, c.channel, o.status, o.payee_department, "
                             "o.item_code, o.notice_code, o.source, o.application_number, o.payer_subject, "
                             "o.amount_fen, o.paid_out_trade_no IS NOT NULL "
                             "FROM payment.channel_orders c JOIN payment.orders o ON o.id = c.order_id "
                             "WHERE c.out_trade_no = $1 FOR UPDATE OF o, c",
                             1, p1, &o, err);
  if (rc != 0) return rc;
  if (PQntuples(o) != 1 || strcmp(PQgetvalue(o, 0, 3), channel) != 0) {
    PQclear(o);
    *outcome = PAY_BOOK_NO_ORDER;
    return 0;
  }
  const char *order_id = PQgetvalue(o, 0, 0);
  const char *status = PQgetvalue(o, 0, 4);
  long long expected = strtoll(PQgetvalue(o, 0, 1), NULL, 10);
  char reason[160];
  if (total_fen != expected) {
    snprintf(reason, sizeof reason, "the channel reports %lld fen, the order is %lld fen", (long long)total_fen,
             expected);
    rc = pay_order_transition(conn, order_id, "CREATED,PAYING,UNKNOWN,CLOSING,CLOSED", "EXCEPTION", reason, actor,
                              NULL, err);
    if (rc == 0) {
      const char *pe[2] = {order_id, reason};
      PGresult *r = NULL;
      rc = yw_pg_query_write(conn, "UPDATE payment.orders SET exception_reason = $2 WHERE id = $1::uuid", 2, pe, &r,
                             err);
      PQclear(r);
    }
    if (rc == YW_EPRECOND) rc = 0;
    if (rc == 0) alert("amount mismatch", out_trade_no, reason);
    PQclear(o);
    *outcome = PAY_BOOK_AMOUNT_MISMATCH;
    return rc;
  }
  ledger_entry e = {.ref = out_trade_no, .order_id = order_id, .channel = channel};
  char when[32], recv[LEDGER_ACCOUNT_MAX], payable[LEDGER_ACCOUNT_MAX];
  snprintf(when, sizeof when, "%lld", (long long)success_unix);
  snprintf(recv, sizeof recv, "channel_receivable:%s", channel);
  snprintf(payable, sizeof payable, "treasury_payable:%s:%s", PQgetvalue(o, 0, 5), PQgetvalue(o, 0, 6));
  pay_book_outcome out;
  const char *to = NULL;
  /* CLOSING with its channel order still OPEN: the close has not succeeded at the channel
   * (it is marked CLOSED in the same transaction as the order), so the channel took the
   * money before any close: paid in time. */
  int closing_open = strcmp(status, "CLOSING") == 0 && strcmp(PQgetvalue(o, 0, 2), "OPEN") == 0;
  if (strcmp(status, "PAYING") == 0 || strcmp(status, "UNKNOWN") == 0 ||
      (strcmp(status, "CLOSING") == 0 && (closing_paid || closing_open))) {
    out = PAY_BOOK_PAID;
    to = "PAID";
  } else if (strcmp(status, "CLOSING") == 0 || strcmp(status, "CLOSED") == 0) {
    out = PAY_BOOK_LATE;
    to = "EXCEPTION";
  } else if (strcmp(PQgetvalue(o, 0, 2), "PAID") == 0) {
    PQclear(o);
    *outcome = PAY_BOOK_ALREADY;
    return 0;
  } else if (strcmp(status, "EXCEPTION") == 0 && strcmp(PQgetvalue(o, 0, 12), "f") == 0) {
    /* an exception (a mismatch the channel reported, another merchant named) with no
     * payment booked: this is the order's payment, the money is at the channel. Booked
     * as the order's (journal pay, so finance's reconciliation matches it and finance
     * may refund the order), the order left EXCEPTION for finance to decide */
    out = PAY_BOOK_HELD;
    to = "EXCEPTION";
  } else {
    out = PAY_BOOK_SUSPENSE; /* paid on another channel order already: money without an order */
  }
  if (to != NULL) {
    /* the order and its channel order are locked (above), so status is the order's: one
     * statement moves it (guarded by that status), records the payment on it, writes its
     * order_events row and marks the channel order PAID */
    const char *pu[9] = {order_id, to, status, when, channel, out_trade_no, transaction_id,
                         out == PAY_BOOK_PAID   ? "the channel confirmed the payment"
                         : out == PAY_BOOK_LATE ? "paid after close"
                                                : "paid while an exception: booked, for finance",
                         actor};
    PGresult *r = NULL;
    rc = yw_pg_query_write(conn,
                           "WITH u AS (UPDATE payment.orders SET status = $2, updated_at = now(), "
                           "  paid_at = to_timestamp($4::bigint), paid_channel = $5, paid_out_trade_no = $6, "
                           "  paid_transaction_id = $7, exception_reason = "
                           "  CASE WHEN $3 = 'EXCEPTION' THEN exception_reason || '; then paid (booked)' "
                           "  WHEN $2 = 'EXCEPTION' THEN 'paid after close' ELSE exception_reason END "
                           "  WHERE id = $1::uuid AND status = $3 RETURNING id), "
                           "e AS (INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor) "
                           "  SELECT id, $3, $2, $8, $9 FROM u), "
                           "c AS (UPDATE payment.channel_orders SET status = 'PAID', transaction_id = $7, "
                           "  updated_at = now() WHERE out_trade_no = $6 AND EXISTS (SELECT 1 FROM u)) "
                           "SELECT count(*) FROM u",
                           9, pu, &r, err);
    if (rc == 0 && strcmp(PQgetvalue(r, 0, 0), "1") != 0) rc = YW_EPRECOND; /* cannot happen: locked */
    PQclear(r);
  } else {
    const char *pc[2] = {out_trade_no, transaction_id};
    PGresult *r = NULL;
    rc = yw_pg_query_write(conn,
                           "UPDATE payment.channel_orders SET status = 'PAID', transaction_id = $2, updated_at = now() "
                           "WHERE out_trade_no = $1",
                           2, pc, &r, err);
    PQclear(r);
  }
  if (rc == 0) {
    char iso[40];
    e.effective_at = channel_time(success_unix, iso);
    e.kind = out == PAY_BOOK_SUSPENSE ? "unknown_inflow" : "pay";
    ledger_posting ps[2] = {{recv, total_fen}, {out == PAY_BOOK_SUSPENSE ? "suspense" : payable, -total_fen}};
    rc = ledger_post(conn, &e, ps, 2, err);
    if (rc == YW_EEXIST) {
      rc = 0;
      if (out == PAY_BOOK_SUSPENSE) out = PAY_BOOK_ALREADY;
    }
  }
  if (rc == 0 && out == PAY_BOOK_PAID) rc = append_paid_event(conn, o, channel, out_trade_no, transaction_id, success_unix, err);
  if (rc == 0 && out == PAY_BOOK_LATE) alert("paid after close", out_trade_no, "the order is an exception");
  if (rc == 0 && out == PAY_BOOK_HELD)
    alert("paid while an exception", out_trade_no, "booked; the order stays an exception for finance");
  if (rc == 0 && out == PAY_BOOK_SUSPENSE) alert("paid twice", out_trade_no, "booked to suspense");
  PQclear(o);
  *outcome = out;
  return rc;
}

int pay_book_refund(PGconn *conn, const char *out_refund_no, const char *refund_id, int64_t success_unix,
                    int *booked, yw_pg_error *err) {
  *booked = 0;
  char when[32];
  snprintf(when, sizeof when, "%lld", (long long)success_unix);
  const char *p[3] = {out_refund_no, refund_id != NULL ? refund_id : "", when};
  PGresult *r = NULL;
  /* The order is locked first, in its own statement: the sum of the SUCCESS refunds
   * below is then read by a later statement, whose snapshot includes every refund of
   * this order booked by a transaction that held the lock before (under READ COMMITTED
   * a statement that waited for the lock still sees its older snapshot). */
  int rc = yw_pg_query_write(conn,
                             "SELECT 1 FROM payment.orders WHERE id = "
                             "(SELECT order_id FROM payment.refunds WHERE out_refund_no = $1) FOR UPDATE",
                             1, p, &r, err);
  PQclear(r);
  r = NULL;
  if (rc != 0) return rc;
  rc = yw_pg_query_write(conn,
                             "UPDATE payment.refunds SET status = 'SUCCESS', refund_id = $2, "
                             "succeeded_at = CASE WHEN $3::bigint > 0 THEN to_timestamp($3::bigint) ELSE now() END "
                             "WHERE out_refund_no = $1 AND status = 'PENDING' RETURNING order_id, amount_fen, channel",
                             3, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    const char *pq[1] = {out_refund_no};
    rc = yw_pg_query_read(conn, "SELECT status FROM payment.refunds WHERE out_refund_no = $1", 1, pq, &r, err);
    if (rc != 0) return rc;
    int found = PQntuples(r) == 1;
    PQclear(r);
    return found ? 0 : YW_ENOTFOUND;
  }
  char order_id[40], channel[PAY_CHANNEL_NAME_MAX], amount_s[24];
  snprintf(order_id, sizeof order_id, "%s", PQgetvalue(r, 0, 0));
  snprintf(amount_s, sizeof amount_s, "%s", PQgetvalue(r, 0, 1));
  snprintf(channel, sizeof channel, "%s", PQgetvalue(r, 0, 2));
  PQclear(r);
  int64_t amount = strtoll(amount_s, NULL, 10);
  const char *po[1] = {order_id};
  /* 0 payee, 1 item, 2 amount, 3 refunds that succeeded, 4 notice code, 5 source, 6 application */
  rc = yw_pg_query_write(conn,
                         "SELECT o.payee_department, o.item_code, o.amount_fen, "
                         "(SELECT coalesce(sum(amount_fen), 0) FROM payment.refunds WHERE order_id = o.id "
                         " AND status = 'SUCCESS'), o.notice_code, o.source, o.application_number "
                         "FROM payment.orders o WHERE o.id = $1::uuid FOR UPDATE",
                         1, po, &r, err);
  if (rc != 0) return rc;
  char recv[LEDGER_ACCOUNT_MAX], payable[LEDGER_ACCOUNT_MAX];
  snprintf(recv, sizeof recv, "channel_receivable:%s", channel);
  snprintf(payable, sizeof payable, "treasury_payable:%s:%s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
  int64_t paid = strtoll(PQgetvalue(r, 0, 2), NULL, 10), refunded = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
  char iso[40];
  ledger_entry e = {.kind = "refund", .ref = out_refund_no, .order_id = order_id, .channel = channel,
                    .effective_at = channel_time(success_unix, iso)}; /* the day the money moved */
  ledger_posting ps[2] = {{payable, amount}, {recv, -amount}};
  /* the ledger's refusal (YW_EPRECOND among others) is an error: the caller rolls back */
  rc = ledger_post(conn, &e, ps, 2, err);
  if (rc == 0 && refunded >= paid) {
    rc = pay_order_transition(conn, order_id, "PAID,EXCEPTION", "REFUNDED", "refunded in full", "channel", NULL, err);
    if (rc == YW_EPRECOND) rc = 0; /* REFUNDED already: this refund is booked all the same */
  }
  if (rc == 0) {
    Yiwang__Events__V1__PaymentRefunded ev = YIWANG__EVENTS__V1__PAYMENT_REFUNDED__INIT;
    ev.order_id = order_id;
    ev.notice_code = PQgetvalue(r, 0, 4);
    ev.source = PQgetvalue(r, 0, 5);
    ev.application_number = PQgetvalue(r, 0, 6);
    ev.payee_department = PQgetvalue(r, 0, 0);
    ev.item_code = PQgetvalue(r, 0, 1);
    ev.amount_fen = amount;
    ev.refunded_total_fen = refunded;
    ev.fully_refunded = refunded >= paid;
    ev.out_refund_no = (char *)out_refund_no;
    ev.refund_id = (char *)(refund_id != NULL ? refund_id : "");
    ev.refunded_at_unix_ms = (success_unix > 0 ? success_unix : (int64_t)time(NULL)) * 1000;
    rc = yw_events_append(conn, SCHEMA, "payment.refunded", 1, order_id, &ev.base, NULL, err);
  }
  PQclear(r);
  if (rc == 0) *booked = 1;
  return rc;
}

int pay_refund_failed(PGconn *conn, const char *out_refund_no, yw_pg_error *err) {
  const char *p[1] = {out_refund_no};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(conn,
                             "WITH f AS (UPDATE payment.refunds SET status = 'FAILED' WHERE out_refund_no = $1 "
                             "AND status = 'PENDING' RETURNING order_id, amount_fen) "
                             "UPDATE payment.orders o SET refunded_fen = o.refunded_fen - f.amount_fen "
                             "FROM f WHERE o.id = f.order_id",
                             1, p, &r, err);
  PQclear(r);
  return rc;
}

/* ---- PayOrder ---------------------------------------------------------------------- */

struct pay_work {
  payment_ctx *ctx;
  const Yiwang__Payment__V1__PayOrderRequest *req;
  yw_caller caller;
  const pay_channel *ch;
  char order_id[40], notice[NOTICE_CODE_LEN + 1], item_name[ITEM_NAME_MAX + 1];
  int64_t amount, expires;
  char out_trade_no[PAY_OUT_NO_MAX];   /* the channel order to prepay */
  char close_no[PAY_OUT_NO_MAX];       /* an open channel order of another channel */
  char close_channel[PAY_CHANNEL_NAME_MAX];
  int full_view;
  /* after the channel answered */
  pay_prepay_res prepay;
  int unknown;                         /* the channel did not answer */
};

/* Locks the order, checks it can be paid, and finds or opens the channel order to pay. */
static int pay_prepare_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct pay_work *w = arg;
  const char *key = w->req->id[0] != '\0' ? w->req->id : w->req->notice_code;
  const char *p[1] = {key};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(conn,
                             w->req->id[0] != '\0'
                                 ? "SELECT id, status, amount_fen, item_name, extract(epoch FROM expires_at)::bigint, "
                                   "expires_at > now(), payer_subject, notice_code FROM payment.orders "
                                   "WHERE id = $1::uuid FOR UPDATE"
                                 : "SELECT id, status, amount_fen, item_name, extract(epoch FROM expires_at)::bigint, "
                                   "expires_at > now(), payer_subject, notice_code FROM payment.orders "
                                   "WHERE notice_code = $1 FOR UPDATE",
                             1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) != 1 ||
      (w->req->id[0] != '\0' && (w->caller.kind != YW_CALLER_PERSON || strcmp(PQgetvalue(r, 0, 6), w->caller.subject) != 0))) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  }
  snprintf(w->order_id, sizeof w->order_id, "%s", PQgetvalue(r, 0, 0));
  char status[PAY_STATUS_MAX];
  snprintf(status, sizeof status, "%s", PQgetvalue(r, 0, 1));
  w->amount = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
  snprintf(w->item_name, sizeof w->item_name, "%s", PQgetvalue(r, 0, 3));
  w->expires = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
  int live = yw_col_bool(r, 0, 5);
  snprintf(w->notice, sizeof w->notice, "%s", PQgetvalue(r, 0, 7));
  w->full_view = w->caller.kind == YW_CALLER_PERSON && strcmp(PQgetvalue(r, 0, 6), w->caller.subject) == 0;
  PQclear(r);
  if (strcmp(status, "PAID") == 0 || strcmp(status, "REFUNDED") == 0)
    return yw_rpc_call_fail(call, YW_EPRECOND, "the order is paid");
  if (strcmp(status, "CREATED") != 0 && strcmp(status, "PAYING") != 0 && strcmp(status, "UNKNOWN") != 0)
    return yw_rpc_call_fail(call, YW_EPRECOND, "the order is closed");
  if (!live) return yw_rpc_call_fail(call, YW_EPRECOND, "the order has expired");
  char in_flight[24];
  snprintf(in_flight, sizeof in_flight, "%.3f", 2.0 * w->ctx->channel_timeout_ms / 1000.0 + 1.0);
  const char *po[2] = {w->order_id, in_flight};
  /* the open channel order (if any), the attempts so far, and the switches (channel
   * orders after the first) of the last minute and day (one row whatever there is) */
  rc = yw_pg_query_write(conn,
                         "WITH a AS (SELECT coalesce(max(attempt), 0) AS n, "
                         "  count(*) FILTER (WHERE attempt > 1 AND created_at > now() - interval '1 minute') AS m, "
                         "  count(*) FILTER (WHERE attempt > 1 AND created_at > now() - interval '1 day') AS d "
                         "  FROM payment.channel_orders WHERE order_id = $1::uuid) "
                         "SELECT coalesce(c.out_trade_no, ''), coalesce(c.channel, ''), a.n, a.m, a.d FROM a "
                         "LEFT JOIN payment.channel_orders c ON c.order_id = $1::uuid AND c.status = 'OPEN'",
                         1, po, &r, err);
  if (rc != 0) return rc;
  const char *open_no = PQgetvalue(r, 0, 0), *open_ch = PQgetvalue(r, 0, 1);
  int attempts = (int)strtol(PQgetvalue(r, 0, 2), NULL, 10);
  long switched_minute = strtol(PQgetvalue(r, 0, 3), NULL, 10), switched_day = strtol(PQgetvalue(r, 0, 4), NULL, 10);
  w->close_no[0] = w->out_trade_no[0] = '\0';
  if (open_no[0] != '\0' && strcmp(open_ch, pay_channel_name(w->ch)) == 0) {
    snprintf(w->out_trade_no, sizeof w->out_trade_no, "%s", open_no); /* a retry: the same number */
    PQclear(r);
    /* another prepay of it is in flight from now */
    const char *pf[2] = {w->out_trade_no, in_flight};
    rc = yw_pg_query_write(conn,
                           "UPDATE payment.channel_orders SET prepay_until = now() + make_interval(secs => $2::float8) "
                           "WHERE out_trade_no = $1",
                           2, pf, &r, err);
    PQclear(r);
    return rc;
  }
  if (open_no[0] != '\0' && !w->full_view &&
      (switched_minute >= PAY_SWITCHES_PER_MINUTE || switched_day >= PAY_SWITCHES_PER_DAY)) {
    /* anyone holding the code may switch, but not so often that the payer's open code
     * is closed in a loop or the order's attempts are spent */
    PQclear(r);
    yw_rpc_call_add_trailer(call, "retry-after", switched_minute >= PAY_SWITCHES_PER_MINUTE ? "60" : "86400");
    return yw_rpc_call_fail(call, YW_ELIMIT, "the order changed channel too recently; try again later");
  }
  if (open_no[0] != '\0') { /* switching channel: the open one is closed first */
    snprintf(w->close_no, sizeof w->close_no, "%s", open_no);
    snprintf(w->close_channel, sizeof w->close_channel, "%s", open_ch);
    PQclear(r);
    return 0;
  }
  PQclear(r);
  if (attempts >= 99) return yw_rpc_call_fail(call, YW_EPRECOND, "the order has been offered to channels too often");
  char attempt[16], amount[24];
  snprintf(w->out_trade_no, sizeof w->out_trade_no, "%s%02d", w->notice, attempts + 1);
  snprintf(attempt, sizeof attempt, "%d", attempts + 1);
  snprintf(amount, sizeof amount, "%lld", (long long)w->amount);
  const char *actor = w->caller.subject[0] != '\0' ? w->caller.subject : "anonymous";
  /* the order is locked (above) and status is its status: the channel order, and a
   * CREATED order's move to PAYING with its order_events row, in one statement */
  const char *pi[9] = {w->out_trade_no, w->order_id, attempt, pay_channel_name(w->ch), pay_channel_mchid(w->ch),
                       amount, status, actor, in_flight};
  rc = yw_pg_query_write(conn,
                         "WITH c AS (INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, channel, "
                         "  mchid, amount_fen, prepay_until) VALUES ($1, $2::uuid, $3::int, $4, $5, $6::bigint, "
                         "  now() + make_interval(secs => $9::float8))), "
                         "u AS (UPDATE payment.orders SET status = 'PAYING', updated_at = now() "
                         "  WHERE id = $2::uuid AND $7::text = 'CREATED' AND status = 'CREATED' RETURNING id), "
                         "e AS (INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor) "
                         "  SELECT id, 'CREATED', 'PAYING', 'offered to a channel', $8 FROM u) "
                         "SELECT count(*) FROM u",
                         9, pi, &r, err);
  if (rc == 0 && strcmp(status, "CREATED") == 0 && strcmp(PQgetvalue(r, 0, 0), "1") != 0)
    rc = YW_EPRECOND; /* cannot happen: the order is locked */
  PQclear(r);
  return rc;
}

struct close_work {
  const char *out_trade_no;
  int not_found; /* the channel answered the close "not found": closed only with no prepay in flight */
  int in_flight; /* out: it was not closed, a prepay of it may still reach the channel */
};

static int mark_closed_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  (void)call;
  struct close_work *c = arg;
  const char *p[2] = {c->out_trade_no, c->not_found ? "1" : "0"};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(conn,
                             "WITH u AS (UPDATE payment.channel_orders SET status = 'CLOSED', updated_at = now() "
                             "  WHERE out_trade_no = $1 AND status = 'OPEN' AND ($2 = '0' OR prepay_until IS NULL "
                             "  OR prepay_until < now()) RETURNING 1) "
                             "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM payment.channel_orders "
                             "  WHERE out_trade_no = $1 AND status = 'OPEN')",
                             2, p, &r, err);
  if (rc == 0) c->in_flight = strcmp(PQgetvalue(r, 0, 0), "0") == 0 && strcmp(PQgetvalue(r, 0, 1), "0") != 0;
  PQclear(r);
  return rc;
}

struct paid_work {
  const char *channel, *out_trade_no, *actor;
  const pay_query_res *q;
  int closing_paid;
  pay_book_outcome outcome;
};

static int book_paid_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  (void)call;
  struct paid_work *p = arg;
  return pay_book_paid(conn, p->channel, p->out_trade_no, p->q->transaction_id, p->q->total_fen, p->q->success_unix,
                       p->closing_paid, p->actor, &p->outcome, err);
}

/* The channel did not answer the prepay: PAYING -> UNKNOWN, for the janitor to ask. */
static int pay_unknown_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  (void)call;
  struct pay_work *w = arg;
  int rc = pay_order_transition(conn, w->order_id, "PAYING", "UNKNOWN", "the channel did not answer the prepay",
                                "channel", NULL, err);
  return rc == YW_EPRECOND ? 0 : rc;
}

/* The channel answered the prepay: its answer stored, and an order UNKNOWN (an earlier
 * prepay went unanswered) back to PAYING with its order_events row, in one statement
 * (atomic without a transaction block: one round trip) that also answers the order's
 * row for the reply (ORDER_COLS; the row as updated when it was, else as it stands: the
 * statement changes no other column of it, nor the channel order's channel or number).
 * The guard status = 'UNKNOWN' is evaluated on the row locked by the update, so the
 * recorded from_status is exact. *res (one row) is the caller's to PQclear. */
static int pay_answered(yw_rpc_call *call, payment_ctx *ctx, struct pay_work *w, PGresult **res) {
  const char *p[3] = {w->out_trade_no, w->prepay.prepay_id, w->prepay.code_url};
  int rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                            "WITH c AS (UPDATE payment.channel_orders SET prepay_id = $2, code_url = $3, "
                            "  updated_at = now() WHERE out_trade_no = $1 RETURNING order_id), "
                            "u AS (UPDATE payment.orders o SET status = 'PAYING', updated_at = now() FROM c "
                            "  WHERE o.id = c.order_id AND o.status = 'UNKNOWN' RETURNING o.*), "
                            "e AS (INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor) "
                            "  SELECT id, 'UNKNOWN', 'PAYING', 'the channel answered the prepay', 'channel' FROM u), "
                            "r AS (SELECT * FROM u UNION ALL SELECT o.* FROM payment.orders o JOIN c ON o.id = c.order_id "
                            "  WHERE NOT EXISTS (SELECT 1 FROM u)) "
                            "SELECT " ORDER_FIELDS ORDER_FROM("r"),
                            3, p, res);
  if (rc == 0 && PQntuples(*res) != 1) {
    PQclear(*res);
    *res = NULL;
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  }
  return rc;
}

struct mchid_work {
  const char *channel, *out_trade_no, *actor, *reason;
};

/* The order of the channel's out_trade_no to EXCEPTION (a mismatch the channel reported). */
static int exception_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  (void)call;
  struct mchid_work *m = arg;
  return pay_order_exception(conn, m->channel, m->out_trade_no, m->reason, m->actor, err);
}

/* The order of ch's out_trade_no to EXCEPTION with reason, in a transaction of its own. */
static int order_exception(yw_rpc_call *call, payment_ctx *ctx, const pay_channel *ch, const char *out_trade_no,
                           const char *actor, const char *reason) {
  struct mchid_work m = {.channel = pay_channel_name(ch), .out_trade_no = out_trade_no, .actor = actor,
                         .reason = reason};
  return yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, exception_tx, &m);
}

/* The channel says out_trade_no is paid (ORDER_PAID): query it, book it, and answer that
 * the order is paid. */
static int book_what_channel_says(yw_rpc_call *call, payment_ctx *ctx, const pay_channel *ch, const char *out_trade_no) {
  pay_query_res q;
  memset(&q, 0, sizeof q);
  char code[PAY_CODE_MAX] = "";
  int rc = pay_channel_query(ch, out_trade_no, ctx->channel_timeout_ms, &q, code);
  if (rc != 0 || (q.state != PAY_TRADE_SUCCESS && q.state != PAY_TRADE_REFUND))
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the channel says the order is paid; try again");
  const char *why = pay_paid_mismatch(q.currency, q.total_fen, q.payer_total_fen);
  if (why != NULL) { /* not booked as a payment: finance looks at it */
    alert("payment mismatch", out_trade_no, why);
    rc = order_exception(call, ctx, ch, out_trade_no, "channel", why);
    if (rc != 0) return rc;
    return yw_rpc_call_fail(call, YW_EPRECOND, "the channel's payment differs from the order (%s)", why);
  }
  struct paid_work pw = {.channel = pay_channel_name(ch), .out_trade_no = out_trade_no, .actor = "channel", .q = &q};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, book_paid_tx, &pw);
  if (rc != 0) return rc;
  return yw_rpc_call_fail(call, YW_EPRECOND, "the order is paid (on channel %s)", pay_channel_name(ch));
}

static int pay_order(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  payment_ctx *ctx = data;
  struct pay_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  w->ctx = ctx;
  w->req = (const void *)reqm;
  int rc = yw_service_caller(call, &ctx->caller_keys, &w->caller);
  if (rc != 0) return rc;
  rc = yw_service_require_org_scope(call, &w->caller, "pay", "paying for the company");
  if (rc != 0) return rc;
  if ((w->req->id[0] == '\0') == (w->req->notice_code[0] == '\0'))
    return yw_rpc_call_fail(call, YW_EINVAL, "give the order's id or its notice code");
  if (w->req->id[0] != '\0' && !pay_uuid_ok(w->req->id)) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  if (w->req->notice_code[0] != '\0' && !notice_code_valid(w->req->notice_code))
    return yw_rpc_call_fail(call, YW_EINVAL, "noticeCode is not a notice code (20 digits with a check digit)");
  w->ch = ctx->channels != NULL ? pay_channels_find(ctx->channels, w->req->channel) : NULL;
  if (w->ch == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "channel is not one of the configured channels");
  for (int round = 0;; round++) {
    rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, pay_prepare_tx, w);
    if (rc != 0) return rc;
    if (w->close_no[0] == '\0') break;
    if (round > 0) return yw_rpc_call_fail(call, YW_ECONFLICT, "the order is being paid elsewhere; try again");
    const pay_channel *prev = pay_channels_find(ctx->channels, w->close_channel);
    if (prev == NULL) return yw_rpc_call_fail(call, YW_EPRECOND, "the order is open on a channel no longer configured");
    char code[PAY_CODE_MAX] = "";
    rc = pay_channel_close(prev, w->close_no, ctx->channel_timeout_ms, code);
    if (rc == YW_ECONFLICT) return book_what_channel_says(call, ctx, prev, w->close_no); /* paid there */
    if (rc != 0 && rc != YW_ENOTFOUND)
      return yw_rpc_call_fail(call, YW_EUNAVAIL, "the previous channel does not answer; try again");
    struct close_work cw = {.out_trade_no = w->close_no, .not_found = rc == YW_ENOTFOUND};
    rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, mark_closed_tx, &cw);
    if (rc != 0) return rc;
    if (cw.in_flight) /* the channel may not have it yet: two live codes otherwise */
      return yw_rpc_call_fail(call, YW_ECONFLICT, "the order is being offered on a channel; try again shortly");
  }
  char notify_url[PAY_URL_MAX];
  snprintf(notify_url, sizeof notify_url, "%s/%s", ctx->notify_base != NULL ? ctx->notify_base : "",
           pay_channel_name(w->ch));
  char desc[PAY_DESC_MAX];
  size_t dl = strlen(w->item_name);
  if (dl >= sizeof desc) { /* cut at a character boundary */
    dl = sizeof desc - 1;
    while (dl > 0 && ((unsigned char)w->item_name[dl] & 0xC0) == 0x80) dl--;
  }
  memcpy(desc, w->item_name, dl);
  desc[dl] = '\0';
  pay_prepay_req pr = {.out_trade_no = w->out_trade_no, .description = desc, .total_fen = w->amount,
                       .notify_url = notify_url, .expire_unix = w->expires};
  char code[PAY_CODE_MAX] = "";
  rc = pay_channel_prepay(w->ch, &pr, ctx->channel_timeout_ms, &w->prepay, code);
  if (rc == YW_EPRECOND) { /* the channel closed that order: the next pay opens another */
    struct close_work cw = {.out_trade_no = w->out_trade_no};
    int rc2 = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, mark_closed_tx, &cw);
    if (rc2 != 0) return rc2;
    return yw_rpc_call_fail(call, YW_EPRECOND, "the channel closed this payment (%s); pay again", code);
  }
  if (rc == YW_ECONFLICT) return book_what_channel_says(call, ctx, w->ch, w->out_trade_no);
  if (rc != 0 && rc != YW_EUNAVAIL) {
    yw_log(YW_LOG_ERROR, "payment.prepay_refused", yw_rpc_call_request_id(call), "%s: %s %s", pay_channel_name(w->ch),
           yw_strerror(rc), code);
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the channel refused the payment (%s)", code);
  }
  w->unknown = rc == YW_EUNAVAIL;
  PGresult *res = NULL;
  rc = w->unknown ? yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, pay_unknown_tx, w)
                  : pay_answered(call, ctx, w, &res);
  if (rc != 0) return rc;
  if (w->unknown) return yw_rpc_call_fail(call, YW_EUNAVAIL, "the channel does not answer; the payment is being checked");
  Yiwang__Payment__V1__PayOrderResponse *resp = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) {
    PQclear(res);
    return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  }
  yiwang__payment__v1__pay_order_response__init(resp);
  yw_arena *a = yw_rpc_call_arena(call);
  resp->channel = yw_arena_strndup(a, pay_channel_name(w->ch), strlen(pay_channel_name(w->ch)));
  resp->out_trade_no = yw_arena_strndup(a, w->out_trade_no, strlen(w->out_trade_no));
  resp->prepay_id = yw_arena_strndup(a, w->prepay.prepay_id, strlen(w->prepay.prepay_id));
  resp->code_url = yw_arena_strndup(a, w->prepay.code_url, strlen(w->prepay.code_url));
  resp->order = order_from_row(ctx, a, res, 0, w->full_view ? VIEW_FULL : VIEW_PUBLIC);
  PQclear(res);
  if (resp->order == NULL || resp->channel == NULL || resp->out_trade_no == NULL || resp->prepay_id == NULL ||
      resp->code_url == NULL)
    return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &resp->base;
  return 0;
}

/* ---- Notify ------------------------------------------------------------------------ */

struct notify_work {
  const pay_channel *ch;
  pay_notice n;
  int duplicate;
  int refuse;        /* the amount differs: refused after the exception is committed */
  const char *refuse_why; /* a refund notification that is not our refund's: refused */
  pay_book_outcome outcome;
};

static int notify_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct notify_work *w = arg;
  const char *channel = pay_channel_name(w->ch);
  PGresult *r = NULL;
  int rc;
  if (w->n.kind == PAY_NOTICE_REFUND) { /* our refund's payment, amount and channel, in CNY */
    const char *pf[1] = {w->n.out_refund_no};
    rc = yw_pg_query_read(conn, "SELECT out_trade_no, channel, amount_fen FROM payment.refunds WHERE out_refund_no = $1",
                          1, pf, &r, err);
    if (rc != 0) return rc;
    if (PQntuples(r) == 1) {
      if (strcmp(PQgetvalue(r, 0, 1), channel) != 0) w->refuse_why = "the refund is another channel's";
      else if (strcmp(PQgetvalue(r, 0, 0), w->n.out_trade_no) != 0) w->refuse_why = "the refund is of another payment";
      else if (strtoll(PQgetvalue(r, 0, 2), NULL, 10) != w->n.refund_fen) w->refuse_why = "another amount was refunded";
      else if (strcmp(w->n.currency, "CNY") != 0) w->refuse_why = "the refund's currency is not CNY";
    }
    PQclear(r);
    if (w->refuse_why != NULL) {
      alert("refund mismatch", w->n.out_refund_no, w->refuse_why);
      return 0; /* nothing written: refused every time */
    }
  }
  const char *p[5] = {channel, w->n.id, w->n.kind == PAY_NOTICE_REFUND ? "REFUND.SUCCESS" : "TRANSACTION.SUCCESS",
                      w->n.out_trade_no, w->n.out_refund_no};
  rc = yw_pg_query_write(conn,
                             "INSERT INTO payment.notifications (channel, notification_id, event_type, out_trade_no, "
                             "out_refund_no, outcome) VALUES ($1, $2, $3, $4, $5, 'RECEIVED') "
                             "ON CONFLICT (channel, notification_id) DO NOTHING RETURNING 1",
                             5, p, &r, err);
  if (rc != 0) return rc;
  w->duplicate = PQntuples(r) == 0;
  PQclear(r);
  if (w->duplicate) return 0; /* processed (and committed) before: acknowledged again */
  char actor[48];
  snprintf(actor, sizeof actor, "channel:%s", channel);
  const char *outcome = "NOOP";
  if (w->n.kind == PAY_NOTICE_REFUND) {
    int booked = 0;
    rc = pay_book_refund(conn, w->n.out_refund_no, w->n.refund_id, w->n.success_unix, &booked, err);
    if (rc == YW_ENOTFOUND) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such refund (yet)");
    if (rc != 0) return rc;
    outcome = booked ? "REFUND_BOOKED" : "NOOP";
  } else {
    rc = pay_book_paid(conn, channel, w->n.out_trade_no, w->n.transaction_id, w->n.total_fen, w->n.success_unix, 0,
                       actor, &w->outcome, err);
    if (rc != 0) return rc;
    switch (w->outcome) {
    case PAY_BOOK_NO_ORDER:
      /* the order's commit may not have happened yet: the channel tries again */
      return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order (yet)");
    case PAY_BOOK_AMOUNT_MISMATCH: {
      /* the exception stays; the notification is not taken: refused every time */
      const char *pd[2] = {channel, w->n.id};
      rc = yw_pg_query_write(conn, "DELETE FROM payment.notifications WHERE channel = $1 AND notification_id = $2",
                             2, pd, &r, err);
      PQclear(r);
      w->refuse = 1;
      return rc;
    }
    case PAY_BOOK_PAID: outcome = "PAID"; break;
    case PAY_BOOK_LATE:
    case PAY_BOOK_HELD: outcome = "EXCEPTION"; break;
    case PAY_BOOK_SUSPENSE: outcome = "SUSPENSE"; break;
    case PAY_BOOK_ALREADY: outcome = "NOOP"; break;
    }
  }
  /* the transaction's last statement: committed with it (yw_service_tx's COMMIT then
   * sends nothing) */
  const char *pu[3] = {channel, w->n.id, outcome};
  rc = yw_pg_query_commit(conn, "UPDATE payment.notifications SET outcome = $3 WHERE channel = $1 AND notification_id = $2",
                          3, pu, &r, err);
  PQclear(r);
  return rc;
}

static int notify(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  payment_ctx *ctx = data;
  const Yiwang__Payment__V1__NotifyRequest *req = (const void *)reqm;
  struct notify_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  w->ch = ctx->channels != NULL ? pay_channels_find(ctx->channels, req->channel) : NULL;
  if (w->ch == NULL) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such channel");
  /* verified first, before any work (no database) */
  int rc = pay_channel_verify_notify(w->ch, req->timestamp, req->nonce, req->serial, req->signature, req->body.data,
                                     req->body.len, (int64_t)time(NULL), &w->n);
  if (rc != 0) pay_notify_refused(pay_channel_name(w->ch), (int64_t)time(NULL)); /* counts against its priority */
  if (rc == YW_EPERM) return yw_rpc_call_fail(call, YW_EUNAUTH, "the notification's signature or time does not verify");
  if (rc != 0) return yw_rpc_call_fail(call, YW_EINVAL, "the notification is malformed");
  char actor[48];
  snprintf(actor, sizeof actor, "channel:%s", pay_channel_name(w->ch));
  if (strcmp(w->n.mchid, pay_channel_mchid(w->ch)) != 0) {
    alert("wrong merchant", w->n.out_trade_no, "a notification for another merchant");
    if (w->n.kind == PAY_NOTICE_TRANSACTION) {
      rc = order_exception(call, ctx, w->ch, w->n.out_trade_no, actor, "a notification named another merchant");
      if (rc != 0) return rc;
    }
    return yw_rpc_call_fail(call, YW_EPERM, "the notification is for another merchant");
  }
  if (w->n.kind == PAY_NOTICE_TRANSACTION) {
    /* a payment booked only when whole: SUCCESS, in CNY, the payer paid the total */
    if (strcmp(w->n.trade_state, "SUCCESS") != 0) {
      alert("not a success", w->n.out_trade_no, "a TRANSACTION.SUCCESS whose trade_state is not SUCCESS");
      return yw_rpc_call_fail(call, YW_EPRECOND, "the notification's trade_state is not SUCCESS");
    }
    const char *why = pay_paid_mismatch(w->n.currency, w->n.total_fen, w->n.payer_total_fen);
    if (why != NULL) {
      alert("payment mismatch", w->n.out_trade_no, why);
      rc = order_exception(call, ctx, w->ch, w->n.out_trade_no, actor, why);
      if (rc != 0) return rc;
      return yw_rpc_call_fail(call, YW_EPRECOND, "the notification's payment differs from the order (%s)", why);
    }
  }
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, notify_tx, w);
  if (rc != 0) return rc;
  if (w->refuse) return yw_rpc_call_fail(call, YW_EPRECOND, "the notified amount differs from the order's");
  if (w->refuse_why != NULL)
    return yw_rpc_call_fail(call, YW_EPRECOND, "the notified refund differs from ours (%s)", w->refuse_why);
  Yiwang__Payment__V1__NotifyResponse *resp = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  yiwang__payment__v1__notify_response__init(resp);
  resp->code = "SUCCESS"; /* only after the commit */
  *out = &resp->base;
  return 0;
}

/* ---- RefundOrder ------------------------------------------------------------------- */

struct refund_work {
  payment_ctx *ctx;
  const Yiwang__Payment__V1__RefundOrderRequest *req;
  yw_caller caller;
};

static int refund_tx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                     void *arg) {
  (void)reqm;
  struct refund_work *w = arg;
  const Yiwang__Payment__V1__RefundOrderRequest *q = w->req;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  const char *p[1] = {q->id};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(conn,
                             "SELECT status, amount_fen, payee_department, paid_out_trade_no, paid_channel, "
                             "(SELECT count(*) FROM payment.refunds WHERE order_id = o.id) "
                             "FROM payment.orders o WHERE id = $1::uuid FOR UPDATE",
                             1, p, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  int finance = yw_service_has_any_role(&w->caller, "finance");
  if (PQntuples(r) != 1 || (!finance && strcmp(PQgetvalue(r, 0, 2), w->caller.department) != 0)) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  }
  /* EXCEPTION: paid after its close; finance gives the money back (the same guard) */
  if (strcmp(PQgetvalue(r, 0, 0), "PAID") != 0 && strcmp(PQgetvalue(r, 0, 0), "EXCEPTION") != 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_EPRECOND, "only a paid order is refunded");
  }
  if (!finance && strcmp(PQgetvalue(r, 0, 0), "EXCEPTION") == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_EPERM, "only finance refunds an order in exception");
  }
  char out_trade_no[PAY_OUT_NO_MAX], channel[PAY_CHANNEL_NAME_MAX], out_refund_no[PAY_OUT_NO_MAX + 24];
  snprintf(out_trade_no, sizeof out_trade_no, "%s", PQgetvalue(r, 0, 3));
  snprintf(channel, sizeof channel, "%s", PQgetvalue(r, 0, 4));
  long n_refunds = strtol(PQgetvalue(r, 0, 5), NULL, 10);
  PQclear(r);
  const pay_channel *ch = w->ctx->channels != NULL ? pay_channels_find(w->ctx->channels, channel) : NULL;
  if (ch == NULL) return yw_rpc_call_fail(call, YW_EPRECOND, "the order's channel is not configured");
  if (n_refunds >= 99) return yw_rpc_call_fail(call, YW_EPRECOND, "the order has too many refunds");
  /* the guard: the refundable amount is what the caller saw, compared and changed at once */
  char amount[24], expected[24];
  snprintf(amount, sizeof amount, "%lld", (long long)q->amount);
  snprintf(expected, sizeof expected, "%lld", (long long)q->expected_refundable);
  const char *pc[4] = {q->id, amount, expected, finance ? "t" : "f"};
  rc = yw_pg_query_write(conn,
                         "UPDATE payment.orders SET refunded_fen = refunded_fen + $2::bigint, updated_at = now() "
                         "WHERE id = $1::uuid AND (status = 'PAID' OR (status = 'EXCEPTION' AND $4::boolean)) "
                         "AND amount_fen - refunded_fen = $3::bigint "
                         "AND $2::bigint <= $3::bigint RETURNING amount_fen - refunded_fen",
                         4, pc, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  if (PQntuples(r) != 1) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_EPRECOND, "the refundable amount is not %lld fen (or the refund is larger)",
                            (long long)q->expected_refundable);
  }
  int64_t after = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  /* the refund's number comes from the caller and its Idempotency-Key: a retry of the
   * same refund (after a failure past the channel's answer) asks the channel with the
   * same number, which the channel answers with the first refund; another refund never
   * gets it (a collision of the 36 bits is refused by the UNIQUE column, not booked) */
  const char *key = yw_rpc_call_metadata(call, YW_IDEM_METADATA);
  char scope[400], digest[65];
  snprintf(scope, sizeof scope, "%s|%s|%s", w->caller.subject, q->id, key != NULL ? key : "");
  yw_sha256_hex(scope, strlen(scope), digest);
  snprintf(out_refund_no, sizeof out_refund_no, "%sR%.9s", out_trade_no, digest);
  const char *pi[7] = {q->id, out_refund_no, out_trade_no, channel, amount, q->reason, w->caller.subject};
  rc = yw_pg_query_write(conn,
                         "INSERT INTO payment.refunds (order_id, out_refund_no, out_trade_no, channel, amount_fen, reason, "
                         "requested_by) VALUES ($1::uuid, $2, $3, $4, $5::bigint, $6, $7) RETURNING id",
                         7, pi, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  char refund_uuid[40];
  snprintf(refund_uuid, sizeof refund_uuid, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  char detail[200];
  snprintf(detail, sizeof detail, "amount_fen=%s out_refund_no=%s refundable_after=%lld", amount, out_refund_no,
           (long long)after);
  const char *pa[6] = {w->caller.subject, w->caller.department, q->id, detail,
                       yw_rpc_call_request_id(call) != NULL ? yw_rpc_call_request_id(call) : "", w->caller.ip};
  rc = yw_pg_query_write(conn,
                         "INSERT INTO payment.audit_log (actor, department, action, target, detail, request_id, source_ip) "
                         "VALUES ($1, $2, 'refund', $3, $4, $5, $6)",
                         6, pa, &r, &err);
  PQclear(r);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  /* committed with the claim before the channel is asked (refund_order): a death after
   * the channel's answer leaves a PENDING refund the janitor asks again with its number */
  const char *status = "PENDING";
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__Refund *o = yw_arena_alloc(a, sizeof *o);
  if (o == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  yiwang__payment__v1__refund__init(o);
  o->id = yw_arena_strndup(a, refund_uuid, strlen(refund_uuid));
  o->order_id = yw_arena_strndup(a, q->id, strlen(q->id));
  o->out_refund_no = yw_arena_strndup(a, out_refund_no, strlen(out_refund_no));
  o->amount = q->amount;
  o->status = (char *)status;
  o->refundable_after = after;
  rc = order_select(conn, 0, q->id, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  o->order = order_from_row(w->ctx, a, r, 0, VIEW_FULL);
  PQclear(r);
  if (o->id == NULL || o->order_id == NULL || o->out_refund_no == NULL || o->order == NULL)
    return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &o->base;
  return 0;
}

/* The refund as it stands after the channel's answer (the second transaction). */
struct refund_after {
  const char *out_refund_no;
  int answered;  /* 1 the channel refunded, -1 it refused, 0 no answer */
  pay_refund_res rs;
  char status[16];
  int64_t amount, total;
  char out_trade_no[PAY_OUT_NO_MAX], channel[PAY_CHANNEL_NAME_MAX];
};

static int refund_book_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  (void)call;
  struct refund_after *w = arg;
  int rc = 0;
  if (w->answered > 0) {
    int booked = 0;
    rc = pay_book_refund(conn, w->out_refund_no, w->rs.refund_id, w->rs.success_unix, &booked, err);
  } else if (w->answered < 0) {
    rc = pay_refund_failed(conn, w->out_refund_no, err);
  }
  if (rc != 0) return rc;
  const char *p[1] = {w->out_refund_no};
  PGresult *r = NULL;
  rc = yw_pg_query_read(conn, "SELECT status, amount_fen FROM payment.refunds WHERE out_refund_no = $1", 1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 1) {
    snprintf(w->status, sizeof w->status, "%s", PQgetvalue(r, 0, 0));
    w->amount = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  }
  PQclear(r);
  return 0;
}

/* The refund's row, its order's channel order and amount (to ask the channel again). */
static int refund_row_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  (void)call;
  struct refund_after *w = arg;
  const char *p[1] = {w->out_refund_no};
  PGresult *r = NULL;
  int rc = yw_pg_query_read(conn,
                            "SELECT f.status, f.amount_fen, f.out_trade_no, f.channel, o.amount_fen "
                            "FROM payment.refunds f JOIN payment.orders o ON o.id = f.order_id WHERE f.out_refund_no = $1",
                            1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 1) {
    snprintf(w->status, sizeof w->status, "%s", PQgetvalue(r, 0, 0));
    w->amount = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    snprintf(w->out_trade_no, sizeof w->out_trade_no, "%s", PQgetvalue(r, 0, 2));
    snprintf(w->channel, sizeof w->channel, "%s", PQgetvalue(r, 0, 3));
    w->total = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
  }
  PQclear(r);
  return 0;
}

/* 1. one transaction (with the Idempotency-Key's claim): the reservation, the PENDING
 *    refund and its audit record, committed; 2. the channel, outside any transaction;
 *    3. a second transaction books its answer (or releases the reservation when the
 *    channel refused: the audit record stays). A retry with the same key finds the
 *    stored PENDING answer and asks the channel again with the same number. */
static int refund_order(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  payment_ctx *ctx = data;
  struct refund_work w = {.ctx = ctx, .req = (const void *)reqm};
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "finance,dept_admin", "refunding a payment", &w.caller);
  if (rc != 0) return rc;
  if (!pay_uuid_ok(w.req->id)) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  if (w.req->amount <= 0 || w.req->amount > AMOUNT_MAX_FEN)
    return yw_rpc_call_fail(call, YW_EINVAL, "amount must be 1 to %lld fen", AMOUNT_MAX_FEN);
  if (w.req->expected_refundable <= 0 || w.req->expected_refundable > AMOUNT_MAX_FEN)
    return yw_rpc_call_fail(call, YW_EINVAL, "expectedRefundable must be the refundable amount the caller saw");
  if (!text_ok(w.req->reason, 200)) return yw_rpc_call_fail(call, YW_EINVAL, "reason must be 1 to 200 bytes of text");
  rc = yw_idem_run(call, reqm, out, ctx->pool, &ctx->idem_refund, refund_tx, &w);
  if (rc != 0 || *out == NULL) return rc;
  Yiwang__Payment__V1__Refund *o = (Yiwang__Payment__V1__Refund *)*out;
  struct refund_after aw;
  memset(&aw, 0, sizeof aw);
  aw.out_refund_no = o->out_refund_no;
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, refund_row_tx, &aw);
  if (rc != 0) return rc;
  if (strcmp(aw.status, "PENDING") == 0) {
    const pay_channel *ch = ctx->channels != NULL ? pay_channels_find(ctx->channels, aw.channel) : NULL;
    char code[PAY_CODE_MAX] = "";
    if (ch != NULL) {
      pay_refund_req rq = {.out_trade_no = aw.out_trade_no, .out_refund_no = o->out_refund_no,
                           .refund_fen = aw.amount, .total_fen = aw.total};
      rc = pay_channel_refund(ch, &rq, ctx->channel_timeout_ms, &aw.rs, code);
      /* only the channel's definite refusal is FAILED; an outcome not known (no answer,
       * an answer too large or malformed, a 5xx, an unknown code) stays PENDING: the
       * channel may have refunded, and the janitor asks again with the same number */
      aw.answered = rc == 0 ? 1 : pay_refund_refused(rc) ? -1 : 0;
      const char *why = rc == 0 ? pay_refund_mismatch(&rq, &aw.rs) : NULL;
      if (why != NULL) { /* not booked: left PENDING, alerted; the janitor asks again */
        alert("refund mismatch", o->out_refund_no, why);
        aw.answered = 0;
      }
    }
    rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, refund_book_tx, &aw);
    if (rc != 0) return rc;
    if (aw.answered < 0)
      return yw_rpc_call_fail(call, YW_EPRECOND, "the channel refused the refund (%s)", code[0] ? code : "refused");
  }
  if (strcmp(aw.status, "FAILED") == 0) return yw_rpc_call_fail(call, YW_EPRECOND, "the channel refused the refund");
  yw_arena *a = yw_rpc_call_arena(call);
  o->status = yw_arena_strndup(a, aw.status, strlen(aw.status));
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, DB " is busy");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *res = NULL;
  rc = order_select(conn, 0, o->order_id, &res, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  o->order = order_from_row(ctx, a, res, 0, VIEW_FULL);
  PQclear(res);
  if (o->status == NULL || o->order == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  return 0;
}

/* ---- GetOrderQr -------------------------------------------------------------------- */

#define QR_MODULE_PX 4
#define QR_QUIET 4

/* The QR code of text as an SVG document in a (one path of unit squares). NULL on failure. */
static char *qr_svg(yw_arena *a, const char *text) {
  QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (qr == NULL) return NULL;
  int w = qr->width, side = (w + 2 * QR_QUIET) * QR_MODULE_PX;
  size_t cap = 512 + (size_t)w * (size_t)w * 24;
  char *svg = yw_arena_alloc(a, cap);
  size_t n = 0;
  if (svg != NULL) {
    n += (size_t)snprintf(svg + n, cap - n,
                          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                          "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
                          "<path fill=\"#000\" d=\"",
                          side, side, w + 2 * QR_QUIET, w + 2 * QR_QUIET, w + 2 * QR_QUIET, w + 2 * QR_QUIET);
    for (int y = 0; y < w && n < cap; y++)
      for (int x = 0; x < w && n < cap; x++)
        if (qr->data[y * w + x] & 1) n += (size_t)snprintf(svg + n, cap - n, "M%d %dh1v1h-1z", x + QR_QUIET, y + QR_QUIET);
    if (n < cap) n += (size_t)snprintf(svg + n, cap - n, "\"/></svg>");
    if (n >= cap) svg = NULL;
  }
  QRcode_free(qr);
  return svg;
}

static int get_order_qr(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  payment_ctx *ctx = data;
  const Yiwang__Payment__V1__GetOrderQrRequest *r = (const void *)reqm;
  yw_caller c;
  int rc = yw_service_caller(call, &ctx->caller_keys, &c);
  if (rc != 0) return rc;
  if (!pay_uuid_ok(r->id)) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  const char *p[1] = {r->id};
  PGresult *res = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT notice_code, payee_department, payer_subject FROM payment.orders WHERE id = $1::uuid", 1,
                        p, &res);
  if (rc != 0) return rc;
  if (PQntuples(res) != 1 || !may_read(&c, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2))) {
    PQclear(res);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  }
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__OrderQr *q = yw_arena_alloc(a, sizeof *q);
  if (q == NULL) {
    PQclear(res);
    return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  }
  yiwang__payment__v1__order_qr__init(q);
  q->notice_code = yw_col_str(a, res, 0, 0);
  PQclear(res);
  char content[64];
  snprintf(content, sizeof content, "YWPAY:%s", q->notice_code != NULL ? q->notice_code : "");
  q->content = yw_arena_strndup(a, content, strlen(content));
  q->svg = q->content != NULL ? qr_svg(a, content) : NULL;
  if (q->notice_code == NULL || q->svg == NULL) return yw_rpc_call_fail(call, YW_EINTERNAL, "the QR code cannot be made");
  *out = &q->base;
  return 0;
}

static const yw_rpc_method methods[] = {
    {.name = "CreateOrder", .fn = create_order}, {.name = "GetOrder", .fn = get_order},
    {.name = "GetNotice", .fn = get_notice},     {.name = "PayOrder", .fn = pay_order},
    {.name = "GetOrderQr", .fn = get_order_qr},  {.name = "Notify", .fn = notify},
    {.name = "RefundOrder", .fn = refund_order},
};

void payment_service_init(yw_rpc_service *svc, payment_ctx *ctx) {
  svc->descriptor = &yiwang__payment__v1__payment_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
  memset(&ctx->idem_create, 0, sizeof ctx->idem_create);
  ctx->idem_create.schema = SCHEMA;
  ctx->idem_create.keys = &ctx->caller_keys;
  ctx->idem_create.response = &yiwang__payment__v1__order__descriptor;
  ctx->idem_create.require_key = 1;
  ctx->idem_create.redis = ctx->redis;
  ctx->idem_create.redis_prefix = ctx->redis_prefix;
  ctx->idem_create.db_wait_ms = ctx->db_wait_ms;
  ctx->idem_create.seal_key = ctx->data_key; /* the answer carries the payer's name */
  ctx->idem_refund = ctx->idem_create;
  ctx->idem_refund.response = &yiwang__payment__v1__refund__descriptor;
}
