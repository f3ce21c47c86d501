/*
 * reports.c - the daily finance report (reports.h): three queries, then CSV or XLSX.
 *
 * Design: per channel the figures come from the day's current statements (what the
 * channel says it took and charged) and the exception queue; per department and item
 * from the ledger's treasury_payable:<dept>:<item> postings of the journals effective
 * that day (pay credits them, refund debits them, and a pay_reversal, effective when its
 * payment was, debits back a payment the channel never took), so the remittance is what
 * the treasury is owed for the day; the reversals are shown beside the payments, per
 * channel and per department. The XLSX is built by libxlsxwriter in a temporary file
 * that is read back and removed.
 *
 * Offers: pay_report_daily, pay_report_free, pay_report_csv, pay_report_xlsx.
 */
#include "reports.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "statement.h"
#include "yw_err.h"
#include "yw_service.h"
#include "yw_workdays.h"

void pay_report_free(pay_report *r) {
  if (r == NULL) return;
  free(r->channels);
  free(r->departments);
  free(r->remittance);
  free(r);
}

int pay_report_daily(PGconn *conn, const char *date, pay_report **out, yw_pg_error *err) {
  *out = NULL;
  yw_day d;
  if (date == NULL || yw_day_parse(date, strlen(date), &d) != 0) return YW_EINVAL;
  char s0[24], s1[24];
  int64_t start = (int64_t)d * 86400 - 8 * 3600;
  snprintf(s0, sizeof s0, "%" PRId64, start);
  snprintf(s1, sizeof s1, "%" PRId64, start + 86400);
  pay_report *r = calloc(1, sizeof *r);
  if (r == NULL) return YW_ENOMEM;
  snprintf(r->date, sizeof r->date, "%s", date);
  PGresult *c = NULL, *dep = NULL, *rem = NULL;
  const char *p1[3] = {date, s0, s1};
  int rc = yw_pg_query_read(
      conn,
      "SELECT s.channel, "
      "count(*) FILTER (WHERE sr.kind = 'PAY'), COALESCE(sum(sr.order_fen) FILTER (WHERE sr.kind = 'PAY'), 0), "
      "count(*) FILTER (WHERE sr.kind = 'REFUND'), COALESCE(sum(sr.refund_fen), 0), "
      "COALESCE(sum(sr.fee_fen), 0), "
      "(SELECT count(*) FROM payment.recon_exceptions e WHERE e.channel = s.channel "
      " AND e.bill_date <= $1::date AND e.status IN ('OPEN', 'PROPOSED')), "
      "(SELECT COALESCE(extract(epoch FROM now() - min(e.opened_at))::bigint, 0) "
      " FROM payment.recon_exceptions e WHERE e.channel = s.channel "
      " AND e.bill_date <= $1::date AND e.status IN ('OPEN', 'PROPOSED')), "
      "(SELECT count(*) FROM payment.journal j WHERE j.kind = 'pay_reversal' AND j.channel = s.channel "
      " AND j.effective_at >= to_timestamp($2::bigint) AND j.effective_at < to_timestamp($3::bigint)), "
      "(SELECT COALESCE(-sum(p.amount_fen), 0) FROM payment.journal j JOIN payment.postings p "
      " ON p.journal_id = j.id WHERE j.kind = 'pay_reversal' AND j.channel = s.channel "
      " AND p.account = 'channel_receivable:' || s.channel "
      " AND j.effective_at >= to_timestamp($2::bigint) AND j.effective_at < to_timestamp($3::bigint)) "
      "FROM payment.statements s LEFT JOIN payment.statement_rows sr ON sr.statement_id = s.id "
      "WHERE s.bill_date = $1::date AND s.superseded_by IS NULL "
      "GROUP BY s.channel ORDER BY s.channel",
      3, p1, &c, err);
  const char *p2[2] = {s0, s1};
  if (rc == 0)
    rc = yw_pg_query_read(
        conn,
        "SELECT split_part(p.account, ':', 2), "
        "count(*) FILTER (WHERE j.kind = 'pay'), "
        "COALESCE(-sum(p.amount_fen) FILTER (WHERE j.kind = 'pay'), 0), "
        "count(*) FILTER (WHERE j.kind = 'refund'), "
        "COALESCE(sum(p.amount_fen) FILTER (WHERE j.kind = 'refund'), 0), "
        "count(*) FILTER (WHERE j.kind = 'pay_reversal'), "
        "COALESCE(sum(p.amount_fen) FILTER (WHERE j.kind = 'pay_reversal'), 0) "
        "FROM payment.journal j JOIN payment.postings p ON p.journal_id = j.id "
        "WHERE p.account LIKE 'treasury\\_payable:%' "
        "AND j.effective_at >= to_timestamp($1::bigint) AND j.effective_at < to_timestamp($2::bigint) "
        "GROUP BY 1 ORDER BY 1",
        2, p2, &dep, err);
  if (rc == 0)
    rc = yw_pg_query_read(
        conn,
        "SELECT split_part(p.account, ':', 2), split_part(p.account, ':', 3), -sum(p.amount_fen) "
        "FROM payment.journal j JOIN payment.postings p ON p.journal_id = j.id "
        "WHERE p.account LIKE 'treasury\\_payable:%' "
        "AND j.effective_at >= to_timestamp($1::bigint) AND j.effective_at < to_timestamp($2::bigint) "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        2, p2, &rem, err);
  if (rc != 0) goto out;
  rc = YW_ENOMEM;
  r->n_channels = (size_t)PQntuples(c);
  r->n_departments = (size_t)PQntuples(dep);
  r->n_remittance = (size_t)PQntuples(rem);
  r->channels = calloc(r->n_channels + 1, sizeof *r->channels);
  r->departments = calloc(r->n_departments + 1, sizeof *r->departments);
  r->remittance = calloc(r->n_remittance + 1, sizeof *r->remittance);
  if (r->channels == NULL || r->departments == NULL || r->remittance == NULL) goto out;
  for (size_t i = 0; i < r->n_channels; i++) {
    pay_report_channel *x = &r->channels[i];
    int row = (int)i;
    snprintf(x->channel, sizeof x->channel, "%s", PQgetvalue(c, row, 0));
    x->pay_count = yw_col_ll(c, row, 1);
    x->pay_fen = yw_col_ll(c, row, 2);
    x->refund_count = yw_col_ll(c, row, 3);
    x->refund_fen = yw_col_ll(c, row, 4);
    x->fee_fen = yw_col_ll(c, row, 5);
    x->open_exceptions = yw_col_ll(c, row, 6);
    x->oldest_open_age_s = yw_col_ll(c, row, 7);
    x->reversal_count = yw_col_ll(c, row, 8);
    x->reversal_fen = yw_col_ll(c, row, 9);
  }
  for (size_t i = 0; i < r->n_departments; i++) {
    pay_report_department *x = &r->departments[i];
    int row = (int)i;
    snprintf(x->department, sizeof x->department, "%s", PQgetvalue(dep, row, 0));
    x->pay_count = yw_col_ll(dep, row, 1);
    x->pay_fen = yw_col_ll(dep, row, 2);
    x->refund_count = yw_col_ll(dep, row, 3);
    x->refund_fen = yw_col_ll(dep, row, 4);
    x->reversal_count = yw_col_ll(dep, row, 5);
    x->reversal_fen = yw_col_ll(dep, row, 6);
  }
  for (size_t i = 0; i < r->n_remittance; i++) {
    pay_report_remit *x = &r->remittance[i];
    int row = (int)i;
    snprintf(x->department, sizeof x->department, "%s", PQgetvalue(rem, row, 0));
    snprintf(x->item_code, sizeof x->item_code, "%s", PQgetvalue(rem, row, 1));
    x->amount_fen = yw_col_ll(rem, row, 2);
  }
  rc = 0;
  *out = r;
  r = NULL;
out:
  PQclear(c);
  PQclear(dep);
  PQclear(rem);
  pay_report_free(r);
  return rc;
}

/* ---- CSV ----------------------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int failed;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
  if (b->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->p != NULL ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if (b->p != NULL && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->failed = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

static const char *yuan(int64_t fen, char buf[32]) {
  pay_yuan_format(fen, buf, 32);
  return buf;
}

int pay_report_csv(const pay_report *r, char **out, size_t *len) {
  sbuf b = {0};
  char y1[32], y2[32], y3[32], y4[32];
  sb_add(&b, "日期,%s\r\n\r\n", r->date);
  sb_add(&b, "渠道,支付笔数,支付金额,退款笔数,退款金额,手续费,未结异常,最久未结(秒),冲正笔数,冲正金额\r\n");
  for (size_t i = 0; i < r->n_channels; i++) {
    const pay_report_channel *x = &r->channels[i];
    sb_add(&b, "%s,%" PRId64 ",%s,%" PRId64 ",%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%s\r\n",
           x->channel, x->pay_count, yuan(x->pay_fen, y1), x->refund_count, yuan(x->refund_fen, y2),
           yuan(x->fee_fen, y3), x->open_exceptions, x->oldest_open_age_s, x->reversal_count,
           yuan(x->reversal_fen, y4));
  }
  sb_add(&b, "\r\n执收单位,支付笔数,支付金额,退款笔数,退款金额,冲正笔数,冲正金额\r\n");
  for (size_t i = 0; i < r->n_departments; i++) {
    const pay_report_department *x = &r->departments[i];
    sb_add(&b, "%s,%" PRId64 ",%s,%" PRId64 ",%s,%" PRId64 ",%s\r\n", x->department, x->pay_count,
           yuan(x->pay_fen, y1), x->refund_count, yuan(x->refund_fen, y2), x->reversal_count,
           yuan(x->reversal_fen, y3));
  }
  sb_add(&b, "\r\n执收单位,项目编码,应缴国库金额\r\n");
  for (size_t i = 0; i < r->n_remittance; i++) {
    const pay_report_remit *x = &r->remittance[i];
    sb_add(&b, "%s,%s,%s\r\n", x->department, x->item_code, yuan(x->amount_fen, y1));
  }
  if (b.failed) {
    free(b.p);
    return YW_ENOMEM;
  }
  *out = b.p;
  *len = b.len;
  return 0;
}

/* ---- XLSX ---------------------------------------------------------------------------- */

static void header(lxw_worksheet *ws, lxw_format *bold, const char *const *names, int n) {
  for (int c = 0; c < n; c++) worksheet_write_string(ws, 0, (lxw_col_t)c, names[c], bold);
}

int pay_report_xlsx(const pay_report *r, const char *tmpdir, char **out, size_t *len) {
  char path[256];
  snprintf(path, sizeof path, "%s/yw-report-XXXXXX", tmpdir != NULL ? tmpdir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) return YW_EIO;
  close(fd);
  lxw_workbook *wb = workbook_new(path);
  if (wb == NULL) {
    unlink(path);
    return YW_EIO;
  }
  lxw_format *bold = workbook_add_format(wb);
  format_set_bold(bold);
  lxw_format *money = workbook_add_format(wb);
  format_set_num_format(money, "0.00");
  lxw_worksheet *ws = workbook_add_worksheet(wb, "渠道");
  static const char *const ch_names[] = {"渠道",     "支付笔数",     "支付金额", "退款笔数", "退款金额",
                                         "手续费",   "未结异常",     "最久未结(秒)", "冲正笔数", "冲正金额"};
  header(ws, bold, ch_names, 10);
  for (size_t i = 0; i < r->n_channels; i++) {
    const pay_report_channel *x = &r->channels[i];
    lxw_row_t row = (lxw_row_t)(i + 1);
    worksheet_write_string(ws, row, 0, x->channel, NULL);
    worksheet_write_number(ws, row, 1, (double)x->pay_count, NULL);
    worksheet_write_number(ws, row, 2, (double)x->pay_fen / 100.0, money);
    worksheet_write_number(ws, row, 3, (double)x->refund_count, NULL);
    worksheet_write_number(ws, row, 4, (double)x->refund_fen / 100.0, money);
    worksheet_write_number(ws, row, 5, (double)x->fee_fen / 100.0, money);
    worksheet_write_number(ws, row, 6, (double)x->open_exceptions, NULL);
    worksheet_write_number(ws, row, 7, (double)x->oldest_open_age_s, NULL);
    worksheet_write_number(ws, row, 8, (double)x->reversal_count, NULL);
    worksheet_write_number(ws, row, 9, (double)x->reversal_fen / 100.0, money);
  }
  ws = workbook_add_worksheet(wb, "执收单位");
  static const char *const dep_names[] = {"执收单位", "支付笔数", "支付金额", "退款笔数",
                                          "退款金额", "冲正笔数", "冲正金额"};
  header(ws, bold, dep_names, 7);
  for (size_t i = 0; i < r->n_departments; i++) {
    const pay_report_department *x = &r->departments[i];
    lxw_row_t row = (lxw_row_t)(i + 1);
    worksheet_write_string(ws, row, 0, x->department, NULL);
    worksheet_write_number(ws, row, 1, (double)x->pay_count, NULL);
    worksheet_write_number(ws, row, 2, (double)x->pay_fen / 100.0, money);
    worksheet_write_number(ws, row, 3, (double)x->refund_count, NULL);
    worksheet_write_number(ws, row, 4, (double)x->refund_fen / 100.0, money);
    worksheet_write_number(ws, row, 5, (double)x->reversal_count, NULL);
    worksheet_write_number(ws, row, 6, (double)x->reversal_fen / 100.0, money);
  }
  ws = workbook_add_worksheet(wb, "国库缴款");
  static const char *const rem_names[] = {"执收单位", "项目编码", "应缴国库金额"};
  header(ws, bold, rem_names, 3);
  for (size_t i = 0; i < r->n_remittance; i++) {
    const pay_report_remit *x = &r->remittance[i];
    lxw_row_t row = (lxw_row_t)(i + 1);
    worksheet_write_string(ws, row, 0, x->department, NULL);
    worksheet_write_string(ws, row, 1, x->item_code, NULL);
    worksheet_write_number(ws, row, 2, (double)x->amount_fen / 100.0, money);
  }
  int rc = workbook_close(wb) == LXW_NO_ERROR ? 0 : YW_EIO;
  FILE *f = rc == 0 ? fopen(path, "rb") : NULL;
  if (rc == 0 && f == NULL) rc = YW_EIO;
  if (f != NULL) {
    char *buf = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) rc = YW_EIO;
    if (rc == 0 && (buf = malloc((size_t)size + 1)) == NULL) rc = YW_ENOMEM;
    if (rc == 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) rc = YW_EIO;
    fclose(f);
    if (rc == 0) {
      *out = buf;
      *len = (size_t)size;
    } else {
      free(buf);
    }
  }
  unlink(path);
  return rc;
}
