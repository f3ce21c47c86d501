/*
 * staff_access.h - who reads and acts on a department's records in yw-applications
 * (rectification cases, alerts): the forms of a department code and of a row id, and the
 * one check of a caller as staff of a department or as a supervisor.
 */
#ifndef APPLICATIONS_STAFF_ACCESS_H
#define APPLICATIONS_STAFF_ACCESS_H

#include "yw_caller.h"
#include "yw_rpc.h"

#define STAFF_ACCESS_STAFF "dept_staff,dept_admin"
#define STAFF_ACCESS_SUPERVISORS "platform_admin,auditor"

/* 1 when s is a department, item or hall code: 1..64 letters, digits, '-', '_', '.'. */
int staff_access_code_valid(const char *s);

/* 1 when s is a row id: 1..18 digits. */
int staff_access_id_valid(const char *s);

/*
 * The caller must be staff (dept_staff, dept_admin) of department dept, or, when
 * supervisors, a supervisor (platform_admin, auditor: dept may then be "" or any
 * department code). *caller gets the caller, *supervisor 1 for a supervisor. Returns 0,
 * or YW_EUNAUTH, YW_EPERM, YW_EINVAL (a missing or malformed department) with the status
 * set (action names what was refused: "listing alerts").
 */
int staff_access_require(yw_rpc_call *call, const yw_caller_keys *keys, const char *dept,
                         int supervisors, const char *action, yw_caller *caller, int *supervisor);

#endif
