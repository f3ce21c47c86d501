/*
 * yw_testrpc.c - an in-process server and its client for integration tests, and the
 * test Redis.
 *
 * Offers: yw_test_rpc_start, yw_test_rpc_stop, yw_test_redis_open.
 */
#include "yw_testrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int yw_test_rpc_start(const yw_rpc_service *svc, int threads, int n_connections,
                      yw_test_rpc *out) {
  memset(out, 0, sizeof *out);
  char target[64];
  if (yw_rpc_server_new("127.0.0.1:0", threads, &out->server) != 0 ||
      yw_rpc_server_add_service(out->server, svc) != 0 || yw_rpc_server_start(out->server) != 0)
    goto fail;
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(out->server));
  if (yw_rpc_client_new(&out->client) != 0) goto fail;
  out->channel = yw_rpc_channel_new(out->client, target, n_connections, 4 << 20);
  if (out->channel == NULL) goto fail;
  return 0;
fail:
  fprintf(stderr, "cannot serve %s in the test\n", svc->descriptor->name);
  yw_test_rpc_stop(out);
  return -1;
}

void yw_test_rpc_stop(yw_test_rpc *t) {
  yw_rpc_channel_free(t->channel);
  yw_rpc_client_free(t->client);
  yw_rpc_server_free(t->server);
  memset(t, 0, sizeof *t);
}

int yw_test_redis_open(int timeout_ms, int nconn, yw_redis **out) {
  *out = NULL;
  const char *addr = getenv("YW_TEST_REDIS_ADDR");
  if (addr == NULL || yw_redis_open(addr, timeout_ms, nconn, out) != 0) {
    fprintf(stderr, "YW_TEST_REDIS_ADDR: no Redis (run with ./dev test)\n");
    yw_redis_free(*out);
    *out = NULL;
    return -1;
  }
  return 0;
}
