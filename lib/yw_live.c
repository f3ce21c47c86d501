/*
 * yw_live.c - live streams of an owner's rows (yw_live.h).
 *
 * Each subscriber has a reference count under the registry's lock: the list holds one,
 * and each catch-up in progress one, so a stream the client leaves (its cancel callback
 * unlinks it) is freed only once no catch-up uses it. A catch-up holds the subscriber's
 * own lock, so two never send the same rows.
 *
 * Shared wakes: one thread per yw_live holds a SUBSCRIBE connection of its own (hiredis,
 * blocking, read only when poll says a message is there, so the thread notices a stop
 * within half a second), reconnecting with back-off; PUBLISH goes through the service's
 * pooled handle with its deadline.
 *
 * Offers: yw_live_new, yw_live_subscribe, yw_live_wake, yw_live_share,
 * yw_live_wake_shared, yw_live_count, yw_live_free, yw_live_last_event_id.
 */
#include "yw_live.h"

#include <ctype.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yw_err.h"
#include "yw_redis.h"

typedef struct sub {
  struct sub *next;
  yw_live *live;
  yw_rpc_stream *st;
  char owner[128];
  long long last;        /* the id of the last row sent */
  int refs;              /* under live->lock */
  int more;              /* under live->lock: a catch-up stopped at a full queue */
  int in_queue;          /* under live->lock: waiting for the worker */
  struct sub *qnext;
  pthread_mutex_t lock;  /* one catch-up at a time */
} sub;

struct yw_live {
  yw_live_fetch_fn fetch;
  void *arg;
  int batch;
  pthread_mutex_t lock;
  sub *subs;
  int n;
  /* shared wakes */
  yw_redis *pub;
  char host[256];
  int port;
  char channel[128];
  pthread_t listener;
  int listening;
  volatile int stopping;
  /* catch-ups of streams whose queue drained (the drain callback cannot query) */
  pthread_t worker;
  int working;
  pthread_cond_t work_cv;
  sub *queue_head, *queue_tail;
};

static void *work_main(void *arg);

yw_live *yw_live_new(yw_live_fetch_fn fetch, void *arg, int batch) {
  yw_live *l = calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  l->fetch = fetch;
  l->arg = arg;
  l->batch = batch > 0 ? batch : 100;
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->work_cv, NULL);
  if (pthread_create(&l->worker, NULL, work_main, l) != 0) {
    pthread_cond_destroy(&l->work_cv);
    pthread_mutex_destroy(&l->lock);
    free(l);
    return NULL;
  }
  l->working = 1;
  return l;
}

static void sub_unref(sub *s) {
  yw_live *l = s->live;
  pthread_mutex_lock(&l->lock);
  int last = --s->refs == 0;
  pthread_mutex_unlock(&l->lock);
  if (!last) return;
  pthread_mutex_destroy(&s->lock);
  yw_rpc_stream_unref(s->st);
  free(s);
}

/* Takes s out of the list: 1 when it was there (the list's reference is then the
 * caller's to drop). */
static int sub_unlink(sub *s) {
  yw_live *l = s->live;
  int found = 0;
  pthread_mutex_lock(&l->lock);
  for (sub **p = &l->subs; *p != NULL; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      l->n--;
      found = 1;
      break;
    }
  pthread_mutex_unlock(&l->lock);
  return found;
}

/* The stream's queue emptied: a catch-up that stopped at a full queue goes on, on the
 * worker (this runs on a completion-queue thread, which must not wait for a query). */
static void sub_drained(void *arg) {
  sub *s = arg;
  yw_live *l = s->live;
  pthread_mutex_lock(&l->lock);
  if (s->more && !s->in_queue) {
    s->more = 0;
    s->in_queue = 1;
    s->refs++;
    s->qnext = NULL;
    if (l->queue_tail != NULL) l->queue_tail->qnext = s;
    else l->queue_head = s;
    l->queue_tail = s;
    pthread_cond_signal(&l->work_cv);
  }
  pthread_mutex_unlock(&l->lock);
}

/* Stops the drain callback and drops the reference it held. */
static void sub_undrain(sub *s) {
  yw_rpc_stream_on_drain(s->st, NULL, NULL);
  sub_unref(s);
}

static void sub_cancelled(void *arg) {
  sub *s = arg;
  if (sub_unlink(s)) sub_unref(s);
  sub_undrain(s);
}

/* Sends what the stream has not had yet, a batch at a time while its queue has room;
 * when it has none, stops and lets the drain callback go on (a slow reader holds no
 * thread and is never cut for a backlog). */
static int catch_up(sub *s) {
  yw_live *l = s->live;
  int rc = 0;
  pthread_mutex_lock(&s->lock);
  while (!yw_rpc_stream_ended(s->st)) {
    if (yw_rpc_stream_queued(s->st) > 0) { /* a batch needs the queue empty */
      pthread_mutex_lock(&l->lock);
      s->more = 1;
      pthread_mutex_unlock(&l->lock);
      /* it may have drained meanwhile: then nobody would call back */
      if (yw_rpc_stream_queued(s->st) == 0) sub_drained(s);
      break;
    }
    rc = l->fetch(l->arg, s->st, s->owner, s->last, &s->last);
    if (rc < l->batch) break; /* caught up, or failed */
  }
  pthread_mutex_unlock(&s->lock);
  return rc < 0 ? rc : 0;
}

static void *work_main(void *arg) {
  yw_live *l = arg;
  pthread_mutex_lock(&l->lock);
  for (;;) {
    while (l->queue_head == NULL && !l->stopping) pthread_cond_wait(&l->work_cv, &l->lock);
    if (l->queue_head == NULL) break; /* stopping, nothing left */
    sub *s = l->queue_head;
    l->queue_head = s->qnext;
    if (l->queue_head == NULL) l->queue_tail = NULL;
    s->in_queue = 0;
    pthread_mutex_unlock(&l->lock);
    catch_up(s);
    sub_unref(s);
    pthread_mutex_lock(&l->lock);
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

int yw_live_subscribe(yw_live *l, yw_rpc_stream *st, const char *owner, long long after) {
  sub *s = calloc(1, sizeof *s);
  if (s == NULL || strlen(owner) >= sizeof s->owner) {
    free(s);
    yw_rpc_stream_finish(st, YW_EINTERNAL, "the stream cannot be kept");
    yw_rpc_stream_unref(st);
    return YW_ENOMEM;
  }
  s->live = l;
  s->st = st;
  snprintf(s->owner, sizeof s->owner, "%s", owner);
  s->last = after;
  s->refs = 3; /* the list's, the drain callback's and this function's */
  pthread_mutex_init(&s->lock, NULL);
  pthread_mutex_lock(&l->lock);
  s->next = l->subs;
  l->subs = s;
  l->n++;
  pthread_mutex_unlock(&l->lock);
  /* linked first, then caught up: a row committed meanwhile wakes a catch-up too */
  yw_rpc_stream_on_drain(st, sub_drained, s);
  yw_rpc_stream_on_cancel(st, sub_cancelled, s);
  int rc = catch_up(s);
  if (rc != 0 && rc != YW_ECANCELED) {
    yw_rpc_stream_finish(st, YW_EUNAVAIL, "the stream's rows cannot be read now");
    if (sub_unlink(s)) {
      sub_unref(s);
      sub_undrain(s);
    }
  }
  sub_unref(s);
  return rc == YW_ECANCELED ? 0 : rc;
}

void yw_live_wake(yw_live *l, const char *owner) {
  pthread_mutex_lock(&l->lock);
  int cap = l->n, n = 0;
  sub **woken = cap > 0 ? malloc((size_t)cap * sizeof *woken) : NULL;
  for (sub *s = l->subs; woken != NULL && s != NULL && n < cap; s = s->next)
    if (owner == NULL || strcmp(owner, s->owner) == 0) {
      s->refs++;
      woken[n++] = s;
    }
  pthread_mutex_unlock(&l->lock);
  for (int i = 0; i < n; i++) {
    catch_up(woken[i]);
    sub_unref(woken[i]);
  }
  free(woken);
}

/* ---- shared wakes ------------------------------------------------------------------ */

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void *listen_main(void *arg) {
  yw_live *l = arg;
  int backoff = 100;
  while (!l->stopping) {
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout(l->host, l->port, tv);
    redisReply *r = NULL;
    if (c != NULL && c->err == 0) {
      redisSetTimeout(c, tv);
      r = redisCommand(c, "SUBSCRIBE %s", l->channel);
    }
    if (r == NULL) {
      if (c != NULL) redisFree(c);
      for (int waited = 0; waited < backoff && !l->stopping; waited += 100) nap_ms(100);
      backoff = backoff < 5000 ? backoff * 2 : 5000;
      continue;
    }
    freeReplyObject(r);
    backoff = 100;
    while (!l->stopping) {
      struct pollfd pfd = {c->fd, POLLIN, 0};
      int ready = poll(&pfd, 1, 500);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) continue;
      void *reply = NULL;
      if (ready < 0 || redisGetReply(c, &reply) != REDIS_OK || reply == NULL) break;
      r = reply;
      /* ["message", channel, owner] */
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
          r->element[2]->type == REDIS_REPLY_STRING && r->element[2]->len < 128)
        yw_live_wake(l, r->element[2]->str);
      freeReplyObject(r);
    }
    redisFree(c);
  }
  return NULL;
}

int yw_live_share(yw_live *l, yw_redis *pub, const char *addr, const char *channel) {
  if (l->listening || addr == NULL || channel == NULL || strlen(channel) >= sizeof l->channel)
    return YW_EINVAL;
  const char *end = strchr(addr, ','); /* the first of a cluster's seeds */
  size_t n = end != NULL ? (size_t)(end - addr) : strlen(addr);
  const char *colon = memchr(addr, ':', n);
  if (colon == NULL || (size_t)(colon - addr) >= sizeof l->host) return YW_EINVAL;
  memcpy(l->host, addr, (size_t)(colon - addr));
  l->host[colon - addr] = '\0';
  char *pend = NULL;
  long port = strtol(colon + 1, &pend, 10);
  if (pend == colon + 1 || pend != addr + n || port <= 0 || port > 65535) return YW_EINVAL;
  l->port = (int)port;
  snprintf(l->channel, sizeof l->channel, "%s", channel);
  l->pub = pub;
  l->stopping = 0;
  if (pthread_create(&l->listener, NULL, listen_main, l) != 0) return YW_EINTERNAL;
  l->listening = 1;
  return 0;
}

void yw_live_wake_shared(yw_live *l, const char *owner) {
  yw_live_wake(l, owner);
  if (l->pub == NULL || owner == NULL) return;
  const char *argv[] = {"PUBLISH", l->channel, owner};
  redisReply *r = yw_redis_command(l->pub, 3, argv, NULL, NULL, 0);
  if (r != NULL) freeReplyObject(r);
}

int yw_live_count(yw_live *l) {
  pthread_mutex_lock(&l->lock);
  int n = l->n;
  pthread_mutex_unlock(&l->lock);
  return n;
}

void yw_live_free(yw_live *l, int code, const char *message) {
  if (l == NULL) return;
  if (l->listening) {
    l->stopping = 1;
    pthread_join(l->listener, NULL);
    l->listening = 0;
  }
  for (;;) {
    pthread_mutex_lock(&l->lock);
    sub *s = l->subs;
    if (s != NULL) s->refs++;
    pthread_mutex_unlock(&l->lock);
    if (s == NULL) break;
    yw_rpc_stream_finish(s->st, code, message);
    if (sub_unlink(s)) {
      sub_unref(s);
      sub_undrain(s);
    }
    sub_unref(s);
  }
  if (l->working) {
    pthread_mutex_lock(&l->lock);
    l->stopping = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->worker, NULL);
  }
  pthread_cond_destroy(&l->work_cv);
  pthread_mutex_destroy(&l->lock);
  free(l);
}

long long yw_live_last_event_id(yw_rpc_stream *st) {
  const char *v = yw_rpc_stream_metadata(st, "last-event-id");
  if (v == NULL || v[0] == '\0') return 0;
  size_t n = strlen(v);
  if (n > 18) return -1;
  long long id = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)v[i])) return -1;
    id = id * 10 + (v[i] - '0');
  }
  return id;
}

/* ---- owners touched by a poll ------------------------------------------------------ */

void yw_live_touched_add(yw_live_touched *t, const char *owner) {
  if (t->all || owner == NULL) return;
  size_t len = strlen(owner);
  for (int i = 0; i < t->n; i++)
    if (strcmp(t->owners[i], owner) == 0) return;
  if (len == 0 || len > YW_LIVE_OWNER_MAX || t->n >= YW_LIVE_TOUCHED_MAX) {
    t->all = 1;
    return;
  }
  memcpy(t->owners[t->n++], owner, len + 1);
}

void yw_live_touched_wake(yw_live *l, yw_live_touched *t, int shared) {
  if (t->all) {
    if (shared) {
      yw_live_wake_shared(l, NULL);
    } else {
      yw_live_wake(l, NULL);
    }
  } else {
    for (int i = 0; i < t->n; i++) {
      if (shared)
        yw_live_wake_shared(l, t->owners[i]);
      else
        yw_live_wake(l, t->owners[i]);
    }
  }
  t->n = 0;
  t->all = 0;
}
