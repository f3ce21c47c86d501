/*
 * yw_testnet.h - small helpers of tests that start their own servers.
 */
#ifndef YW_TESTNET_H
#define YW_TESTNET_H

/* A loopback TCP port that is free now, chosen below the kernel's ephemeral range
 * (ip_local_port_range) so that the outgoing connections of tests running at the same
 * time cannot take it before the server binds it. -1 when none was found. Not
 * thread-safe: call it from the test's main thread. */
int yw_test_free_port(void);

/* A loopback TCP socket listening (backlog connections) on a port the kernel chose, in
 * *port: a test that never accepts on it has a server that takes connections and never
 * answers. The socket, closed by the caller, or -1. */
int yw_test_listen(int backlog, int *port);

/* Seconds on the monotonic clock. */
double yw_test_now_s(void);

#endif
