/*
 * gw_phase.c - the phase engine (gw_phase.h).
 *
 * One loop, re-entered after a suspension. A resume that arrives while its phase is
 * still running (an answer that came at once, or a failure found before waiting) is
 * recorded and taken when the phase returns, so a phase never runs nested in itself
 * and the stack never grows with the number of phases.
 *
 * Offers: gw_phase_start, gw_phase_resume, gw_phase_name.
 */
#include "gw_phase.h"

static void finish(const gw_pipeline *p, gw_phase_state *st, struct gw_req *r) {
  if (st->finished) return;
  st->finished = 1;
  st->suspended = 0;
  if (p->finish != NULL) p->finish(r);
}

static void run(const gw_pipeline *p, gw_phase_state *st, struct gw_req *r) {
  while (st->at < p->n) {
    st->running = 1;
    enum gw_phase_result res = p->phases[st->at].run(r);
    st->running = 0;
    if (st->pending) { /* its resume came before it returned */
      st->pending = 0;
      if (res == GW_SUSPEND) res = (enum gw_phase_result)st->pending_result;
    }
    if (res == GW_SUSPEND) {
      st->suspended = 1;
      return;
    }
    if (res == GW_DONE) {
      finish(p, st, r);
      return;
    }
    st->at++;
  }
  finish(p, st, r); /* no phase answered: the finish hook makes the answer of last resort */
}

void gw_phase_start(const gw_pipeline *p, gw_phase_state *st, struct gw_req *r) {
  if (st->started) return;
  st->started = 1;
  st->at = 0;
  run(p, st, r);
}

void gw_phase_resume(const gw_pipeline *p, gw_phase_state *st, struct gw_req *r,
                     enum gw_phase_result res) {
  if (st->finished) return;
  if (st->running) { /* the phase has not returned yet: it takes this when it does */
    st->pending = 1;
    st->pending_result = (unsigned char)res;
    return;
  }
  if (!st->suspended || res == GW_SUSPEND) return;
  st->suspended = 0;
  if (res == GW_DONE) {
    finish(p, st, r);
    return;
  }
  st->at++;
  run(p, st, r);
}

const char *gw_phase_name(const gw_pipeline *p, const gw_phase_state *st) {
  if (st->finished || st->at >= p->n) return "finished";
  return p->phases[st->at].name;
}
