/*
 * staff_access.c - the forms of department codes and row ids, and the check of a caller
 * as staff of a department or a supervisor, shared by ratings.c (rectification cases)
 * and alerts.c.
 *
 * Offers: staff_access_code_valid, staff_access_id_valid, staff_access_require.
 */
#include "staff_access.h"

#include <ctype.h>
#include <string.h>

#include "yw_err.h"
#include "yw_service.h"

int staff_access_code_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return 0;
  return 1;
}

int staff_access_id_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 18) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

int staff_access_require(yw_rpc_call *call, const yw_caller_keys *keys, const char *dept,
                         int supervisors, const char *action, yw_caller *caller, int *supervisor) {
  *supervisor = 0;
  int rc = yw_service_require_staff(
      call, keys, supervisors ? STAFF_ACCESS_STAFF "," STAFF_ACCESS_SUPERVISORS : STAFF_ACCESS_STAFF,
      action, caller);
  if (rc != 0) return rc;
  if (supervisors && yw_service_has_any_role(caller, STAFF_ACCESS_SUPERVISORS)) {
    if (dept[0] != '\0' && !staff_access_code_valid(dept))
      return yw_rpc_call_fail(call, YW_EINVAL, "department is not a department code");
    *supervisor = 1;
    return 0;
  }
  if (!staff_access_code_valid(dept))
    return yw_rpc_call_fail(call, YW_EINVAL, "department is required: a department code");
  if (strcmp(caller->department, dept) != 0 || !yw_service_has_any_role(caller, STAFF_ACCESS_STAFF))
    return yw_rpc_call_fail(call, YW_EPERM, "%s is for staff of department %s", action, dept);
  return 0;
}
