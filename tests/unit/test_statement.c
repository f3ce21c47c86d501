/*
 * test_statement.c - parsing a channel's statement CSV (payment/statement.c): the
 * spec's example with CRLF line ends read field by field into exact fen, yuan text
 * accepted and refused, columns found by name in any order and a BOM, and every kind of
 * malformed file refused with a sentence naming its line: bad amount text, a summary
 * that lies about the count or a total, a missing column, a missing summary, text after
 * the summary, a short row, an unknown state, a refund row without its refund number.
 * A statement written by pay_statement_write parses back to the same rows.
 */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statement.h"
#include "yw_err.h"

#define HEADER "交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,商户退款单号,退款金额,手续费,费率"
#define SUMHEAD "总交易单数,应结订单总金额,退款总金额,手续费总金额"

static const char EXAMPLE[] =
    HEADER "\r\n"
    "`2026-12-01 10:00:00,`1900000001,`YW20261201A,`4200001,`NATIVE,`SUCCESS,`12.50,`,`0.00,`0.08,`0.60%\r\n"
    "`2026-12-01 11:00:00,`1900000001,`YW20261201A,`4200001,`NATIVE,`REFUND,`12.50,`RF1,`5.00,`-0.03,`0.60%\r\n"
    SUMHEAD "\r\n"
    "`2,`12.50,`5.00,`0.05\r\n";

static pay_statement *parse_ok(const char *text) {
  pay_statement *st = NULL;
  char err[PAY_STATEMENT_ERR_MAX];
  int rc = pay_statement_parse(text, strlen(text), &st, err);
  if (rc != 0) fprintf(stderr, "unexpected refusal: %s\n", err);
  assert_int_equal(rc, 0);
  assert_non_null(st);
  return st;
}

/* Asserts the text is refused with YW_EINVAL and an error containing want. */
static void parse_bad(const char *text, const char *want) {
  pay_statement *st = (pay_statement *)1;
  char err[PAY_STATEMENT_ERR_MAX];
  int rc = pay_statement_parse(text, strlen(text), &st, err);
  assert_int_equal(rc, YW_EINVAL);
  assert_null(st);
  if (strstr(err, want) == NULL) fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, want);
  assert_non_null(strstr(err, want));
}

static void example_parses_into_exact_fen(void **state) {
  (void)state;
  pay_statement *st = parse_ok(EXAMPLE);
  assert_int_equal(st->n, 2);
  const pay_stmt_row *p = &st->rows[0], *r = &st->rows[1];
  assert_int_equal(p->kind, PAY_STMT_PAY);
  assert_string_equal(p->mchid, "1900000001");
  assert_string_equal(p->out_trade_no, "YW20261201A");
  assert_string_equal(p->transaction_id, "4200001");
  assert_string_equal(p->trade_type, "NATIVE");
  assert_string_equal(p->out_refund_no, "");
  assert_int_equal(p->order_fen, 1250);
  assert_int_equal(p->refund_fen, 0);
  assert_int_equal(p->fee_fen, 8);
  /* 2026-12-01 10:00:00 +08:00 = 2026-12-01T02:00:00Z */
  assert_int_equal(p->time_unix, 1796090400);
  assert_int_equal(p->line, 2);
  assert_int_equal(r->kind, PAY_STMT_REFUND);
  assert_string_equal(r->out_refund_no, "RF1");
  assert_int_equal(r->order_fen, 1250);
  assert_int_equal(r->refund_fen, 500);
  assert_int_equal(r->fee_fen, -3);
  assert_int_equal(r->time_unix, 1796090400 + 3600);
  assert_int_equal(r->line, 3);
  assert_int_equal(st->pay_total_fen, 1250);
  assert_int_equal(st->refund_total_fen, 500);
  assert_int_equal(st->fee_total_fen, 5);
  pay_statement_free(st);
}

static void yuan_text_is_read_exactly(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int64_t fen;
  } good[] = {{"0.00", 0},       {"0.01", 1},          {"`12.50", 1250},
              {"-0.03", -3},     {"19.99", 1999},      {"1000000.07", 100000007},
              {"0.29", 29},      {"9999999999999.99", 999999999999999}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int64_t fen = -1;
    assert_int_equal(pay_yuan_parse(good[i].s, strlen(good[i].s), &fen), 0);
    assert_int_equal(fen, good[i].fen);
  }
  static const char *const bad[] = {"",      "12",    "12.5",   "12.505", "1,2.50", "abc",
                                    ".50",   "012.50", "-0.00", "+1.00",  "1.0a",   " 1.00",
                                    "1e2.00", "--1.00", "10000000000000.00",
                                    "38888888888888888888888888.00"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t fen = 42;
    assert_int_equal(pay_yuan_parse(bad[i], strlen(bad[i]), &fen), YW_EINVAL);
    assert_int_equal(fen, 42);
  }
  char out[32];
  pay_yuan_format(-3, out, sizeof out);
  assert_string_equal(out, "-0.03");
  pay_yuan_format(100000007, out, sizeof out);
  assert_string_equal(out, "1000000.07");
}

static void columns_are_found_by_name_and_a_bom_is_skipped(void **state) {
  (void)state;
  const char *text =
      "\xEF\xBB\xBF"
      "商户订单号,交易状态,订单金额,交易时间,商户号,渠道订单号,交易类型,商户退款单号,退款金额,手续费,费率,备注\n"
      "`A1,`SUCCESS,`3.00,`2026-12-01 00:00:00,`19,`T1,`NATIVE,`,`0.00,`0.02,`0.60%,`x\n"
      "\n"
      "退款总金额,总交易单数,手续费总金额,应结订单总金额\n"
      "`0.00,`1,`0.02,`3.00\n\n";
  pay_statement *st = parse_ok(text);
  assert_int_equal(st->n, 1);
  assert_string_equal(st->rows[0].out_trade_no, "A1");
  assert_int_equal(st->rows[0].order_fen, 300);
  assert_int_equal(st->rows[0].time_unix, 1796054400);
  pay_statement_free(st);
}

static void an_empty_day_has_a_zero_summary(void **state) {
  (void)state;
  pay_statement *st = parse_ok(HEADER "\n" SUMHEAD "\n`0,`0.00,`0.00,`0.00\n");
  assert_int_equal(st->n, 0);
  pay_statement_free(st);
}

static void bad_amount_text_names_line_and_column(void **state) {
  (void)state;
  parse_bad(HEADER "\n"
                   "`2026-12-01 10:00:00,`19,`A,`T,`NATIVE,`SUCCESS,`12.5,`,`0.00,`0.08,`0.60%\n" SUMHEAD
                   "\n`1,`12.50,`0.00,`0.08\n",
            "line 2: 订单金额 \"12.5\" is not yuan with two decimals");
  parse_bad(HEADER "\n"
                   "`2026-12-01 10:00:00,`19,`A,`T,`NATIVE,`SUCCESS,`12.50,`,`0.00,`0.08,`0.60%\n"
                   "`2026-12-01 10:00:00,`19,`B,`T,`NATIVE,`SUCCESS,`1.00,`,`0.00,`0.0x,`0.60%\n" SUMHEAD
                   "\n`2,`13.50,`0.00,`0.09\n",
            "line 3: 手续费 \"0.0x\"");
  parse_bad(HEADER "\n" SUMHEAD "\n`0,`0.0,`0.00,`0.00\n", "line 3: 应结订单总金额 \"0.0\"");
}

static void a_summary_that_lies_is_refused(void **state) {
  (void)state;
  const char *row = "`2026-12-01 10:00:00,`19,`A,`T,`NATIVE,`SUCCESS,`12.50,`,`0.00,`0.08,`0.60%\n";
  char text[1024];
  snprintf(text, sizeof text, HEADER "\n%s" SUMHEAD "\n`2,`12.50,`0.00,`0.08\n", row);
  parse_bad(text, "line 4: 总交易单数 says 2 but the statement has 1 rows");
  snprintf(text, sizeof text, HEADER "\n%s" SUMHEAD "\n`1,`12.51,`0.00,`0.08\n", row);
  parse_bad(text, "line 4: 应结订单总金额 says 12.51 but the rows add up to 12.50");
  snprintf(text, sizeof text, HEADER "\n%s" SUMHEAD "\n`1,`12.50,`1.00,`0.08\n", row);
  parse_bad(text, "退款总金额 says 1.00 but the rows add up to 0.00");
  snprintf(text, sizeof text, HEADER "\n%s" SUMHEAD "\n`1,`12.50,`0.00,`0.07\n", row);
  parse_bad(text, "手续费总金额 says 0.07 but the rows add up to 0.08");
  snprintf(text, sizeof text, HEADER "\n%s" SUMHEAD "\n`x,`12.50,`0.00,`0.08\n", row);
  parse_bad(text, "总交易单数 \"x\" is not a count");
}

static void missing_columns_and_structure_are_refused(void **state) {
  (void)state;
  parse_bad("交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,商户退款单号,退款金额,费率\n" SUMHEAD
            "\n`0,`0.00,`0.00,`0.00\n",
            "line 1: the header has no column 手续费");
  parse_bad(HEADER "\n总交易单数,应结订单总金额,退款总金额\n`0,`0.00,`0.00\n",
            "line 2: the summary header has no column 手续费总金额");
  parse_bad(HEADER "\n"
                   "`2026-12-01 10:00:00,`19,`A,`T,`NATIVE,`SUCCESS,`12.50,`,`0.00,`0.08,`0.60%\n",
            "ends without its summary");
  parse_bad(HEADER "\n" SUMHEAD "\n", "line 3: the summary header is not followed by the summary row");
  parse_bad(HEADER "\n" SUMHEAD "\n`0,`0.00,`0.00,`0.00\nmore\n", "line 4: text after the summary row");
  parse_bad(HEADER "\n`2026-12-01 10:00:00,`19,`A,`T,`NATIVE,`SUCCESS,`12.50,`,`0.00,`0.08\n" SUMHEAD
                   "\n`1,`12.50,`0.00,`0.08\n",
            "line 2: 10 fields where the header has 11");
  parse_bad(HEADER "\n`2026-12-01 10:00:00,`19,`A,`T,`NATIVE,`CLOSED,`12.50,`,`0.00,`0.08,`0.60%\n" SUMHEAD
                   "\n`1,`12.50,`0.00,`0.08\n",
            "line 2: 交易状态 \"CLOSED\" is neither SUCCESS nor REFUND");
  parse_bad(HEADER "\n`2026-12-01 10:00:00,`19,`A,`T,`NATIVE,`REFUND,`12.50,`,`5.00,`-0.03,`0.60%\n" SUMHEAD
                   "\n`1,`0.00,`5.00,`-0.03\n",
            "line 2: a REFUND row without a valid 商户退款单号");
  parse_bad(HEADER "\n`2026-12-01 10:00:00,`19,`A,`T,`NATIVE,`REFUND,`12.50,`R,`15.00,`-0.03,`0.60%\n" SUMHEAD
                   "\n`1,`0.00,`15.00,`-0.03\n",
            "退款金额 must be positive and at most 订单金额");
  parse_bad(HEADER "\n`2026-12-01 24:00:00,`19,`A,`T,`NATIVE,`SUCCESS,`12.50,`,`0.00,`0.08,`0.60%\n" SUMHEAD
                   "\n`1,`12.50,`0.00,`0.08\n",
            "line 2: 交易时间 \"2026-12-01 24:00:00\"");
  parse_bad(HEADER "\n`2026-12-01 10:00:00,`19,`,`T,`NATIVE,`SUCCESS,`12.50,`,`0.00,`0.08,`0.60%\n" SUMHEAD
                   "\n`1,`12.50,`0.00,`0.08\n",
            "line 2: 商户订单号 \"\" is empty");
  parse_bad("", "statement is empty");
}

/* A row's amount above PAY_STMT_AMOUNT_MAX_FEN (10^12 fen) is refused, so no number of
 * rows can add up past int64; a fee must carry its row's sign (a payment's is charged,
 * a refund's given back) and be at most the row's amount, else it would credit the
 * clearing account with more than the channel moved. */
static void huge_amounts_and_wrong_fees_are_refused(void **state) {
  (void)state;
  parse_bad(HEADER "\n"
            "`2026-12-01 10:00:00,`1,`A,`T1,`NATIVE,`SUCCESS,`9999999999999.99,`,`0.00,`0.00,`0%\n"
            SUMHEAD "\n`1,`9999999999999.99,`0.00,`0.00\n",
            "line 2: 订单金额 is above");
  parse_bad(HEADER "\n"
            "`2026-12-01 10:00:00,`1,`A,`T1,`NATIVE,`SUCCESS,`10.00,`,`0.00,`10.01,`0%\n"
            SUMHEAD "\n`1,`10.00,`0.00,`10.01\n",
            "line 2: 手续费");
  parse_bad(HEADER "\n"
            "`2026-12-01 10:00:00,`1,`A,`T1,`NATIVE,`SUCCESS,`10.00,`,`0.00,`-0.01,`0%\n"
            SUMHEAD "\n`1,`10.00,`0.00,`-0.01\n",
            "line 2: 手续费");
  parse_bad(HEADER "\n"
            "`2026-12-01 10:00:00,`1,`A,`T1,`NATIVE,`REFUND,`10.00,`R1,`5.00,`0.01,`0%\n"
            SUMHEAD "\n`1,`0.00,`5.00,`0.01\n",
            "line 2: 手续费");
  parse_bad(HEADER "\n"
            "`2026-12-01 10:00:00,`1,`A,`T1,`NATIVE,`REFUND,`10.00,`R1,`5.00,`-5.01,`0%\n"
            SUMHEAD "\n`1,`0.00,`5.00,`-5.01\n",
            "line 2: 手续费");
  /* at the cap, with fees on the edge, it is still a statement */
  pay_statement *st = parse_ok(HEADER "\n"
      "`2026-12-01 10:00:00,`1,`A,`T1,`NATIVE,`SUCCESS,`10000000000.00,`,`0.00,`10000000000.00,`0%\n"
      "`2026-12-01 10:00:01,`1,`A,`T1,`NATIVE,`REFUND,`10.00,`R1,`5.00,`-5.00,`0%\n"
      SUMHEAD "\n`2,`10000000000.00,`5.00,`9999999995.00\n");
  assert_int_equal(st->rows[0].order_fen, PAY_STMT_AMOUNT_MAX_FEN);
  pay_statement_free(st);
}

static void a_written_statement_parses_back(void **state) {
  (void)state;
  pay_stmt_row rows[3] = {
      {.time_unix = 1796054400, .mchid = "19", .out_trade_no = "A", .transaction_id = "T1",
       .trade_type = "NATIVE", .kind = PAY_STMT_PAY, .order_fen = 1999, .fee_fen = 12},
      {.time_unix = 1796140799, .mchid = "19", .out_trade_no = "A", .transaction_id = "T1",
       .trade_type = "NATIVE", .out_refund_no = "R1", .kind = PAY_STMT_REFUND,
       .order_fen = 1999, .refund_fen = 1000, .fee_fen = -6},
      {.time_unix = 1796100000, .mchid = "19", .out_trade_no = "B", .transaction_id = "T2",
       .trade_type = "NATIVE", .kind = PAY_STMT_PAY, .order_fen = 1, .fee_fen = 0},
  };
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(pay_statement_write(rows, 3, &text, &len), 0);
  assert_int_equal(strlen(text), len);
  assert_non_null(strstr(text, "`2026-12-01 23:59:59,`19,`A,`T1,`NATIVE,`REFUND,`19.99,`R1,`10.00,`-0.06"));
  pay_statement *st = parse_ok(text);
  assert_int_equal(st->n, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(st->rows[i].time_unix, rows[i].time_unix);
    assert_int_equal(st->rows[i].kind, rows[i].kind);
    assert_int_equal(st->rows[i].order_fen, rows[i].order_fen);
    assert_int_equal(st->rows[i].refund_fen, rows[i].refund_fen);
    assert_int_equal(st->rows[i].fee_fen, rows[i].fee_fen);
    assert_string_equal(st->rows[i].out_trade_no, rows[i].out_trade_no);
  }
  assert_int_equal(st->pay_total_fen, 2000);
  assert_int_equal(st->refund_total_fen, 1000);
  assert_int_equal(st->fee_total_fen, 6);
  pay_statement_free(st);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(example_parses_into_exact_fen),
      cmocka_unit_test(yuan_text_is_read_exactly),
      cmocka_unit_test(columns_are_found_by_name_and_a_bom_is_skipped),
      cmocka_unit_test(an_empty_day_has_a_zero_summary),
      cmocka_unit_test(bad_amount_text_names_line_and_column),
      cmocka_unit_test(a_summary_that_lies_is_refused),
      cmocka_unit_test(missing_columns_and_structure_are_refused),
      cmocka_unit_test(a_written_statement_parses_back),
      cmocka_unit_test(huge_amounts_and_wrong_fees_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
