/*
 * yw_redis.c - reconnecting hiredis connections with a back-off, to one Redis or to the
 * masters of a Redis Cluster.
 *
 * Every command is bounded by one deadline: the handle's timeout, or the caller's own
 * bound when shorter. The wait for a free connection (pthread_mutex_timedlock), the
 * connect (hiredis' non-blocking connect with a timeout) and the command (socket
 * timeouts set to the time left) all come out of it, so a stopped Redis, which still
 * accepts connections and takes commands into its socket buffers, costs a caller its
 * bound and no more. A connection that timed out is closed, never reused: its answer
 * would arrive as the answer to the next command.
 *
 * After a failure a node backs off (exponential, 250 ms doubling to 2 s, with jitter
 * over the upper half): callers fall through at once instead of each waiting. When the
 * back-off ends, one caller probes and the others keep falling through until it has
 * succeeded or failed.
 *
 * Cluster: the first connection to a seed asks CLUSTER SLOTS. An error saying cluster
 * support is disabled makes the handle a single-node one for good (every command to the
 * seed, as before there were clusters); an array makes it a cluster client: a node (its
 * own pool of connections and its own back-off) per master, each command sent to the
 * master of its key's slot (yw_redis_slot.h), -MOVED followed (the map updated for that
 * slot) and -ASK followed (ASKING and the command pipelined on one connection), up to
 * MAX_HOPS redirections in all, within the same deadline: while a slot moves, the nodes
 * learn its new owner one after another, so one command can meet a MOVED back to the
 * old owner, an ASK, then a MOVED forward. While two nodes disagree on a slot's owner,
 * each sends the command to the other: a redirection back to a node this command has
 * already been to waits first (1 ms, then twice as long each time, at most
 * PINGPONG_WAIT_MAX_MS, never past the deadline) for their gossip to settle it. The
 * whole map is asked again (CLUSTER SLOTS of any node, at
 * most every 100 ms) after a MOVED, after a node failed, and when a slot has no master
 * known; by the caller that finds it due, within its own deadline. Nodes are never
 * removed while the handle lives (at most YW_REDIS_MAX_NODES), so a node pointer stays
 * valid without counting references.
 *
 * Locks: a connection's mutex is held across its I/O; the node table's and the map's
 * locks only for a copy, never while holding nor waiting for a connection's.
 *
 * Offers: yw_redis_open, yw_redis_free, yw_redis_command, yw_redis_command_within,
 * yw_redis_ping.
 */
#include "yw_redis.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yw_err.h"
#include "yw_redis_slot.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 2000
#define REFRESH_EVERY_MS 100 /* at most one CLUSTER SLOTS a handle, however many callers */
#define MAX_HOPS 10          /* redirections followed for one command (MOVED and ASK) */
#define PINGPONG_WAIT_MAX_MS 64 /* longest pause before going back to a node already asked */
#define MAX_NODES (YW_REDIS_MAX_NODES + YW_REDIS_MAX_SEEDS)

enum mode { MODE_UNKNOWN, MODE_SINGLE, MODE_CLUSTER };

struct conn {
  pthread_mutex_t mu;
  redisContext *ctx;
  long long timeout_ms; /* the socket's send and receive timeout now, 0 when unset */
};

/* One Redis server: the only one, a seed, or a master of the cluster. */
struct node {
  char host[YW_REDIS_HOST_MAX];
  int port;
  struct conn *conns; /* nconn of the handle */
  atomic_uint next;
  atomic_llong down_until_ms; /* no attempts before this monotonic time */
  atomic_int failures;        /* in a row, for the back-off */
};

struct yw_redis {
  int timeout_ms;
  int nconn;
  int n_seeds;     /* nodes[0..n_seeds-1] are the addresses of YW_REDIS_ADDR */
  atomic_int seed; /* the seed in use: every command of a single node, keyless ones in a cluster */
  atomic_int mode;
  pthread_mutex_t nodes_mu; /* adding to nodes */
  struct node *nodes[MAX_NODES];
  atomic_int n_nodes;
  pthread_rwlock_t map_mu;
  int16_t owner[YW_REDIS_SLOTS]; /* index into nodes, -1: not known; guarded by map_mu */
  pthread_mutex_t refresh_mu;    /* one refresher at a time */
  atomic_int map_stale;
  atomic_llong next_refresh_ms;
  atomic_uint jitter; /* state of the back-off's jitter */
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_of(long long ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
  return tv;
}

/* node_command's reasons when the node itself failed (it then backs off), or had failed */
static const char UNREACHABLE[] = "redis unreachable";
static const char BACKING_OFF[] = "redis unreachable (backing off)";

static void drop(struct conn *c) {
  if (c->ctx != NULL) redisFree(c->ctx);
  c->ctx = NULL;
}

/* ---- nodes and the slot map ------------------------------------------------------ */

static struct node *node_new(const char *host, int port, int nconn) {
  struct node *nd = calloc(1, sizeof *nd);
  struct conn *conns = calloc((size_t)nconn, sizeof *conns);
  if (nd == NULL || conns == NULL) {
    free(nd);
    free(conns);
    return NULL;
  }
  snprintf(nd->host, sizeof nd->host, "%s", host);
  nd->port = port;
  nd->conns = conns;
  for (int i = 0; i < nconn; i++) pthread_mutex_init(&conns[i].mu, NULL);
  return nd;
}

static void node_free(struct node *nd, int nconn) {
  if (nd == NULL) return;
  for (int i = 0; i < nconn; i++) {
    drop(&nd->conns[i]);
    pthread_mutex_destroy(&nd->conns[i].mu);
  }
  free(nd->conns);
  free(nd);
}

/* The index of the node at host:port, added when new; -1 when the table is full or out
 * of memory. */
static int node_find_or_add(yw_redis *r, const char *host, int port) {
  pthread_mutex_lock(&r->nodes_mu);
  int n = atomic_load(&r->n_nodes);
  int idx = -1;
  for (int i = 0; i < n && idx < 0; i++)
    if (r->nodes[i]->port == port && strcmp(r->nodes[i]->host, host) == 0) idx = i;
  if (idx < 0 && n < MAX_NODES) {
    struct node *nd = node_new(host, port, r->nconn);
    if (nd != NULL) {
      r->nodes[n] = nd;
      atomic_store(&r->n_nodes, n + 1); /* published after the pointer */
      idx = n;
    }
  }
  pthread_mutex_unlock(&r->nodes_mu);
  return idx;
}

/* Installs a CLUSTER SLOTS answer given by the node at asked_host. 0 or YW_EINVAL. */
static int install_map(yw_redis *r, const redisReply *reply, const char *asked_host) {
  yw_redis_slot_map *m = malloc(sizeof *m);
  if (m == NULL) return YW_ENOMEM;
  int rc = yw_redis_slot_map_parse(reply, asked_host, m);
  if (rc == 0) {
    int idx[YW_REDIS_MAX_NODES];
    for (int i = 0; i < m->n_nodes; i++)
      idx[i] = node_find_or_add(r, m->nodes[i].host, m->nodes[i].port);
    pthread_rwlock_wrlock(&r->map_mu);
    for (int s = 0; s < YW_REDIS_SLOTS; s++)
      r->owner[s] = m->owner[s] >= 0 ? (int16_t)idx[m->owner[s]] : (int16_t)-1;
    pthread_rwlock_unlock(&r->map_mu);
  }
  free(m);
  return rc;
}

static int owner_of(yw_redis *r, int slot) {
  pthread_rwlock_rdlock(&r->map_mu);
  int idx = r->owner[slot];
  pthread_rwlock_unlock(&r->map_mu);
  return idx;
}

static void set_owner(yw_redis *r, int slot, int idx) {
  pthread_rwlock_wrlock(&r->map_mu);
  r->owner[slot] = (int16_t)idx;
  pthread_rwlock_unlock(&r->map_mu);
}

/* ---- one node: connections, back-off --------------------------------------------- */

/* Opens a connection to nd within deadline. While the handle does not know yet whether
 * it talks to a cluster, the new connection asks CLUSTER SLOTS first. */
static int conn_open(yw_redis *r, struct node *nd, struct conn *c, long long deadline) {
  /* hiredis resolves the name here (getaddrinfo, on this thread), then connects
   * without blocking for at most the time left */
  long long left = deadline - now_ms();
  if (left <= 0) return YW_EUNAVAIL;
  redisContext *ctx = redisConnectWithTimeout(nd->host, nd->port, tv_of(left));
  if (ctx == NULL) return YW_ENOMEM;
  if (ctx->err != 0) {
    redisFree(ctx);
    return YW_EUNAVAIL;
  }
  if (atomic_load(&r->mode) == MODE_UNKNOWN) {
    left = deadline - now_ms();
    if (left <= 0) {
      redisFree(ctx);
      return YW_EUNAVAIL;
    }
    redisSetTimeout(ctx, tv_of(left));
    const char *argv[] = {"CLUSTER", "SLOTS"};
    redisReply *rep = redisCommandArgv(ctx, 2, argv, NULL);
    if (rep == NULL) {
      redisFree(ctx);
      return YW_EUNAVAIL;
    }
    int answer = yw_redis_cluster_answer(rep);
    int unknown = MODE_UNKNOWN;
    if (answer == 1 && install_map(r, rep, nd->host) == 0)
      atomic_compare_exchange_strong(&r->mode, &unknown, MODE_CLUSTER);
    else if (answer == 0)
      atomic_compare_exchange_strong(&r->mode, &unknown, MODE_SINGLE);
    freeReplyObject(rep);
  }
  c->ctx = ctx;
  c->timeout_ms = 0;
  return 0;
}

/* Redis sends nothing unasked on a connection that is not subscribed, so an idle
 * connection with something to read was closed (a restart, its client timeout) or
 * broke. One poll() with no wait. */
static int idle_closed(const redisContext *ctx) {
  struct pollfd pf = {.fd = ctx->fd, .events = POLLIN};
  return poll(&pf, 1, 0) != 0;
}

static void back_off(yw_redis *r, struct node *nd) {
  int f = atomic_fetch_add(&nd->failures, 1) + 1;
  long long d = BACKOFF_MIN_MS;
  for (int i = 1; i < f && d < BACKOFF_MAX_MS; i++) d *= 2;
  if (d > BACKOFF_MAX_MS) d = BACKOFF_MAX_MS;
  /* spread over the upper half, so copies of a service that failed together do not
   * come back together */
  unsigned x = atomic_fetch_add(&r->jitter, 0x9E3779B9u);
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  d = d / 2 + (long long)(x % (unsigned)(d / 2 + 1));
  atomic_store(&nd->down_until_ms, now_ms() + d);
}

static void note_success(struct node *nd) {
  if (atomic_load(&nd->failures) != 0) {
    atomic_store(&nd->failures, 0);
    atomic_store(&nd->down_until_ms, 0);
  }
}

/* 0: backing off, fall through. 1: go. 2: go, as the one probe after a back-off (the
 * others are kept away until bound_ms past now). */
static int may_try(struct node *nd, long long now, long long bound_ms) {
  long long until = atomic_load(&nd->down_until_ms);
  if (now < until) return 0;
  if (atomic_load(&nd->failures) == 0) return 1;
  return atomic_compare_exchange_strong(&nd->down_until_ms, &until, now + bound_ms + 1) ? 2 : 0;
}

/* Takes a free connection of nd, or waits until deadline for one picked round robin. */
static struct conn *take(yw_redis *r, struct node *nd, long long deadline) {
  unsigned start = atomic_fetch_add(&nd->next, 1u);
  for (int i = 0; i < r->nconn; i++) {
    struct conn *c = &nd->conns[(start + (unsigned)i) % (unsigned)r->nconn];
    if (pthread_mutex_trylock(&c->mu) == 0) return c;
  }
  struct conn *c = &nd->conns[start % (unsigned)r->nconn];
  long long left = deadline - now_ms();
  if (left <= 0) return NULL;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until); /* pthread_mutex_timedlock's clock */
  until.tv_sec += (time_t)(left / 1000);
  until.tv_nsec += (long)(left % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  return pthread_mutex_timedlock(&c->mu, &until) == 0 ? c : NULL;
}

/* Sends the command (after ASKING when asking) and reads its answer; NULL when the
 * connection failed or timed out. */
static redisReply *send_recv(redisContext *ctx, int asking, int argc, const char **argv,
                             const size_t *argvlen) {
  if (!asking) return redisCommandArgv(ctx, argc, argv, argvlen);
  const char *ask[] = {"ASKING"};
  void *a = NULL, *b = NULL;
  if (redisAppendCommandArgv(ctx, 1, ask, NULL) != REDIS_OK ||
      redisAppendCommandArgv(ctx, argc, argv, argvlen) != REDIS_OK)
    return NULL;
  if (redisGetReply(ctx, &a) != REDIS_OK) return NULL;
  freeReplyObject(a);
  if (redisGetReply(ctx, &b) != REDIS_OK) return NULL;
  return b;
}

/* Runs one command on nd before deadline. Returns its reply, an error reply included,
 * or NULL with *why set: nd is backing off, no connection came free in time, or the
 * node did not answer (UNREACHABLE; then nd backs off). */
static redisReply *node_command(yw_redis *r, struct node *nd, long long deadline, int asking,
                                int argc, const char **argv, const size_t *argvlen,
                                const char **why) {
  long long bound = deadline - now_ms();
  if (bound <= 0) {
    *why = "redis: no time left";
    return NULL;
  }
  int go = may_try(nd, now_ms(), bound);
  if (go == 0) {
    *why = BACKING_OFF;
    return NULL;
  }
  struct conn *c = take(r, nd, deadline);
  if (c == NULL) {
    *why = "redis busy: no free connection in time";
    return NULL;
  }
  /* while this caller waited for the connection, another may have found Redis down */
  if (go == 1 && now_ms() < atomic_load(&nd->down_until_ms)) {
    pthread_mutex_unlock(&c->mu);
    *why = BACKING_OFF;
    return NULL;
  }
  redisReply *reply = NULL;
  int attempted = 0;
  for (int attempt = 0; attempt < 2 && reply == NULL; attempt++) {
    if (c->ctx != NULL && (c->ctx->err != 0 || idle_closed(c->ctx))) drop(c);
    int fresh = c->ctx == NULL;
    long long left = deadline - now_ms();
    if (left <= 0) break;
    attempted = 1;
    if (fresh && conn_open(r, nd, c, deadline) != 0) break;
    left = deadline - now_ms();
    if (left <= 0) break;
    /* The socket's timeout bounds the command by its time left. Setting it is two
     * system calls, so one already set that is within a sixteenth (+2 ms) above the
     * time left, or an eighth (+5 ms) below it, stays. */
    if (c->timeout_ms == 0 || left < c->timeout_ms - c->timeout_ms / 16 - 2 ||
        left > c->timeout_ms + c->timeout_ms / 8 + 5) {
      redisSetTimeout(c->ctx, tv_of(left));
      c->timeout_ms = left;
    }
    errno = 0;
    reply = send_recv(c->ctx, asking, argc, argv, argvlen);
    if (reply != NULL) break;
    /* Sent once more on a new connection only when an old one turns out closed as the
     * command goes (Redis went away in between); never after a timeout, when Redis may
     * still run it. */
    int closed = c->ctx->err == REDIS_ERR_EOF ||
                 (c->ctx->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
    drop(c);
    if (fresh || !closed) break;
  }
  pthread_mutex_unlock(&c->mu);
  if (reply == NULL) {
    /* Only a failed attempt is evidence: a caller whose time went on the wait for a
     * connection leaves the verdict to the one holding it. */
    if (attempted || go == 2) back_off(r, nd);
    *why = UNREACHABLE;
    return NULL;
  }
  note_success(nd);
  return reply;
}

/* ---- routing --------------------------------------------------------------------- */

/* The seed failed: the next command of a single node, or the next keyless one of a
 * cluster, tries the next seed (a no-op with one). */
static void next_seed(yw_redis *r, int failed) {
  if (r->n_seeds > 1) atomic_compare_exchange_strong(&r->seed, &failed, (failed + 1) % r->n_seeds);
}

static void mark_stale(yw_redis *r) { atomic_store(&r->map_stale, 1); }

/* Asks any node for the map again, when due (stale, or needed: a slot without a known
 * master) and no other caller is at it; within deadline. */
static void refresh(yw_redis *r, long long deadline, int needed) {
  if (!needed && !atomic_load(&r->map_stale)) return;
  long long now = now_ms();
  if (now < atomic_load(&r->next_refresh_ms)) return;
  if (pthread_mutex_trylock(&r->refresh_mu) != 0) return;
  atomic_store(&r->next_refresh_ms, now + REFRESH_EVERY_MS);
  atomic_store(&r->map_stale, 0);
  int done = 0;
  int n = atomic_load(&r->n_nodes);
  static atomic_uint turn; /* start at another node each time */
  unsigned start = atomic_fetch_add(&turn, 1u);
  /* nodes without failures first: a stopped one would cost this caller its bound */
  for (int pass = 0; pass < 2 && !done; pass++)
    for (int i = 0; i < n && !done && now_ms() < deadline; i++) {
      struct node *nd = r->nodes[(start + (unsigned)i) % (unsigned)n];
      if ((atomic_load(&nd->failures) == 0) != (pass == 0)) continue;
      const char *argv[] = {"CLUSTER", "SLOTS"};
      const char *why = NULL;
      redisReply *rep = node_command(r, nd, deadline, 0, 2, argv, NULL, &why);
      if (rep != NULL && rep->type == REDIS_REPLY_ARRAY) done = install_map(r, rep, nd->host) == 0;
      if (rep != NULL) freeReplyObject(rep);
    }
  if (!done) mark_stale(r);
  pthread_mutex_unlock(&r->refresh_mu);
}

/* The node a cluster command goes to first: its slot's master, or for a keyless one
 * the seed in use. NULL when no master of the slot is known even after a refresh. */
static struct node *route(yw_redis *r, int slot, long long deadline, int *seed) {
  refresh(r, deadline, 0);
  *seed = -1;
  if (slot < 0) {
    *seed = atomic_load(&r->seed);
    return r->nodes[*seed];
  }
  int idx = owner_of(r, slot);
  if (idx < 0) {
    refresh(r, deadline, 1);
    idx = owner_of(r, slot);
  }
  return idx >= 0 ? r->nodes[idx] : NULL;
}

/* ---- the handle ------------------------------------------------------------------ */

int yw_redis_open(const char *addr, int timeout_ms, int nconn, yw_redis **out) {
  *out = NULL;
  yw_redis_addr seeds[YW_REDIS_MAX_SEEDS];
  int n_seeds = 0;
  if (yw_redis_addr_list_parse(addr, seeds, YW_REDIS_MAX_SEEDS, &n_seeds) != 0) return YW_EINVAL;
  if (nconn < 1) nconn = 1;
  yw_redis *r = calloc(1, sizeof *r);
  if (r == NULL) return YW_ENOMEM;
  r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
  r->nconn = nconn;
  r->n_seeds = n_seeds;
  for (int i = 0; i < n_seeds; i++) {
    r->nodes[i] = node_new(seeds[i].host, seeds[i].port, nconn);
    if (r->nodes[i] == NULL) {
      for (int k = 0; k < i; k++) node_free(r->nodes[k], nconn);
      free(r);
      return YW_ENOMEM;
    }
  }
  atomic_store(&r->n_nodes, n_seeds);
  for (int s = 0; s < YW_REDIS_SLOTS; s++) r->owner[s] = -1;
  pthread_mutex_init(&r->nodes_mu, NULL);
  pthread_mutex_init(&r->refresh_mu, NULL);
  pthread_rwlock_init(&r->map_mu, NULL);
  atomic_store(&r->jitter, (unsigned)getpid() * 2654435761u ^ (unsigned)now_ms());
  *out = r;
  /* One connection and a PING now, to tell the caller whether Redis answers (a
   * stopped one accepts connections) and whether it is a cluster; the others open when
   * first needed. */
  return yw_redis_ping(r) == 0 ? 0 : YW_EUNAVAIL;
}

void yw_redis_free(yw_redis *r) {
  if (r == NULL) return;
  int n = atomic_load(&r->n_nodes);
  for (int i = 0; i < n; i++) node_free(r->nodes[i], r->nconn);
  pthread_mutex_destroy(&r->nodes_mu);
  pthread_mutex_destroy(&r->refresh_mu);
  pthread_rwlock_destroy(&r->map_mu);
  free(r);
}

static redisReply *fail(char *err, size_t errlen, const char *why) {
  if (err != NULL && errlen > 0) snprintf(err, errlen, "%s", why);
  return NULL;
}

redisReply *yw_redis_command_within(yw_redis *r, int wait_ms, int argc, const char **argv,
                                    const size_t *argvlen, char *err, size_t errlen) {
  long long bound = wait_ms < r->timeout_ms ? wait_ms : r->timeout_ms;
  if (bound <= 0) return fail(err, errlen, "redis: no time left");
  long long deadline = now_ms() + bound;
  struct node *nd = NULL;
  int seed = -1;
  if (atomic_load(&r->mode) == MODE_CLUSTER) {
    nd = route(r, yw_redis_command_slot(argc, argv, argvlen), deadline, &seed);
    if (nd == NULL) return fail(err, errlen, "redis cluster: no master known for the key's slot");
  } else {
    seed = atomic_load(&r->seed);
    nd = r->nodes[seed];
  }
  const char *why = NULL;
  redisReply *reply = node_command(r, nd, deadline, 0, argc, argv, argvlen, &why);
  /* A seed that failed or is backing off: the others in turn, in the time left (with
   * one seed, as with a single Redis, nothing more is tried). */
  for (int i = 1;
       reply == NULL && seed >= 0 && i < r->n_seeds && (why == UNREACHABLE || why == BACKING_OFF);
       i++) {
    next_seed(r, seed);
    seed = atomic_load(&r->seed);
    nd = r->nodes[seed];
    reply = node_command(r, nd, deadline, 0, argc, argv, argvlen, &why);
  }
  /* Redirections, once the handle knows it talks to a cluster (maybe only since this
   * command's connection asked). */
  struct node *visited[MAX_HOPS + 1] = {nd};
  int n_visited = 1;
  long long wait_ms_next = 1;
  for (int hop = 0; reply != NULL && hop < MAX_HOPS && reply->type == REDIS_REPLY_ERROR &&
                    atomic_load(&r->mode) == MODE_CLUSTER;
       hop++) {
    yw_redis_addr to;
    int slot = 0;
    int kind = yw_redis_redirect_parse(reply->str, reply->len, nd->host, &slot, &to);
    if (kind == YW_REDIS_NO_REDIRECT) break;
    int idx = node_find_or_add(r, to.host, to.port);
    if (idx < 0) break;
    if (kind == YW_REDIS_MOVED) {
      set_owner(r, slot, idx);
      mark_stale(r); /* more slots may have moved with it */
    }
    freeReplyObject(reply);
    nd = r->nodes[idx];
    seed = -1;
    int again = 0;
    for (int v = 0; v < n_visited; v++) again |= visited[v] == nd;
    if (n_visited < MAX_HOPS + 1) visited[n_visited++] = nd;
    if (again) {
      long long pause = deadline - now_ms() - 1;
      if (pause > wait_ms_next) pause = wait_ms_next;
      if (pause > 0) usleep((useconds_t)pause * 1000);
      if (wait_ms_next < PINGPONG_WAIT_MAX_MS) wait_ms_next *= 2;
    }
    reply = node_command(r, nd, deadline, kind == YW_REDIS_ASK, argc, argv, argvlen, &why);
  }
  if (reply == NULL) {
    if (seed >= 0 && why == UNREACHABLE) next_seed(r, seed);
    if (atomic_load(&r->mode) == MODE_CLUSTER) mark_stale(r); /* a fail-over moves slots */
    return fail(err, errlen, why);
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    if (err != NULL && errlen > 0) snprintf(err, errlen, "%s", reply->str);
    freeReplyObject(reply);
    return NULL;
  }
  return reply;
}

redisReply *yw_redis_command(yw_redis *r, int argc, const char **argv, const size_t *argvlen,
                             char *err, size_t errlen) {
  return yw_redis_command_within(r, r->timeout_ms, argc, argv, argvlen, err, errlen);
}

int yw_redis_ping(yw_redis *r) {
  const char *argv[] = {"PING"};
  redisReply *reply = yw_redis_command(r, 1, argv, NULL, NULL, 0);
  if (reply == NULL) return YW_EUNAVAIL;
  freeReplyObject(reply);
  return 0;
}
