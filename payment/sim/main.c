/*
 * main.c - yw-paysim, the channel simulator: an acquirer's stand-in for yw-payment's
 * tests, ./dev up and the bench (payment/README.md, "Channels and the simulator").
 *
 * One process serves the channels `sim` (RSA 2048, RSA-SHA256) and `sim-sm2` (SM2 with
 * SM3) under /sim and /sim-sm2, on one libevent loop. Each channel's private key is read
 * from YW_PAYSIM_KEYS_DIR/<channel>.key, or made there once; its public key is written
 * beside it as <channel>.pub.pem for yw-payment's YW_PAYMENT_CHANNEL_KEYS.
 *
 * Settings (environment): YW_PAYSIM_LISTEN, YW_PAYSIM_KEYS_DIR, YW_PAYSIM_MERCHANTS
 * ("sim=<mchid>:<api key, 64 hex>,sim-sm2=..."), YW_PAYSIM_RETRY_MS (the notification
 * retry schedule: "50,100,200" in ms, or with units "15s,3m,1h"),
 * YW_PAYSIM_NOTIFY_TIMEOUT_MS.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "sim.h"
#include "yw_config.h"
#include "yw_log.h"

static char *cfg_listen, *cfg_keys_dir, *cfg_merchants, *cfg_retry, *cfg_log_level;
static long cfg_notify_timeout_ms;

static const yw_cfg_entry settings[] = {
    {"YW_PAYSIM_LISTEN", YW_CFG_STR, "127.0.0.1:8090", 0, 0, "HTTP/1.1 address (host:port)",
     &cfg_listen},
    {"YW_PAYSIM_KEYS_DIR", YW_CFG_STR, ".dev/paysim", 0, 0,
     "where <channel>.key is found or made and <channel>.pub.pem written", &cfg_keys_dir},
    {"YW_PAYSIM_MERCHANTS", YW_CFG_STR, "", 0, 0,
     "sim=<mchid>:<api key, 64 hex>,sim-sm2=<mchid>:<api key> (required)", &cfg_merchants},
    {"YW_PAYSIM_RETRY_MS", YW_CFG_STR, "15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h", 0, 0,
     "notification retry schedule: ms, or with a unit (ms, s, m, h)", &cfg_retry},
    {"YW_PAYSIM_NOTIFY_TIMEOUT_MS", YW_CFG_INT, "5000", 10, 600000,
     "how long a notification's answer is awaited", &cfg_notify_timeout_ms},
    {"YW_PAYSIM_LOG_LEVEL", YW_CFG_STR, "info", 0, 0, "debug, info, warn or error", &cfg_log_level},
};

static int parse_retry(sim *s, const char *text) {
  const char *p = text;
  s->nretry = 0;
  while (*p) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno != 0 || v < 0) return -1;
    long long mul = 1;
    if (strncmp(end, "ms", 2) == 0) {
      end += 2;
    } else if (*end == 's') {
      mul = 1000, end++;
    } else if (*end == 'm') {
      mul = 60000, end++;
    } else if (*end == 'h') {
      mul = 3600000, end++;
    }
    if (s->nretry == SIM_RETRY_MAX || v > 7LL * 24 * 3600 * 1000 / mul) return -1;
    s->retry_ms[s->nretry++] = v * mul;
    if (*end == ',') end++;
    else if (*end != '\0') return -1;
    p = end;
  }
  return 0;
}

static int parse_merchants(sim *s, const char *text) {
  for (int i = 0; i < s->nchans; i++) {
    sim_chan *c = &s->chans[i];
    const char *p = text;
    size_t nl = strlen(c->name);
    int found = 0;
    while (p != NULL && *p) {
      if (strncmp(p, c->name, nl) == 0 && p[nl] == '=') {
        const char *v = p + nl + 1, *colon = strchr(v, ':');
        if (colon == NULL || colon == v || (size_t)(colon - v) >= sizeof c->mchid) return -1;
        memcpy(c->mchid, v, (size_t)(colon - v));
        c->mchid[colon - v] = '\0';
        const char *k = colon + 1, *e = strchr(k, ',');
        size_t kl = e != NULL ? (size_t)(e - k) : strlen(k);
        char hex[65];
        if (kl != 64) return -1;
        memcpy(hex, k, 64);
        hex[64] = '\0';
        if (yw_key_from_hex(hex, c->api_key) != 0) return -1;
        found = 1;
        break;
      }
      p = strchr(p, ',');
      if (p != NULL) p++;
    }
    if (!found) return -1;
    for (const char *d = c->mchid; *d; d++)
      if (*d < '0' || *d > '9') return -1;
  }
  return 0;
}

static int write_file(const char *path, const char *text, int mode, int exclusive) {
  int fd = open(path, O_WRONLY | O_CREAT | (exclusive ? O_EXCL : O_TRUNC), mode);
  if (fd < 0) return -1;
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)w;
  }
  return close(fd);
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  char *buf = malloc(65537);
  size_t n = buf != NULL ? fread(buf, 1, 65536, f) : 0;
  fclose(f);
  if (buf != NULL) buf[n] = '\0';
  return buf;
}

static char *pem_of(EVP_PKEY *k, int private_key) {
  BIO *b = BIO_new(BIO_s_mem());
  char *out = NULL;
  if (b == NULL) return NULL;
  int ok = private_key ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
                       : PEM_write_bio_PUBKEY(b, k);
  char *data;
  long len = BIO_get_mem_data(b, &data);
  if (ok && len > 0 && (out = malloc((size_t)len + 1)) != NULL) {
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
  }
  BIO_free(b);
  return out;
}

/* Loads or makes the channel's key; writes its public key; sets the serial. */
static int channel_keys(sim_chan *c, const char *dir, char *err, size_t errlen) {
  char kpath[1024], ppath[1024];
  snprintf(kpath, sizeof kpath, "%s/%s.key", dir, c->name);
  snprintf(ppath, sizeof ppath, "%s/%s.pub.pem", dir, c->name);
  char *priv = read_text(kpath);
  if (priv == NULL) {
    EVP_PKEY *k = c->sm2 ? EVP_PKEY_Q_keygen(NULL, NULL, "SM2")
                         : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    priv = k != NULL ? pem_of(k, 1) : NULL;
    EVP_PKEY_free(k);
    if (priv == NULL || write_file(kpath, priv, 0600, 1) != 0) {
      snprintf(err, errlen, "cannot make %.400s: %s", kpath, strerror(errno));
      free(priv);
      return -1;
    }
  }
  BIO *b = BIO_new_mem_buf(priv, -1);
  EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  int want_ok = k != NULL && (c->sm2 ? EVP_PKEY_is_a(k, "SM2") : EVP_PKEY_is_a(k, "RSA"));
  if (!want_ok || (c->sm2 && yw_seal_from_pem(priv, strlen(priv), &c->seal) != 0)) {
    snprintf(err, errlen, "%.400s is not a %s private key", kpath, c->sm2 ? "SM2" : "RSA");
    EVP_PKEY_free(k);
    free(priv);
    return -1;
  }
  free(priv);
  char *pub = pem_of(k, 0);
  if (pub == NULL || write_file(ppath, pub, 0644, 0) != 0 ||
      pay_channel_key_serial_pem(pub, strlen(pub), c->serial) != 0) {
    snprintf(err, errlen, "cannot write %.400s", ppath);
    free(pub);
    EVP_PKEY_free(k);
    return -1;
  }
  free(pub);
  if (c->sm2)
    EVP_PKEY_free(k);
  else
    c->rsa = k;
  return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  (void)sig;
  (void)what;
  event_base_loopbreak(arg);
}

int main(int argc, char **argv) {
  char err[512];
  if (argc > 1 && strcmp(argv[1], "--help") == 0) {
    yw_config_print(settings, sizeof settings / sizeof *settings, stdout);
    return 0;
  }
  if (yw_config_load(settings, sizeof settings / sizeof *settings, err, sizeof err) != 0) {
    fprintf(stderr, "yw-paysim: %s\n", err);
    return 2;
  }
  int level = yw_log_level_parse(cfg_log_level);
  yw_log_init("paysim", level < 0 ? YW_LOG_INFO : (enum yw_log_level)level);
  signal(SIGPIPE, SIG_IGN);
  static sim s;
  s.start_unix = sim_now();
  s.notify_timeout_ms = cfg_notify_timeout_ms;
  s.nchans = 2;
  s.chans[0] = (sim_chan){.owner = &s, .name = "sim", .prefix = "/sim", .sm2 = 0};
  s.chans[1] = (sim_chan){.owner = &s, .name = "sim-sm2", .prefix = "/sim-sm2", .sm2 = 1};
  sim_chan_init(&s.chans[0]);
  sim_chan_init(&s.chans[1]);
  sim_targets_init(&s);
  if (parse_retry(&s, cfg_retry) != 0) {
    fprintf(stderr, "yw-paysim: YW_PAYSIM_RETRY_MS is not a list of durations\n");
    return 2;
  }
  if (parse_merchants(&s, cfg_merchants) != 0) {
    fprintf(stderr, "yw-paysim: YW_PAYSIM_MERCHANTS needs sim=<digits>:<64 hex> and "
                    "sim-sm2=<digits>:<64 hex>\n");
    return 2;
  }
  if (mkdir(cfg_keys_dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "yw-paysim: cannot make %s: %s\n", cfg_keys_dir, strerror(errno));
    return 2;
  }
  for (int i = 0; i < s.nchans; i++)
    if (channel_keys(&s.chans[i], cfg_keys_dir, err, sizeof err) != 0) {
      fprintf(stderr, "yw-paysim: %s\n", err);
      return 2;
    }
  char host[256];
  const char *colon = strrchr(cfg_listen, ':');
  long port = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;
  if (colon == NULL || (size_t)(colon - cfg_listen) >= sizeof host || port <= 0 || port > 65535) {
    fprintf(stderr, "yw-paysim: YW_PAYSIM_LISTEN must be host:port\n");
    return 2;
  }
  memcpy(host, cfg_listen, (size_t)(colon - cfg_listen));
  host[colon - cfg_listen] = '\0';
  s.base = event_base_new();
  s.http = s.base != NULL ? evhttp_new(s.base) : NULL;
  if (s.http == NULL) return 1;
  evhttp_set_max_body_size(s.http, 65536);
  evhttp_set_max_headers_size(s.http, 16384);
  evhttp_set_timeout(s.http, 30);
  evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
  evhttp_set_gencb(s.http, sim_http_handle, &s);
  if (evhttp_bind_socket(s.http, host, (unsigned short)port) != 0) {
    yw_log(YW_LOG_ERROR, "paysim.bind_failed", NULL, "cannot listen on %s", cfg_listen);
    return 1;
  }
  struct event *sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
  struct event *sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
  evsignal_add(sigterm, NULL);
  evsignal_add(sigint, NULL);
  yw_log(YW_LOG_INFO, "paysim.listening", NULL,
         "http://%s/sim (RSA, serial %s) and /sim-sm2 (SM2, serial %s); keys in %s", cfg_listen,
         s.chans[0].serial, s.chans[1].serial, cfg_keys_dir);
  event_base_dispatch(s.base);
  yw_log(YW_LOG_INFO, "paysim.stopped", NULL, "stopped");
  return 0;
}
