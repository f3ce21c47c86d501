/*
 * test_finance_service.c - FinanceService over a real gRPC connection, served in the
 * test's process beside PaymentService's database (support/yw_testpay.h), as signed
 * finance, auditor and department callers.
 *
 * Proves: a finance user imports a statement (the same bytes again answer the same
 * statement, reused) and runs the day; the answer sums every class and its results page
 * through whole (pageSize 2, the last page without a token); an auditor reads but may
 * not run, department staff may not read; ListExceptions gives the open ones with their
 * age; the proposer's approval is PERMISSION_DENIED, one naming another proposal
 * ABORTED, and another finance user's resolves it; the audit records carry department,
 * address, request id and amount; the run's automatic part holds a channel-only row
 * naming no order of ours in suspense (left open, audited as the system); an approved
 * REFUND is asked of the channel at once (no answer: PENDING, the attempt counted); bad
 * input (a
 * date that does not exist, a summary that lies, another merchant's statement, an
 * unknown action) is INVALID_ARGUMENT and changes
 * nothing; the daily report sums the statement per channel
 * (with its open exception) and the ledger per department and item, and its exports
 * parse: the CSV by a parser here, the .xlsx as a zip whose sheet XML (unzip -p) holds
 * the same figures; orders in EXCEPTION are listed for finance and auditors (the payer
 * masked, the oldest first, paged) with REFUND only for a booked, refundable payment;
 * the ledger balances afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "channel.h"
#include "finance.h"
#include "ledger.h"
#include "statement.h"
#include "payment.h"
#include "yiwang/payment/v1/finance.pb-c.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_err.h"
#include "yw_testpay.h"
#include "yw_testrpc.h"

#define D1 1796054400LL /* 2026-12-01 00:00 +08 */

static finance_ctx fctx;
static yw_rpc_service fsvc;
static yw_test_rpc frpc;
static yw_caller as;

static pay_channels *channels;
static char pem_path[64];

/* Channel sim configured as yw-payment's settings give it (merchant 1900000001, a key
 * of its own; nothing listens at its address: an import by API is UNAVAILABLE). */
static int channels_load(void) {
  snprintf(pem_path, sizeof pem_path, "/tmp/yw-finance-test-%d.pub.pem", (int)getpid());
  EVP_PKEY *k = EVP_RSA_gen(2048);
  FILE *f = k != NULL ? fopen(pem_path, "w") : NULL;
  int ok = f != NULL && PEM_write_PUBKEY(f, k) == 1;
  if (f != NULL) fclose(f);
  EVP_PKEY_free(k);
  if (!ok) return -1;
  char keys[256], err[256];
  snprintf(keys, sizeof keys, "sim=1900000001:%064d:%s", 7, pem_path);
  if (pay_channels_load("sim=http://127.0.0.1:9/sim", keys, &channels, err, sizeof err) != 0) {
    fprintf(stderr, "channels: %s\n", err);
    return -1;
  }
  return 0;
}

static int setup(void **state) {
  (void)state;
  if (channels_load() != 0) return -1;
  if (yw_testpay_start() != 0) return -1;
  fctx.channels = channels;
  fctx.channel_timeout_ms = 2000;
  fctx.pool = yw_testpay_ctx.pool;
  fctx.db_wait_ms = 2000;
  fctx.caller_keys = yw_testpay_ctx.caller_keys;
  fctx.cutoff_s = 300;
  fctx.data_key = yw_testpay_ctx.data_key;
  finance_service_init(&fsvc, &fctx);
  return yw_test_rpc_start(&fsvc, 4, 1, &frpc);
}

static int teardown(void **state) {
  (void)state;
  yw_test_rpc_stop(&frpc);
  yw_testpay_stop();
  pay_channels_free(channels);
  unlink(pem_path);
  return 0;
}

static void as_staff(const char *subject, const char *department, const char *roles) {
  memset(&as, 0, sizeof as);
  as.kind = YW_CALLER_STAFF;
  snprintf(as.subject, sizeof as.subject, "%s", subject);
  snprintf(as.department, sizeof as.department, "%s", department);
  snprintf(as.roles, sizeof as.roles, "%s", roles);
  snprintf(as.ip, sizeof as.ip, "10.0.0.9");
}

static grpc_status_code call(const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                             char *msg) {
  char path[128], value[YW_CALLER_VALUE_MAX], sig[65], m[256];
  snprintf(path, sizeof path, "/yiwang.payment.v1.FinanceService/%s", method);
  as.ts = (long long)time(NULL);
  assert_int_equal(
      yw_caller_encode(&as, fctx.caller_keys.current, path, "rq-finance-test", value, sizeof value,
                       sig),
      0);
  yw_rpc_md md[3] = {{"x-yw-caller", value, 0}, {"x-yw-caller-sig", sig, 0},
                     {"x-request-id", "rq-finance-test", 0}};
  *out = NULL;
  grpc_status_code st =
      yw_rpc_call_sync(frpc.channel, path, req, desc, NULL, out, md, 3, 10000, m, sizeof m);
  if (msg != NULL) snprintf(msg, 256, "%s", m);
  return st;
}

static void book_pay(const char *ref, int64_t fen, int64_t at) {
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  char eff[PAY_TIME_MAX];
  pay_time_format(at, eff);
  ledger_posting p[2] = {{"channel_receivable:sim", fen}, {"treasury_payable:320700-GA:FINE01", -fen}};
  ledger_entry e = {.kind = "pay", .ref = ref, .channel = "sim", .effective_at = eff};
  yw_pg_error err;
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(ledger_post(c, &e, p, 2, &err), 0);
  assert_int_equal(yw_pg_commit(c, &err), 0);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
}

static pay_stmt_row row(const char *otn, int64_t fen, int64_t at) {
  pay_stmt_row r = {.time_unix = at, .mchid = "1900000001", .out_trade_no = otn,
                    .transaction_id = "4200000001", .trade_type = "NATIVE", .out_refund_no = "",
                    .kind = PAY_STMT_PAY, .order_fen = fen, .fee_fen = (fen * 6 + 500) / 1000};
  return r;
}

/* Imports rows as sim's statement of date (ImportStatement); the status, *out the answer. */
static grpc_status_code import_call(const char *date, const pay_stmt_row *rows, size_t n,
                                    ProtobufCMessage **out, char *msg) {
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(pay_statement_write(rows, n, &text, &len), 0);
  Yiwang__Payment__V1__ImportStatementRequest imp = YIWANG__PAYMENT__V1__IMPORT_STATEMENT_REQUEST__INIT;
  imp.channel = "sim";
  imp.date = (char *)date;
  imp.csv.data = (uint8_t *)text;
  imp.csv.len = len;
  grpc_status_code st = call("ImportStatement", &imp.base, &yiwang__payment__v1__statement__descriptor,
                             out, msg);
  free(text);
  return st;
}

/* Runs sim's day date (RunReconciliation); the status, *out the answer. */
static grpc_status_code run_call(const char *date, ProtobufCMessage **out, char *msg) {
  Yiwang__Payment__V1__RunReconciliationRequest run = YIWANG__PAYMENT__V1__RUN_RECONCILIATION_REQUEST__INIT;
  run.channel = "sim";
  run.date = (char *)date;
  return call("RunReconciliation", &run.base, &yiwang__payment__v1__reconciliation__descriptor, out,
              msg);
}

static void a_finance_user_imports_runs_and_resolves(void **state) {
  (void)state;
  book_pay("F1", 1000, D1 + 3600);
  book_pay("F2", 2000, D1 + 7200);
  book_pay("F3", 3000, D1 + 9000); /* the channel lacks it */
  pay_stmt_row rows[] = {row("F1", 1000, D1 + 3600), row("F2", 2000, D1 + 7200),
                         row("X1", 500, D1 + 8000)};

  as_staff("fin-a", "FIN", "finance");
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(import_call("2026-12-01", rows, 3, &out, msg), GRPC_STATUS_OK);
  Yiwang__Payment__V1__Statement *st = (void *)out;
  assert_int_equal(st->row_count, 3);
  assert_int_equal(st->pay_total_fen, 3500);
  assert_string_equal(st->source, "upload");
  assert_string_equal(st->imported_by, "fin-a");
  assert_false(st->reused);
  char sid[24];
  snprintf(sid, sizeof sid, "%s", st->id);
  protobuf_c_message_free_unpacked(out, NULL);
  assert_int_equal(import_call("2026-12-01", rows, 3, &out, msg), GRPC_STATUS_OK);
  st = (void *)out;
  assert_true(st->reused);
  assert_string_equal(st->id, sid);
  protobuf_c_message_free_unpacked(out, NULL);

  /* an auditor may not run it */
  as_staff("aud", "FIN", "auditor");
  assert_int_equal(run_call("2026-12-01", &out, msg), GRPC_STATUS_PERMISSION_DENIED);
  as_staff("fin-a", "FIN", "finance");
  grpc_status_code s = run_call("2026-12-01", &out, msg);
  if (s != GRPC_STATUS_OK) fprintf(stderr, "run: %s\n", msg);
  assert_int_equal(s, GRPC_STATUS_OK);
  Yiwang__Payment__V1__Reconciliation *rec = (void *)out;
  assert_string_equal(rec->statement_id, sid);
  assert_int_equal(rec->n_classes, 5);
  assert_string_equal(rec->classes[0]->class_, "MATCHED");
  assert_int_equal(rec->classes[0]->count, 2);
  assert_int_equal(rec->classes[0]->channel_fen, 3000);
  assert_int_equal(rec->classes[2]->count, 1); /* CHANNEL_ONLY */
  assert_int_equal(rec->classes[3]->count, 1); /* PLATFORM_ONLY */
  assert_int_equal(rec->open_exceptions, 2);
  assert_int_equal(rec->settled_fen, 1000 - 6 + 2000 - 12);
  /* the run's automatic part: X1 names no order of ours, so it is held in suspense (not
   * asked about) and left open, audited as the system in the run's request */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.recon_exceptions WHERE key = 'X1' "
                                    "AND status = 'OPEN' AND auto_action = 'SUSPENSE'"),
                   1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.audit_log WHERE action = "
                                    "'recon.auto_suspense' AND actor = 'system' "
                                    "AND request_id = 'rq-finance-test' AND detail LIKE '%amount_fen=500'"),
                   1);
  assert_int_equal(rec->n_results, 4);
  protobuf_c_message_free_unpacked(out, NULL);

  /* an auditor reads it, two results a page */
  as_staff("aud", "FIN", "auditor");
  Yiwang__Payment__V1__GetReconciliationRequest get = YIWANG__PAYMENT__V1__GET_RECONCILIATION_REQUEST__INIT;
  get.channel = "sim";
  get.date = "2026-12-01";
  get.page_size = 2;
  char token[512] = "";
  int pages = 0, seen = 0;
  char exc_id[24] = "";
  do {
    get.page_token = token;
    assert_int_equal(call("GetReconciliation", &get.base,
                          &yiwang__payment__v1__reconciliation__descriptor, &out, msg),
                     GRPC_STATUS_OK);
    rec = (void *)out;
    pages++;
    seen += (int)rec->n_results;
    for (size_t i = 0; i < rec->n_results; i++)
      if (strcmp(rec->results[i]->class_, "CHANNEL_ONLY") == 0) {
        assert_string_equal(rec->results[i]->key, "X1");
        assert_int_equal(rec->results[i]->line, 4);
        snprintf(exc_id, sizeof exc_id, "%s", rec->results[i]->exception_id);
      }
    snprintf(token, sizeof token, "%s", rec->next_page_token);
    protobuf_c_message_free_unpacked(out, NULL);
  } while (token[0] != '\0' && pages < 10);
  assert_int_equal(seen, 4);
  assert_int_equal(pages, 2);
  assert_true(exc_id[0] != '\0');
  /* department staff may not */
  as_staff("clerk", "320700-GA", "dept_staff");
  get.page_token = "";
  assert_int_equal(call("GetReconciliation", &get.base,
                        &yiwang__payment__v1__reconciliation__descriptor, &out, msg),
                   GRPC_STATUS_PERMISSION_DENIED);

  /* the exception queue and maker-checker */
  as_staff("fin-a", "FIN", "finance");
  Yiwang__Payment__V1__ListExceptionsRequest le = YIWANG__PAYMENT__V1__LIST_EXCEPTIONS_REQUEST__INIT;
  assert_int_equal(call("ListExceptions", &le.base,
                        &yiwang__payment__v1__list_exceptions_response__descriptor, &out, msg),
                   GRPC_STATUS_OK);
  Yiwang__Payment__V1__ListExceptionsResponse *l = (void *)out;
  assert_int_equal(l->n_exceptions, 2);
  assert_string_equal(l->exceptions[0]->status, "OPEN");
  assert_true(l->exceptions[0]->age_seconds >= 0);
  protobuf_c_message_free_unpacked(out, NULL);
  Yiwang__Payment__V1__ProposeResolutionRequest pr = YIWANG__PAYMENT__V1__PROPOSE_RESOLUTION_REQUEST__INIT;
  pr.id = exc_id;
  pr.action = "SEND_BACK";
  pr.note = "x";
  assert_int_equal(call("ProposeResolution", &pr.base,
                        &yiwang__payment__v1__recon_exception__descriptor, &out, msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  pr.action = "WRITE_OFF";
  pr.note = "no order of ours";
  assert_int_equal(call("ProposeResolution", &pr.base,
                        &yiwang__payment__v1__recon_exception__descriptor, &out, msg),
                   GRPC_STATUS_OK);
  assert_string_equal(((Yiwang__Payment__V1__ReconException *)out)->status, "PROPOSED");
  int32_t version = ((Yiwang__Payment__V1__ReconException *)out)->version;
  assert_true(version > 0);
  protobuf_c_message_free_unpacked(out, NULL);
  Yiwang__Payment__V1__DecideResolutionRequest dr = YIWANG__PAYMENT__V1__DECIDE_RESOLUTION_REQUEST__INIT;
  dr.id = exc_id;
  dr.action = "WRITE_OFF";
  dr.version = version;
  assert_int_equal(call("ApproveResolution", &dr.base,
                        &yiwang__payment__v1__recon_exception__descriptor, &out, msg),
                   GRPC_STATUS_PERMISSION_DENIED);
  as_staff("fin-b", "FIN", "finance");
  /* the checker names the proposal read: another one is refused (ABORTED, HTTP 409) */
  dr.action = "REFUND";
  assert_int_equal(call("ApproveResolution", &dr.base,
                        &yiwang__payment__v1__recon_exception__descriptor, &out, msg),
                   GRPC_STATUS_ABORTED);
  dr.action = "WRITE_OFF";
  assert_int_equal(call("ApproveResolution", &dr.base,
                        &yiwang__payment__v1__recon_exception__descriptor, &out, msg),
                   GRPC_STATUS_OK);
  Yiwang__Payment__V1__ReconException *e = (void *)out;
  assert_string_equal(e->status, "RESOLVED");
  assert_string_equal(e->proposed_by, "fin-a");
  assert_string_equal(e->decided_by, "fin-b");
  assert_string_equal(e->action, "WRITE_OFF");
  assert_true(e->journal_ref[0] != '\0');
  protobuf_c_message_free_unpacked(out, NULL);
  /* the finance audit records say who (department), from where (address), in which
   * request, and the amount: the approval of the 500 fen write-off, the import, the run */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.audit_log WHERE action = "
                                    "'recon.approve' AND actor = 'fin-b' AND department = 'FIN' "
                                    "AND source_ip = '10.0.0.9' AND request_id = 'rq-finance-test' "
                                    "AND target = $1 AND detail LIKE '%amount_fen=500'",
                                    exc_id),
                   1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.audit_log WHERE action IN "
                                    "('recon.import', 'recon.run') AND department = 'FIN' "
                                    "AND source_ip = '10.0.0.9' AND request_id = 'rq-finance-test'"),
                   2);
  yw_testpay_assert_ledger_ok();
}

/* The fields of the CSV line of text that starts with first ("sim,"), split at commas
 * into f (at most n); returns how many, 0 when there is no such line. */
static int csv_line(const char *text, const char *first, char f[][64], int n) {
  size_t fl = strlen(first);
  for (const char *p = text; p != NULL && *p != '\0';) {
    const char *end = strstr(p, "\r\n");
    if (end == NULL) end = p + strlen(p);
    if ((size_t)(end - p) >= fl && strncmp(p, first, fl) == 0) {
      int k = 0;
      const char *q = p;
      while (k < n && q <= end) {
        const char *c = memchr(q, ',', (size_t)(end - q));
        if (c == NULL) c = end;
        snprintf(f[k++], 64, "%.*s", (int)(c - q), q);
        q = c + 1;
      }
      return k;
    }
    p = *end != '\0' ? end + 2 : NULL;
  }
  return 0;
}

static void the_daily_report_sums_and_exports(void **state) {
  (void)state;
  as_staff("aud", "FIN", "auditor");
  Yiwang__Payment__V1__GetDailyReportRequest gr = YIWANG__PAYMENT__V1__GET_DAILY_REPORT_REQUEST__INIT;
  gr.date = "2026-12-01";
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("GetDailyReport", &gr.base, &yiwang__payment__v1__daily_report__descriptor,
                        &out, msg),
                   GRPC_STATUS_OK);
  Yiwang__Payment__V1__DailyReport *d = (void *)out;
  assert_int_equal(d->n_channels, 1);
  assert_string_equal(d->channels[0]->channel, "sim");
  assert_int_equal(d->channels[0]->pay_count, 3);
  assert_int_equal(d->channels[0]->pay_fen, 3500);
  assert_int_equal(d->channels[0]->fee_fen, 6 + 12 + 3);
  assert_int_equal(d->channels[0]->open_exceptions, 1); /* F3, short */
  assert_int_equal(d->n_departments, 1);
  assert_string_equal(d->departments[0]->department, "320700-GA");
  assert_int_equal(d->departments[0]->pay_count, 3);
  assert_int_equal(d->departments[0]->pay_fen, 6000);
  assert_int_equal(d->n_remittance, 1);
  assert_string_equal(d->remittance[0]->item_code, "FINE01");
  assert_int_equal(d->remittance[0]->amount_fen, 6000);
  protobuf_c_message_free_unpacked(out, NULL);

  Yiwang__Payment__V1__ExportDailyReportRequest er = YIWANG__PAYMENT__V1__EXPORT_DAILY_REPORT_REQUEST__INIT;
  er.date = "2026-12-01";
  er.format = "csv";
  assert_int_equal(call("ExportDailyReport", &er.base, &yiwang__payment__v1__report_file__descriptor,
                        &out, msg),
                   GRPC_STATUS_OK);
  Yiwang__Payment__V1__ReportFile *f = (void *)out;
  assert_string_equal(f->name, "daily-2026-12-01.csv");
  assert_string_equal(f->content_type, "text/csv; charset=utf-8");
  char *csv = strndup((const char *)f->content.data, f->content.len);
  protobuf_c_message_free_unpacked(out, NULL);
  char fields[8][64];
  assert_int_equal(csv_line(csv, "sim,", fields, 8), 8);
  assert_string_equal(fields[1], "3");
  assert_string_equal(fields[2], "35.00");
  assert_string_equal(fields[5], "0.21");
  assert_string_equal(fields[6], "1");
  assert_int_equal(csv_line(csv, "320700-GA,FINE01,", fields, 3), 3);
  assert_string_equal(fields[2], "60.00");
  free(csv);

  er.format = "xlsx";
  assert_int_equal(call("ExportDailyReport", &er.base, &yiwang__payment__v1__report_file__descriptor,
                        &out, msg),
                   GRPC_STATUS_OK);
  f = (void *)out;
  assert_string_equal(f->name, "daily-2026-12-01.xlsx");
  assert_true(f->content.len > 4 && memcmp(f->content.data, "PK\x03\x04", 4) == 0);
  char path[] = "/tmp/test-report-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, f->content.data, f->content.len), (ssize_t)f->content.len);
  close(fd);
  protobuf_c_message_free_unpacked(out, NULL);
  char cmd[128], xml[8192];
  snprintf(cmd, sizeof cmd, "unzip -p %s xl/worksheets/sheet3.xml", path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = fread(xml, 1, sizeof xml - 1, p);
  xml[n] = '\0';
  assert_int_equal(pclose(p), 0);
  unlink(path);
  assert_non_null(strstr(xml, "<v>60</v>")); /* 国库缴款: 60.00 yuan */
  er.format = "pdf";
  assert_int_equal(call("ExportDailyReport", &er.base, &yiwang__payment__v1__report_file__descriptor,
                        &out, msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

static void bad_input_changes_nothing(void **state) {
  (void)state;
  as_staff("fin-a", "FIN", "finance");
  long long before = yw_testpay_count("SELECT count(*) FROM payment.statements");
  Yiwang__Payment__V1__ImportStatementRequest imp = YIWANG__PAYMENT__V1__IMPORT_STATEMENT_REQUEST__INIT;
  const char *lie = "交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,商户退款单号,退款金额,手续费,费率\n"
                    "`2026-12-03 10:00:00,`19,`Q2,`T,`NATIVE,`SUCCESS,`1.00,`,`0.00,`0.01,`0.60%\n"
                    "总交易单数,应结订单总金额,退款总金额,手续费总金额\n`2,`1.00,`0.00,`0.01\n";
  imp.channel = "sim";
  imp.date = "2026-12-03";
  imp.csv.data = (uint8_t *)lie;
  imp.csv.len = strlen(lie);
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("ImportStatement", &imp.base, &yiwang__payment__v1__statement__descriptor,
                        &out, msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "总交易单数 says 2 but the statement has 1 rows"));
  imp.date = "2026-13-01";
  assert_int_equal(call("ImportStatement", &imp.base, &yiwang__payment__v1__statement__descriptor,
                        &out, msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  /* a well-formed statement of another merchant (商户号 19): not this channel's */
  const char *other = "交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,商户退款单号,退款金额,手续费,费率\n"
                      "`2026-12-03 10:00:00,`19,`Q2,`T,`NATIVE,`SUCCESS,`1.00,`,`0.00,`0.01,`0.60%\n"
                      "总交易单数,应结订单总金额,退款总金额,手续费总金额\n`1,`1.00,`0.00,`0.01\n";
  imp.date = "2026-12-03";
  imp.csv.data = (uint8_t *)other;
  imp.csv.len = strlen(other);
  assert_int_equal(call("ImportStatement", &imp.base, &yiwang__payment__v1__statement__descriptor,
                        &out, msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "商户号 19 is not the merchant of channel sim"));
  /* without bytes and without a configured channel */
  imp.channel = "sim-x";
  imp.csv.len = 0;
  assert_int_equal(call("ImportStatement", &imp.base, &yiwang__payment__v1__statement__descriptor,
                        &out, msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.statements"), before);
  Yiwang__Payment__V1__RunReconciliationRequest run = YIWANG__PAYMENT__V1__RUN_RECONCILIATION_REQUEST__INIT;
  run.channel = "sim";
  run.date = "2026-12-03";
  assert_int_equal(call("RunReconciliation", &run.base,
                        &yiwang__payment__v1__reconciliation__descriptor, &out, msg),
                   GRPC_STATUS_FAILED_PRECONDITION);
  yw_testpay_assert_ledger_ok();
}

/* An approved REFUND is asked of the channel at once, outside the approval's
 * transaction: channel sim does not answer here (nothing listens), so the refund stays
 * PENDING with the attempt counted, for the next run to ask again. */
static void an_approved_refund_is_asked_of_the_channel_at_once(void **state) {
  (void)state;
  pay_stmt_row rows[] = {row("X9-STRANGER", 400, D1 + 4 * 86400 + 3600)};
  as_staff("fin-a", "FIN", "finance");
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(import_call("2026-12-05", rows, 1, &out, msg), GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(out, NULL);
  assert_int_equal(run_call("2026-12-05", &out, msg), GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(out, NULL);
  char id[24];
  snprintf(id, sizeof id, "%lld",
           yw_testpay_count("SELECT id FROM payment.recon_exceptions WHERE key = 'X9-STRANGER'"));
  Yiwang__Payment__V1__ProposeResolutionRequest pr = YIWANG__PAYMENT__V1__PROPOSE_RESOLUTION_REQUEST__INIT;
  pr.id = id;
  pr.action = "REFUND";
  pr.note = "a stranger's payment: give it back";
  assert_int_equal(call("ProposeResolution", &pr.base, &yiwang__payment__v1__recon_exception__descriptor,
                        &out, msg),
                   GRPC_STATUS_OK);
  int32_t version = ((Yiwang__Payment__V1__ReconException *)out)->version;
  protobuf_c_message_free_unpacked(out, NULL);
  as_staff("fin-b", "FIN", "finance");
  Yiwang__Payment__V1__DecideResolutionRequest dr = YIWANG__PAYMENT__V1__DECIDE_RESOLUTION_REQUEST__INIT;
  dr.id = id;
  dr.action = "REFUND";
  dr.version = version;
  assert_int_equal(call("ApproveResolution", &dr.base, &yiwang__payment__v1__recon_exception__descriptor,
                        &out, msg),
                   GRPC_STATUS_OK);
  assert_string_equal(((Yiwang__Payment__V1__ReconException *)out)->status, "RESOLVED");
  protobuf_c_message_free_unpacked(out, NULL);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.recon_refunds WHERE exception_id = "
                                    "$1::bigint AND status = 'PENDING' AND amount_fen = 400 "
                                    "AND attempts = 1 AND last_error = 'the channel did not answer'",
                                    id),
                   1);
  yw_testpay_assert_ledger_ok();
}

/* An order issued by the payee department's clerk, paying on channel sim as channel
 * order otn (its status "CREATED" -> to, and the channel order's status co). Returns its
 * id in id. */
static void order_on_channel(const char *otn, int64_t fen, const char *to, const char *co, char id[40]) {
  yw_testpay_as_staff("s-ga", "320700-GA", "dept_staff");
  Yiwang__Payment__V1__CreateOrderRequest r = YIWANG__PAYMENT__V1__CREATE_ORDER_REQUEST__INIT;
  r.item_code = "FINE01";
  r.item_name = "交通违法罚款";
  r.amount_fen = fen;
  r.payer_name = "张三丰";
  ProtobufCMessage *out = NULL;
  assert_int_equal(yw_testpay_call("CreateOrder", &r.base, &yiwang__payment__v1__order__descriptor, otn,
                                   &out, NULL),
                   GRPC_STATUS_OK);
  snprintf(id, 40, "%s", ((Yiwang__Payment__V1__Order *)out)->id);
  protobuf_c_message_free_unpacked(out, NULL);
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  yw_pg_error err;
  char f[24];
  snprintf(f, sizeof f, "%lld", (long long)fen);
  const char *p[4] = {otn, id, f, co};
  PGresult *res = NULL;
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(yw_pg_query(c,
                               "INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, "
                               "channel, mchid, amount_fen, status) VALUES ($1, $2::uuid, 1, 'sim', "
                               "'1900000001', $3::bigint, $4)",
                               4, p, &res, &err),
                   0);
  PQclear(res);
  assert_int_equal(pay_order_transition(c, id, "CREATED", to, "test", "test", NULL, &err), 0);
  assert_int_equal(yw_pg_commit(c, &err), 0);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
}

/* The channel says otn is paid with fen: booked as a notification books it. */
static pay_book_outcome channel_pays(const char *otn, int64_t fen) {
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  yw_pg_error err;
  pay_book_outcome o = 0;
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(pay_book_paid(c, "sim", otn, "4200000777", fen, D1 + 3600, 0, "channel:sim", &o, &err), 0);
  assert_int_equal(yw_pg_commit(c, &err), 0);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
  return o;
}

/* Reconciliation's reversal of otn's payment (fin_pay_reverse, as its automatic part
 * reverses a payment the channel never took). */
static void reconciliation_reverses(const char *otn) {
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  yw_pg_error err;
  int reversed = 0;
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(fin_pay_reverse(c, "sim", otn, "reversed automatically: the channel says NOTPAY",
                                   &reversed, &err),
                   0);
  assert_int_equal(yw_pg_commit(c, &err), 0);
  assert_int_equal(reversed, 1);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
}

static grpc_status_code list_orders_call(const char *status, int32_t page_size, const char *token,
                                         Yiwang__Payment__V1__ListOrdersResponse **out) {
  Yiwang__Payment__V1__ListOrdersRequest r = YIWANG__PAYMENT__V1__LIST_ORDERS_REQUEST__INIT;
  r.status = (char *)status;
  r.page_size = page_size;
  r.page_token = (char *)token;
  return call("ListOrders", &r.base, &yiwang__payment__v1__list_orders_response__descriptor,
              (ProtobufCMessage **)out, NULL);
}

/* Orders in EXCEPTION are finance's queue: a payment booked after its close (refundable:
 * REFUND), an amount the channel reported wrongly (nothing booked: no action), a payment
 * reconciliation reversed (no action), the oldest exception first, paged, the payer
 * masked for finance and auditors; department staff may not read it, another status is
 * refused. */
static void exception_orders_are_finances_queue(void **state) {
  (void)state;
  char late[40], wrong[40], reversed[40];
  order_on_channel("2026120100000000000901", 1500, "CLOSED", "CLOSED", late);
  assert_int_equal(channel_pays("2026120100000000000901", 1500), PAY_BOOK_LATE);
  order_on_channel("2026120100000000000902", 900, "PAYING", "OPEN", wrong);
  assert_int_equal(channel_pays("2026120100000000000902", 901), PAY_BOOK_AMOUNT_MISMATCH);
  order_on_channel("2026120100000000000903", 700, "PAYING", "OPEN", reversed);
  assert_int_equal(channel_pays("2026120100000000000903", 700), PAY_BOOK_PAID);
  reconciliation_reverses("2026120100000000000903");

  as_staff("fin-a", "FIN", "finance");
  Yiwang__Payment__V1__ListOrdersResponse *l = NULL;
  assert_int_equal(list_orders_call("EXCEPTION", 2, "", &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_orders, 2);
  Yiwang__Payment__V1__FinanceOrder *o = l->orders[0];
  assert_string_equal(o->id, late);
  assert_string_equal(o->status, "EXCEPTION");
  assert_non_null(strstr(o->reason, "paid after close"));
  assert_int_equal(o->amount_fen, 1500);
  assert_string_equal(o->channel, "sim");
  assert_string_equal(o->out_trade_no, "2026120100000000000901");
  assert_string_equal(o->payer_name, "*三丰");
  assert_true(o->pay_booked);
  assert_false(o->reversed);
  assert_int_equal(o->refundable_fen, 1500);
  assert_string_equal(o->action, "REFUND");
  assert_non_null(o->exception_at);
  assert_true(o->age_seconds >= 0);
  o = l->orders[1];
  assert_string_equal(o->id, wrong);
  assert_false(o->pay_booked);
  assert_int_equal(o->refundable_fen, 0);
  assert_string_equal(o->action, "");
  assert_string_equal(o->payer_name, "*三丰");
  char token[256];
  snprintf(token, sizeof token, "%s", l->next_page_token);
  assert_true(token[0] != '\0');
  protobuf_c_message_free_unpacked(&l->base, NULL);
  assert_int_equal(list_orders_call("", 2, token, &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_orders, 1);
  o = l->orders[0];
  assert_string_equal(o->id, reversed);
  assert_true(o->reversed);
  assert_false(o->pay_booked);
  assert_string_equal(o->action, "");
  assert_non_null(strstr(o->reason, "reversed"));
  assert_string_equal(l->next_page_token, "");
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* an auditor reads it, masked too; department staff may not; only EXCEPTION is listed */
  as_staff("aud-a", "AUDIT", "auditor");
  assert_int_equal(list_orders_call("EXCEPTION", 0, "", &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_orders, 3);
  for (size_t i = 0; i < l->n_orders; i++) assert_string_equal(l->orders[i]->payer_name, "*三丰");
  protobuf_c_message_free_unpacked(&l->base, NULL);
  as_staff("s-ga", "320700-GA", "dept_admin");
  assert_int_equal(list_orders_call("EXCEPTION", 0, "", &l), GRPC_STATUS_PERMISSION_DENIED);
  as_staff("fin-a", "FIN", "finance");
  assert_int_equal(list_orders_call("PAID", 0, "", &l), GRPC_STATUS_INVALID_ARGUMENT);

  /* the reversal's event, and the day's report: the reversed payment netted out per
   * channel and per department, the remittance without it */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.outbox WHERE type = 'payment.order_reversed' "
                                    "AND aggregate_key = $1",
                                    reversed),
                   1);
  as_staff("aud", "FIN", "auditor");
  Yiwang__Payment__V1__GetDailyReportRequest gr = YIWANG__PAYMENT__V1__GET_DAILY_REPORT_REQUEST__INIT;
  gr.date = "2026-12-01";
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(call("GetDailyReport", &gr.base, &yiwang__payment__v1__daily_report__descriptor, &out, msg),
                   GRPC_STATUS_OK);
  Yiwang__Payment__V1__DailyReport *d = (void *)out;
  assert_int_equal(d->n_channels, 1);
  assert_int_equal(d->channels[0]->reversal_count, 1);
  assert_int_equal(d->channels[0]->reversal_fen, 700);
  assert_int_equal(d->n_departments, 1);
  assert_int_equal(d->departments[0]->pay_count, 3 + 2); /* the first test's, late, reversed */
  assert_int_equal(d->departments[0]->pay_fen, 6000 + 1500 + 700);
  assert_int_equal(d->departments[0]->reversal_count, 1);
  assert_int_equal(d->departments[0]->reversal_fen, 700);
  assert_int_equal(d->n_remittance, 1);
  assert_int_equal(d->remittance[0]->amount_fen, 6000 + 1500);
  protobuf_c_message_free_unpacked(out, NULL);
  Yiwang__Payment__V1__ExportDailyReportRequest er = YIWANG__PAYMENT__V1__EXPORT_DAILY_REPORT_REQUEST__INIT;
  er.date = "2026-12-01";
  er.format = "csv";
  assert_int_equal(call("ExportDailyReport", &er.base, &yiwang__payment__v1__report_file__descriptor, &out, msg),
                   GRPC_STATUS_OK);
  Yiwang__Payment__V1__ReportFile *f = (void *)out;
  char *csv = strndup((const char *)f->content.data, f->content.len);
  protobuf_c_message_free_unpacked(out, NULL);
  char fields[10][64];
  assert_int_equal(csv_line(csv, "sim,", fields, 10), 10);
  assert_string_equal(fields[8], "1");
  assert_string_equal(fields[9], "7.00");
  assert_int_equal(csv_line(csv, "320700-GA,5,", fields, 7), 7);
  assert_string_equal(fields[2], "82.00");
  assert_string_equal(fields[5], "1");
  assert_string_equal(fields[6], "7.00");
  assert_non_null(strstr(csv, "渠道,支付笔数,支付金额,退款笔数,退款金额,手续费,未结异常,最久未结(秒),冲正笔数,冲正金额\r\n"));
  free(csv);
  yw_testpay_assert_ledger_ok();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_finance_user_imports_runs_and_resolves),
      cmocka_unit_test(the_daily_report_sums_and_exports),
      cmocka_unit_test(bad_input_changes_nothing),
      cmocka_unit_test(an_approved_refund_is_asked_of_the_channel_at_once),
      cmocka_unit_test(exception_orders_are_finances_queue),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
