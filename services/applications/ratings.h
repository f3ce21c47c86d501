/*
 * ratings.h - 好差评 (GB/T 39735) in yw-applications: residents rate a finished
 * application or a channel or hall on the five national levels, a bad rating opens a
 * rectification (整改) case the department answers within a deadline in working days,
 * and the public reads the counts per department and item
 * (yiwang.applications.v1.RatingsService, ratings.proto).
 *
 * The context points at the applications' one (pool, caller keys, calendar) and must
 * outlive the server.
 */
#ifndef RATINGS_H
#define RATINGS_H

#include "applications.h"

#define RATINGS_RECTIFY_DAYS_DEFAULT 15

typedef struct ratings_ctx {
  applications_ctx *app;   /* the pool, caller keys, Redis and the working-day calendar */
  int rectify_days;        /* working days a department has to answer a case (1..3650) */
} ratings_ctx;

/* The service table; data points to ctx (ctx->rectify_days gets the default when it is
 * not within 1..3650). Ratings keep their answers with ctx->app->idem (filled by
 * applications_service_init) and a Rating as the answer. */
void ratings_service_init(yw_rpc_service *svc, ratings_ctx *ctx);

#endif
