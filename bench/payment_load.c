/*
 * payment_load.c - yw-bench-payment: closed-loop payments through the gateway
 * (bench/payment.sh). C flows at once, for S seconds, each repeating:
 *   create  POST /v1/payments/orders (department staff, Idempotency-Key)
 *   pay     POST /v1/payments/orders/{id}:pay {"channel":"sim"} (the payer)
 *   wallet  POST {simulator}/sim/sim/pay (the payer pays; the simulator then sends its
 *           signed notification to the gateway's /v1/payments/notify/sim by itself)
 * over HTTP/1.1 keep-alive (libevent evhttp, one connection to each side per flow). A
 * refused step (e.g. 429) is counted as an error and the flow starts again after 50 ms.
 * After the timer no flow starts again; flows under way finish (bounded by the
 * connections' 10 s timeout). Prints counts, errors and p50/p99 per step, and writes one
 * line per order paid at the simulator, "ORDER_ID EPOCH_SECONDS" (when the wallet step
 * was answered), so the script can measure how long the notification took to book PAID.
 *
 *   yw-bench-payment GW_HOST:PORT SIM_HOST:PORT STAFF_TOKEN PAYER_TOKEN PAYER_SUBJECT
 *                    CONCURRENCY SECONDS OUTFILE
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

enum { STEP_CREATE, STEP_PAY, STEP_WALLET, STEPS };
static const char *const STEP_NAMES[STEPS] = {"create", "pay", "wallet"};

typedef struct samples {
  double *v;
  size_t n, cap;
} samples;

typedef struct flow {
  struct evhttp_connection *gw, *sim;
  char id[64], no[64];
  double t0;
  int busy;
} flow;

static struct event_base *g_base;
static char g_gw_host[128], g_sim_host[128];
static const char *g_staff_auth, *g_payer_auth, *g_subject;
static flow *g_flows;
static int g_conc, g_stopping, g_busy;
static uint64_t g_seq, g_done, g_errors[STEPS];
static samples g_lat[STEPS];
static FILE *g_out;
static unsigned g_pid;

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sample_add(samples *s, double v) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    double *nv = realloc(s->v, cap * sizeof *nv);
    if (nv == NULL) return;
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(samples *s, double p) {
  if (s->n == 0) return 0;
  size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
  return s->v[i];
}

/* a string field of a JSON answer: "KEY":"VALUE" (the answers here are flat enough) */
static int json_str(struct evhttp_request *req, const char *key, char *out, size_t cap) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  const char *body = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
  char pat[64];
  int pl = snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = body != NULL ? memmem(body, len, pat, (size_t)pl) : NULL;
  if (p == NULL) return -1;
  p += pl;
  const char *e = memchr(p, '"', len - (size_t)(p - body));
  if (e == NULL || (size_t)(e - p) >= cap) return -1;
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = '\0';
  return 0;
}

static void start_flow(flow *f);

static void flow_next(flow *f) {
  if (g_stopping) {
    f->busy = 0;
    if (--g_busy == 0) event_base_loopexit(g_base, NULL);
    return;
  }
  start_flow(f);
}

/* after a refusal (429: the service sheds load past its admission) a flow waits 50 ms,
 * as a client should, instead of asking again at once */
static void on_backoff(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  flow_next(arg);
}

static int step_done(flow *f, int step, struct evhttp_request *req) {
  int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
  if (code != 200) {
    if (g_errors[step]++ < 5) {
      char msg[160] = "";
      if (req != NULL) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_copyout(in, msg, sizeof msg - 1);
        msg[n] = '\0';
      }
      fprintf(stderr, "%s: status %d %s\n", STEP_NAMES[step], code, msg);
    }
    struct timeval wait = {0, 50000};
    if (event_base_once(g_base, -1, EV_TIMEOUT, on_backoff, f, &wait) != 0) flow_next(f);
    return -1;
  }
  double t = now_mono();
  sample_add(&g_lat[step], (t - f->t0) * 1e3);
  f->t0 = t;
  return 0;
}

/* step_done, then a string field of the answer the next step needs */
static int step_field(flow *f, int step, struct evhttp_request *req, const char *key, char *out,
                      size_t cap) {
  if (step_done(f, step, req) != 0) return -1;
  if (json_str(req, key, out, cap) == 0) return 0;
  g_errors[step]++;
  flow_next(f);
  return -1;
}

static void send_json(struct evhttp_connection *c, const char *host, const char *auth,
                      const char *key, const char *path, const char *body,
                      void (*cb)(struct evhttp_request *, void *), flow *f) {
  struct evhttp_request *r = evhttp_request_new(cb, f);
  struct evkeyvalq *h = evhttp_request_get_output_headers(r);
  evhttp_add_header(h, "Host", host);
  evhttp_add_header(h, "Content-Type", "application/json");
  if (auth != NULL) evhttp_add_header(h, "Authorization", auth);
  if (key != NULL) evhttp_add_header(h, "Idempotency-Key", key);
  evbuffer_add(evhttp_request_get_output_buffer(r), body, strlen(body));
  evhttp_make_request(c, r, EVHTTP_REQ_POST, path);
}

static void on_wallet(struct evhttp_request *req, void *arg) {
  flow *f = arg;
  if (step_done(f, STEP_WALLET, req) != 0) return;
  fprintf(g_out, "%s %.6f\n", f->id, now_real());
  g_done++;
  flow_next(f);
}

static void on_pay(struct evhttp_request *req, void *arg) {
  flow *f = arg;
  if (step_field(f, STEP_PAY, req, "outTradeNo", f->no, sizeof f->no) != 0) return;
  char body[160];
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"payer\":\"o_bench\"}", f->no);
  send_json(f->sim, g_sim_host, NULL, NULL, "/sim/sim/pay", body, on_wallet, f);
}

static void on_create(struct evhttp_request *req, void *arg) {
  flow *f = arg;
  if (step_field(f, STEP_CREATE, req, "id", f->id, sizeof f->id) != 0) return;
  char path[128];
  snprintf(path, sizeof path, "/v1/payments/orders/%s:pay", f->id);
  send_json(f->gw, g_gw_host, g_payer_auth, NULL, path, "{\"channel\":\"sim\"}", on_pay, f);
}

static void start_flow(flow *f) {
  char key[64], body[320];
  snprintf(key, sizeof key, "bench-%u-%" PRIu64, g_pid, ++g_seq);
  snprintf(body, sizeof body,
           "{\"itemCode\":\"FINE01\",\"itemName\":\"交通违法罚款\",\"amountFen\":\"%d\","
           "\"payerName\":\"王五\",\"payerSubject\":\"%s\"}",
           1000 + (int)(g_seq % 997), g_subject);
  f->t0 = now_mono();
  send_json(f->gw, g_gw_host, g_staff_auth, key, "/v1/payments/orders", body, on_create, f);
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg;
  g_stopping = 1;
  if (g_busy == 0) event_base_loopexit(g_base, NULL);
}

static int split_host(const char *s, char *host, size_t cap, int *port) {
  const char *colon = strrchr(s, ':');
  if (colon == NULL || (size_t)(colon - s) >= cap) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end != '\0' || p < 1 || p > 65535) return -1;
  *port = (int)p;
  return 0;
}

static char *bearer(const char *token) {
  size_t n = strlen(token) + 8;
  char *s = malloc(n);
  if (s != NULL) snprintf(s, n, "Bearer %s", token);
  return s;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: yw-bench-payment GW_HOST:PORT SIM_HOST:PORT STAFF_TOKEN "
                    "PAYER_TOKEN PAYER_SUBJECT CONCURRENCY SECONDS OUTFILE\n");
    return 2;
  }
  int gw_port, sim_port;
  if (split_host(argv[1], g_gw_host, sizeof g_gw_host, &gw_port) != 0 ||
      split_host(argv[2], g_sim_host, sizeof g_sim_host, &sim_port) != 0)
    return 2;
  g_staff_auth = bearer(argv[3]);
  g_payer_auth = bearer(argv[4]);
  g_subject = argv[5];
  g_conc = (int)strtol(argv[6], NULL, 10);
  double secs = strtod(argv[7], NULL);
  if (g_conc < 1 || g_conc > 4096 || secs <= 0 || g_staff_auth == NULL || g_payer_auth == NULL)
    return 2;
  g_out = fopen(argv[8], "w");
  if (g_out == NULL) {
    perror(argv[8]);
    return 1;
  }
  g_pid = (unsigned)getpid();
  g_base = event_base_new();
  g_flows = calloc((size_t)g_conc, sizeof *g_flows);
  if (g_base == NULL || g_flows == NULL) return 1;
  double t0 = now_mono(), r0 = now_real();
  for (int i = 0; i < g_conc; i++) {
    flow *f = &g_flows[i];
    f->gw = evhttp_connection_base_new(g_base, NULL, g_gw_host, (unsigned short)gw_port);
    f->sim = evhttp_connection_base_new(g_base, NULL, g_sim_host, (unsigned short)sim_port);
    evhttp_connection_set_timeout(f->gw, 10);
    evhttp_connection_set_timeout(f->sim, 10);
    f->busy = 1;
    g_busy++;
    start_flow(f);
  }
  struct event *stop = evtimer_new(g_base, on_stop, NULL);
  struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
  evtimer_add(stop, &tv);
  event_base_dispatch(g_base);
  double wall = now_mono() - t0;
  fclose(g_out);
  uint64_t errors = 0;
  for (int s = 0; s < STEPS; s++) errors += g_errors[s];
  printf("flows=%d seconds=%.2f first_create_epoch=%.6f paid_at_channel=%" PRIu64
         " per_second=%.0f errors=%" PRIu64 "\n",
         g_conc, wall, r0, g_done, (double)g_done / wall, errors);
  for (int s = 0; s < STEPS; s++) {
    qsort(g_lat[s].v, g_lat[s].n, sizeof(double), cmp_double);
    printf("step=%s count=%zu p50_ms=%.2f p99_ms=%.2f errors=%" PRIu64 "\n", STEP_NAMES[s],
           g_lat[s].n, pct(&g_lat[s], 0.50), pct(&g_lat[s], 0.99), g_errors[s]);
  }
  return 0;
}
