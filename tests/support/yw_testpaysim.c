/*
 * yw_testpaysim.c - yw-paysim as a process of a test (yw_testpaysim.h).
 *
 * Offers: yw_testpaysim_start, yw_testpaysim_start_env, yw_testpaysim_stop,
 * yw_testpaysim_post.
 */
#include "yw_testpaysim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "yw_crypto.h"
#include "yw_http.h"
#include "yw_testnet.h"

/* One start of the simulator on a new free port. Returns 0 when it answers, 1 when it
 * exited (a port taken before its bind: try another), -1 otherwise. */
static int start_once(const char *bin, yw_testpaysim *s, const char *merchants, const char *const *env) {
  s->port = yw_test_free_port();
  if (s->port <= 0) return -1;
  char listen[64];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
  snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
  snprintf(s->url, sizeof s->url, "%s/sim", s->base);
  s->pid = fork();
  if (s->pid < 0) return -1;
  if (s->pid == 0) {
    setenv("YW_PAYSIM_LISTEN", listen, 1);
    setenv("YW_PAYSIM_KEYS_DIR", s->keys_dir, 1);
    setenv("YW_PAYSIM_MERCHANTS", merchants, 1);
    setenv("YW_PAYSIM_LOG_LEVEL", "warn", 1);
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) putenv((char *)env[i]);
    execl(bin, "yw-paysim", (char *)NULL);
    _exit(127);
  }
  char url[128];
  snprintf(url, sizeof url, "%s/healthz", s->base);
  double until = yw_test_now_s() + 20;
  long status = 0;
  while (status != 200 && yw_test_now_s() < until) {
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      s->pid = 0;
      return 1;
    }
    char *resp = NULL;
    yw_http_req r = {.method = "GET", .url = url, .timeout_ms = 500};
    if (yw_http_request(&r, &status, &resp, NULL) != 0) status = 0;
    free(resp);
    if (status != 200) usleep(20000);
  }
  return status == 200 ? 0 : -1;
}

int yw_testpaysim_start_env(const char *bin, yw_testpaysim *s, const char *const *env) {
  memset(s, 0, sizeof *s);
  yw_http_global_init();
  snprintf(s->dir, sizeof s->dir, "/tmp/yw-paysim-XXXXXX");
  if (mkdtemp(s->dir) == NULL) return -1;
  snprintf(s->keys_dir, sizeof s->keys_dir, "%s/keys", s->dir);
  /* the simulator serves sim-sm2 too (merchant 1900000002) */
  if (yw_random_digits(64, s->key_hex, sizeof s->key_hex) != 0 ||
      yw_random_digits(64, s->sm2_key_hex, sizeof s->sm2_key_hex) != 0)
    return -1; /* 64 hex digits each */
  char merchants[192];
  snprintf(merchants, sizeof merchants, "sim=1900000001:%s,sim-sm2=1900000002:%s", s->key_hex,
           s->sm2_key_hex);
  snprintf(s->keys_spec, sizeof s->keys_spec,
           "sim=1900000001:%s:%s/sim.pub.pem,sim-sm2=1900000002:%s:%s/sim-sm2.pub.pem", s->key_hex,
           s->keys_dir, s->sm2_key_hex, s->keys_dir);
  int rc = 1;
  for (int attempt = 0; attempt < 5 && rc == 1; attempt++) rc = start_once(bin, s, merchants, env);
  if (rc != 0) fprintf(stderr, "yw-paysim did not answer on :%d\n", s->port);
  return rc == 0 ? 0 : -1;
}

int yw_testpaysim_start(const char *bin, yw_testpaysim *s) { return yw_testpaysim_start_env(bin, s, NULL); }

void yw_testpaysim_stop(yw_testpaysim *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGCONT);
    kill(s->pid, SIGTERM);
    /* bounded: 10 s to stop, then killed */
    double until = yw_test_now_s() + 10;
    while (waitpid(s->pid, NULL, WNOHANG) == 0) {
      if (yw_test_now_s() >= until) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0); /* SIGKILL cannot be ignored: at once */
        break;
      }
      usleep(10000);
    }
    s->pid = 0;
  }
  if (s->dir[0] != '\0') {
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s->dir);
    s->dir[0] = '\0';
  }
}

long yw_testpaysim_post(const yw_testpaysim *s, const char *path, const char *json) {
  char url[256];
  snprintf(url, sizeof url, "%s%s", s->base, path);
  static const char *const headers[] = {"Content-Type: application/json", NULL};
  yw_http_req r = {.method = "POST", .url = url, .headers = headers, .body = json,
                   .body_len = strlen(json), .timeout_ms = 5000};
  long status = 0;
  char *resp = NULL;
  int rc = yw_http_request(&r, &status, &resp, NULL);
  free(resp);
  return rc == 0 ? status : -1;
}
