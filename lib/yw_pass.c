/*
 * yw_pass.c - the periodic pass's thread (yw_pass.h).
 */
#include "yw_pass.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "yw_err.h"

struct yw_pass {
  int interval_ms;
  yw_pass_fn fn;
  void *arg;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC */
  int stop;
};

static void *run(void *p) {
  yw_pass *t = p;
  pthread_mutex_lock(&t->mu);
  while (!t->stop) {
    pthread_mutex_unlock(&t->mu);
    int more = t->fn(t->arg);
    pthread_mutex_lock(&t->mu);
    if (more) continue; /* more waiting: at once */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += t->interval_ms / 1000;
    until.tv_nsec += (long)(t->interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

int yw_pass_start(int interval_ms, yw_pass_fn fn, void *arg, yw_pass **out) {
  yw_pass *t = calloc(1, sizeof *t);
  if (t == NULL) return YW_ENOMEM;
  t->interval_ms = interval_ms > 0 ? interval_ms : 1000;
  t->fn = fn;
  t->arg = arg;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&t->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&t->mu, NULL);
  if (pthread_create(&t->thread, NULL, run, t) != 0) {
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
    return YW_EINTERNAL;
  }
  *out = t;
  return 0;
}

void yw_pass_stop(yw_pass *t) {
  if (t == NULL) return;
  pthread_mutex_lock(&t->mu);
  t->stop = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  pthread_join(t->thread, NULL);
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->mu);
  free(t);
}
