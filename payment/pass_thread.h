/*
 * pass_thread.h - a thread that runs a periodic pass (the janitor's, the receipts'):
 * the pass, then a wait of interval_ms (at once again while the pass says more work is
 * waiting), until stopped; a stop wakes the wait.
 *
 * Offers: pay_pass_thread_start, pay_pass_thread_stop.
 */
#ifndef PAY_PASS_THREAD_H
#define PAY_PASS_THREAD_H

/* One pass over arg: 1 when more work is waiting (run again at once), else 0. */
typedef int (*pay_pass_fn)(void *arg);

typedef struct pay_pass_thread pay_pass_thread;

/* Starts the thread running fn(arg) every interval_ms (> 0). Returns 0 and *out,
 * YW_ENOMEM or YW_EINTERNAL. */
int pay_pass_thread_start(int interval_ms, pay_pass_fn fn, void *arg, pay_pass_thread **out);

/* Stops the thread (waiting for a pass in progress) and frees it. Accepts NULL. */
void pay_pass_thread_stop(pay_pass_thread *t);

#endif
