/*
 * load.c - yw-paysim-load: drives a running yw-paysim at closed-loop load and prints what
 * it carried: C flows at once, each repeating prepay (signed like yw-payment signs) ->
 * the payer's /sim/pay -> the notification arriving at this process's own receiver
 * (acknowledged at once), for D seconds. With the simulator's pid it also reads the
 * simulator's CPU time (/proc/<pid>/stat) over the run, so the rate per CPU-second of
 * the simulator is printed beside the wall-clock rate (bench/paysim.sh).
 *
 *   yw-paysim-load HOST:PORT CHANNEL MCHID APIKEY_HEX RECEIVER_PORT CONCURRENCY SECONDS [PID]
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yw_crypto.h"

typedef struct flow {
  struct evhttp_connection *conn;
  char no[33];
  int got_pay, got_notify; /* the notification may come before the answer to /sim/pay */
} flow;

static struct event_base *g_base;
static const char *g_host, *g_chan, *g_mchid;
static int g_port, g_recv_port, g_conc;
static uint8_t g_key[YW_KEY_BYTES];
static flow *g_flows;
static uint64_t g_seq, g_done, g_errors;
static int g_stopping;

static void start_flow(flow *f);

static void on_pay(struct evhttp_request *req, void *arg) {
  flow *f = arg;
  if (req == NULL || evhttp_request_get_response_code(req) != 200) {
    g_errors++;
    if (!g_stopping) start_flow(f);
    return;
  }
  f->got_pay = 1;
  if (f->got_notify) {
    g_done++;
    if (!g_stopping) start_flow(f);
  }
}

static void on_prepay(struct evhttp_request *req, void *arg) {
  flow *f = arg;
  if (req == NULL || evhttp_request_get_response_code(req) != 200) {
    g_errors++;
    if (!g_stopping) start_flow(f);
    return;
  }
  struct evhttp_request *r = evhttp_request_new(on_pay, f);
  char body[96], path[64];
  int n = snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"payer\":\"o_load\"}", f->no);
  snprintf(path, sizeof path, "/%s/sim/pay", g_chan);
  evhttp_add_header(evhttp_request_get_output_headers(r), "Host", g_host);
  evbuffer_add(evhttp_request_get_output_buffer(r), body, (size_t)n);
  evhttp_make_request(f->conn, r, EVHTTP_REQ_POST, path);
}

static void start_flow(flow *f) {
  f->got_pay = f->got_notify = 0;
  snprintf(f->no, sizeof f->no, "ld%d%" PRIu64, (int)getpid(), ++g_seq);
  char body[512], path[96], msg[1024], ts[24], sig[65], auth[400];
  snprintf(path, sizeof path, "/%s/v3/pay/transactions/native", g_chan);
  int bl = snprintf(body, sizeof body,
                    "{\"mchid\":\"%s\",\"out_trade_no\":\"%s\",\"description\":\"load\","
                    "\"amount\":{\"total\":1250,\"currency\":\"CNY\"},\"notify_url\":"
                    "\"http://127.0.0.1:%d/n\"}",
                    g_mchid, f->no, g_recv_port);
  snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
  int ml = snprintf(msg, sizeof msg, "POST\n%s\n%s\n%s\n%s\n", path, ts, f->no, body);
  yw_hmac_hex(g_key, msg, (size_t)ml, sig);
  snprintf(auth, sizeof auth,
           "YWPAY mchid=\"%s\",nonce_str=\"%s\",timestamp=\"%s\",signature=\"%s\"", g_mchid, f->no,
           ts, sig);
  struct evhttp_request *r = evhttp_request_new(on_prepay, f);
  struct evkeyvalq *h = evhttp_request_get_output_headers(r);
  evhttp_add_header(h, "Host", g_host);
  evhttp_add_header(h, "Authorization", auth);
  evhttp_add_header(h, "Content-Type", "application/json");
  evbuffer_add(evhttp_request_get_output_buffer(r), body, (size_t)bl);
  evhttp_make_request(f->conn, r, EVHTTP_REQ_POST, path);
}

static void on_notify(struct evhttp_request *req, void *arg) {
  (void)arg;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  const char *body = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
  const char *p = body != NULL ? memmem(body, len, "\"out_trade_no\":\"", 16) : NULL;
  evbuffer_add_printf(evhttp_request_get_output_buffer(req), "{\"code\":\"SUCCESS\"}");
  evhttp_send_reply(req, 200, NULL, NULL);
  if (p == NULL) return;
  p += 16;
  for (int i = 0; i < g_conc; i++) {
    flow *f = &g_flows[i];
    size_t nl = strlen(f->no);
    if (!f->got_notify && strncmp(p, f->no, nl) == 0 && p[nl] == '"') {
      f->got_notify = 1;
      if (f->got_pay) {
        g_done++;
        if (!g_stopping) start_flow(f);
      }
      return;
    }
  }
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg;
  g_stopping = 1;
  event_base_loopexit(g_base, NULL);
}

static double cpu_seconds(const char *pid) {
  if (pid == NULL) return 0;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  unsigned long long ut = 0, st = 0;
  /* fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
   * cmajflt utime stime */
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return 0;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: yw-paysim-load HOST:PORT CHANNEL MCHID APIKEY_HEX RECEIVER_PORT "
                    "CONCURRENCY SECONDS [PID]\n");
    return 2;
  }
  static char host[128];
  const char *colon = strrchr(argv[1], ':');
  if (colon == NULL || (size_t)(colon - argv[1]) >= sizeof host) return 2;
  memcpy(host, argv[1], (size_t)(colon - argv[1]));
  g_host = host;
  g_port = (int)strtol(colon + 1, NULL, 10);
  g_chan = argv[2];
  g_mchid = argv[3];
  if (yw_key_from_hex(argv[4], g_key) != 0) return 2;
  g_recv_port = (int)strtol(argv[5], NULL, 10);
  g_conc = (int)strtol(argv[6], NULL, 10);
  double secs = strtod(argv[7], NULL);
  const char *pid = argc > 8 ? argv[8] : NULL;
  if (g_conc < 1 || g_conc > 4096 || secs <= 0) return 2;
  g_base = event_base_new();
  struct evhttp *recv = evhttp_new(g_base);
  evhttp_set_gencb(recv, on_notify, NULL);
  if (evhttp_bind_socket(recv, "127.0.0.1", (unsigned short)g_recv_port) != 0) {
    fprintf(stderr, "cannot listen on %d\n", g_recv_port);
    return 1;
  }
  g_flows = calloc((size_t)g_conc, sizeof *g_flows);
  for (int i = 0; i < g_conc; i++) {
    g_flows[i].conn = evhttp_connection_base_new(g_base, NULL, g_host, (unsigned short)g_port);
    evhttp_connection_set_timeout(g_flows[i].conn, 10);
    start_flow(&g_flows[i]);
  }
  struct event *stop = evtimer_new(g_base, on_stop, NULL);
  struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
  double c0 = cpu_seconds(pid), t0 = now_s();
  evtimer_add(stop, &tv);
  event_base_dispatch(g_base);
  double wall = now_s() - t0, cpu = cpu_seconds(pid) - c0;
  printf("channel=%s flows=%d seconds=%.2f completed=%" PRIu64 " errors=%" PRIu64
         " per_second=%.0f",
         g_chan, g_conc, wall, g_done, g_errors, (double)g_done / wall);
  if (pid != NULL && cpu > 0)
    printf(" sim_cpu_seconds=%.2f per_sim_cpu_second=%.0f", cpu, (double)g_done / cpu);
  printf("\n");
  return g_errors == 0 ? 0 : 1;
}
