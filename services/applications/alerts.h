/*
 * alerts.h - alerts to departments (督办提醒) in yw-applications: what the supervision pass
 * records for a department when one of its applications turns yellow or red and when one
 * of its rectification cases passes its deadline unanswered, the resident's feed entry
 * when their application turns red, and the handlers of
 * yiwang.applications.v1.AlertsService (alerts.proto): staff list and acknowledge their
 * department's alerts, supervisors list every department's red and overdue ones.
 *
 * The writes run inside the pass's transaction (supervision.c), on its connection.
 */
#ifndef APPLICATIONS_ALERTS_H
#define APPLICATIONS_ALERTS_H

#include <jansson.h>

#include "applications.h"
#include "yw_workdays.h"

/*
 * The alerts of a batch of colour changes: changes is the pass's JSON array of
 * {id, number, colour ("yellow", "red", ...), due, days_left, depts ("a,b": the
 * application's departments)}; each yellow or red change gets an alert of that kind for
 * each department, raised on day today, unless the same application, kind and department
 * has an open one already. *raised (added to) counts the new ones. Returns 0 or a
 * query's code (err).
 */
int alerts_for_applications(PGconn *conn, yw_day today, json_t *changes, int *raised,
                            yw_pg_error *err);

/*
 * One batch of rectification cases past their due date on day today (due_date < today),
 * still open and without an alert, after case id *last (text, "0" first): the cases are
 * locked FOR UPDATE SKIP LOCKED (one taking a step now is left for the next pass) and each
 * gets one alert for its department. *n gets the cases taken (less than batch: the last
 * batch), *last moves, *raised is added to. Runs inside a transaction. Returns 0 or a
 * query's code (err).
 */
int alerts_overdue_cases(PGconn *conn, yw_day today, int batch, char last[24], int *n, int *raised,
                         yw_pg_error *err);

/*
 * The feed.entry telling the applicant (subject: their feed, yw_feed_recipient) that their
 * application number (of item item_name) is past its promised time limit: that the
 * department is late, nothing of the department's work. In the caller's transaction.
 * Returns 0 or a code (err).
 */
int alerts_feed_late(PGconn *conn, const char *number, const char *subject, const char *item_name,
                     yw_pg_error *err);

/* The service table (ListAlerts, AcknowledgeAlert); data points to ctx. */
void alerts_service_init(yw_rpc_service *svc, applications_ctx *ctx);

#endif
