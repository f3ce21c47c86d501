/*
 * calendar.h - yw-applications' working-day calendar: the one in the database
 * (applications.calendar_days, loaded per year by staff) kept in memory by every copy,
 * swapped safely while handler threads read it, and the PutCalendar / GetCalendar
 * handlers.
 *
 * Sharing: a reader takes the current calendar with applications_calendar_acquire and
 * gives it back with applications_calendar_release; a reload builds a new calendar and
 * swaps the pointer under a mutex, and the old one is freed by whoever gives back its
 * last reference, so no thread ever reads a freed calendar.
 *
 * Freshness: calendar_state.version moves at every load, through any copy. A copy asks
 * for it at most every check_ms (applications_calendar_refresh, before each due date
 * and each supervision pass) and reloads when it moved; a load through this copy makes
 * the next refresh ask at once.
 */
#ifndef APPLICATIONS_CALENDAR_H
#define APPLICATIONS_CALENDAR_H

#include "yw_pg.h"
#include "yw_rpc.h"
#include "yw_workdays.h"

typedef struct applications_calendar applications_calendar;

/* A holder whose calendar starts as initial (taken over; NULL: weekends only), version
 * -1 (so the first refresh loads the database's). check_ms: the longest a copy goes
 * without asking for the version (0: at every refresh). NULL when memory is short. */
applications_calendar *applications_calendar_new(struct yw_workdays *initial, int check_ms);

/* Frees the holder and its calendar; no reference may be held. NULL is fine. */
void applications_calendar_free(applications_calendar *h);

/* The current calendar (never NULL), held until applications_calendar_release(*ref). */
const struct yw_workdays *applications_calendar_acquire(applications_calendar *h, void **ref);
void applications_calendar_release(void *ref);

/* The version of the calendar held now (-1 before the first load). */
long long applications_calendar_version(applications_calendar *h);

/* Asks conn for the calendar's version when check_ms passed since the last time (or
 * always when force) and, when it moved, loads every row and swaps the calendar in.
 * Returns 0 or a query's code (err); on failure the calendar held stays. Runs in or out
 * of a transaction. */
int applications_calendar_refresh(applications_calendar *h, PGconn *conn, int force,
                                  yw_pg_error *err);

/* Makes the next refresh ask for the version whatever check_ms says. */
void applications_calendar_invalidate(applications_calendar *h);

/* Start-up: when applications.calendar_days is empty, stores the entries of seed (the CSV
 * file YW_APPLICATIONS_HOLIDAYS) and moves the version, in one transaction; otherwise
 * nothing. *stored (may be NULL) gets the number of entries stored. Returns 0 or a
 * query's code (err). */
int applications_calendar_seed(PGconn *conn, const struct yw_workdays *seed, int *stored,
                               yw_pg_error *err);

/* Handlers of PutCalendar (platform_admin, audited) and GetCalendar (anyone); data is the
 * applications_ctx. */
/* Notes that a due date was counted through year while the calendar does not cover it
 * (yw_workdays_covers: no notice loaded, weekends only): a warning in the log, at most
 * once a minute a year, and one more in the counter. */
void applications_calendar_note_uncovered(int year);

/* The due dates counted through an uncovered year since start. */
long long applications_calendar_uncovered_total(void);

/* Appends the calendar's metrics (yw_calendar_uncovered_total) in the Prometheus text
 * format to buf; returns the bytes written or YW_ETOOBIG. */
int applications_calendar_metrics(char *buf, size_t len);

int applications_put_calendar(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data);
int applications_get_calendar(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data);

#endif
