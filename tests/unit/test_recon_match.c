/*
 * test_recon_match.c - the matching core of reconciliation (payment/recon.c): each class
 * (MATCHED, AMOUNT_MISMATCH, CHANNEL_ONLY, PLATFORM_ONLY, DEFERRED) from a hand-made day;
 * the cut-off window's edge (a platform row exactly cutoff_s before midnight is deferred,
 * one a second earlier is short); the previous day's deferred rows matching today's
 * statement and, still missing, turning PLATFORM_ONLY; payments and refunds of the same
 * order never cross-matching; a key repeated on one side; shuffled inputs giving the same
 * results; and a generated statement of 1,000,000 rows written, parsed and matched with
 * four planted differences found exactly (the time is printed, not asserted).
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
#include <time.h>

#include "recon.h"
#include "statement.h"
#include "yw_err.h"
#include "yw_testrecon.h"

/* 2026-12-02 00:00:00 Asia/Shanghai: the end of the day 2026-12-01. */
#define DAY_END 1796140800
#define DAY_START (DAY_END - 86400)

static pay_recon_item item(pay_stmt_kind kind, const char *key, int64_t fen, int64_t t) {
  pay_recon_item it = {.kind = kind, .key = key, .out_trade_no = key, .amount_fen = fen,
                       .time_unix = t};
  return it;
}

/* The class of the result whose channel or platform row has key and kind; -1 if none. */
static int class_of(const pay_recon_result *r, size_t n, pay_stmt_kind kind, const char *key) {
  for (size_t i = 0; i < n; i++) {
    const pay_recon_item *it = r[i].channel != NULL ? r[i].channel : r[i].platform;
    if (it->kind == kind && strcmp(it->key, key) == 0) return (int)r[i].cls;
  }
  return -1;
}

static void every_class_from_a_hand_made_day(void **state) {
  (void)state;
  pay_recon_window w = {.day_end_unix = DAY_END, .cutoff_s = 300};
  pay_recon_item ch[] = {
      item(PAY_STMT_PAY, "M1", 1250, DAY_START + 100),
      item(PAY_STMT_PAY, "AM", 1000, DAY_START + 200),
      item(PAY_STMT_PAY, "LONG", 700, DAY_START + 300),
      item(PAY_STMT_REFUND, "RF1", 500, DAY_START + 400),
  };
  pay_recon_item pf[] = {
      item(PAY_STMT_PAY, "M1", 1250, DAY_START + 100),
      item(PAY_STMT_PAY, "AM", 999, DAY_START + 200),
      item(PAY_STMT_PAY, "SHORT", 300, DAY_START + 5000),
      item(PAY_STMT_PAY, "LATE", 400, DAY_END - 60),
      item(PAY_STMT_REFUND, "RF1", 500, DAY_START + 400),
  };
  pay_recon_result *r = NULL;
  size_t n = 0;
  assert_int_equal(pay_recon_match(ch, 4, pf, 5, &w, &r, &n), 0);
  assert_int_equal(n, 6);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "M1"), PAY_RECON_MATCHED);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "AM"), PAY_RECON_AMOUNT_MISMATCH);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "LONG"), PAY_RECON_CHANNEL_ONLY);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "SHORT"), PAY_RECON_PLATFORM_ONLY);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "LATE"), PAY_RECON_DEFERRED);
  assert_int_equal(class_of(r, n, PAY_STMT_REFUND, "RF1"), PAY_RECON_MATCHED);
  for (size_t i = 0; i < n; i++) {
    if (r[i].cls == PAY_RECON_MATCHED || r[i].cls == PAY_RECON_AMOUNT_MISMATCH) {
      assert_non_null(r[i].channel);
      assert_non_null(r[i].platform);
    }
    if (r[i].cls == PAY_RECON_CHANNEL_ONLY) assert_null(r[i].platform);
    if (r[i].cls == PAY_RECON_PLATFORM_ONLY || r[i].cls == PAY_RECON_DEFERRED)
      assert_null(r[i].channel);
  }
  /* the amounts of a mismatch are both kept */
  for (size_t i = 0; i < n; i++)
    if (r[i].cls == PAY_RECON_AMOUNT_MISMATCH) {
      assert_int_equal(r[i].channel->amount_fen, 1000);
      assert_int_equal(r[i].platform->amount_fen, 999);
    }
  free(r);
  assert_string_equal(pay_recon_class_name(PAY_RECON_CHANNEL_ONLY), "CHANNEL_ONLY");
  assert_int_equal(pay_recon_class_parse("DEFERRED"), PAY_RECON_DEFERRED);
  assert_int_equal(pay_recon_class_parse("deferred"), -1);
  assert_null(pay_recon_class_name((pay_recon_class)9));
}

static void the_cutoff_edge_is_exact(void **state) {
  (void)state;
  pay_recon_window w = {.day_end_unix = DAY_END, .cutoff_s = 300};
  pay_recon_item pf[] = {
      item(PAY_STMT_PAY, "EDGE", 100, DAY_END - 300),
      item(PAY_STMT_PAY, "BEFORE", 100, DAY_END - 301),
      item(PAY_STMT_PAY, "LASTSEC", 100, DAY_END - 1),
  };
  pay_recon_result *r = NULL;
  size_t n = 0;
  assert_int_equal(pay_recon_match(NULL, 0, pf, 3, &w, &r, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "EDGE"), PAY_RECON_DEFERRED);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "BEFORE"), PAY_RECON_PLATFORM_ONLY);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "LASTSEC"), PAY_RECON_DEFERRED);
  free(r);
  /* a zero window defers nothing */
  w.cutoff_s = 0;
  assert_int_equal(pay_recon_match(NULL, 0, pf, 3, &w, &r, &n), 0);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "LASTSEC"), PAY_RECON_PLATFORM_ONLY);
  free(r);
  w.cutoff_s = -1;
  assert_int_equal(pay_recon_match(NULL, 0, pf, 3, &w, &r, &n), YW_EINVAL);
}

static void yesterdays_deferred_rows_match_today_or_turn_short(void **state) {
  (void)state;
  /* day 2026-12-02: yesterday deferred LATE1 and LATE2; today's statement has LATE1 */
  pay_recon_window w = {.day_end_unix = DAY_END + 86400, .cutoff_s = 300};
  pay_recon_item ch[] = {item(PAY_STMT_PAY, "LATE1", 400, DAY_END + 2)};
  pay_recon_item pf[] = {item(PAY_STMT_PAY, "LATE1", 400, DAY_END - 60),
                         item(PAY_STMT_PAY, "LATE2", 500, DAY_END - 30)};
  pf[0].carried = pf[1].carried = 1;
  pay_recon_result *r = NULL;
  size_t n = 0;
  assert_int_equal(pay_recon_match(ch, 1, pf, 2, &w, &r, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "LATE1"), PAY_RECON_MATCHED);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "LATE2"), PAY_RECON_PLATFORM_ONLY);
  free(r);
}

static void payments_and_refunds_never_cross_match(void **state) {
  (void)state;
  pay_recon_window w = {.day_end_unix = DAY_END, .cutoff_s = 300};
  /* a refund numbered like an order, and the order paid */
  pay_recon_item ch[] = {item(PAY_STMT_REFUND, "X", 100, DAY_START + 10)};
  pay_recon_item pf[] = {item(PAY_STMT_PAY, "X", 100, DAY_START + 10)};
  pay_recon_result *r = NULL;
  size_t n = 0;
  assert_int_equal(pay_recon_match(ch, 1, pf, 1, &w, &r, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(class_of(r, n, PAY_STMT_REFUND, "X"), PAY_RECON_CHANNEL_ONLY);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "X"), PAY_RECON_PLATFORM_ONLY);
  free(r);
}

static void a_repeated_key_pairs_in_order_and_the_surplus_is_one_sided(void **state) {
  (void)state;
  pay_recon_window w = {.day_end_unix = DAY_END, .cutoff_s = 300};
  pay_recon_item ch[] = {item(PAY_STMT_PAY, "D", 100, DAY_START + 20),
                         item(PAY_STMT_PAY, "D", 100, DAY_START + 10)};
  pay_recon_item pf[] = {item(PAY_STMT_PAY, "D", 100, DAY_START + 10)};
  pay_recon_result *r = NULL;
  size_t n = 0;
  assert_int_equal(pay_recon_match(ch, 2, pf, 1, &w, &r, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(r[0].cls, PAY_RECON_MATCHED);
  assert_int_equal(r[0].channel->time_unix, DAY_START + 10);
  assert_int_equal(r[1].cls, PAY_RECON_CHANNEL_ONLY);
  assert_int_equal(r[1].channel->time_unix, DAY_START + 20);
  free(r);
}

/* A fixed generator (xorshift) so that runs are repeatable. */
static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void shuffle(pay_recon_item *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(next_rand() % i);
    pay_recon_item t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

static void shuffled_inputs_give_the_same_results(void **state) {
  (void)state;
  enum { N = 200 };
  static char keys[N][16];
  pay_recon_item ch[N], pf[N];
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "K%03d", i);
    ch[i] = item(i % 5 == 0 ? PAY_STMT_REFUND : PAY_STMT_PAY, keys[i], 100 + i, DAY_START + i);
    pf[i] = ch[i];
    if (i % 7 == 0) pf[i].amount_fen++;
    if (i % 11 == 0) pf[i].key = "ZZZ-missing-on-channel";
  }
  pay_recon_window w = {.day_end_unix = DAY_END, .cutoff_s = 300};
  pay_recon_result *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  assert_int_equal(pay_recon_match(ch, N, pf, N, &w, &a, &na), 0);
  char first[N * 2][64];
  for (size_t i = 0; i < na; i++) {
    const pay_recon_item *it = a[i].channel != NULL ? a[i].channel : a[i].platform;
    snprintf(first[i], sizeof first[i], "%d %d %s %lld", (int)a[i].cls, (int)it->kind, it->key,
             (long long)it->time_unix);
  }
  shuffle(ch, N);
  shuffle(pf, N);
  assert_int_equal(pay_recon_match(ch, N, pf, N, &w, &b, &nb), 0);
  assert_int_equal(na, nb);
  for (size_t i = 0; i < nb; i++) {
    const pay_recon_item *it = b[i].channel != NULL ? b[i].channel : b[i].platform;
    char s[64];
    snprintf(s, sizeof s, "%d %d %s %lld", (int)b[i].cls, (int)it->kind, it->key,
             (long long)it->time_unix);
    assert_string_equal(s, first[i]);
  }
  free(a);
  free(b);
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void a_million_row_statement_is_matched_exactly(void **state) {
  (void)state;
  enum { N = 1000000 };
  yw_recon_day day;
  assert_int_equal(yw_recon_day_make(&day, N, DAY_START), 0);
  pay_stmt_row *rows = day.rows;
  pay_recon_item *pf = day.items;
  /* planted: an amount off by a fen, a row the platform lacks, one the channel lacks,
   * and one the channel lacks just before midnight */
  pf[1000].amount_fen += 1;
  pf[2000].key = "YW-not-on-platform";
  rows[3000].out_trade_no = "YW-only-channel";
  pf[N - 2].time_unix = DAY_END - 10;
  rows[N - 2].out_trade_no = "YW-dropped-by-channel";

  char *text = NULL;
  size_t len = 0;
  assert_int_equal(pay_statement_write(rows, N, &text, &len), 0);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pay_statement *st = NULL;
  char err[PAY_STATEMENT_ERR_MAX];
  int rc = pay_statement_parse(text, len, &st, err);
  if (rc != 0) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  double t_parse = seconds_since(&t0);
  pay_recon_item *ch = calloc(st->n, sizeof *ch);
  assert_non_null(ch);
  pay_recon_items_from_statement(st, ch);
  pay_recon_window w = {.day_end_unix = DAY_END, .cutoff_s = 300};
  pay_recon_result *r = NULL;
  size_t n = 0;
  assert_int_equal(pay_recon_match(ch, st->n, pf, N, &w, &r, &n), 0);
  double t_all = seconds_since(&t0);
  printf("1,000,000-row statement (%zu bytes): parse %.2f s, parse+match %.2f s\n", len, t_parse,
         t_all);
  size_t count[PAY_RECON_CLASSES] = {0};
  for (size_t i = 0; i < n; i++) count[r[i].cls]++;
  assert_int_equal(count[PAY_RECON_AMOUNT_MISMATCH], 1);
  /* each renamed row leaves its old key one-sided on the other side: 2000 (renamed on
   * the platform), 3000 and N-2 (renamed on the statement) */
  assert_int_equal(count[PAY_RECON_CHANNEL_ONLY], 3);
  assert_int_equal(count[PAY_RECON_PLATFORM_ONLY], 2);
  assert_int_equal(count[PAY_RECON_DEFERRED], 1);
  assert_int_equal(count[PAY_RECON_MATCHED], N - 4);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "YW-only-channel"), PAY_RECON_CHANNEL_ONLY);
  assert_int_equal(class_of(r, n, PAY_STMT_PAY, "YW-not-on-platform"), PAY_RECON_PLATFORM_ONLY);
  free(r);
  free(ch);
  pay_statement_free(st);
  free(text);
  yw_recon_day_free(&day);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_class_from_a_hand_made_day),
      cmocka_unit_test(the_cutoff_edge_is_exact),
      cmocka_unit_test(yesterdays_deferred_rows_match_today_or_turn_short),
      cmocka_unit_test(payments_and_refunds_never_cross_match),
      cmocka_unit_test(a_repeated_key_pairs_in_order_and_the_surplus_is_one_sided),
      cmocka_unit_test(shuffled_inputs_give_the_same_results),
      cmocka_unit_test(a_million_row_statement_is_matched_exactly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
