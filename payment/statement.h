/*
 * statement.h - a channel's daily statement (对账单): the CSV a channel publishes for
 * one merchant and one day (Asia/Shanghai date of the success time), parsed into rows
 * of integer fen and checked against its own summary row.
 *
 * The format (payment_spec "Statement"): a header row naming the columns, one row per
 * payment (交易状态 SUCCESS) or refund (REFUND), every field prefixed with a backtick,
 * amounts in yuan with exactly two decimals, then a summary header and one summary row
 * (row count, sum of the SUCCESS rows' 订单金额, sum of 退款金额, sum of 手续费). CRLF
 * or LF line ends. Columns are found by their names, so their order may change.
 *
 * Ownership: pay_statement_parse copies the text once; every string of every row
 * points into that copy and lives until pay_statement_free. No floating point anywhere:
 * yuan text becomes fen by integer arithmetic (pay_yuan_parse).
 */
#ifndef PAY_STATEMENT_H
#define PAY_STATEMENT_H

#include <stddef.h>
#include <stdint.h>

/* The longest statement text accepted: 512 MiB (a million rows take about 170 MiB). */
#define PAY_STATEMENT_MAX_BYTES (512u << 20)
/* The most data rows accepted. */
#define PAY_STATEMENT_MAX_ROWS 20000000u
/* Bytes of pay_statement_error's text, NUL included. */
#define PAY_STATEMENT_ERR_MAX 256
/* A row's 订单金额 or 退款金额 above this (10^12 fen, ten thousand million yuan) is refused:
 * PAY_STATEMENT_MAX_ROWS such amounts still add up far inside int64. */
#define PAY_STMT_AMOUNT_MAX_FEN 1000000000000LL

/* What a row records: a payment or a refund. The order is the matching order. */
typedef enum pay_stmt_kind { PAY_STMT_PAY = 0, PAY_STMT_REFUND = 1 } pay_stmt_kind;

typedef struct pay_stmt_row {
  int64_t time_unix;         /* 交易时间, read as Asia/Shanghai (UTC+8) */
  const char *mchid;         /* 商户号 */
  const char *out_trade_no;  /* 商户订单号 */
  const char *transaction_id;/* 渠道订单号 */
  const char *trade_type;    /* 交易类型, e.g. NATIVE */
  const char *out_refund_no; /* 商户退款单号; "" on a payment row */
  pay_stmt_kind kind;        /* SUCCESS -> PAY_STMT_PAY, REFUND -> PAY_STMT_REFUND */
  int64_t order_fen;         /* 订单金额 */
  int64_t refund_fen;        /* 退款金额 (0 on a payment row) */
  int64_t fee_fen;           /* 手续费, negative on a refund row */
  uint32_t line;             /* 1-based line number in the file */
} pay_stmt_row;

typedef struct pay_statement {
  pay_stmt_row *rows;        /* n rows in file order */
  size_t n;
  int64_t pay_total_fen;     /* the summary's 应结订单总金额 (checked against the rows) */
  int64_t refund_total_fen;  /* the summary's 退款总金额 */
  int64_t fee_total_fen;     /* the summary's 手续费总金额 */
  char *text;                /* the parsed copy the rows point into */
} pay_statement;

/* Parses yuan text s[0..len) ("12.50", "-0.03", "0.00", optionally a leading backtick):
 * an optional '-', 1 to 13 digits without a superfluous leading zero, '.', exactly two
 * digits. *fen gets the exact integer amount. YW_EINVAL for anything else. */
int pay_yuan_parse(const char *s, size_t len, int64_t *fen);

/* Writes fen as yuan with two decimals ("-0.03") and a NUL into out (size >= 24).
 * Returns the length written or YW_EINVAL when out is too small. */
int pay_yuan_format(int64_t fen, char *out, size_t size);

/* Parses a statement of len bytes. On success *out is a new statement (free with
 * pay_statement_free). On failure returns YW_EINVAL (malformed: err holds a sentence
 * naming the line and the field, e.g. "line 7: 订单金额 \"12.5\" is not yuan with two
 * decimals"), YW_ETOOBIG (past the caps) or YW_ENOMEM, and *out is NULL. err may be NULL;
 * otherwise it has room for PAY_STATEMENT_ERR_MAX bytes. */
int pay_statement_parse(const char *csv, size_t len, pay_statement **out, char *err);

/* Writes n rows as a statement in the format pay_statement_parse reads (header, rows,
 * summary computed from the rows, LF line ends) into a new buffer *out (len bytes plus
 * a NUL; free with free()). For the simulator, tests and benchmarks. YW_EINVAL when a
 * row's strings are NULL or its time is outside 2000..2100, YW_ENOMEM. */
int pay_statement_write(const pay_stmt_row *rows, size_t n, char **out, size_t *len);

/* Frees a statement. Accepts NULL. */
void pay_statement_free(pay_statement *st);

#endif
