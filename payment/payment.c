/*
 * payment.c - PaymentService: payment orders, paying them on a channel, the channels'
 * notifications and refunds (payment/README.md).
 *
 * Orders. Department staff issue a standalone notice (a fine or a fee) payable to their
 * own department; the order gets a notice code (notice_code.h) and is CREATED. The
 * payer's name is kept encrypted (AES-256-GCM, the notice code as associated data) and
 * answered in clear only to the payer, the payee department and finance.
 *
 * Status. Every change goes through pay_order_transition: the row is locked, the change
 * is a compare-and-set (UPDATE ... WHERE status = ANY(allowed) RETURNING) and its
 * order_events row is written in the same transaction; a trigger refuses a change the
 * allow-list of migrations/001_orders.sql does not hold, whoever writes it.
 *
 * Offers: payment_service_init, pay_order_transition.
 */
#include "payment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notice_code.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

#define SCHEMA "payment"
#define DB "the payment database"
#define AMOUNT_MAX_FEN 10000000000LL /* 100 million yuan */
#define PAYER_NAME_MAX 100
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
  const char *p1[1] = {order_id};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn, "SELECT status FROM payment.orders WHERE id = $1::uuid FOR UPDATE", 1, p1, &res,
                             err);
  if (rc != 0) return rc;
  if (PQntuples(res) != 1) {
    PQclear(res);
    return YW_ENOTFOUND;
  }
  char cur[PAY_STATUS_MAX];
  snprintf(cur, sizeof cur, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  if (old != NULL) snprintf(old, PAY_STATUS_MAX, "%s", cur);
  /* the row is locked: cur is its status until this transaction ends */
  const char *p[6] = {order_id, from_set, to, reason != NULL ? reason : "", actor != NULL ? actor : "", cur};
  rc = yw_pg_query_write(conn,
                         "WITH u AS (UPDATE payment.orders SET status = $3, updated_at = now() "
                         "  WHERE id = $1::uuid AND status = ANY(string_to_array($2, ',')) RETURNING id) "
                         "INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor) "
                         "SELECT id, $6, $3, $4, $5 FROM u RETURNING id",
                         6, p, &res, err);
  if (rc != 0) return rc;
  int n = PQntuples(res);
  PQclear(res);
  return n == 1 ? 0 : YW_EPRECOND;
}

/* ---- orders as answers --------------------------------------------------------------- */

#define ORDER_COLS                                                                                     \
  "o.id, o.notice_code, o.status, o.source, o.application_number, o.amount_fen, o.refunded_fen, "     \
  "o.payee_department, o.item_code, o.item_name, o.payer_name_enc, o.payer_subject, "                  \
  "extract(epoch FROM o.expires_at)::bigint, extract(epoch FROM o.created_at)::bigint, "              \
  "coalesce(extract(epoch FROM o.paid_at)::bigint, 0), o.exception_reason, coalesce(c.channel, ''), " \
  "coalesce(c.out_trade_no, '') "                                                                      \
  "FROM payment.orders o LEFT JOIN LATERAL (SELECT channel, out_trade_no FROM payment.channel_orders " \
  "WHERE order_id = o.id ORDER BY attempt DESC LIMIT 1) c ON true "

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
  /* a code already taken (one in 10^16) is drawn again */
  for (int attempt = 0; attempt < 5 && order_id[0] == '\0'; attempt++) {
    char code[NOTICE_CODE_LEN + 1];
    if (notice_code_new(1900 + tm.tm_year, 1, code, sizeof code) != 0 ||
        yw_encrypt(w->ctx->data_key, r->payer_name, strlen(r->payer_name), code, enc, enc_size) != 0)
      return yw_rpc_call_fail(call, YW_EINTERNAL, "the notice cannot be issued");
    const char *p[9] = {code, amount, w->caller.department, r->item_code, r->item_name, enc,
                        r->payer_subject, w->caller.subject, days_s};
    PGresult *res = NULL;
    int rc = yw_pg_query_write(conn,
                               "INSERT INTO payment.orders (notice_code, source, amount_fen, payee_department, "
                               "item_code, item_name, payer_name_enc, payer_subject, created_by, expires_at) "
                               "VALUES ($1, 'NOTICE', $2::bigint, $3, $4, $5, $6, $7, $8, "
                               "now() + make_interval(days => $9::int)) "
                               "ON CONFLICT (notice_code) DO NOTHING RETURNING id",
                               9, p, &res, &err);
    if (rc != 0) return yw_service_db_fail(call, rc, &err);
    if (PQntuples(res) == 1) snprintf(order_id, sizeof order_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
  }
  if (order_id[0] == '\0') return yw_rpc_call_fail(call, YW_EUNAVAIL, "no free notice code; try again");
  const char *pe[2] = {order_id, w->caller.subject};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn,
                             "INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor) "
                             "VALUES ($1::uuid, '', 'CREATED', 'notice issued', $2)",
                             2, pe, &res, &err);
  PQclear(res);
  if (rc == 0) rc = order_select(conn, 0, order_id, &res, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  Order *o = order_from_row(w->ctx, yw_rpc_call_arena(call), res, 0, VIEW_FULL);
  PQclear(res);
  if (o == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &o->base;
  return 0;
}

static int create_order(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  payment_ctx *ctx = data;
  const Yiwang__Payment__V1__CreateOrderRequest *r = (const void *)reqm;
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
  Order *o = order_from_row(ctx, yw_rpc_call_arena(call), res, 0, VIEW_FULL);
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

/* ---- not yet ------------------------------------------------------------------------ */

static int not_yet(yw_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **out, void *data) {
  (void)req;
  (void)out;
  (void)data;
  return yw_rpc_call_fail(call, YW_EUNIMPL, "not yet served");
}

static const yw_rpc_method methods[] = {
    {.name = "CreateOrder", .fn = create_order}, {.name = "GetOrder", .fn = get_order},
    {.name = "GetNotice", .fn = get_notice},     {.name = "PayOrder", .fn = not_yet},
    {.name = "GetOrderQr", .fn = not_yet},       {.name = "Notify", .fn = not_yet},
    {.name = "RefundOrder", .fn = not_yet},
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
