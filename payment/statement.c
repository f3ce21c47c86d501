/*
 * statement.c - parsing a channel's daily statement CSV into rows of integer fen.
 *
 * Design: the text is copied once and cut in place (every separator becomes a NUL), so
 * a million-row statement costs one copy, one array of rows and no allocation per row.
 * Columns are located by the header's names; a missing column is an error naming it.
 * Yuan are read digit by digit into fen (no floating point, no strtod). The summary row
 * is then compared with what the rows add up to: a statement that disagrees with itself
 * is refused whole, naming the summary line and the figure that differs.
 *
 * Offers: pay_yuan_parse, pay_yuan_format, pay_statement_parse, pay_statement_free.
 */
#include "statement.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"
#include "yw_workdays.h"

/* Identifiers (merchant number, order numbers) longer than this are refused. */
#define ID_MAX 64

enum col {
  C_TIME, C_MCHID, C_OUT_TRADE_NO, C_TXN, C_TYPE, C_STATE, C_ORDER_AMT, C_OUT_REFUND_NO,
  C_REFUND_AMT, C_FEE, C_RATE, C_COUNT
};

static const char *const COL_NAMES[C_COUNT] = {
    "交易时间", "商户号",     "商户订单号", "渠道订单号", "交易类型", "交易状态",
    "订单金额", "商户退款单号", "退款金额",   "手续费",     "费率"};

enum scol { S_COUNT_ROWS, S_PAY_TOTAL, S_REFUND_TOTAL, S_FEE_TOTAL, S_COUNT };

static const char *const SUM_NAMES[S_COUNT] = {"总交易单数", "应结订单总金额", "退款总金额",
                                               "手续费总金额"};

/* The most fields a line may have (columns the parser does not know are skipped). */
#define FIELDS_MAX 32

static void fail(char *err, const char *fmt, ...) {
  if (err == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, PAY_STATEMENT_ERR_MAX, fmt, ap);
  va_end(ap);
}

int pay_yuan_parse(const char *s, size_t len, int64_t *fen) {
  if (s == NULL || fen == NULL) return YW_EINVAL;
  size_t i = 0;
  if (i < len && s[i] == '`') i++;
  int neg = 0;
  if (i < len && s[i] == '-') {
    neg = 1;
    i++;
  }
  size_t start = i;
  int64_t v = 0;
  while (i < len && s[i] >= '0' && s[i] <= '9') {
    if (i - start < 14) v = v * 10 + (s[i] - '0'); /* longer is refused below */
    i++;
  }
  size_t digits = i - start;
  /* 13 digits of yuan keep v * 100 far inside int64 */
  if (digits == 0 || digits > 13) return YW_EINVAL;
  if (digits > 1 && s[start] == '0') return YW_EINVAL;
  if (i + 3 != len || s[i] != '.') return YW_EINVAL;
  if (s[i + 1] < '0' || s[i + 1] > '9' || s[i + 2] < '0' || s[i + 2] > '9') return YW_EINVAL;
  v = v * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
  if (neg && v == 0) return YW_EINVAL; /* "-0.00" is not an amount a channel writes */
  *fen = neg ? -v : v;
  return 0;
}

int pay_yuan_format(int64_t fen, char *out, size_t size) {
  if (out == NULL || size < 24) return YW_EINVAL;
  uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
  int n = snprintf(out, size, "%s%" PRIu64 ".%02" PRIu64, fen < 0 ? "-" : "", a / 100, a % 100);
  return n;
}

/* "YYYY-MM-DD HH:MM:SS" read as Asia/Shanghai, into unix seconds. */
static int parse_time(const char *s, int64_t *out) {
  if (strlen(s) != 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':') return YW_EINVAL;
  yw_day day;
  if (yw_day_parse(s, 10, &day) != 0) return YW_EINVAL;
  int v[3];
  for (int k = 0; k < 3; k++) {
    const char *p = s + 11 + 3 * k;
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return YW_EINVAL;
    v[k] = (p[0] - '0') * 10 + (p[1] - '0');
  }
  if (v[0] > 23 || v[1] > 59 || v[2] > 59) return YW_EINVAL;
  *out = (int64_t)day * 86400 + v[0] * 3600 + v[1] * 60 + v[2] - 8 * 3600;
  return 0;
}

/* Cuts the line starting at *pos (ending at '\n' or end) in place; returns its start or
 * NULL at the end of the text. A trailing '\r' is removed. */
static char *next_line(char *text, size_t len, size_t *pos) {
  if (*pos >= len) return NULL;
  char *start = text + *pos;
  char *nl = memchr(start, '\n', len - *pos);
  size_t l = nl != NULL ? (size_t)(nl - start) : len - *pos;
  *pos += l + (nl != NULL ? 1 : 0);
  if (l > 0 && start[l - 1] == '\r') l--;
  start[l] = '\0';
  return start;
}

/* Splits a NUL-terminated line at commas in place; strips one leading backtick of each
 * field. Returns the number of fields, or -1 past FIELDS_MAX. */
static int split(char *line, char **f) {
  int n = 0;
  char *p = line;
  for (;;) {
    if (n == FIELDS_MAX) return -1;
    f[n++] = p[0] == '`' ? p + 1 : p;
    char *c = strchr(p, ',');
    if (c == NULL) break;
    *c = '\0';
    p = c + 1;
  }
  return n;
}

static int is_blank(const char *line) { return line[0] == '\0'; }

static int check_id(const char *v, int allow_empty) {
  size_t l = strlen(v);
  if (l == 0) return allow_empty ? 0 : -1;
  if (l > ID_MAX) return -1;
  for (size_t i = 0; i < l; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c <= ' ' || c == 0x7f || c == '"') return -1;
  }
  return 0;
}

int pay_statement_parse(const char *csv, size_t len, pay_statement **out, char *err) {
  if (err != NULL) err[0] = '\0';
  if (out == NULL) return YW_EINVAL;
  *out = NULL;
  if (csv == NULL) {
    fail(err, "empty statement");
    return YW_EINVAL;
  }
  if (len > PAY_STATEMENT_MAX_BYTES) {
    fail(err, "statement of %zu bytes is past the cap of %u", len, PAY_STATEMENT_MAX_BYTES);
    return YW_ETOOBIG;
  }
  int rc = YW_ENOMEM;
  pay_statement *st = calloc(1, sizeof *st);
  if (st == NULL) return YW_ENOMEM;
  st->text = malloc(len + 1);
  if (st->text == NULL) goto out;
  memcpy(st->text, csv, len);
  st->text[len] = '\0';
  char *text = st->text;
  size_t pos = 0;
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* a BOM */
  if (memchr(text, '\0', len) != NULL) {
    fail(err, "statement holds a NUL byte");
    rc = YW_EINVAL;
    goto out;
  }
  size_t cap = 1;
  for (const char *p = text; (p = memchr(p, '\n', (size_t)(text + len - p))) != NULL; p++) cap++;
  if (cap > PAY_STATEMENT_MAX_ROWS) {
    fail(err, "statement has more than %u lines", PAY_STATEMENT_MAX_ROWS);
    rc = YW_ETOOBIG;
    goto out;
  }
  st->rows = malloc(cap * sizeof *st->rows);
  if (st->rows == NULL) goto out;
  rc = YW_EINVAL;

  char *f[FIELDS_MAX];
  uint32_t lineno = 0;
  char *line;
  /* the header */
  do {
    line = next_line(text, len, &pos);
    lineno++;
  } while (line != NULL && is_blank(line));
  if (line == NULL) {
    fail(err, "statement is empty");
    goto out;
  }
  int nf = split(line, f);
  if (nf < 0) {
    fail(err, "line %u: more than %d columns", lineno, FIELDS_MAX);
    goto out;
  }
  int col[C_COUNT];
  for (int c = 0; c < C_COUNT; c++) {
    col[c] = -1;
    for (int k = 0; k < nf; k++)
      if (strcmp(f[k], COL_NAMES[c]) == 0) col[c] = k;
    if (col[c] < 0) {
      fail(err, "line %u: the header has no column %s", lineno, COL_NAMES[c]);
      goto out;
    }
  }
  int ncols = nf;

  /* the rows, up to the summary header */
  int64_t pay_sum = 0, refund_sum = 0, fee_sum = 0;
  for (;;) {
    line = next_line(text, len, &pos);
    lineno++;
    if (line == NULL) {
      fail(err, "line %u: the statement ends without its summary (总交易单数)", lineno);
      goto out;
    }
    if (is_blank(line)) continue;
    nf = split(line, f);
    int is_summary = 0;
    for (int k = 0; k < nf; k++)
      if (strcmp(f[k], SUM_NAMES[S_COUNT_ROWS]) == 0) is_summary = 1;
    if (is_summary) break;
    if (nf != ncols) {
      fail(err, "line %u: %d fields where the header has %d", lineno, nf < 0 ? FIELDS_MAX : nf,
           ncols);
      goto out;
    }
    pay_stmt_row *r = &st->rows[st->n];
    memset(r, 0, sizeof *r);
    r->line = lineno;
    if (parse_time(f[col[C_TIME]], &r->time_unix) != 0) {
      fail(err, "line %u: 交易时间 \"%.40s\" is not YYYY-MM-DD HH:MM:SS", lineno, f[col[C_TIME]]);
      goto out;
    }
    r->mchid = f[col[C_MCHID]];
    r->out_trade_no = f[col[C_OUT_TRADE_NO]];
    r->transaction_id = f[col[C_TXN]];
    r->trade_type = f[col[C_TYPE]];
    r->out_refund_no = f[col[C_OUT_REFUND_NO]];
    static const int ids[] = {C_MCHID, C_OUT_TRADE_NO, C_TXN, C_TYPE};
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++)
      if (check_id(f[col[ids[k]]], 0) != 0) {
        fail(err, "line %u: %s \"%.40s\" is empty, too long or holds spaces", lineno,
             COL_NAMES[ids[k]], f[col[ids[k]]]);
        goto out;
      }
    const char *state = f[col[C_STATE]];
    if (strcmp(state, "SUCCESS") == 0)
      r->kind = PAY_STMT_PAY;
    else if (strcmp(state, "REFUND") == 0)
      r->kind = PAY_STMT_REFUND;
    else {
      fail(err, "line %u: 交易状态 \"%.40s\" is neither SUCCESS nor REFUND", lineno, state);
      goto out;
    }
    static const int amts[] = {C_ORDER_AMT, C_REFUND_AMT, C_FEE};
    int64_t *dst[] = {&r->order_fen, &r->refund_fen, &r->fee_fen};
    for (int k = 0; k < 3; k++) {
      const char *v = f[col[amts[k]]];
      if (pay_yuan_parse(v, strlen(v), dst[k]) != 0) {
        fail(err, "line %u: %s \"%.40s\" is not yuan with two decimals", lineno,
             COL_NAMES[amts[k]], v);
        goto out;
      }
    }
    if (r->order_fen <= 0) {
      fail(err, "line %u: 订单金额 must be positive", lineno);
      goto out;
    }
    if (r->order_fen > PAY_STMT_AMOUNT_MAX_FEN || r->refund_fen > PAY_STMT_AMOUNT_MAX_FEN) {
      fail(err, "line %u: %s is above %lld yuan", lineno,
           r->order_fen > PAY_STMT_AMOUNT_MAX_FEN ? "订单金额" : "退款金额",
           PAY_STMT_AMOUNT_MAX_FEN / 100);
      goto out;
    }
    if (r->kind == PAY_STMT_PAY) {
      if (r->refund_fen != 0 || r->out_refund_no[0] != '\0') {
        fail(err, "line %u: a SUCCESS row with a refund (商户退款单号/退款金额)", lineno);
        goto out;
      }
      if (__builtin_add_overflow(pay_sum, r->order_fen, &pay_sum)) goto too_much;
    } else {
      if (check_id(r->out_refund_no, 0) != 0) {
        fail(err, "line %u: a REFUND row without a valid 商户退款单号", lineno);
        goto out;
      }
      if (r->refund_fen <= 0 || r->refund_fen > r->order_fen) {
        fail(err, "line %u: 退款金额 must be positive and at most 订单金额", lineno);
        goto out;
      }
    }
    /* a payment's fee is charged (0..amount), a refund's given back (-refund..0) */
    if (r->kind == PAY_STMT_PAY ? (r->fee_fen < 0 || r->fee_fen > r->order_fen)
                                : (r->fee_fen > 0 || r->fee_fen < -r->refund_fen)) {
      fail(err, "line %u: 手续费 must have the sign of its row and be at most its amount",
           lineno);
      goto out;
    }
    if (__builtin_add_overflow(refund_sum, r->refund_fen, &refund_sum) ||
        __builtin_add_overflow(fee_sum, r->fee_fen, &fee_sum))
      goto too_much;
    st->n++;
  }
  uint32_t sum_head_line = lineno;
  int scol[S_COUNT];
  for (int c = 0; c < S_COUNT; c++) {
    scol[c] = -1;
    for (int k = 0; k < nf; k++)
      if (strcmp(f[k], SUM_NAMES[c]) == 0) scol[c] = k;
    if (scol[c] < 0) {
      fail(err, "line %u: the summary header has no column %s", sum_head_line, SUM_NAMES[c]);
      goto out;
    }
  }
  int snf = nf;
  do {
    line = next_line(text, len, &pos);
    lineno++;
  } while (line != NULL && is_blank(line));
  if (line == NULL) {
    fail(err, "line %u: the summary header is not followed by the summary row", lineno);
    goto out;
  }
  nf = split(line, f);
  if (nf != snf) {
    fail(err, "line %u: %d summary fields where the summary header has %d", lineno,
         nf < 0 ? FIELDS_MAX : nf, snf);
    goto out;
  }
  const char *cnt = f[scol[S_COUNT_ROWS]];
  size_t cl = strlen(cnt);
  uint64_t count = 0;
  if (cl == 0 || cl > 9) {
    fail(err, "line %u: 总交易单数 \"%.40s\" is not a count", lineno, cnt);
    goto out;
  }
  for (size_t k = 0; k < cl; k++) {
    if (cnt[k] < '0' || cnt[k] > '9') {
      fail(err, "line %u: 总交易单数 \"%.40s\" is not a count", lineno, cnt);
      goto out;
    }
    count = count * 10 + (uint64_t)(cnt[k] - '0');
  }
  int64_t *tot[] = {&st->pay_total_fen, &st->refund_total_fen, &st->fee_total_fen};
  for (int c = S_PAY_TOTAL; c <= S_FEE_TOTAL; c++) {
    const char *v = f[scol[c]];
    if (pay_yuan_parse(v, strlen(v), tot[c - 1]) != 0) {
      fail(err, "line %u: %s \"%.40s\" is not yuan with two decimals", lineno, SUM_NAMES[c], v);
      goto out;
    }
  }
  if (count != st->n) {
    fail(err, "line %u: 总交易单数 says %" PRIu64 " but the statement has %zu rows", lineno, count,
         st->n);
    goto out;
  }
  const int64_t have[] = {pay_sum, refund_sum, fee_sum};
  for (int c = S_PAY_TOTAL; c <= S_FEE_TOTAL; c++) {
    if (*tot[c - 1] != have[c - 1]) {
      char a[32], b[32];
      pay_yuan_format(*tot[c - 1], a, sizeof a);
      pay_yuan_format(have[c - 1], b, sizeof b);
      fail(err, "line %u: %s says %s but the rows add up to %s", lineno, SUM_NAMES[c], a, b);
      goto out;
    }
  }
  while ((line = next_line(text, len, &pos)) != NULL) {
    lineno++;
    if (!is_blank(line)) {
      fail(err, "line %u: text after the summary row", lineno);
      goto out;
    }
  }
  *out = st;
  return 0;
too_much:
  fail(err, "line %u: the amounts add up past what a statement can hold", lineno);
  rc = YW_EINVAL;
out:
  pay_statement_free(st);
  return rc;
}

void pay_statement_free(pay_statement *st) {
  if (st == NULL) return;
  free(st->rows);
  free(st->text);
  free(st);
}

/* A growing output buffer for pay_statement_write. */
typedef struct outbuf {
  char *p;
  size_t len, cap;
  int failed;
} outbuf;

static void out_put(outbuf *b, const char *s, size_t l) {
  if (b->failed) return;
  if (b->len + l + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + l + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->failed = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, l);
  b->len += l;
  b->p[b->len] = '\0';
}

static void out_str(outbuf *b, const char *s) { out_put(b, s, strlen(s)); }

static void out_field(outbuf *b, const char *s, int last) {
  out_put(b, "`", 1);
  out_str(b, s);
  out_put(b, last ? "\n" : ",", 1);
}

static void out_yuan(outbuf *b, int64_t fen, int last) {
  char y[32];
  pay_yuan_format(fen, y, sizeof y);
  out_field(b, y, last);
}

int pay_statement_write(const pay_stmt_row *rows, size_t n, char **out, size_t *len) {
  if (out == NULL || len == NULL || (n > 0 && rows == NULL)) return YW_EINVAL;
  *out = NULL;
  *len = 0;
  outbuf b = {0};
  for (int c = 0; c < C_COUNT; c++) {
    out_str(&b, COL_NAMES[c]);
    out_put(&b, c + 1 < C_COUNT ? "," : "\n", 1);
  }
  int64_t pay = 0, refund = 0, fee = 0;
  for (size_t i = 0; i < n; i++) {
    const pay_stmt_row *r = &rows[i];
    if (r->mchid == NULL || r->out_trade_no == NULL || r->transaction_id == NULL ||
        r->trade_type == NULL)
      goto bad;
    yw_day day;
    int64_t local = r->time_unix + 8 * 3600;
    if (yw_day_from_time((time_t)r->time_unix, &day) != 0) goto bad;
    int y, m, d;
    yw_day_to_ymd(day, &y, &m, &d);
    int64_t sec = local - (int64_t)day * 86400;
    char t[32];
    snprintf(t, sizeof t, "%04d-%02d-%02d %02d:%02d:%02d", y, m, d, (int)(sec / 3600),
             (int)(sec / 60 % 60), (int)(sec % 60));
    out_field(&b, t, 0);
    out_field(&b, r->mchid, 0);
    out_field(&b, r->out_trade_no, 0);
    out_field(&b, r->transaction_id, 0);
    out_field(&b, r->trade_type, 0);
    out_field(&b, r->kind == PAY_STMT_PAY ? "SUCCESS" : "REFUND", 0);
    out_yuan(&b, r->order_fen, 0);
    out_field(&b, r->kind == PAY_STMT_PAY || r->out_refund_no == NULL ? "" : r->out_refund_no, 0);
    out_yuan(&b, r->kind == PAY_STMT_PAY ? 0 : r->refund_fen, 0);
    out_yuan(&b, r->fee_fen, 0);
    out_field(&b, "0.60%", 1);
    if (r->kind == PAY_STMT_PAY)
      pay += r->order_fen;
    else
      refund += r->refund_fen;
    fee += r->fee_fen;
  }
  for (int c = 0; c < S_COUNT; c++) {
    out_str(&b, SUM_NAMES[c]);
    out_put(&b, c + 1 < S_COUNT ? "," : "\n", 1);
  }
  char cnt[32];
  snprintf(cnt, sizeof cnt, "%zu", n);
  out_field(&b, cnt, 0);
  out_yuan(&b, pay, 0);
  out_yuan(&b, refund, 0);
  out_yuan(&b, fee, 1);
  if (b.failed) {
    free(b.p);
    return YW_ENOMEM;
  }
  *out = b.p;
  *len = b.len;
  return 0;
bad:
  free(b.p);
  return YW_EINVAL;
}
