/*
 * receipts.c - fiscal e-receipts (财政电子票据) of yw-payment (receipts.h).
 *
 * Issuing. A periodic pass (receipts_issue, on a thread of receipts_start) looks for
 * work in the tables themselves, so a crash between a payment and its receipt loses
 * nothing: the next pass finds the paid order without a receipt. Each receipt is one
 * transaction: the order (or the refund) locked FOR UPDATE SKIP LOCKED, so passes of
 * several copies share the work; the next number of the issuer (the payee department)
 * and year (receipt_sequences, a locked upsert as application numbers are); the
 * canonical JSON content (yw_seal_canonical_json: keys sorted, no spaces) signed with
 * the deployment's seal (SM2/SM3, user id 1234567812345678); the row, its content
 * encrypted (it names the payer) with the receipt's number as associated data. The
 * unique indexes of migration 020 (one BLUE per order, one RED per refund) make a second
 * receipt impossible whoever writes; a pass that meets one rolls back and gives its
 * number back.
 *
 * Content: {"amountFen", "issuedAt", "issuer", "itemCode", "itemName", "kind" (BLUE or
 * RED), "number", "orderId", "originalNumber" ("" for BLUE), "paidAt" (the payment, or
 * the refund for RED), "payer"}; amountFen is the paid or refunded amount in fen. A
 * payment reconciliation reversed (journal pay_reversal: the channel never took it) gets
 * a RED receipt for its BLUE one's amount, dated at the reversal, naming no refund (at
 * most one per order, migration 022).
 *
 * Reading. GetOrderReceipt: the payer, staff of the payee department, finance and
 * auditors read an order's receipts whole (content, signature, verify code) to keep and
 * check offline with openssl; anyone else NOT_FOUND. VerifyReceipt: anyone with the
 * number and the 16-hex verify code printed on it (HMAC-SHA256 under a key derived from
 * YW_PAYMENT_DATA_KEY of "receipt:<number>"; a wrong code and an unknown number answer
 * alike) learns whether the stored content verifies under the seal and what it says,
 * the payer masked.
 *
 * Offers: receipts_service_init, receipts_issue, receipts_start, receipts_stop,
 * receipts_seal_load.
 */
#include "receipts.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yiwang/payment/v1/receipts.pb-c.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_pass.h"
#include "yw_service.h"

#define DB "the payment database"
#define TS(col) "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"
#define NAME_MAX_BYTES 512
#define CONTENT_MAX (16 * 1024)
#define RECEIPT_TX_MS 10000 /* one receipt's transaction, every wait of it */

typedef Yiwang__Payment__V1__Receipt Receipt;

/* ---- issuing ----------------------------------------------------------------------- */

/* What one receipt says, before it has a number. */
struct draft {
  const char *kind, *order_id, *refund_id, *original, *issuer, *item_code, *item_name, *paid_at;
  long long amount;
  char payer[NAME_MAX_BYTES];
};

/* Numbers, signs, encrypts and inserts d on conn (in the caller's transaction). Returns
 * 0 with *done 1, 0 with *done 0 when the order or refund has its receipt already (the
 * caller rolls back), or a code (err for a query's). */
static int issue_draft(receipts_ctx *rc, PGconn *conn, const struct draft *d, int *done, yw_pg_error *err) {
  const char *pi[] = {d->issuer};
  PGresult *r = NULL;
  int rc_ = yw_pg_query(conn,
                        "INSERT INTO payment.receipt_sequences AS s (issuer, year, last)"
                        " VALUES ($1, to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY'), 1)"
                        " ON CONFLICT (issuer, year) DO UPDATE SET last = s.last + 1"
                        " RETURNING s.year, s.issuer || '-' || s.year || '-' || lpad(s.last::text, 10, '0'), " TS("now()"),
                        1, pi, &r, err);
  if (rc_ != 0) return rc_;
  char year[8], number[128], issued[40];
  snprintf(year, sizeof year, "%s", PQgetvalue(r, 0, 0));
  snprintf(number, sizeof number, "%s", PQgetvalue(r, 0, 1));
  snprintf(issued, sizeof issued, "%s", PQgetvalue(r, 0, 2));
  PQclear(r);
  json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "amountFen", (json_int_t)d->amount,
                        "issuedAt", issued, "issuer", d->issuer, "itemCode", d->item_code, "itemName", d->item_name,
                        "kind", d->kind, "number", number, "orderId", d->order_id, "originalNumber",
                        d->original != NULL ? d->original : "", "paidAt", d->paid_at, "payer", d->payer);
  char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  char *canon = NULL;
  int code = text == NULL ? YW_ENOMEM : yw_seal_canonical_json(text, strlen(text), &canon);
  free(text);
  if (code != 0) return code;
  size_t len = strlen(canon);
  char sig[YW_SEAL_SIG_MAX];
  size_t enc_size = 2 * (12 + len + 16) + 1;
  char *enc = len <= CONTENT_MAX ? malloc(enc_size) : NULL;
  code = enc == NULL ? YW_ENOMEM : yw_seal_sign(rc->seal, canon, len, sig, sizeof sig);
  if (code == 0) code = yw_encrypt(rc->pay->data_key, canon, len, number, enc, enc_size);
  free(canon);
  if (code != 0) {
    free(enc);
    return code;
  }
  char amount[24];
  snprintf(amount, sizeof amount, "%lld", d->amount);
  const char *p[] = {number, d->kind, d->order_id, d->refund_id, d->original, d->issuer, year, amount, enc, sig};
  rc_ = yw_pg_query(conn,
                    "INSERT INTO payment.receipts (number, kind, order_id, refund_id, original_number, issuer, year,"
                    " amount_fen, content_enc, signature, issued_at) VALUES ($1, $2, $3::uuid, $4::uuid, $5, $6, $7,"
                    " $8::bigint, $9, $10, now()) ON CONFLICT DO NOTHING RETURNING number",
                    10, p, &r, err);
  free(enc);
  if (rc_ != 0) return rc_;
  *done = PQntuples(r) == 1;
  PQclear(r);
  return 0;
}

/* The payer's name of an order (its encrypted column, the notice code as associated data)
 * into d->payer. Returns 0 or YW_EINTERNAL (it does not decrypt). */
static int payer_of(receipts_ctx *rc, const char *enc, const char *notice_code, struct draft *d) {
  return yw_decrypt(rc->pay->data_key, enc, notice_code, d->payer, sizeof d->payer) == 0 ? 0 : YW_EINTERNAL;
}

/* The draft of a receipt of the order in row 0 of r (columns: id, notice code, payee
 * department, item code, item name, payer's name encrypted, amount, time): 0, or
 * YW_EINTERNAL when the payer's name does not decrypt. */
static int order_draft(receipts_ctx *rc, const PGresult *r, struct draft *d) {
  d->order_id = PQgetvalue(r, 0, 0);
  d->issuer = PQgetvalue(r, 0, 2);
  d->item_code = PQgetvalue(r, 0, 3);
  d->item_name = PQgetvalue(r, 0, 4);
  d->amount = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
  d->paid_at = PQgetvalue(r, 0, 7);
  return payer_of(rc, PQgetvalue(r, 0, 5), PQgetvalue(r, 0, 1), d);
}

/* One receipt, BLUE before RED, on conn in the caller's transaction. *done 1 when one was
 * issued, 0 when there is nothing to do (or it existed already: roll back). */
static int issue_one(receipts_ctx *rc, PGconn *conn, int *done, yw_pg_error *err) {
  *done = 0;
  PGresult *r = NULL;
  int code = yw_pg_query(conn,
                         "SELECT o.id, o.notice_code, o.payee_department, o.item_code, o.item_name, o.payer_name_enc,"
                         " o.amount_fen, " TS("o.paid_at") " FROM payment.orders o"
                         " WHERE o.status IN ('PAID', 'REFUNDED') AND o.paid_at IS NOT NULL AND NOT EXISTS"
                         " (SELECT 1 FROM payment.receipts b WHERE b.order_id = o.id AND b.kind = 'BLUE')"
                         " ORDER BY o.paid_at, o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED",
                         0, NULL, &r, err);
  if (code != 0) return code;
  struct draft d;
  memset(&d, 0, sizeof d);
  if (PQntuples(r) == 1) {
    d.kind = "BLUE";
    code = order_draft(rc, r, &d);
    if (code == 0) code = issue_draft(rc, conn, &d, done, err);
    PQclear(r);
    return code;
  }
  PQclear(r);
  code = yw_pg_query(conn,
                     "SELECT f.id, f.amount_fen, " TS("COALESCE(f.succeeded_at, f.created_at)") ", o.id, o.notice_code,"
                     " o.payee_department, o.item_code, o.item_name, o.payer_name_enc, b.number"
                     " FROM payment.refunds f JOIN payment.orders o ON o.id = f.order_id"
                     " JOIN payment.receipts b ON b.order_id = o.id AND b.kind = 'BLUE'"
                     " WHERE f.status = 'SUCCESS' AND NOT EXISTS"
                     " (SELECT 1 FROM payment.receipts x WHERE x.refund_id = f.id)"
                     " ORDER BY f.succeeded_at, f.id LIMIT 1 FOR UPDATE OF f SKIP LOCKED",
                     0, NULL, &r, err);
  if (code != 0) return code;
  if (PQntuples(r) == 1) {
    d.kind = "RED";
    d.refund_id = PQgetvalue(r, 0, 0);
    d.amount = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    d.paid_at = PQgetvalue(r, 0, 2);
    d.order_id = PQgetvalue(r, 0, 3);
    d.issuer = PQgetvalue(r, 0, 5);
    d.item_code = PQgetvalue(r, 0, 6);
    d.item_name = PQgetvalue(r, 0, 7);
    d.original = PQgetvalue(r, 0, 9);
    code = payer_of(rc, PQgetvalue(r, 0, 8), PQgetvalue(r, 0, 4), &d);
    if (code == 0) code = issue_draft(rc, conn, &d, done, err);
    PQclear(r);
    return code;
  }
  PQclear(r);
  /* a payment reconciliation reversed (the channel never took it) whose BLUE receipt is
   * out: its RED counterpart for the BLUE amount, dated at the reversal */
  code = yw_pg_query(conn,
                     "SELECT o.id, o.notice_code, o.payee_department, o.item_code, o.item_name, o.payer_name_enc,"
                     " b.amount_fen, " TS("j.booked_at") ", b.number"
                     " FROM payment.journal j JOIN payment.orders o ON o.id = j.order_id"
                     " JOIN payment.receipts b ON b.order_id = o.id AND b.kind = 'BLUE'"
                     " WHERE j.kind = 'pay_reversal' AND NOT EXISTS (SELECT 1 FROM payment.receipts x"
                     " WHERE x.order_id = o.id AND x.kind = 'RED' AND x.refund_id IS NULL)"
                     " ORDER BY j.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED",
                     0, NULL, &r, err);
  if (code != 0) return code;
  if (PQntuples(r) == 1) {
    d.kind = "RED";
    d.original = PQgetvalue(r, 0, 8);
    code = order_draft(rc, r, &d);
    if (code == 0) code = issue_draft(rc, conn, &d, done, err);
  }
  PQclear(r);
  return code;
}

int receipts_issue(receipts_ctx *rc, int max, int *issued, yw_pg_error *err) {
  *issued = 0;
  if (rc->seal == NULL) return YW_EUNAVAIL;
  for (int i = 0; i < max; i++) {
    PGconn *conn = yw_pg_pool_acquire(rc->pay->pool, 1000);
    if (conn == NULL) return YW_EUNAVAIL;
    int done = 0;
    /* the receipt's transaction within its bound, each wait for an answer and the
     * ROLLBACK included */
    yw_pg_set_deadline(conn, RECEIPT_TX_MS);
    int code = yw_pg_begin(conn, err);
    if (code == 0) code = issue_one(rc, conn, &done, err);
    if (code == 0 && done) code = yw_pg_commit(conn, err);
    if (code != 0 || !done) yw_pg_rollback(conn);
    yw_pg_pool_release(rc->pay->pool, conn);
    if (code != 0) return code;
    if (!done) return 0; /* nothing left */
    (*issued)++;
  }
  return 0;
}

/* ---- the pass's thread ------------------------------------------------------------- */

struct receipts_job {
  receipts_ctx *rc;
  int batch;
  yw_pass *thread;
};

/* One pass; 1 when it found a full batch (more waiting: at once). */
static int job_pass(void *arg) {
  receipts_job *j = arg;
  int issued = 0;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  receipts_issue(j->rc, j->batch, &issued, &err); /* a failure: the next pass retries */
  return issued == j->batch;
}

int receipts_start(receipts_ctx *rc, int interval_ms, int batch, receipts_job **out) {
  receipts_job *j = calloc(1, sizeof *j);
  if (j == NULL) return YW_ENOMEM;
  j->rc = rc;
  j->batch = batch > 0 ? batch : 100;
  int e = yw_pass_start(interval_ms, job_pass, j, &j->thread);
  if (e != 0) {
    free(j);
    return e;
  }
  *out = j;
  return 0;
}

void receipts_stop(receipts_job *j) {
  if (j == NULL) return;
  yw_pass_stop(j->thread);
  free(j);
}

int receipts_seal_load(const char *path, yw_seal **out, char *why, size_t whylen) {
  *out = NULL;
  if (path == NULL || path[0] == '\0') return 0;
  FILE *f = fopen(path, "rb");
  char pem[8192];
  size_t n = f != NULL ? fread(pem, 1, sizeof pem - 1, f) : 0;
  if (f != NULL) fclose(f);
  pem[n] = '\0';
  if (n == 0 || n >= sizeof pem - 1 || yw_seal_from_pem(pem, n, out) != 0) {
    snprintf(why, whylen, "%s is not a PEM SM2 private key", path);
    return -1;
  }
  char sig[YW_SEAL_SIG_MAX];
  if (yw_seal_sign(*out, "x", 1, sig, sizeof sig) != 0) { /* a public key cannot seal */
    yw_seal_free(*out);
    *out = NULL;
    snprintf(why, whylen, "%s holds no private key", path);
    return -1;
  }
  return 0;
}

/* ---- reading ------------------------------------------------------------------------ */

/* The verify code of number: 16 hex of HMAC-SHA256 under a key of its own derived from
 * the data key. */
static void verify_code_of(const receipts_ctx *rc, const char *number, char out[17]) {
  char sub[65], msg[160];
  yw_hmac_hex(rc->pay->data_key, "yw-payment receipt verify codes", 31, sub);
  uint8_t key[YW_KEY_BYTES];
  yw_hex_decode(sub, 64, key);
  int n = snprintf(msg, sizeof msg, "receipt:%s", number);
  char mac[65];
  yw_hmac_hex(key, msg, (size_t)(n > 0 ? n : 0), mac);
  memcpy(out, mac, 16);
  out[16] = '\0';
}

/* The receipt whose decrypted content is text, in a's memory; full: with the content,
 * signature and verify code, the payer in clear; else the payer masked. NULL on a content
 * that does not parse or ENOMEM. */
static Receipt *receipt_from(yw_arena *a, const receipts_ctx *rc, const char *text, const char *signature, int full) {
  json_t *j = json_loads(text, 0, NULL);
  if (j == NULL) return NULL;
  Receipt *o = yw_arena_alloc(a, sizeof *o);
  if (o != NULL) {
    yiwang__payment__v1__receipt__init(o);
#define STR(field, key) o->field = yw_arena_strndup(a, json_string_value(json_object_get(j, key)) ? json_string_value(json_object_get(j, key)) : "", (size_t)-1)
    STR(number, "number");
    STR(order_id, "orderId");
    STR(original_number, "originalNumber");
    STR(issuer, "issuer");
    STR(item_code, "itemCode");
    STR(item_name, "itemName");
    STR(paid_at, "paidAt");
    STR(issued_at, "issuedAt");
#undef STR
    const char *kind = json_string_value(json_object_get(j, "kind"));
    o->kind = kind != NULL && strcmp(kind, "RED") == 0 ? YIWANG__PAYMENT__V1__RECEIPT_KIND__RECEIPT_KIND_RED
                                                       : YIWANG__PAYMENT__V1__RECEIPT_KIND__RECEIPT_KIND_BLUE;
    o->amount_fen = json_integer_value(json_object_get(j, "amountFen"));
    const char *payer = json_string_value(json_object_get(j, "payer"));
    char masked[NAME_MAX_BYTES];
    if (payer == NULL) payer = "";
    if (!full) payer = yw_mask_name(payer, masked, sizeof masked);
    o->payer = yw_arena_strndup(a, payer, strlen(payer));
    if (full) {
      char code[17];
      verify_code_of(rc, o->number != NULL ? o->number : "", code);
      o->verify_code = yw_arena_strndup(a, code, 16);
      o->content = yw_arena_strndup(a, text, strlen(text));
      o->signature = yw_arena_strndup(a, signature, strlen(signature));
    }
    if (o->number == NULL || o->order_id == NULL || o->original_number == NULL || o->issuer == NULL ||
        o->item_code == NULL || o->item_name == NULL || o->paid_at == NULL || o->issued_at == NULL ||
        o->payer == NULL || o->verify_code == NULL || o->content == NULL || o->signature == NULL)
      o = NULL;
  }
  json_decref(j);
  return o;
}

/* The content of a receipt row (content_enc, number) decrypted into a's memory; NULL
 * when it does not decrypt. */
static char *content_of(yw_arena *a, const receipts_ctx *rc, const char *enc, const char *number) {
  size_t cap = strlen(enc) / 2 + 1;
  char *out = yw_arena_alloc(a, cap);
  if (out == NULL || yw_decrypt(rc->pay->data_key, enc, number, out, cap) != 0) return NULL;
  return out;
}

/* 1 when the caller may read the order's receipts: its payer, staff of its payee
 * department, finance and auditors. */
static int may_read(const yw_caller *c, const char *payee, const char *payer_subject) {
  if (c->kind == YW_CALLER_PERSON) return payer_subject[0] != '\0' && strcmp(c->subject, payer_subject) == 0;
  if (c->kind != YW_CALLER_STAFF) return 0;
  return yw_service_has_any_role(c, "finance,auditor") || (c->department[0] != '\0' && strcmp(c->department, payee) == 0);
}

static int get_order_receipt(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  receipts_ctx *rc = data;
  const Yiwang__Payment__V1__GetOrderReceiptRequest *req = (const void *)reqm;
  yw_caller c;
  int code = yw_service_caller(call, &rc->pay->caller_keys, &c);
  if (code != 0) return code;
  if (!pay_uuid_ok(req->id)) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  const char *p[] = {req->id};
  PGresult *r = NULL;
  code = yw_service_query(call, rc->pay->pool, rc->pay->db_wait_ms, DB,
                          "SELECT payee_department, payer_subject FROM payment.orders WHERE id = $1::uuid", 1, p, &r);
  if (code != 0) return code;
  int ok = PQntuples(r) == 1 && may_read(&c, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
  PQclear(r);
  if (!ok) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such order");
  code = yw_service_query(call, rc->pay->pool, rc->pay->db_wait_ms, DB,
                          "SELECT number, content_enc, signature FROM payment.receipts WHERE order_id = $1::uuid"
                          " ORDER BY kind, number",
                          1, p, &r);
  if (code != 0) return code;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__OrderReceipts *res = yw_arena_alloc(a, sizeof *res);
  int n = PQntuples(r);
  if (res != NULL) {
    yiwang__payment__v1__order_receipts__init(res);
    res->receipts = yw_arena_calloc(a, (size_t)n + 1, sizeof *res->receipts);
  }
  for (int i = 0; res != NULL && res->receipts != NULL && i < n; i++) {
    char *text = content_of(a, rc, PQgetvalue(r, i, 1), PQgetvalue(r, i, 0));
    Receipt *o = text != NULL ? receipt_from(a, rc, text, PQgetvalue(r, i, 2), 1) : NULL;
    if (o == NULL) break;
    res->receipts[res->n_receipts++] = o;
  }
  PQclear(r);
  if (res == NULL || res->receipts == NULL || (int)res->n_receipts != n)
    return yw_rpc_call_fail(call, YW_EINTERNAL, "a receipt of order %s cannot be read", req->id);
  *out = &res->base;
  return 0;
}

/* 1 when s is a receipt number's shape: 1..96 of [A-Za-z0-9-]. */
static int number_shape(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n <= 96 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int verify_receipt(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  receipts_ctx *rc = data;
  const Yiwang__Payment__V1__VerifyReceiptRequest *req = (const void *)reqm;
  if (!number_shape(req->number) || strlen(req->verify_code) != 16)
    return yw_rpc_call_fail(call, YW_EINVAL, "number and verifyCode (16 hex) are required");
  if (rc->seal == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "receipts are not verified here (no seal)");
  char want[17];
  verify_code_of(rc, req->number, want);
  if (!yw_secure_equal(want, req->verify_code)) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such receipt");
  const char *p[] = {req->number};
  PGresult *r = NULL;
  int code = yw_service_query(call, rc->pay->pool, rc->pay->db_wait_ms, DB,
                              "SELECT content_enc, signature FROM payment.receipts WHERE number = $1", 1, p, &r);
  if (code != 0) return code;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such receipt");
  }
  yw_arena *a = yw_rpc_call_arena(call);
  char *text = content_of(a, rc, PQgetvalue(r, 0, 0), req->number);
  Yiwang__Payment__V1__ReceiptVerification *v = yw_arena_alloc(a, sizeof *v);
  if (v != NULL) {
    yiwang__payment__v1__receipt_verification__init(v);
    v->genuine = text != NULL && yw_seal_verify(rc->seal, text, strlen(text), PQgetvalue(r, 0, 1)) == 0;
    v->receipt = text != NULL ? receipt_from(a, rc, text, "", 0) : NULL;
  }
  PQclear(r);
  if (v == NULL || v->receipt == NULL)
    return yw_rpc_call_fail(call, YW_EINTERNAL, "receipt %s cannot be read", req->number);
  *out = &v->base;
  return 0;
}

/* "SHA256:" and the hex of the SHA-256 of the public key's DER, from its PEM; -1 when the
 * PEM does not parse. */
static int fingerprint_of(const char *pem, char out[7 + 65]) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *key = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
  unsigned char *der = NULL;
  int n = key != NULL ? i2d_PUBKEY(key, &der) : -1;
  if (n > 0) {
    memcpy(out, "SHA256:", 7);
    yw_sha256_hex(der, (size_t)n, out + 7);
  }
  OPENSSL_free(der);
  EVP_PKEY_free(key);
  BIO_free(bio);
  return n > 0 ? 0 : -1;
}

/* The seal's public key: public, as the receipts it checks are. */
static int get_seal_key(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out, void *data) {
  receipts_ctx *rc = data;
  (void)reqm;
  if (rc->seal == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "no seal here: receipts are not issued");
  char *pem = NULL;
  if (yw_seal_public_pem(rc->seal, &pem) != 0) return yw_rpc_call_fail(call, YW_EINTERNAL, "the seal's public key");
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__SealKey *k = yw_arena_alloc(a, sizeof *k);
  char *fp = yw_arena_alloc(a, 7 + 65);
  char *kept = yw_arena_strndup(a, pem, strlen(pem));
  int ok = k != NULL && fp != NULL && kept != NULL && fingerprint_of(pem, fp) == 0;
  free(pem);
  if (!ok) return yw_rpc_call_fail(call, YW_EINTERNAL, "the seal's public key");
  yiwang__payment__v1__seal_key__init(k);
  k->algorithm = "SM2-SM3";
  k->user_id = "1234567812345678";
  k->public_key_pem = kept;
  k->fingerprint = fp;
  *out = &k->base;
  return 0;
}

static const yw_rpc_method methods[] = {
    {.name = "GetOrderReceipt", .fn = get_order_receipt},
    {.name = "VerifyReceipt", .fn = verify_receipt},
    {.name = "GetSealKey", .fn = get_seal_key},
};

void receipts_service_init(yw_rpc_service *svc, receipts_ctx *rc) {
  svc->descriptor = &yiwang__payment__v1__receipts_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = rc;
}
