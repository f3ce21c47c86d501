/*
 * yw_testrpc.h - a service served in the test's own process on the real gRPC core, and
 * a client connected to it; and the test Redis that `./dev test` starts.
 */
#ifndef YW_TESTRPC_H
#define YW_TESTRPC_H

#include "yw_redis.h"
#include "yw_rpc.h"

typedef struct yw_test_rpc {
  yw_rpc_server *server;
  yw_rpc_client *client;
  yw_rpc_channel *channel; /* to the server, over a real loopback connection */
} yw_test_rpc;

/* Serves svc on 127.0.0.1 (a port the kernel picks) with threads handler threads and
 * opens a channel of n_connections to it. Returns 0, or -1 (with a message on stderr);
 * what was made is freed then. */
int yw_test_rpc_start(const yw_rpc_service *svc, int threads, int n_connections,
                      yw_test_rpc *out);

/* Frees the channel, the client and the server (in that order). Accepts a zeroed t. */
void yw_test_rpc_stop(yw_test_rpc *t);

/* Opens the test Redis named by YW_TEST_REDIS_ADDR (timeout_ms per command, nconn
 * connections). Returns 0, or -1 with a message on stderr. */
int yw_test_redis_open(int timeout_ms, int nconn, yw_redis **out);

#endif
