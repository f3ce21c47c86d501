/*
 * gw_idem.c - the idempotency phase (gw_idem.h), between access and upstream.
 *
 * The gateway keeps nothing: the service that owns the write keeps the first answer of
 * a key in its own database (lib/yw_idem.h) and answers a replay, a key used with
 * another body (INVALID_ARGUMENT with reason IDEMPOTENCY_KEY_REUSED, which the upstream
 * phase answers 422) or a key still in progress (ABORTED, 409 with retry-after). This
 * phase only checks the key and hands it on, so a bad key costs no upstream call.
 *
 * Offers: gw_phase_idem.
 */
#include "gw_idem.h"

#include "gw.h"
#include "yw_idem.h"

enum gw_phase_result gw_phase_idem(gw_req *r) {
  r->idem_key = NULL;
  if (r->route == NULL || r->route->def->idempotent == GW_IDEM_NONE) return GW_NEXT;
  const char *key = gw_req_header(r, YW_IDEM_METADATA);
  if (key == NULL) {
    if (r->route->def->idempotent != GW_IDEM_REQUIRED) return GW_NEXT;
    gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "this request needs an Idempotency-Key header");
    return GW_DONE;
  }
  if (!yw_idem_key_valid(key)) {
    gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT,
                    "Idempotency-Key must be 1 to 255 printable ASCII characters");
    return GW_DONE;
  }
  r->idem_key = key;
  return GW_NEXT;
}
