/*
 * bundles.h - 一件事一次办: the catalog's life-event bundles (ListBundles, GetBundle).
 */
#ifndef CATALOG_BUNDLES_H
#define CATALOG_BUNDLES_H

#include "catalog.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"

/* The handlers (data: the catalog_ctx). */
int catalog_list_bundles(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                         void *data);
int catalog_get_bundle(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data);

/* An item's newest published guide, as GetItem answers it (catalog.c). Returns 0,
 * YW_ENOTFOUND or a query's code (err). */
int catalog_load_item(PGconn *conn, yw_arena *a, const char *code, Yiwang__Catalog__V1__Item **out,
                      yw_pg_error *err);

#endif
