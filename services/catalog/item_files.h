/*
 * item_files.h - an item's blank and sample forms and result samples as files: the
 * download's check (GetItemFile), a department's upload (UploadItemFiles), a platform
 * administrator's withdrawal (WithdrawItemFile), and the check of an item's file
 * references (uploaded by its department, not withdrawn, then against yw-files) before
 * UpsertItem writes them.
 */
#ifndef CATALOG_ITEM_FILES_H
#define CATALOG_ITEM_FILES_H

#include "catalog.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"

/* The handlers (data: the catalog_ctx). */
int catalog_get_item_file(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data);
int catalog_upload_item_files(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data);
int catalog_withdraw_item_file(yw_rpc_call *call, const ProtobufCMessage *reqm,
                               ProtobufCMessage **out, void *data);

/* An item's guide as GetItem reads it (catalog.c): the newest published version, or
 * version `version` (> 0). Returns 0 with *out in the call's arena, or the code with the
 * call's status set (NOT_FOUND naming the item or version). */
int catalog_read_item(yw_rpc_call *call, catalog_ctx *ctx, const char *code, int version,
                      Yiwang__Catalog__V1__Item **out);

/* One record of the catalog's audit log (catalog.c): caller did action on target, with
 * detail (NULL: none), in conn's transaction. Returns 0 or the database error (err). */
int catalog_audit(yw_rpc_call *call, PGconn *conn, const yw_caller *caller, const char *action,
                  const char *target, const char *detail, yw_pg_error *err);

/* Runs once the references are checked: rc 0 when every one names a file the store holds
 * with the size and type it says, else the code to answer with (the call's status set:
 * INVALID_ARGUMENT naming the field, UNAVAILABLE when the store did not answer). It
 * answers the deferred call (yw_rpc_call_finish). */
typedef void (*catalog_files_checked_fn)(yw_rpc_call *call, int rc, void *arg);

/* Checks the file references of it->details (forms' blank and sample, results' sample)
 * before a write by caller. First, in the database: the stored item `it->impl_code`
 * must be caller's department's (or caller a platform administrator; PERMISSION_DENIED
 * otherwise), every reference the stored item does not have already (same hash, size
 * and type) must name a file it->department_code or a platform administrator uploaded
 * (INVALID_ARGUMENT FILE_NOT_UPLOADED, the same whether or not the store holds it), and
 * none may be withdrawn (FILE_WITHDRAWN). Then each new one is asked about with
 * yw-files' Stat, one after another, each waiting at most ctx->files_wait_ms. Returns 0
 * when there is nothing to ask the store (done does not run: go on at once); otherwise
 * defers the call and returns YW_RPC_DEFERRED, and done runs once, on another thread,
 * with the outcome; or a code (status set) when a check failed or the call cannot be
 * deferred. it and caller must live until done has run (the call's request and arena). */
int catalog_files_check(yw_rpc_call *call, catalog_ctx *ctx, const yw_caller *caller,
                        const Yiwang__Catalog__V1__Item *it, catalog_files_checked_fn done,
                        void *arg);

#endif
