/*
 * reports.h - the daily finance report of one day (Asia/Shanghai): per channel (what
 * the channel's statement says, and the open exceptions with the age of the oldest;
 * the payments reconciliation reversed), per department (what the ledger booked to its
 * treasury payable, the reversals beside the payments), and the remittance
 * due to the treasury per department and item; as CSV and as Excel (.xlsx, written by
 * libxlsxwriter).
 *
 * Ownership: a pay_report and its lines are the caller's (pay_report_free); the export
 * buffers are the caller's (free()). Amounts are fen in the report and yuan with two
 * decimals in the exports.
 */
#ifndef PAY_REPORTS_H
#define PAY_REPORTS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "yw_pg.h"

/* reversal_count, reversal_fen: payments of the day the platform booked and
 * reconciliation reversed (journal pay_reversal, effective when the payment was: the
 * channel never took them), from the ledger; they net the day's payments out. */
typedef struct pay_report_channel {
  char channel[40];
  int64_t pay_count, pay_fen, refund_count, refund_fen, fee_fen;
  int64_t open_exceptions, oldest_open_age_s;
  int64_t reversal_count, reversal_fen;
} pay_report_channel;

/* pay_count and pay_fen count every payment booked; the reversed ones are counted
 * again in reversal_count and reversal_fen, so the department's net is pay_fen -
 * refund_fen - reversal_fen (what its remittance lines sum to). */
typedef struct pay_report_department {
  char department[72];
  int64_t pay_count, pay_fen, refund_count, refund_fen;
  int64_t reversal_count, reversal_fen;
} pay_report_department;

typedef struct pay_report_remit {
  char department[72];
  char item_code[40];
  int64_t amount_fen;
} pay_report_remit;

typedef struct pay_report {
  char date[11];
  pay_report_channel *channels;
  size_t n_channels;
  pay_report_department *departments;
  size_t n_departments;
  pay_report_remit *remittance;
  size_t n_remittance;
} pay_report;

/* Reads the report of date ("YYYY-MM-DD") on conn. Returns 0 with *out (free with
 * pay_report_free), YW_EINVAL (a bad date), YW_ENOMEM or a yw_pg_query code with err. */
int pay_report_daily(PGconn *conn, const char *date, pay_report **out, yw_pg_error *err);

void pay_report_free(pay_report *r);

/* The report as CSV (UTF-8, CRLF, one section after the other with a header each):
 * *out (NUL-terminated) and *len. 0 or YW_ENOMEM. */
int pay_report_csv(const pay_report *r, char **out, size_t *len);

/* The report as an .xlsx workbook with the sheets 渠道 (channels), 执收单位
 * (departments) and 国库缴款 (remittance), amounts in yuan as numbers with two decimals.
 * tmpdir: where the file is built ("/tmp"). 0, YW_EIO or YW_ENOMEM. */
int pay_report_xlsx(const pay_report *r, const char *tmpdir, char **out, size_t *len);

#endif
