/*
 * application_status.h - the status machine of an application (办件), with no I/O:
 * which changes of status are allowed (the same list as the database's
 * applications.status_transitions, which a trigger holds every UPDATE to) and the
 * statuses' names as stored. Due dates are lib/yw_workdays' (applications.c).
 *
 * Statuses are the values of yiwang.applications.v1.ApplicationStatus.
 */
#ifndef APPLICATION_STATUS_H
#define APPLICATION_STATUS_H

#include <stddef.h>

#include "yiwang/applications/v1/applications.pb-c.h"

typedef Yiwang__Applications__V1__ApplicationStatus application_status;

typedef struct application_transition {
  application_status from, to;
} application_transition;

/* The allow-list, in the order of migrations/001_applications.sql. */
extern const application_transition application_transitions[];
extern const size_t application_transitions_count;

/* 1 when an application in from may become to, else 0. */
int application_status_allowed(application_status from, application_status to);

/* 1 for the statuses a decision has been made in (REJECTED, APPROVED, DISAPPROVED,
 * COMPLETED) or that end the application (WITHDRAWN): nothing but COMPLETED follows
 * APPROVED, nothing follows the others. */
int application_status_final(application_status s);

/* 1 when s has the shape of an application number (the 20 digits of a receipt:
 * region code, date and sequence), else 0. */
int application_number_valid(const char *s);

/* The stored name ("in_review"), or NULL for UNSPECIFIED or an unknown value. */
const char *application_status_db(application_status s);

/* The status of a stored name, or UNSPECIFIED (0) for an unknown one. */
application_status application_status_from_db(const char *name);

#endif
