/*
 * yw_slots.c - a counting limit with a bounded wait (mutex + condition variable on the
 * monotonic clock, so a wall-clock jump neither shortens nor stretches the wait).
 *
 * Offers: yw_slots_new, yw_slots_free, yw_slots_acquire, yw_slots_waiting,
 * yw_slots_release.
 */
#include "yw_slots.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "yw_err.h"

struct yw_slots {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int free_slots;
  int waiters, max_waiters;
};

yw_slots *yw_slots_new(int n, int max_waiters) {
  yw_slots *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_init(&s->mu, NULL);
  s->free_slots = n > 0 ? n : 1;
  s->max_waiters = max_waiters > 0 ? max_waiters : 0;
  return s;
}

void yw_slots_free(yw_slots *s) {
  if (s == NULL) return;
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

int yw_slots_acquire(yw_slots *s, int wait_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  if (wait_ms < 0) wait_ms = 0;
  until.tv_sec += wait_ms / 1000;
  until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  if (s->free_slots == 0 && s->waiters >= s->max_waiters) {
    pthread_mutex_unlock(&s->mu);
    return YW_ELIMIT;
  }
  s->waiters++;
  while (s->free_slots == 0) {
    if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0 && s->free_slots == 0) {
      rc = YW_ELIMIT;
      break;
    }
  }
  s->waiters--;
  if (rc == 0) s->free_slots--;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int yw_slots_waiting(yw_slots *s) {
  pthread_mutex_lock(&s->mu);
  int n = s->waiters;
  pthread_mutex_unlock(&s->mu);
  return n;
}

void yw_slots_release(yw_slots *s) {
  pthread_mutex_lock(&s->mu);
  s->free_slots++;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}
