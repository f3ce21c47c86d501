/*
 * test_rpc_tls.c - mutual TLS of the gRPC runtime on the real gRPC core, with
 * certificates made at test time by tools/pki.sh (openssl, EC P-256) in a temporary
 * folder. Proves: the three settings go together; unreadable, wrong and mismatched files
 * are refused with a message naming the file; a TLS server and a TLS client talk (calls
 * and health checks); the server refuses a cleartext client, a client whose certificate
 * another CA signed, and the client refuses a server it cannot verify; the server's name
 * is checked against the target's host (an ipv4: list has none: it needs the name
 * given), and YW_TLS_SERVER_NAME (server_name) replaces it; a CA file holding two CAs
 * trusts both (how the CA is changed); the files are read once, at start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "yiwang/test/v1/echo.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#ifndef YW_SOURCE_DIR
#error "YW_SOURCE_DIR must name the source tree (tools/pki.sh)"
#endif

static char dir[64]; /* the temporary folder with the certificates */

static int echo(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                void *data) {
  (void)data;
  const Yiwang__Test__V1__EchoRequest *req = (const void *)reqm;
  Yiwang__Test__V1__EchoReply *r = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *r);
  yiwang__test__v1__echo_reply__init(r);
  r->text = yw_arena_strndup(yw_rpc_call_arena(call), req->text, (size_t)-1);
  *out = &r->base;
  return 0;
}

static const yw_rpc_method methods[] = {{"Echo", echo, NULL}, {"Other", echo, NULL}};
static const yw_rpc_service service = {&yiwang__test__v1__echo_service__descriptor, methods, 2, NULL};

/* Runs tools/pki.sh with args (trusted text from this file only). */
static int pki(const char *args) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "bash %s/tools/pki.sh %s", YW_SOURCE_DIR, args);
  return system(cmd);
}

/* dir/name into buf. */
static const char *path(char *buf, size_t size, const char *name) {
  snprintf(buf, size, "%s/%s", dir, name);
  return buf;
}

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_ERROR);
  snprintf(dir, sizeof dir, "/tmp/yw-tls-test.XXXXXX");
  if (mkdtemp(dir) == NULL) return -1;
  char args[256];
  /* ours: a CA, a server (localhost, 127.0.0.1), a client; another CA with its own
   * client and server; a server known only by a DNS name */
  snprintf(args, sizeof args, "dev %s/ours", dir);
  if (pki(args) != 0) return -1;
  snprintf(args, sizeof args, "server %s/ours named DNS:yw-test.internal", dir);
  if (pki(args) != 0) return -1;
  snprintf(args, sizeof args, "dev %s/other", dir);
  if (pki(args) != 0) return -1;
  /* a CA file with both CAs, as while the CA is being changed */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cat %s/ours/ca.crt %s/other/ca.crt > %s/both-ca.crt", dir, dir, dir);
  if (system(cmd) != 0) return -1;
  snprintf(cmd, sizeof cmd, "echo 'not a certificate' > %s/garbage.pem", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* The files of one side: CA, certificate and key under dir. */
struct side {
  char ca[128], cert[128], key[128];
  yw_rpc_tls tls;
};

static const yw_rpc_tls *side(struct side *s, const char *ca, const char *cert, const char *key,
                              const char *server_name) {
  s->tls.ca_file = path(s->ca, sizeof s->ca, ca);
  s->tls.cert_file = path(s->cert, sizeof s->cert, cert);
  s->tls.key_file = path(s->key, sizeof s->key, key);
  s->tls.server_name = server_name;
  return &s->tls;
}

/* Starts a TLS server with tls on 127.0.0.1; its port in *port. */
static yw_rpc_server *tls_server(const yw_rpc_tls *tls, int *port) {
  yw_rpc_server *s = NULL;
  assert_int_equal(yw_rpc_server_new_tls("127.0.0.1:0", 2, tls, &s), 0);
  assert_int_equal(yw_rpc_server_add_service(s, &service), 0);
  assert_int_equal(yw_rpc_server_start(s), 0);
  *port = yw_rpc_server_port(s);
  return s;
}

/* One Echo call to target through a client with tls (NULL: cleartext). */
static grpc_status_code call_echo(const char *target, const yw_rpc_tls *tls, char *text_out,
                                  size_t text_size) {
  yw_rpc_client *c = NULL;
  assert_int_equal(yw_rpc_client_new(&c), 0);
  if (tls != NULL) {
    char err[256];
    int rc = yw_rpc_client_set_tls(c, tls, err, sizeof err);
    if (rc != 0) fprintf(stderr, "set_tls: %s\n", err);
    assert_int_equal(rc, 0);
  }
  yw_rpc_channel *ch = yw_rpc_channel_new(c, target, 1, 0);
  assert_non_null(ch);
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "居民身份证换领";
  ProtobufCMessage *out = NULL;
  char msg[256];
  grpc_status_code st =
      yw_rpc_call_sync(ch, "/yiwang.test.v1.EchoService/Echo", &req.base,
                       &yiwang__test__v1__echo_reply__descriptor, NULL, &out, NULL, 0, 5000, msg,
                       sizeof msg);
  if (text_out != NULL) {
    snprintf(text_out, text_size, "%s",
             out != NULL ? ((Yiwang__Test__V1__EchoReply *)out)->text : "");
  }
  if (out != NULL) protobuf_c_message_free_unpacked(out, NULL);
  yw_rpc_channel_free(ch);
  yw_rpc_client_free(c);
  return st;
}

/* ---- settings and files --------------------------------------------------------- */

static void test_the_three_settings_go_together(void **state) {
  (void)state;
  yw_rpc_tls tls;
  char err[256] = "";
  assert_int_equal(yw_rpc_tls_from_settings(&tls, "", "", "", NULL, err, sizeof err), 0);
  assert_null(tls.ca_file);
  assert_int_equal(yw_rpc_tls_from_settings(&tls, NULL, NULL, NULL, NULL, err, sizeof err), 0);
  assert_int_equal(yw_rpc_tls_from_settings(&tls, "a", "b", "c", "", err, sizeof err), 1);
  assert_string_equal(tls.ca_file, "a");
  assert_string_equal(tls.cert_file, "b");
  assert_string_equal(tls.key_file, "c");
  assert_null(tls.server_name); /* "" is no override */
  assert_int_equal(yw_rpc_tls_from_settings(&tls, "a", "b", "c", "svc.internal", err, sizeof err),
                   1);
  assert_string_equal(tls.server_name, "svc.internal");
  /* only the certificate: the message names the two that are missing */
  assert_int_equal(yw_rpc_tls_from_settings(&tls, "", "b", "", NULL, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "YW_TLS_CA and YW_TLS_KEY are empty"));
  assert_int_equal(yw_rpc_tls_from_settings(&tls, "a", "b", NULL, NULL, err, sizeof err),
                   YW_EINVAL);
  assert_non_null(strstr(err, "YW_TLS_KEY is empty"));
}

static void test_unusable_files_are_refused_naming_the_file(void **state) {
  (void)state;
  struct side s;
  yw_rpc_tls_pem pem;
  char err[512];
  assert_int_equal(
      yw_rpc_tls_read(side(&s, "ours/ca.crt", "ours/catalog.crt", "ours/catalog.key", NULL), &pem,
                      err, sizeof err),
      0);
  assert_non_null(strstr(pem.ca, "BEGIN CERTIFICATE"));
  assert_non_null(strstr(pem.key, "PRIVATE KEY"));
  yw_rpc_tls_pem_free(&pem);
  assert_null(pem.key);

  assert_int_equal(yw_rpc_tls_read(side(&s, "ours/ca.crt", "ours/nothing.crt", "ours/catalog.key",
                                        NULL),
                                   &pem, err, sizeof err),
                   YW_EIO);
  assert_non_null(strstr(err, "nothing.crt: No such file or directory"));
  assert_null(pem.ca); /* nothing is kept */

  assert_int_equal(yw_rpc_tls_read(side(&s, "garbage.pem", "ours/catalog.crt", "ours/catalog.key",
                                        NULL),
                                   &pem, err, sizeof err),
                   YW_EINVAL);
  assert_non_null(strstr(err, "garbage.pem holds no PEM certificate"));

  assert_int_equal(yw_rpc_tls_read(side(&s, "ours/ca.crt", "garbage.pem", "ours/catalog.key", NULL),
                                   &pem, err, sizeof err),
                   YW_EINVAL);
  assert_non_null(strstr(err, "certificate file"));

  /* a certificate as the key */
  assert_int_equal(yw_rpc_tls_read(side(&s, "ours/ca.crt", "ours/catalog.crt", "ours/catalog.crt",
                                        NULL),
                                   &pem, err, sizeof err),
                   YW_EINVAL);
  assert_non_null(strstr(err, "no unencrypted PEM private key"));

  /* another certificate's key */
  assert_int_equal(yw_rpc_tls_read(side(&s, "ours/ca.crt", "ours/catalog.crt", "ours/identity.key",
                                        NULL),
                                   &pem, err, sizeof err),
                   YW_EINVAL);
  assert_non_null(strstr(err, "identity.key does not belong to the certificate in"));

  /* past the cap: 1 MiB and more */
  char big[128], cmd[300];
  snprintf(cmd, sizeof cmd, "head -c 1048600 /dev/zero | tr '\\0' A > %s",
           path(big, sizeof big, "big.pem"));
  assert_int_equal(system(cmd), 0);
  assert_int_equal(
      yw_rpc_tls_read(side(&s, "big.pem", "ours/catalog.crt", "ours/catalog.key", NULL), &pem,
                      err, sizeof err),
      YW_ETOOBIG);

  /* the server does not start on them, and says nothing is made */
  yw_rpc_server *srv = (yw_rpc_server *)&s; /* must be reset to NULL */
  assert_int_equal(yw_rpc_server_new_tls("127.0.0.1:0", 1,
                                         side(&s, "ours/ca.crt", "ours/catalog.crt",
                                              "ours/identity.key", NULL),
                                         &srv),
                   YW_EINVAL);
  assert_null(srv);
  /* nor the client's TLS */
  yw_rpc_client *c = NULL;
  assert_int_equal(yw_rpc_client_new(&c), 0);
  assert_int_equal(yw_rpc_client_set_tls(c, side(&s, "ours/ca.crt", "ours/no.crt", "ours/no.key",
                                                 NULL),
                                         err, sizeof err),
                   YW_EIO);
  assert_non_null(strstr(err, "no.crt"));
  yw_rpc_client_free(c);
}

/* ---- calls ---------------------------------------------------------------------- */

static void test_mutual_tls_calls_and_health_checks_work(void **state) {
  (void)state;
  struct side srv_side, cli_side;
  int port;
  yw_rpc_server *s =
      tls_server(side(&srv_side, "ours/ca.crt", "ours/catalog.crt", "ours/catalog.key", NULL),
                 &port);
  char target[64], text[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  const yw_rpc_tls *cli = side(&cli_side, "ours/ca.crt", "ours/gateway.crt", "ours/gateway.key", NULL);
  assert_int_equal(call_echo(target, cli, text, sizeof text), GRPC_STATUS_OK);
  assert_string_equal(text, "居民身份证换领");
  /* by name too: the certificate carries localhost; and as a dns: target */
  snprintf(target, sizeof target, "dns:///localhost:%d", port);
  assert_int_equal(call_echo(target, cli, NULL, 0), GRPC_STATUS_OK);
  /* an ipv4: list has no host to check (gRPC checks the whole list, "a:p,b:p"): it
   * needs the name given */
  snprintf(target, sizeof target, "ipv4:127.0.0.1:%d,127.0.0.1:%d", port, port);
  assert_int_equal(call_echo(target, cli, NULL, 0), GRPC_STATUS_UNAVAILABLE);
  struct side named;
  assert_int_equal(call_echo(target,
                             side(&named, "ours/ca.crt", "ours/gateway.crt", "ours/gateway.key",
                                  "localhost"),
                             NULL, 0),
                   GRPC_STATUS_OK);
  snprintf(target, sizeof target, "localhost:%d", port);
  assert_int_equal(call_echo(target, cli, NULL, 0), GRPC_STATUS_OK);
  /* the health check, and several connections of one channel */
  yw_rpc_client *c = NULL;
  assert_int_equal(yw_rpc_client_new(&c), 0);
  assert_int_equal(yw_rpc_client_set_tls(c, cli, NULL, 0), 0);
  yw_rpc_channel *ch = yw_rpc_channel_new(c, target, 3, 0);
  for (int i = 0; i < 6; i++) assert_int_equal(yw_rpc_health_check(ch, 5000), 0);
  yw_rpc_channel_free(ch);
  yw_rpc_client_free(c);
  yw_rpc_server_free(s);
}

static void test_the_server_refuses_cleartext_and_other_cas(void **state) {
  (void)state;
  struct side srv_side, cli_side;
  int port;
  yw_rpc_server *s =
      tls_server(side(&srv_side, "ours/ca.crt", "ours/catalog.crt", "ours/catalog.key", NULL),
                 &port);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  /* cleartext */
  assert_int_equal(call_echo(target, NULL, NULL, 0), GRPC_STATUS_UNAVAILABLE);
  /* a client certificate another CA signed (the client trusts our server) */
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "other/gateway.crt",
                                  "other/gateway.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_UNAVAILABLE);
  /* a server certificate where a client certificate belongs: wrong purpose */
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "ours/identity.crt",
                                  "ours/identity.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_UNAVAILABLE);
  /* the client does not trust the server's CA */
  assert_int_equal(call_echo(target,
                             side(&cli_side, "other/ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_UNAVAILABLE);
  /* and the server still serves the right client */
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_OK);
  yw_rpc_server_free(s);
}

/* A server that names the client certificates it serves refuses another certificate
 * its CA signed (another service's), and still answers its health check. */
static void test_only_the_named_client_certificates_are_served(void **state) {
  (void)state;
  char args[256];
  snprintf(args, sizeof args, "client %s/ours stranger", dir);
  assert_int_equal(pki(args), 0);
  struct side srv_side, cli_side;
  yw_rpc_server *s = NULL;
  assert_int_equal(yw_rpc_server_new_tls(
                       "127.0.0.1:0", 2,
                       side(&srv_side, "ours/ca.crt", "ours/catalog.crt", "ours/catalog.key", NULL), &s),
                   0);
  assert_int_equal(yw_rpc_server_set_client_names(s, "gateway,"), YW_EINVAL);
  assert_int_equal(yw_rpc_server_set_client_names(s, "applications-client,gateway"), 0);
  assert_int_equal(yw_rpc_server_add_service(s, &service), 0);
  assert_int_equal(yw_rpc_server_start(s), 0);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(s));
  assert_int_equal(call_echo(target, side(&cli_side, "ours/ca.crt", "ours/gateway.crt",
                                          "ours/gateway.key", NULL), NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(call_echo(target, side(&cli_side, "ours/ca.crt", "ours/stranger.crt",
                                          "ours/stranger.key", NULL), NULL, 0),
                   GRPC_STATUS_UNAUTHENTICATED);
  /* the stranger's health check still answers (load balancers show other certificates) */
  yw_rpc_client *c = NULL;
  assert_int_equal(yw_rpc_client_new(&c), 0);
  assert_int_equal(yw_rpc_client_set_tls(c, side(&cli_side, "ours/ca.crt", "ours/stranger.crt",
                                                 "ours/stranger.key", NULL), NULL, 0), 0);
  yw_rpc_channel *ch = yw_rpc_channel_new(c, target, 1, 0);
  assert_int_equal(yw_rpc_health_check(ch, 5000), 0);
  yw_rpc_channel_free(ch);
  yw_rpc_client_free(c);
  yw_rpc_server_free(s);
  /* a cleartext server has no certificates to name */
  assert_int_equal(yw_rpc_server_new("127.0.0.1:0", 1, &s), 0);
  assert_int_equal(yw_rpc_server_set_client_names(s, "gateway"), YW_EINVAL);
  assert_int_equal(yw_rpc_server_set_client_names(s, ""), 0);
  yw_rpc_server_free(s);
}

static void test_the_server_name_is_checked_and_can_be_given(void **state) {
  (void)state;
  struct side srv_side, cli_side;
  int port;
  /* a certificate for yw-test.internal only, served on 127.0.0.1 */
  yw_rpc_server *s =
      tls_server(side(&srv_side, "ours/ca.crt", "ours/named.crt", "ours/named.key", NULL), &port);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", "yw-test.internal"),
                             NULL, 0),
                   GRPC_STATUS_OK);
  /* a name the certificate does not carry is refused even when given */
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", "other.internal"),
                             NULL, 0),
                   GRPC_STATUS_UNAVAILABLE);
  /* an address list (ipv4:) is checked against the name given */
  snprintf(target, sizeof target, "ipv4:127.0.0.1:%d,127.0.0.1:%d", port, port);
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", "yw-test.internal"),
                             NULL, 0),
                   GRPC_STATUS_OK);
  yw_rpc_server_free(s);
}

/* Changing the CA: a server whose CA file holds the old and the new CA accepts clients
 * of both; a client whose CA file holds both accepts a server of either. */
static void test_a_ca_file_with_two_cas_trusts_both(void **state) {
  (void)state;
  struct side srv_side, cli_side;
  int port;
  yw_rpc_server *s =
      tls_server(side(&srv_side, "both-ca.crt", "ours/catalog.crt", "ours/catalog.key", NULL),
                 &port);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(call_echo(target,
                             side(&cli_side, "both-ca.crt", "other/gateway.crt",
                                  "other/gateway.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_OK);
  yw_rpc_server_free(s);
  /* a server of the new CA, a client trusting both */
  s = tls_server(side(&srv_side, "both-ca.crt", "other/catalog.crt", "other/catalog.key", NULL),
                 &port);
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  assert_int_equal(call_echo(target,
                             side(&cli_side, "both-ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_OK);
  /* a client trusting only the old CA does not accept it */
  assert_int_equal(call_echo(target,
                             side(&cli_side, "ours/ca.crt", "ours/gateway.crt",
                                  "ours/gateway.key", NULL),
                             NULL, 0),
                   GRPC_STATUS_UNAVAILABLE);
  yw_rpc_server_free(s);
}

/* The files are read once: once the server and the client's TLS are made, the files
 * can go and new connections still work. */
static void test_the_files_are_read_once_at_start(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "mkdir -p %s/once && cp %s/ours/* %s/once/", dir, dir, dir);
  assert_int_equal(system(cmd), 0);
  struct side srv_side, cli_side;
  int port;
  yw_rpc_server *s =
      tls_server(side(&srv_side, "once/ca.crt", "once/catalog.crt", "once/catalog.key", NULL),
                 &port);
  yw_rpc_client *c = NULL;
  assert_int_equal(yw_rpc_client_new(&c), 0);
  assert_int_equal(yw_rpc_client_set_tls(
                       c, side(&cli_side, "once/ca.crt", "once/gateway.crt", "once/gateway.key", NULL),
                       NULL, 0),
                   0);
  snprintf(cmd, sizeof cmd, "rm -rf %s/once", dir);
  assert_int_equal(system(cmd), 0);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  yw_rpc_channel *ch = yw_rpc_channel_new(c, target, 2, 0);
  assert_int_equal(yw_rpc_health_check(ch, 5000), 0);
  yw_rpc_channel_free(ch);
  yw_rpc_client_free(c);
  yw_rpc_server_free(s);
}

int main(void) {
  /* Names here resolve through getaddrinfo: Debian's c-ares 1.18.1 (gRPC's default
   * resolver) leaks each name it finds in /etc/hosts ("localhost"), which LeakSanitizer
   * reports; the name checks under test do not depend on the resolver. */
  setenv("GRPC_DNS_RESOLVER", "native", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_three_settings_go_together),
      cmocka_unit_test(test_unusable_files_are_refused_naming_the_file),
      cmocka_unit_test(test_mutual_tls_calls_and_health_checks_work),
      cmocka_unit_test(test_the_server_refuses_cleartext_and_other_cas),
      cmocka_unit_test(test_only_the_named_client_certificates_are_served),
      cmocka_unit_test(test_the_server_name_is_checked_and_can_be_given),
      cmocka_unit_test(test_a_ca_file_with_two_cas_trusts_both),
      cmocka_unit_test(test_the_files_are_read_once_at_start),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
