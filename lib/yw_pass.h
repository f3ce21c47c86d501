/*
 * yw_pass.h - a thread that runs a periodic pass (yw-payment's janitor and receipts,
 * yw-applications' supervision): the pass, then a wait of interval_ms (at once again while
 * the pass says more work is waiting), until stopped; a stop wakes the wait. The wait is
 * on the monotonic clock, so a change of the wall clock neither hurries nor holds it.
 *
 * Offers: yw_pass_start, yw_pass_stop.
 */
#ifndef YW_PASS_H
#define YW_PASS_H

/* One pass over arg: 1 when more work is waiting (run again at once), else 0. */
typedef int (*yw_pass_fn)(void *arg);

typedef struct yw_pass yw_pass;

/* Starts the thread running fn(arg) at once and then every interval_ms (<= 0: 1000).
 * Returns 0 and *out, YW_ENOMEM or YW_EINTERNAL. */
int yw_pass_start(int interval_ms, yw_pass_fn fn, void *arg, yw_pass **out);

/* Stops the thread (waiting for a pass in progress) and frees it. Accepts NULL. */
void yw_pass_stop(yw_pass *t);

#endif
