/*
 * materials.h - materials (材料) of applications: the item version's list kept at filing,
 * the applicant's uploads for them, and the check before one of their files is read.
 */
#ifndef MATERIALS_H
#define MATERIALS_H

#include "applications.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"

/* At filing, in its transaction: the item version's materials as the application's
 * list (applications.item_materials). Returns 0 or a query's code (err). */
int materials_file(PGconn *conn, const char *app_id, const Yiwang__Catalog__V1__Item *item,
                   yw_pg_error *err);

/* Loading an application: the files of its uploaded materials (app->materials, as
 * licenses_load_materials loaded them) and the required materials still missing.
 * Returns 0, YW_ENOMEM or a query's code (err). */
int materials_load(yw_rpc_call *call, PGconn *conn, const char *app_id,
                   Yiwang__Applications__V1__Application *app, yw_pg_error *err);

/* The handlers of AddMaterial and GetMaterialFile (data: the applications_ctx). */
int materials_add(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                  void *data);
int materials_get_file(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data);

#endif
