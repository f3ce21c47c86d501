/*
 * yw_testnet.c - free ports below the ephemeral range, a listening socket, and a
 * monotonic clock, for tests that start their own servers.
 *
 * Offers: yw_test_free_port, yw_test_listen, yw_test_now_s.
 */
#include "yw_testnet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The first port of the kernel's ephemeral range (32768 when it cannot be read). */
static int ephemeral_low(void) {
  int lo = 32768;
  FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
  if (f != NULL) {
    if (fscanf(f, "%d", &lo) != 1) lo = 32768;
    fclose(f);
  }
  return lo > 10001 ? lo : 10001;
}

int yw_test_free_port(void) {
  /* one sequence per process: successive calls must not return the same port */
  static unsigned seed;
  if (seed == 0) seed = ((unsigned)getpid() << 16) ^ (unsigned)time(NULL) ^ 1u;
  int lo = ephemeral_low();
  for (int i = 0; i < 200; i++) {
    int port = 10000 + (int)(rand_r(&seed) % (unsigned)(lo - 10000));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    if (ok) return port;
  }
  return -1;
}

int yw_test_listen(int backlog, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

double yw_test_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
