/*
 * gw_metrics.h - the gateway's Prometheus metrics: requests by route and status, a
 * latency histogram by route, upstream errors by upstream, open connections, the
 * answer cache's hits and misses, releases of refused uploads' files.
 * Thread-safe.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>

/* labels[i] names route slot i ("GET /v1/items"); the slots are fixed for the process.
 * Returns 0 or YW_ENOMEM. */
int gw_metrics_init(const char *const *labels, size_t n);
void gw_metrics_free(void);

/* Records one finished request of route slot (out-of-range slots are dropped). */
void gw_metrics_observe(size_t slot, int http_status, double seconds);
void gw_metrics_upstream_error(const char *upstream, const char *status_name);
void gw_metrics_connections(int delta);
/* Counts a read of a kept route: answered from the answer cache (hit 1) or not (0). */
void gw_metrics_cache(int hit);

/* Counts a Release of an upload's holds on its files (gw_upload.c): done (ok 1) or
 * failed (0: the files stay stored). */
void gw_metrics_file_release(int ok);

/* Renders the text exposition format; caller frees. NULL on ENOMEM. */
char *gw_metrics_render(size_t *len);

#endif
