/*
 * supervision.h - electronic supervision (电子监察) in yw-applications: the periodic job
 * that gives each application whose time limit runs its colour (GREEN, YELLOW within 2
 * working days of its due date, RED past it) and writes application.supervision_changed
 * for each change, through the outbox, in the same transaction, with the departments'
 * alerts (alerts.h); and the alerts of rectification cases past their deadline.
 */
#ifndef APPLICATIONS_SUPERVISION_H
#define APPLICATIONS_SUPERVISION_H

#include "applications.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yw_workdays.h"

typedef Yiwang__Applications__V1__SupervisionColour supervision_colour;

/* The working days within which a running limit is YELLOW. */
#define SUPERVISION_YELLOW_DAYS 2

/* The colour on day today of an application of status (the stored name: "in_review")
 * with due date due (has_due 0: none), counted with cal; *days_left (may be NULL) gets
 * the working days from today to due, negative once working days passed since due.
 * A limit runs only while ACCEPTED, IN_REVIEW or RESUBMITTED with a due date; any other
 * status (not accepted, a supplement awaited, decided) is SUPERVISION_NONE. */
supervision_colour supervision_colour_of(const struct yw_workdays *cal, const char *status,
                                         int has_due, yw_day due, yw_day today, int *days_left);

/* The stored name of a colour ("red"; "supervision_none"), NULL when it is none. */
const char *supervision_colour_db(supervision_colour c);

typedef struct supervision_result {
  int skipped; /* another copy's pass held the lock: nothing done */
  int checked; /* applications looked at */
  int marked;  /* colours changed (one event each) */
  int alerted; /* alerts recorded for departments (alerts.h) */
} supervision_result;

/*
 * Colours the applications ids (a bigint[] literal, "{12,15}") on day today with cal, inside
 * the caller's transaction on conn: each row locked (FOR UPDATE SKIP LOCKED: rows another
 * transaction holds are left; the caller's own are taken), its colour computed with
 * supervision_colour_of, and each change stored (applications.supervision, the queue's
 * rows) with its application.supervision_changed event and the alerts, as a pass does.
 * res's counters are added to (not cleared); *colour (may be NULL) gets the colour of the
 * first row. Returns 0 or a query's code (err).
 */
int supervision_recolour(PGconn *conn, const struct yw_workdays *cal, yw_day today,
                         const char *ids, supervision_result *res, supervision_colour *colour,
                         yw_pg_error *err);

/*
 * One pass on day today: the calendar refreshed, then, under the advisory lock (taken
 * with pg_try_advisory_lock on a pooled connection, so one copy at a time; another finds
 * it held and skips), the candidates in batches of batch (1..1000) ids, each batch one
 * transaction: rows locked (SKIP LOCKED: an application in a step now is taken next
 * pass), colours computed, each change stored (applications.supervision and the queue's
 * rows) with its event. Everything within deadline_ms: the connection waits and the
 * statements end by then (a stopped database fails the pass, never hangs it).
 * Each change to yellow or red records the departments' alerts and, to red, the
 * applicant's feed entry, in its batch's transaction; then, in batches too, the open
 * rectification cases past their due date get their department's alert (alerts.h).
 * Returns 0 with *res, or a failure code (work of committed batches stays).
 */
int supervision_pass(applications_ctx *ctx, yw_day today, int batch, int deadline_ms,
                     supervision_result *res);

/* supervision_pass bounded also by max_batches batches (0: no bound) of the applications;
 * a pass stopped by either bound returns YW_ETIMEOUT and the next one goes on from where
 * it stopped (applications.supervision_cursor), then wraps round to the first id, so every
 * running application is coloured within a few passes however many there are. */
int supervision_pass_n(applications_ctx *ctx, yw_day today, int batch, int max_batches,
                       int deadline_ms, supervision_result *res);

typedef struct supervision_job supervision_job;

/* Starts the job's thread: a pass at once, then every interval_s seconds, on the day of
 * the moment in Asia/Shanghai. Returns 0 with *out, or YW_ENOMEM / YW_EIO. */
int supervision_start(applications_ctx *ctx, int interval_s, supervision_job **out);

/* Stops the thread (a pass under way ends within its deadline) and frees it. NULL is fine. */
void supervision_stop(supervision_job *job);

/* Appends the job's metrics (passes, failures, skipped, marked, last pass) in the
 * Prometheus text format to buf; returns the bytes written or YW_ETOOBIG. */
int supervision_metrics(supervision_job *job, char *buf, size_t len);

#endif
