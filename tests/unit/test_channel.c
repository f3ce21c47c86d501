/*
 * test_channel.c - the channel adapter's pure parts (payment/channel_sim.c), no network:
 * settings parsed into channels (and refused when malformed, naming the entry), RFC 3339
 * times both ways in Asia/Shanghai, trade states by name, a key's serial, and a
 * notification refused before its body is looked at when a header is missing or it is
 * too big. The calls over HTTP are test_paysim's, but for answers the simulator never
 * gives, which a one-answer HTTP server of this test gives.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "yw_err.h"
#include "yw_seal.h"

static char g_pem_path[64] = "/tmp/yw-test-channel.XXXXXX";
static char g_rsa_path[80];
static const char *KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static int setup(void **state) {
  (void)state;
  int fd = mkstemp(g_pem_path);
  if (fd < 0) return -1;
  char *priv = NULL, *pub = NULL;
  if (yw_seal_generate(&priv, &pub) != 0) return -1;
  int ok = write(fd, pub, strlen(pub)) == (ssize_t)strlen(pub);
  close(fd);
  free(priv);
  free(pub);
  /* an RSA public key beside it */
  snprintf(g_rsa_path, sizeof g_rsa_path, "%s.rsa", g_pem_path);
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  FILE *f = fopen(g_rsa_path, "w");
  ok = ok && k != NULL && f != NULL && PEM_write_PUBKEY(f, k) == 1;
  if (f != NULL) fclose(f);
  EVP_PKEY_free(k);
  return ok ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  unlink(g_pem_path);
  unlink(g_rsa_path);
  return 0;
}

static void test_channels_loaded_from_settings(void **state) {
  (void)state;
  char keys[512], err[256];
  snprintf(keys, sizeof keys, "sim=1900000001:%s:%s, sim-sm2=1900000002:%s:%s", KEY, g_rsa_path,
           KEY, g_pem_path);
  pay_channels *set = NULL;
  assert_int_equal(pay_channels_load("sim=http://127.0.0.1:8090/sim/,sim-sm2=http://h:1/sim-sm2",
                                     keys, &set, err, sizeof err), 0);
  assert_int_equal(pay_channels_count(set), 2);
  assert_string_equal(pay_channel_name(pay_channels_at(set, 0)), "sim");
  assert_string_equal(pay_channel_name(pay_channels_at(set, 1)), "sim-sm2");
  assert_null(pay_channels_at(set, 2));
  assert_string_equal(pay_channel_mchid(pay_channels_find(set, "sim")), "1900000001");
  assert_string_equal(pay_channel_mchid(pay_channels_find(set, "sim-sm2")), "1900000002");
  assert_null(pay_channels_find(set, "si"));
  pay_channels_free(set);
  pay_channels_free(NULL);
}

static void test_channels_malformed_refused_naming_the_entry(void **state) {
  (void)state;
  char keys[512], err[256];
  pay_channels *set = NULL;
  snprintf(keys, sizeof keys, "sim=1900000001:%s:%s", KEY, g_rsa_path);
  struct {
    const char *spec, *keys, *says;
  } bad[] = {
      {"", keys, "no channels"},
      {"sim", keys, "not name="},
      {"sim=ftp://x/sim", keys, "not name="},
      {"sim=http://127.0.0.1:1/sim,sim=http://127.0.0.1:1/sim", keys, "named twice"},
      {"bank=http://127.0.0.1:1/bank", "bank=1:aa:/x", "no adapter"},
      {"sim-sm2=http://127.0.0.1:1/s", keys, "no keys"},
      {"sim=http://127.0.0.1:1/s", "sim=1900000001:abcd:/x", "64 hex"},
      {"sim=http://127.0.0.1:1/s", "sim=1900000001", "64 hex"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = '\0';
    assert_int_equal(pay_channels_load(bad[i].spec, bad[i].keys, &set, err, sizeof err), YW_EINVAL);
    assert_null(set);
    if (strstr(err, bad[i].says) == NULL) fail_msg("entry %zu: \"%s\" lacks \"%s\"", i, err, bad[i].says);
  }
  char k2[512];
  snprintf(k2, sizeof k2, "sim=1900000001:%s:/nonexistent.pem", KEY);
  assert_int_equal(pay_channels_load("sim=http://127.0.0.1:1/s", k2, &set, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "/nonexistent.pem"));
  snprintf(k2, sizeof k2, "sim=1900000001:%s:%s", "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
           g_rsa_path);
  assert_int_equal(pay_channels_load("sim=http://127.0.0.1:1/s", k2, &set, NULL, 0), YW_EINVAL);
}

static void test_times_rfc3339_in_shanghai(void **state) {
  (void)state;
  int64_t t = 0;
  char out[PAY_TIME_MAX];
  assert_int_equal(pay_time_parse("2026-12-01T10:00:00+08:00", &t), 0);
  assert_int_equal(t, 1796090400);
  assert_string_equal(pay_time_format(t, out), "2026-12-01T10:00:00+08:00");
  assert_int_equal(pay_time_parse("2026-12-01T02:00:00Z", &t), 0);
  assert_int_equal(t, 1796090400);
  assert_int_equal(pay_time_parse("2026-12-01T02:00:00.123456Z", &t), 0);
  assert_int_equal(t, 1796090400);
  assert_int_equal(pay_time_parse("2026-11-30T21:00:00-05:00", &t), 0);
  assert_int_equal(t, 1796090400);
  /* 16:00 UTC is the next day in Shanghai */
  assert_int_equal(pay_time_parse("2026-12-31T16:00:00Z", &t), 0);
  assert_string_equal(pay_time_format(t, out), "2027-01-01T00:00:00+08:00");
  const char *bad[] = {"", "2026-12-01", "2026-12-01T10:00:00", "2026-13-01T10:00:00Z",
                       "2026-12-01T24:00:00Z", "2026-12-01T10:00:00+8:00", "2026-12-01T10:00:00+08:00x",
                       "x026-12-01T10:00:00Z"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(pay_time_parse(bad[i], &t), YW_EINVAL);
  assert_int_equal(pay_time_parse(NULL, &t), YW_EINVAL);
}

static void test_states_by_name(void **state) {
  (void)state;
  const char *names[] = {"NOTPAY", "SUCCESS", "CLOSED", "REFUND", "PAYERROR"};
  for (size_t i = 0; i < 5; i++) {
    pay_trade_state s;
    assert_int_equal(pay_channel_state_parse(names[i], &s), 0);
    assert_int_equal(s, (pay_trade_state)i);
    assert_string_equal(pay_channel_state_name(s), names[i]);
  }
  pay_trade_state s;
  assert_int_equal(pay_channel_state_parse("success", &s), YW_EINVAL);
  assert_int_equal(pay_channel_state_parse(NULL, &s), YW_EINVAL);
}

static void test_key_serial_stable_and_distinct(void **state) {
  (void)state;
  char pem[4096], a[33], b[33], c[33];
  FILE *f = fopen(g_pem_path, "r");
  size_t n = fread(pem, 1, sizeof pem, f);
  fclose(f);
  assert_int_equal(pay_channel_key_serial_pem(pem, n, a), 0);
  assert_int_equal(pay_channel_key_serial_pem(pem, n, b), 0);
  assert_string_equal(a, b);
  assert_int_equal(strlen(a), 32);
  f = fopen(g_rsa_path, "r");
  n = fread(pem, 1, sizeof pem, f);
  fclose(f);
  assert_int_equal(pay_channel_key_serial_pem(pem, n, c), 0);
  assert_string_not_equal(a, c);
  assert_int_equal(pay_channel_key_serial_pem("not a key", 9, c), YW_EINVAL);
}

static void test_notification_without_headers_or_too_big_refused(void **state) {
  (void)state;
  char keys[512];
  snprintf(keys, sizeof keys, "sim-sm2=1900000002:%s:%s", KEY, g_pem_path);
  pay_channels *set = NULL;
  assert_int_equal(pay_channels_load("sim-sm2=http://127.0.0.1:1/sim-sm2", keys, &set, NULL, 0), 0);
  const pay_channel *ch = pay_channels_find(set, "sim-sm2");
  const uint8_t body[] = "{}";
  pay_notice n;
  assert_int_equal(pay_channel_verify_notify(ch, NULL, "n", NULL, "c2ln", body, 2, 0, &n), YW_EPERM);
  assert_int_equal(pay_channel_verify_notify(ch, "1", NULL, NULL, "c2ln", body, 2, 0, &n), YW_EPERM);
  assert_int_equal(pay_channel_verify_notify(ch, "1", "n", NULL, NULL, body, 2, 0, &n), YW_EPERM);
  assert_int_equal(pay_channel_verify_notify(ch, "1x", "n", NULL, "c2ln", body, 2, 0, &n), YW_EPERM);
  assert_int_equal(pay_channel_verify_notify(ch, "1", "n", NULL, "c2ln", body, 2, 1, &n), YW_EPERM);
  assert_int_equal(pay_channel_verify_notify(ch, "1", "n", NULL, "c2ln", body, 70000, 1, &n), YW_ETOOBIG);
  pay_channels_free(set);
}

/* ---- answers the simulator never gives, from a one-answer server ------------------ */

struct canned {
  int fd;
  const char *body;
};

static void *answer_once(void *arg) {
  struct canned *c = arg;
  int s = accept(c->fd, NULL, NULL);
  if (s < 0) return NULL;
  char buf[4096];
  size_t got = 0;
  while (got < sizeof buf - 1) { /* the request's head (a GET has no body) */
    ssize_t n = read(s, buf + got, sizeof buf - 1 - got);
    if (n <= 0) break;
    got += (size_t)n;
    buf[got] = '\0';
    if (strstr(buf, "\r\n\r\n") != NULL) break;
  }
  char head[160];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    strlen(c->body));
  if (write(s, head, (size_t)hl) == hl && write(s, c->body, strlen(c->body)) < 0) hl = 0;
  close(s);
  return NULL;
}

/* Regression (review 2 #9): a query answering SUCCESS without a success time was taken
 * as paid, and the order's paid_at became 1970-01-01. It is no answer to book from. */
static void test_a_success_without_its_time_is_no_answer(void **state) {
  (void)state;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 4), 0);
  /* the one-answer server's accept() gives up after 10 s: a client that never connects
   * fails the test instead of hanging it */
  struct timeval tv = {.tv_sec = 10};
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  char urls[96], keys[512], err[256];
  snprintf(urls, sizeof urls, "sim=http://127.0.0.1:%d/sim", ntohs(a.sin_port));
  snprintf(keys, sizeof keys, "sim=1900000001:%s:%s", KEY, g_rsa_path);
  pay_channels *set = NULL;
  assert_int_equal(pay_channels_load(urls, keys, &set, err, sizeof err), 0);
  const pay_channel *ch = pay_channels_find(set, "sim");
  static const char *const bodies[] = {
      "{\"trade_state\":\"SUCCESS\",\"transaction_id\":\"42\","
      "\"amount\":{\"total\":100,\"payer_total\":100,\"currency\":\"CNY\"}}",
      "{\"trade_state\":\"SUCCESS\",\"transaction_id\":\"42\",\"success_time\":\"2026-12-01T10:00:00+08:00\","
      "\"amount\":{\"total\":100,\"payer_total\":100,\"currency\":\"CNY\"}}",
  };
  for (int i = 0; i < 2; i++) {
    struct canned c = {fd, bodies[i]};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, answer_once, &c), 0);
    pay_query_res q;
    char code[PAY_CODE_MAX];
    int rc = pay_channel_query(ch, "YW0000000000000001", 5000, &q, code);
    pthread_join(th, NULL);
    if (i == 0) {
      assert_int_equal(rc, YW_EUNAVAIL);
    } else { /* the same answer with its time: read whole */
      assert_int_equal(rc, 0);
      assert_int_equal(q.state, PAY_TRADE_SUCCESS);
      assert_int_equal(q.total_fen, 100);
      assert_int_equal(q.success_unix, 1796090400); /* 2026-12-01T10:00:00+08:00 */
    }
  }
  pay_channels_free(set);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_channels_loaded_from_settings),
      cmocka_unit_test(test_channels_malformed_refused_naming_the_entry),
      cmocka_unit_test(test_times_rfc3339_in_shanghai),
      cmocka_unit_test(test_states_by_name),
      cmocka_unit_test(test_key_serial_stable_and_distinct),
      cmocka_unit_test(test_notification_without_headers_or_too_big_refused),
      cmocka_unit_test(test_a_success_without_its_time_is_no_answer),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
