/*
 * application_status.c - the status machine of an application.
 *
 * The allow-list below is the database's (applications.status_transitions, loaded by
 * migrations/001_applications.sql): the service checks a change here before it writes,
 * to answer FAILED_PRECONDITION with a clear message, and the table's trigger refuses
 * whatever slips past. tests/integration/test_applications_service.c checks that both
 * lists hold the same pairs.
 *
 * Offers: application_transitions, application_status_allowed, application_status_final,
 * application_status_db, application_status_from_db, application_number_valid.
 */
#include "application_status.h"

#include <string.h>

#define S(x) YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__##x

const application_transition application_transitions[] = {
    {S(SUBMITTED), S(ACCEPTED)},
    {S(SUBMITTED), S(REJECTED)},
    {S(ACCEPTED), S(IN_REVIEW)},
    {S(IN_REVIEW), S(SUPPLEMENT_REQUESTED)},
    {S(IN_REVIEW), S(APPROVED)},
    {S(IN_REVIEW), S(DISAPPROVED)},
    {S(SUPPLEMENT_REQUESTED), S(RESUBMITTED)},
    {S(RESUBMITTED), S(IN_REVIEW)},
    {S(APPROVED), S(COMPLETED)},
    {S(SUBMITTED), S(WITHDRAWN)},
    {S(ACCEPTED), S(WITHDRAWN)},
    {S(IN_REVIEW), S(WITHDRAWN)},
    {S(SUPPLEMENT_REQUESTED), S(WITHDRAWN)},
    {S(RESUBMITTED), S(WITHDRAWN)},
};
const size_t application_transitions_count =
    sizeof application_transitions / sizeof application_transitions[0];

int application_status_allowed(application_status from, application_status to) {
  for (size_t i = 0; i < application_transitions_count; i++)
    if (application_transitions[i].from == from && application_transitions[i].to == to) return 1;
  return 0;
}

int application_status_final(application_status s) {
  return s == S(REJECTED) || s == S(APPROVED) || s == S(DISAPPROVED) || s == S(COMPLETED) ||
         s == S(WITHDRAWN);
}

static const struct {
  application_status s;
  const char *name;
} names[] = {
    {S(SUBMITTED), "submitted"},     {S(ACCEPTED), "accepted"},
    {S(REJECTED), "rejected"},       {S(IN_REVIEW), "in_review"},
    {S(SUPPLEMENT_REQUESTED), "supplement_requested"},
    {S(RESUBMITTED), "resubmitted"}, {S(APPROVED), "approved"},
    {S(DISAPPROVED), "disapproved"}, {S(COMPLETED), "completed"},
    {S(WITHDRAWN), "withdrawn"},
};

const char *application_status_db(application_status s) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].s == s) return names[i].name;
  return NULL;
}

application_status application_status_from_db(const char *name) {
  for (size_t i = 0; name != NULL && i < sizeof names / sizeof names[0]; i++)
    if (strcmp(names[i].name, name) == 0) return names[i].s;
  return S(APPLICATION_STATUS_UNSPECIFIED);
}

int application_number_valid(const char *s) {
  return strlen(s) == 20 && strspn(s, "0123456789") == 20;
}
