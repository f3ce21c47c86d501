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

/* Seconds on the monotonic clock. */
double yw_test_now_s(void);

#endif
