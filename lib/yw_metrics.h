/*
 * yw_metrics.h - a service's own /metrics (Prometheus text) and /healthz over plain
 * HTTP/1.1 on an internal address, served by libevent's evhttp on a thread of its own.
 *
 * What /metrics says comes from fn, called on that thread for each scrape with a buffer
 * to fill; it must bound its own waits (a consumer's lag asks Redis). Bind it to an
 * internal interface only: it has no access rule of its own.
 */
#ifndef YW_METRICS_H
#define YW_METRICS_H

#include <stddef.h>

/* Writes the metrics text into buf (at most len bytes). Returns the length written, or
 * a negative code (the scrape then answers 500). */
typedef int (*yw_metrics_fn)(void *arg, char *buf, size_t len);

typedef struct yw_metrics_server yw_metrics_server;

/* Serves on listen ("127.0.0.1:9102"; port 0 picks one). Returns 0 and *out, YW_EINVAL
 * (listen does not parse), YW_EIO (cannot bind) or YW_ENOMEM/YW_EINTERNAL. */
int yw_metrics_start(const char *listen, yw_metrics_fn fn, void *arg, yw_metrics_server **out);

/* The bound port. */
int yw_metrics_port(const yw_metrics_server *m);

/* Stops the thread (within a fifth of a second) and frees. Accepts NULL. */
void yw_metrics_stop(yw_metrics_server *m);

#endif
