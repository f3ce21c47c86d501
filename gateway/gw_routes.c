/*
 * gw_routes.c - the route table of the gateway: every REST route, the gRPC method it
 * reaches and who may call it. A route's gRPC method is also reachable as
 * POST /<package>.<Service>/<Method> (gRPC, gRPC-Web) under the same access rule;
 * methods not listed here are not reachable through the gateway at all.
 *
 * Order matters: the first matching template wins.
 */
#include "gw_routes.h"

#include "yiwang/catalog/v1/catalog.pb-c.h"

#define CATALOG "yiwang.catalog.v1.CatalogService/"

const gw_route_def gw_route_defs[] = {
    /* The catalog of service items and their guides. */
    {"GET", "/v1/items", CATALOG "ListItems", NULL, GW_ACCESS_PUBLIC, 0},
    {"GET", "/v1/items/{code}", CATALOG "GetItem", NULL, GW_ACCESS_PUBLIC, 0},
    {"GET", "/v1/departments", CATALOG "ListDepartments", NULL, GW_ACCESS_PUBLIC, 0},
    {"GET", "/v1/regions", CATALOG "ListRegions", NULL, GW_ACCESS_PUBLIC, 0},
    {"GET", "/v1/topics", CATALOG "ListTopics", NULL, GW_ACCESS_PUBLIC, 0},
    /* Catalog writes are for department staff; until staff identity exists they are
     * reachable only inside the network, straight on the catalog service. */
    {"PUT", "/v1/items/{item.impl_code}", CATALOG "UpsertItem", "*", GW_ACCESS_INTERNAL, 0},
};
const size_t gw_route_defs_count = sizeof gw_route_defs / sizeof gw_route_defs[0];

const ProtobufCServiceDescriptor *const gw_services[] = {
    &yiwang__catalog__v1__catalog_service__descriptor,
};
const size_t gw_services_count = sizeof gw_services / sizeof gw_services[0];
