/*
 * yw_live.c - live streams of an owner's rows (yw_live.h).
 *
 * Each subscriber has a reference count under the registry's lock: the list holds one,
 * and each catch-up in progress one, so a stream the client leaves (its cancel callback
 * unlinks it) is freed only once no catch-up uses it. A catch-up holds the subscriber's
 * own lock, so two never send the same rows.
 *
 * Offers: yw_live_new, yw_live_subscribe, yw_live_wake, yw_live_count, yw_live_free,
 * yw_live_last_event_id.
 */
#include "yw_live.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

typedef struct sub {
  struct sub *next;
  yw_live *live;
  yw_rpc_stream *st;
  char owner[128];
  long long last;        /* the id of the last row sent */
  int refs;              /* under live->lock */
  pthread_mutex_t lock;  /* one catch-up at a time */
} sub;

struct yw_live {
  yw_live_fetch_fn fetch;
  void *arg;
  int batch;
  pthread_mutex_t lock;
  sub *subs;
  int n;
};

yw_live *yw_live_new(yw_live_fetch_fn fetch, void *arg, int batch) {
  yw_live *l = calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  l->fetch = fetch;
  l->arg = arg;
  l->batch = batch > 0 ? batch : 100;
  pthread_mutex_init(&l->lock, NULL);
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

static void sub_cancelled(void *arg) {
  sub *s = arg;
  if (sub_unlink(s)) sub_unref(s);
}

static int catch_up(sub *s) {
  yw_live *l = s->live;
  int rc = 0;
  pthread_mutex_lock(&s->lock);
  while (!yw_rpc_stream_ended(s->st)) {
    rc = l->fetch(l->arg, s->st, s->owner, s->last, &s->last);
    if (rc < l->batch) break; /* caught up, or failed */
  }
  pthread_mutex_unlock(&s->lock);
  return rc < 0 ? rc : 0;
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
  s->refs = 2; /* the list's and this function's */
  pthread_mutex_init(&s->lock, NULL);
  pthread_mutex_lock(&l->lock);
  s->next = l->subs;
  l->subs = s;
  l->n++;
  pthread_mutex_unlock(&l->lock);
  /* linked first, then caught up: a row committed meanwhile wakes a catch-up too */
  yw_rpc_stream_on_cancel(st, sub_cancelled, s);
  int rc = catch_up(s);
  if (rc != 0 && rc != YW_ECANCELED) {
    yw_rpc_stream_finish(st, YW_EUNAVAIL, "the stream's rows cannot be read now");
    if (sub_unlink(s)) sub_unref(s);
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

int yw_live_count(yw_live *l) {
  pthread_mutex_lock(&l->lock);
  int n = l->n;
  pthread_mutex_unlock(&l->lock);
  return n;
}

void yw_live_free(yw_live *l, int code, const char *message) {
  if (l == NULL) return;
  for (;;) {
    pthread_mutex_lock(&l->lock);
    sub *s = l->subs;
    if (s != NULL) s->refs++;
    pthread_mutex_unlock(&l->lock);
    if (s == NULL) break;
    yw_rpc_stream_finish(s->st, code, message);
    if (sub_unlink(s)) sub_unref(s);
    sub_unref(s);
  }
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
