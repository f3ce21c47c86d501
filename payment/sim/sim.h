/*
 * sim.h - the channel simulator's parts (yw-paysim), shared by its files only.
 *
 * One process, one libevent loop, one thread: every handler, every notification and
 * every retry runs on the loop, so the state below needs no lock. A channel (`sim`,
 * `sim-sm2`) is served under its path prefix and keeps its orders in one hash table
 * keyed by out_trade_no and its refunds in another keyed by out_refund_no. Nothing is
 * ever freed while the process runs (it is an acquirer's stand-in; a restart forgets).
 *
 * Files: main.c (settings, keys, start), http.c (routes and handlers), store.c (the
 * tables, ids, times), notify.c (signed notifications, delivery and retries), bill.c
 * (the daily statement).
 */
#ifndef PAY_SIM_H
#define PAY_SIM_H

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "yw_crypto.h"
#include "yw_seal.h"

#define SIM_NO_MAX 33     /* out_trade_no, out_refund_no: 6..32 of [A-Za-z0-9_-] + NUL */
#define SIM_ID_MAX 40     /* our ids: prepay, transaction, refund, notification */
#define SIM_RETRY_MAX 32  /* steps of the retry schedule */

/* A string-keyed open-addressing table; the key lives in the value (key_of). */
typedef struct sim_map {
  void **slots;
  size_t cap, len;
  const char *(*key_of)(const void *value);
} sim_map;

void *sim_map_get(const sim_map *m, const char *key);
/* Inserts value (its key must not be there yet). 0 or -1 (no memory). */
int sim_map_put(sim_map *m, void *value);

enum sim_state { SIM_NOTPAY, SIM_SUCCESS, SIM_CLOSED, SIM_REFUND, SIM_PAYERROR };
enum sim_tamper { SIM_TAMPER_NONE, SIM_TAMPER_AMOUNT, SIM_TAMPER_DROP };
/* How the next refunds are answered after they are made (POST /sim/fault): the merchant
 * learns the outcome neither from the answer nor from a notification (none is sent), only
 * by asking again with the same out_refund_no, as with a real acquirer's failures. */
enum sim_fault { SIM_FAULT_NONE, SIM_FAULT_OVERSIZED, SIM_FAULT_BUSY, SIM_FAULT_ERROR };

struct sim_chan;
struct sim_order;
typedef struct sim sim;

/* One notification: its body and the signature headers of its last signing. */
typedef struct sim_notice {
  struct sim_chan *chan;
  struct sim_order *order;
  char id[SIM_ID_MAX];
  char *body;
  size_t len;
  char *url;              /* the order's notify_url (shared, not owned) */
  int64_t signed_at;      /* unix s of ts/nonce/sig; re-signed when older than 60 s */
  char ts[24], nonce[SIM_ID_MAX], sig[512];
  int acked;              /* answered {"code":"SUCCESS"} once */
  int attempts;           /* deliveries tried, copies included */
  int retry_step;         /* next step of the schedule for the scheduled delivery */
  struct event *timer;    /* the scheduled retry, NULL when none is pending */
  struct sim_notice *prev; /* the order's earlier notification */
} sim_notice;

typedef struct sim_refund {
  char out_refund_no[SIM_NO_MAX];
  char refund_id[SIM_ID_MAX];
  struct sim_order *order;
  int64_t amount;
  int64_t success_unix;
} sim_refund;

typedef struct sim_order {
  char out_trade_no[SIM_NO_MAX];
  char prepay_id[SIM_ID_MAX];
  char transaction_id[SIM_ID_MAX]; /* "" before payment */
  char payer[SIM_ID_MAX];
  char *notify_url;
  int64_t total;
  int64_t refunded;
  int64_t expire_unix;
  int64_t success_unix;
  enum sim_state state;
  enum sim_tamper tamper;
  int64_t tamper_amount;
  sim_notice *notices;      /* newest first */
  int nrefunds;
} sim_order;

/* A row the statement shows for an order nobody created (tamper kind "extra"). */
typedef struct sim_extra {
  char out_trade_no[SIM_NO_MAX];
  char transaction_id[SIM_ID_MAX];
  int64_t amount;
  int64_t success_unix;
} sim_extra;

typedef struct sim_chan {
  struct sim *owner;
  const char *name;          /* "sim" */
  char prefix[40];           /* "/sim" */
  int sm2;                   /* 1: SM2 with SM3; 0: RSA-SHA256 */
  char mchid[24];
  uint8_t api_key[YW_KEY_BYTES];
  EVP_PKEY *rsa;             /* sim */
  yw_seal *seal;             /* sim-sm2 */
  char serial[33];           /* the key's id: hex of the first 16 bytes of SHA-256(SPKI DER) */
  sim_map orders, refunds;
  sim_extra *extras;
  size_t nextras, extras_cap;
  uint64_t seq;              /* ids */
  /* counters for /sim/stats */
  uint64_t n_prepay, n_pay, n_notify_sent, n_notify_acked;
  enum sim_fault refund_fault; /* the next refund_faults refunds are made, then so answered */
  int refund_faults;
} sim_chan;

struct sim {
  struct event_base *base;
  struct evhttp *http;
  sim_chan chans[2];
  int nchans;
  int64_t retry_ms[SIM_RETRY_MAX];
  int nretry;
  long notify_timeout_ms;
  int64_t start_unix;
  sim_map targets;           /* notify_url host:port -> connection pool (notify.c) */
};

/* ---- store.c ---- */
int64_t sim_now(void);
/* A fresh id: a two-letter prefix, the process's start and a counter (unique across
 * restarts as long as the clock moves forward). */
void sim_new_id(sim *s, sim_chan *c, const char *prefix, char out[SIM_ID_MAX]);
/* 1 when s is an out_trade_no / out_refund_no: 6..32 of [A-Za-z0-9_-]. */
int sim_valid_no(const char *s);
const char *sim_state_name(enum sim_state st);
sim_order *sim_order_new(sim_chan *c, const char *no);
sim_refund *sim_refund_new(sim_chan *c, const char *no);
int sim_extra_add(sim_chan *c, const sim_extra *e);
void sim_chan_init(sim_chan *c);

/* ---- notify.c ---- */
/* Builds the order's notification of kind ("TRANSACTION.SUCCESS" for the payment, or
 * "REFUND.SUCCESS" with refund) and sends it with retries. 0 or -1. */
int sim_notify_new(sim *s, sim_chan *c, sim_order *o, const sim_refund *refund);
/* Sends n once more (a copy: not retried), at once over the pool (sim_notify_copy) or
 * after the serial copies sent before it were answered (sim_notify_copy_serial). */
void sim_notify_copy(sim *s, sim_notice *n);
void sim_notify_copy_serial(sim *s, sim_notice *n);
void sim_targets_init(sim *s);
/* Signs data with the channel's key into sig (base64). 0 or -1. */
int sim_sign(const sim_chan *c, const void *data, size_t len, char *sig, size_t size);

/* ---- bill.c ---- */
/* The statement of day (days since 1970, Asia/Shanghai) into out (an evbuffer).
 * Returns the number of rows (0: no statement). */
struct evbuffer;
long sim_bill(const sim_chan *c, int day, struct evbuffer *out);

/* ---- http.c ---- */
void sim_http_handle(struct evhttp_request *req, void *arg);

#endif
