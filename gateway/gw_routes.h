/* gw_routes.h - the gateway's route table and the services it links (gw_routes.c). */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include "gw_route.h"

extern const gw_route_def gw_route_defs[];
extern const size_t gw_route_defs_count;
extern const ProtobufCServiceDescriptor *const gw_services[];
extern const size_t gw_services_count;

#endif
