/*
 * licenses.h - electronic licenses (电子证照) of yw-applications: issued on completion,
 * sealed with SM2 (lib/yw_seal.h), read by their holder and the issuing department,
 * verified by anyone, revoked by the issuer's administrators, and given in place of
 * materials when filing (yiwang.applications.v1.LicensesService, licenses.proto).
 *
 * The functions for applications.c run inside its transactions, on its connection; they
 * return 0, a refusal with the call's status set (err left empty), or the code of a
 * failed statement with err filled.
 */
#ifndef LICENSES_H
#define LICENSES_H

#include "applications.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"

/* The service table; data points to ctx (the same context as the applications'). */
void licenses_service_init(yw_rpc_service *svc, applications_ctx *ctx);

/* Bounds of req's materialLicenses, before anything is read: at most 32, each a
 * material name of 1..200 bytes and a license number of the right form. Returns 0 or
 * YW_EINVAL (status set, naming the path). */
int licenses_check_request(yw_rpc_call *call,
                           const Yiwang__Applications__V1__SubmitApplicationRequest *req);

/* At filing, in the filing's transaction: keeps the item's license result (its first
 * result of type 证照 and the item's basic code) on the application app_id, and records
 * each material of req replaced by a license of subject's (the license must be held by
 * subject for the applicant the application names, the person or the company acted
 * for; not revoked, not expired; the material one the item lists as replaceable). */
int licenses_file(yw_rpc_call *call, PGconn *conn, const char *app_id, const char *subject,
                  const Yiwang__Catalog__V1__Item *item,
                  const Yiwang__Applications__V1__SubmitApplicationRequest *req, yw_pg_error *err);

/* The materials of application app_id into app->materials (in the call's arena). */
int licenses_load_materials(yw_rpc_call *call, PGconn *conn, const char *app_id,
                            Yiwang__Applications__V1__Application *app, yw_pg_error *err);

/* On completion of application app_id, in its transaction: when its item issues a
 * license, the next number of the issuer's region, type and year, the license sealed
 * with ctx->seal, and license.issued. Without a seal (ctx->seal NULL) none is issued.
 * holder_name: the holder as yw-identity names it (a person's masked name, a company's
 * name), kept encrypted with the license (NULL: none). */
int licenses_issue(yw_rpc_call *call, PGconn *conn, applications_ctx *ctx, const char *app_id,
                   const char *holder_name, yw_pg_error *err);

/* 1 when department dept's licenses can be sealed (its own seal or the deployment's). */
int licenses_can_seal(const applications_ctx *ctx, const char *dept);

/* Loads the deployment's seal from the PEM file key_path ("": none) and each
 * department's own from dir ("": none; its files <department code>.key, at most 256)
 * into ctx (seal, dept_seals). Returns 0, or -1 with why (nothing kept then). */
int licenses_seals_load(applications_ctx *ctx, const char *key_path, const char *dir, char *why,
                        size_t whylen);

/* Frees what licenses_seals_load kept in ctx. */
void licenses_seals_free(applications_ctx *ctx);

#endif
