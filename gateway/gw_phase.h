/*
 * gw_phase.h - the phase engine: a request goes through a declared sequence of phases,
 * each of which answers GW_NEXT (not mine, or done with my part: go on), GW_DONE (the
 * answer is made: skip the rest and finish) or GW_SUSPEND (waiting for something on the
 * loop: Redis, an upstream). A suspended request continues with gw_phase_resume, given
 * the outcome of the phase that suspended it. Whatever ends the run - a phase that
 * answers, the end of the table - calls the pipeline's finish hook exactly once (the
 * response filters, the access log and the send), as nginx's phase engine and h2o's
 * handler chain do.
 *
 * The engine knows nothing of HTTP: it sees a struct gw_req only as a pointer, so the
 * unit test drives it with fake phases (tests/unit/test_phase.c).
 */
#ifndef GW_PHASE_H
#define GW_PHASE_H

#include <stddef.h>

struct gw_req;

enum gw_phase_result {
  GW_NEXT = 0, /* go on with the next phase */
  GW_DONE,     /* the answer is made: finish now */
  GW_SUSPEND,  /* resumed later by gw_phase_resume, on the same loop */
};

typedef enum gw_phase_result (*gw_phase_fn)(struct gw_req *r);

typedef struct gw_phase {
  const char *name; /* for logs and the README: "route", "access" */
  gw_phase_fn run;
} gw_phase;

typedef struct gw_pipeline {
  const gw_phase *phases;
  size_t n;
  void (*finish)(struct gw_req *r); /* once per request, when a run ends */
} gw_pipeline;

/* Where one request stands; zero is "not started". Lives in the request. */
typedef struct gw_phase_state {
  unsigned short at;        /* the phase running or suspended */
  unsigned char started;
  unsigned char running;    /* inside a phase's run (a resume now is only recorded) */
  unsigned char suspended;
  unsigned char finished;
  unsigned char pending;    /* a resume arrived while the phase was still running */
  unsigned char pending_result;
} gw_phase_state;

/* Runs r's phases from the first. Does nothing when the request was started before. */
void gw_phase_start(const gw_pipeline *p, gw_phase_state *st, struct gw_req *r);

/*
 * Continues a suspended request: res is the outcome of the phase that suspended it
 * (GW_NEXT: the next phase runs; GW_DONE: finish; GW_SUSPEND: it waits on). Called from
 * inside that phase's own run (an answer that came at once), the outcome is kept and
 * taken when the phase returns GW_SUSPEND. Ignored for a request not suspended.
 */
void gw_phase_resume(const gw_pipeline *p, gw_phase_state *st, struct gw_req *r,
                     enum gw_phase_result res);

/* The name of the phase r is in (or "finished"), for logs. */
const char *gw_phase_name(const gw_pipeline *p, const gw_phase_state *st);

#endif
