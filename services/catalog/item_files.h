/*
 * item_files.h - an item's blank and sample forms and result samples as files: the
 * download's check (GetItemFile), a department's upload (UploadItemFiles), and the check
 * of an item's file references against yw-files before UpsertItem writes them.
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

/* An item's guide as GetItem reads it (catalog.c): the newest published version, or
 * version `version` (> 0). Returns 0 with *out in the call's arena, or the code with the
 * call's status set (NOT_FOUND naming the item or version). */
int catalog_read_item(yw_rpc_call *call, catalog_ctx *ctx, const char *code, int version,
                      Yiwang__Catalog__V1__Item **out);

/* Runs once the references are checked: rc 0 when every one names a file the store holds
 * with the size and type it says, else the code to answer with (the call's status set:
 * INVALID_ARGUMENT naming the field, UNAVAILABLE when the store did not answer). It
 * answers the deferred call (yw_rpc_call_finish). */
typedef void (*catalog_files_checked_fn)(yw_rpc_call *call, int rc, void *arg);

/* Checks the file references of d (forms' blank and sample, results' sample) that item
 * `code` as stored does not have already (same hash, size and type) with yw-files'
 * Stat, one after another, each waiting at most ctx->files_wait_ms. Returns 0 when
 * there is none to check (done does not run: go on at once); otherwise defers the
 * call and returns YW_RPC_DEFERRED, and done runs once, on another thread, with the
 * outcome; or a code (status set) when the call cannot be deferred. d must live until
 * done has run (the call's request). */
int catalog_files_check(yw_rpc_call *call, catalog_ctx *ctx, const char *code,
                        const Yiwang__Catalog__V1__ItemDetails *d, catalog_files_checked_fn done,
                        void *arg);

#endif
