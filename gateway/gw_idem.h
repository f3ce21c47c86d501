/*
 * gw_idem.h - the idempotency phase: routes declared idempotent take an Idempotency-Key.
 *
 * For a route whose gw_route_def has idempotent set, the phase checks the request's
 * Idempotency-Key header (gRPC and gRPC-Web clients send it as idempotency-key
 * metadata, the same header): 1 to 255 printable ASCII characters (yw_idem_key_valid),
 * else 400; missing on a GW_IDEM_REQUIRED route, 400. A valid key is forwarded to the
 * upstream as metadata idempotency-key (req->idem_key); the service keeps the answer
 * (lib/yw_idem.h). Other routes never forward the header. The phase never waits.
 */
#ifndef GW_IDEM_H
#define GW_IDEM_H

#include "gw_phase.h"

struct gw_req;

enum gw_phase_result gw_phase_idem(struct gw_req *req);

#endif
