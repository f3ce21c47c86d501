/*
 * app_fee.c - orders for applications' fees (app_fee.h).
 *
 * A resident asks CreateOrder with applicationNumber alone. The call is deferred and
 * yw-applications is asked (GetApplicationFee, yw_rpc_call_forward: the resident as the
 * caller, via=payment, the call's deadline and request id; over mutual TLS with the
 * client certificate payment-client), so yw-applications decides whose application it
 * is and what is due: the applicant only, the fee of the pinned item version, due while
 * APPROVED and unpaid. Its answer is never taken for more than it says: the order's
 * amount, payee department (the lead department, 执收单位) and item come from it, never
 * from the request.
 *
 * When a new order is to be written (the fee due, no open order, no answer kept under
 * the key: the first run under the key finds that and rolls back as transient),
 * yw-identity is asked (GetVerifiedIdentity, forwarded the same way: the resident's own
 * verified identity) for the name the order and its fiscal e-receipt give as the payer,
 * and the run is made again: the company's name as the register has it when the
 * resident acts for a company, else the resident's verified real name. A resident with
 * no verified name (level 1), or a yw-payment given no YW_PAYMENT_IDENTITY, names the
 * payer by account id; yw-identity not answering refuses the order (UNAVAILABLE), since
 * an order once issued keeps its payer.
 *
 * Then, in the completion and under the call's Idempotency-Key (yw_idem_run, as every
 * CreateOrder): the application's open order (CREATED, PAYING, UNKNOWN, CLOSING) when
 * there is one; else, when the fee is due, a new order (source APPLICATION, a notice
 * code, the payer named as above, CREATED journalled in order_events); else,
 * when it is paid, the order that paid it. The unique index of migration 021 keeps one
 * open order per application whoever writes: two requests at once insert one, and the
 * other answers it. Nothing is due and nothing paid: FAILED_PRECONDITION.
 *
 * Offers: app_fee_create_order.
 */
#include "app_fee.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notice_code.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/identity/v1/identity.pb-c.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_err.h"
#include "yw_service.h"

#define EXPIRY_DEFAULT_DAYS 2
#define EXPIRY_MAX_DAYS 30
#define AMOUNT_MAX_FEN 10000000000LL

typedef Yiwang__Applications__V1__ApplicationFee Fee;
typedef Yiwang__Payment__V1__Order Order;

struct app_fee_work {
  payment_ctx *ctx;
  const Yiwang__Payment__V1__CreateOrderRequest *req;
  yw_caller caller;
  const Fee *fee;    /* yw-applications' answer, in the call's arena */
  const char *payer; /* the payer's name: yw-identity's answer, or the account id */
  int payer_known;   /* payer is final (yw-identity answered, or is not asked) */
  int need_payer;    /* a run found a new order to write before payer was known */
};

static int number_ok(const char *s) { return strlen(s) == 20 && strspn(s, "0123456789") == 20; }

/* The open order of the application, or with paid its paid order, into id ("" when
 * none), locking it. Returns 0 or a query's code. */
static int find_order(PGconn *conn, const char *number, const char *paid_order, char id[40], yw_pg_error *err) {
  const char *p[] = {number, paid_order};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(conn,
                             "SELECT id FROM payment.orders WHERE source = 'APPLICATION' AND application_number = $1"
                             " AND (status IN ('CREATED', 'PAYING', 'UNKNOWN', 'CLOSING')"
                             "      OR ($2 <> '' AND id::text = $2))"
                             " ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
                             2, p, &r, err);
  if (rc != 0) return rc;
  snprintf(id, 40, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
  return 0;
}

static int app_create_tx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                         void *arg) {
  (void)reqm;
  struct app_fee_work *w = arg;
  const Fee *f = w->fee;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  char id[40] = "";
  int rc = find_order(conn, f->number, f->paid ? f->order_id : "", id, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  if (id[0] == '\0' && !f->due)
    return yw_rpc_call_fail(call, YW_EPRECOND, "application %s has no fee due%s", f->number,
                            f->amount_fen == 0 ? ": its item has no fee" : " now (it is paid once approved)");
  if (id[0] == '\0' && !w->payer_known) { /* rolled back whole (transient); asked, then again */
    w->need_payer = 1;
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the payer's name is asked of yw-identity first");
  }
  if (id[0] == '\0') {
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    int days = w->req->expires_in_days == 0 ? EXPIRY_DEFAULT_DAYS : w->req->expires_in_days;
    char amount[24], days_s[8];
    snprintf(amount, sizeof amount, "%lld", (long long)f->amount_fen);
    snprintf(days_s, sizeof days_s, "%d", days);
    const char *payer = w->payer;
    size_t enc_size = 2 * (12 + strlen(payer) + 16) + 1;
    char *enc = yw_arena_alloc(yw_rpc_call_arena(call), enc_size);
    if (enc == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
    /* a notice code already taken (one in 10^16) is drawn again; an open order that a
     * request at the same time inserted first is answered instead */
    for (int attempt = 0; attempt < 5 && id[0] == '\0'; attempt++) {
      char code[NOTICE_CODE_LEN + 1];
      if (notice_code_new(1900 + tm.tm_year, 1, code, sizeof code) != 0 ||
          yw_encrypt(w->ctx->data_key, payer, strlen(payer), code, enc, enc_size) != 0)
        return yw_rpc_call_fail(call, YW_EINTERNAL, "the order cannot be issued");
      const char *p[] = {code, f->number, amount, f->payee_department, f->item_code, f->item_name, enc,
                         w->caller.subject, days_s};
      PGresult *r = NULL;
      rc = yw_pg_query_write(conn,
                             "INSERT INTO payment.orders (notice_code, source, application_number, amount_fen,"
                             " payee_department, item_code, item_name, payer_name_enc, payer_subject, created_by,"
                             " expires_at) VALUES ($1, 'APPLICATION', $2, $3::bigint, $4, $5, $6, $7, $8, $8,"
                             " now() + make_interval(days => $9::int)) ON CONFLICT DO NOTHING RETURNING id",
                             9, p, &r, &err);
      if (rc != 0) return yw_service_db_fail(call, rc, &err);
      int inserted = PQntuples(r) == 1;
      if (inserted) snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
      PQclear(r);
      if (inserted) {
        const char *pe[] = {id, w->caller.subject};
        rc = yw_pg_query_write(conn,
                               "INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor)"
                               " VALUES ($1::uuid, '', 'CREATED', 'application fee', $2)",
                               2, pe, &r, &err);
        PQclear(r);
        if (rc != 0) return yw_service_db_fail(call, rc, &err);
      } else if ((rc = find_order(conn, f->number, "", id, &err)) != 0) {
        return yw_service_db_fail(call, rc, &err);
      }
    }
    if (id[0] == '\0') return yw_rpc_call_fail(call, YW_EUNAVAIL, "no free notice code; try again");
  }
  Order *o = NULL;
  rc = pay_order_read(w->ctx, yw_rpc_call_arena(call), conn, id, &o, &err);
  if (rc == YW_ENOMEM) return yw_rpc_call_fail(call, rc, "out of memory");
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  *out = &o->base;
  return 0;
}

static void identity_answered(yw_rpc_call *call, int code, ProtobufCMessage *response, const char *message,
                              void *arg);

/* The order under the call's key, and the call answered; a run that needs the payer's
 * name asks yw-identity, whose answer runs it again. */
static void issue(yw_rpc_call *call, struct app_fee_work *w, int rc) {
  ProtobufCMessage *out = NULL;
  if (rc == 0) rc = yw_idem_run(call, &w->req->base, &out, w->ctx->pool, &w->ctx->idem_create, app_create_tx, w);
  if (rc == YW_EUNAVAIL && w->need_payer) {
    w->need_payer = 0;
    Yiwang__Identity__V1__GetVerifiedIdentityRequest *q = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *q);
    if (q == NULL) {
      rc = yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
    } else {
      yiwang__identity__v1__get_verified_identity_request__init(q);
      rc = yw_rpc_call_forward(call, w->ctx->identity, "/yiwang.identity.v1.IdentityService/GetVerifiedIdentity",
                               &q->base, &yiwang__identity__v1__verified_identity__descriptor, identity_answered, w);
      if (rc == 0) return; /* identity_answered runs it again */
      rc = yw_rpc_call_fail(call, rc == YW_ETIMEOUT ? rc : YW_EUNAVAIL, "yw-identity could not be called: %s",
                            yw_strerror(rc));
    }
  }
  yw_rpc_call_finish(call, rc, rc == 0 ? out : NULL);
}

/* yw-identity answered: the payer's name is the company's (acting for one) or the
 * resident's verified name; none verified, the account id. */
static void identity_answered(yw_rpc_call *call, int code, ProtobufCMessage *response, const char *message,
                              void *arg) {
  struct app_fee_work *w = arg;
  int rc = 0;
  if (code != 0) {
    rc = yw_rpc_call_fail(call, code == YW_ETIMEOUT ? YW_ETIMEOUT : YW_EUNAVAIL,
                          "the payer's verified identity cannot be read: %s",
                          message != NULL && message[0] != '\0' ? message : yw_strerror(code));
  } else {
    const Yiwang__Identity__V1__VerifiedIdentity *v = (const void *)response;
    const char *name = w->caller.org[0] != '\0' ? v->company_name : v->name;
    if (strcmp(v->subject, w->caller.subject) != 0 || strlen(name) > PAY_PAYER_NAME_MAX)
      rc = yw_rpc_call_fail(call, YW_EUNAVAIL, "yw-identity answered for another account or out of bounds");
    else if (name[0] != '\0')
      w->payer = name;
  }
  w->payer_known = 1;
  issue(call, w, rc);
}

/* yw-applications answered: check what it says, then the order under the key. */
static void fee_answered(yw_rpc_call *call, int code, ProtobufCMessage *response, const char *message, void *arg) {
  struct app_fee_work *w = arg;
  int rc = 0;
  if (code == YW_ENOTFOUND || code == YW_EINVAL) {
    rc = yw_rpc_call_fail(call, code, "%s", message != NULL ? message : "no such application");
  } else if (code != 0) {
    rc = yw_rpc_call_fail(call, code == YW_ETIMEOUT ? YW_ETIMEOUT : YW_EUNAVAIL, "yw-applications: %s",
                          message != NULL && message[0] != '\0' ? message : yw_strerror(code));
  } else {
    w->fee = (const void *)response;
    const Fee *f = w->fee;
    /* its answer within bounds and about what was asked, for whom it was asked: a
     * person's own application, or (acting for a company) one of the company's, which
     * yw-applications answers only to a person acting for it with the scope pay,
     * whichever of its people filed it */
    if (strcmp(f->number, w->req->application_number) != 0 ||
        (w->caller.org[0] == '\0' && strcmp(f->applicant_subject, w->caller.subject) != 0) ||
        f->amount_fen < 0 ||
        f->amount_fen > AMOUNT_MAX_FEN || f->payee_department[0] == '\0' || strlen(f->payee_department) > 64 ||
        f->item_code[0] == '\0' || strlen(f->item_code) > 64 || f->item_name[0] == '\0' ||
        strlen(f->item_name) > 200 || (f->due && f->amount_fen == 0))
      rc = yw_rpc_call_fail(call, YW_EUNAVAIL, "yw-applications answered a fee out of bounds");
  }
  issue(call, w, rc);
}

int app_fee_create_order(yw_rpc_call *call, payment_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage **out) {
  (void)out;
  const Yiwang__Payment__V1__CreateOrderRequest *r = (const void *)reqm;
  struct app_fee_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  w->ctx = ctx;
  w->req = r;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &w->caller);
  if (rc != 0) return rc;
  rc = yw_service_require_org_scope(call, &w->caller, "pay", "paying for the company");
  if (rc != 0) return rc;
  w->payer = w->caller.subject;
  w->payer_known = ctx->identity == NULL;
  if (!number_ok(r->application_number))
    return yw_rpc_call_fail(call, YW_EINVAL, "applicationNumber must be 20 digits");
  if (r->item_code[0] != '\0' || r->item_name[0] != '\0' || r->amount_fen != 0 || r->payer_name[0] != '\0' ||
      r->payer_subject[0] != '\0')
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "an application's fee order takes applicationNumber (and expiresInDays) only: "
                            "the amount, payee and item are the application's");
  if (r->expires_in_days < 0 || r->expires_in_days > EXPIRY_MAX_DAYS)
    return yw_rpc_call_fail(call, YW_EINVAL, "expiresInDays must be 0 (2 days) to 30");
  if (ctx->applications == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "applications' fees are not served here (no YW_PAYMENT_APPLICATIONS)");
  Yiwang__Applications__V1__GetApplicationFeeRequest *q = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *q);
  if (q == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  yiwang__applications__v1__get_application_fee_request__init(q);
  q->number = r->application_number;
  if ((rc = yw_rpc_call_defer(call)) != 0) return rc;
  rc = yw_rpc_call_forward(call, ctx->applications, "/yiwang.applications.v1.ApplicationsService/GetApplicationFee",
                           &q->base, &yiwang__applications__v1__application_fee__descriptor, fee_answered, w);
  if (rc != 0) { /* fee_answered will not run: answer now */
    int code = rc == YW_ETIMEOUT ? rc : YW_EUNAVAIL;
    yw_rpc_call_fail(call, code, "yw-applications could not be called: %s", yw_strerror(rc));
    yw_rpc_call_finish(call, code, NULL);
  }
  return YW_RPC_DEFERRED;
}
