/*
 * yw_pg.c - libpq connection pool, parameterised queries, migrations.
 *
 * The pool is a fixed array of connections guarded by one mutex and condition variable;
 * acquire waits with a timeout so a slow database turns into UNAVAILABLE, not a stuck
 * thread. A connection found broken, or closed by the server while idle, is
 * re-established before it is handed out.
 *
 * Every wait on the server is bounded: connecting and reconnecting use libpq's
 * non-blocking calls (PQconnectStartParams / PQresetStart and their Poll) with poll()
 * up to a deadline, and statements are sent with PQsend* and their answers read the
 * same way. A wait that is given up leaves the session in an unknown state, so the
 * connection is marked broken and re-established at its next acquire.
 *
 * Each connection carries its own state as libpq instance data (freed with the PGconn):
 * the set of statements it has prepared, the deadline of its current use, the
 * statement_timeout its session runs with, and whether it must be re-established.
 * Re-establishment keeps the same PGconn (PQresetStart), so a caller's pointer stays
 * valid across the one transparent retry of a read.
 *
 * Offers: yw_pg_pool_new, yw_pg_pool_free, yw_pg_pool_acquire, yw_pg_pool_release,
 * yw_pg_set_deadline, yw_pg_pool_ping, yw_pg_query, yw_pg_query_read, yw_pg_query_write,
 * yw_pg_query_commit, yw_pg_defer, yw_pg_begin, yw_pg_begin_deferred, yw_pg_commit,
 * yw_pg_rollback, yw_pg_migrate, yw_pg_bytea_hex, yw_pg_schema_ok, yw_pg_schema_sql.
 */
#include "yw_pg.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-events.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "yw_err.h"

/* connect_timeout added to a connection string without a positive one, in seconds */
#define CONNECT_TIMEOUT_S 5
/* A ROLLBACK is owed even by a call out of time; giving up on it costs a reconnect. */
#define ROLLBACK_GRACE_MS 250

struct yw_pg_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int locks_ready;
  int size;
  PGconn **conns;
  unsigned char *busy;
  char **keys; /* the parsed connection string, for PQconnectStartParams */
  char **vals;
  int connect_ms; /* bound of one connection attempt */
};

/*
 * Statements are prepared once per connection and then executed by name, which saves
 * the parse and plan of every call (for a search query, most of its cost). Each
 * connection keeps the set of what its session has prepared (hashes of the SQL text, in
 * an open-addressing table that grows as needed); re-establishing the session empties it.
 */
struct conn_state {
  unsigned long long *prepared; /* 0 marks a free slot */
  size_t cap;                   /* a power of two, or 0 */
  size_t count;
  long long deadline; /* monotonic ms of the current use's deadline; 0: none */
  int applied;        /* statement_timeout of the session in ms; -1: the session default */
  int broken;         /* a wait was given up or the server said FATAL: re-establish */
  int wait_ms;        /* bound of a reconnection when the use has no deadline */
  int keep_timeout;   /* this use leaves statement_timeout as it is (health pings) */
  PQnoticeReceiver prev_notice;
  /* statements deferred (yw_pg_defer), sent ahead of the next one in one round trip */
  int ndeferred;
  int commit_rolled_back; /* the pipeline's COMMIT was answered ROLLBACK (an aborted
                           * transaction): run reports it as a failure */
  struct deferred {
    const char *sql; /* the caller's constant text */
    int nparams;
    char params[YW_PG_DEFER_PARAMS][YW_PG_DEFER_PARAM_MAX];
  } deferred[YW_PG_DEFER_MAX];
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned long long sql_hash(const char *sql) {
  unsigned long long h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return h;
}

static void state_forget(struct conn_state *s) {
  if (s->prepared != NULL) memset(s->prepared, 0, s->cap * sizeof *s->prepared);
  s->count = 0;
  s->applied = -1;
  s->broken = 0;
  s->ndeferred = 0;
  s->commit_rolled_back = 0;
}

static int conn_event(PGEventId id, void *info, void *pass) {
  (void)pass;
  if (id == PGEVT_CONNRESET) {
    struct conn_state *s = PQinstanceData(((PGEventConnReset *)info)->conn, conn_event);
    if (s != NULL) state_forget(s);
  } else if (id == PGEVT_CONNDESTROY) {
    struct conn_state *s = PQinstanceData(((PGEventConnDestroy *)info)->conn, conn_event);
    if (s != NULL) {
      free(s->prepared);
      free(s);
    }
  }
  return 1;
}

/* The state of c, attached at first sight (also to connections not made by a pool).
 * NULL only when out of memory; callers then run statements unprepared and unbounded. */
static struct conn_state *state_of(PGconn *c) {
  struct conn_state *s = PQinstanceData(c, conn_event);
  if (s != NULL) return s;
  s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->applied = -1;
  s->wait_ms = CONNECT_TIMEOUT_S * 1000;
  if (!PQregisterEventProc(c, conn_event, "yw_pg", NULL) || !PQsetInstanceData(c, conn_event, s)) {
    free(s);
    return NULL;
  }
  return s;
}

static int prepared_has(const struct conn_state *s, unsigned long long key) {
  if (s->cap == 0) return 0;
  for (size_t i = (size_t)key & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (s->prepared[i] == key) return 1;
    if (s->prepared[i] == 0) return 0;
  }
}

static void prepared_put(unsigned long long *table, size_t cap, unsigned long long key) {
  size_t i = (size_t)key & (cap - 1);
  while (table[i] != 0 && table[i] != key) i = (i + 1) & (cap - 1);
  table[i] = key;
}

/* Makes room for one more entry (load at most 3/4) before anything is prepared, so a
 * statement the server has prepared is always recorded. 0 or YW_ENOMEM. */
static int prepared_reserve(struct conn_state *s) {
  if ((s->count + 1) * 4 <= s->cap * 3) return 0;
  size_t cap = s->cap != 0 ? s->cap * 2 : 64;
  unsigned long long *table = calloc(cap, sizeof *table);
  if (table == NULL) return YW_ENOMEM;
  for (size_t i = 0; i < s->cap; i++)
    if (s->prepared[i] != 0) prepared_put(table, cap, s->prepared[i]);
  free(s->prepared);
  s->prepared = table;
  s->cap = cap;
  return 0;
}

static void prepared_add(struct conn_state *s, unsigned long long key) {
  if (!prepared_has(s, key)) {
    prepared_put(s->prepared, s->cap, key);
    s->count++;
  }
}

static void set_err(yw_pg_error *err, const char *state, const char *msg) {
  if (err == NULL) return;
  snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state != NULL ? state : "");
  snprintf(err->message, sizeof err->message, "%s", msg != NULL ? msg : "");
  /* libpq messages end with a newline; logs read better without it. */
  size_t n = strlen(err->message);
  while (n > 0 && (err->message[n - 1] == '\n' || err->message[n - 1] == ' '))
    err->message[--n] = '\0';
}

/* Waits until fd is ready for events or deadline (monotonic ms; 0: none) passes.
 * 1 when ready, 0 when the time is up, -1 on an error. */
static int wait_fd(int fd, short events, long long deadline) {
  if (fd < 0) return -1;
  for (;;) {
    int ms = -1;
    if (deadline != 0) {
      long long left = deadline - now_ms();
      if (left <= 0) return 0;
      ms = left > INT_MAX ? INT_MAX : (int)left;
    }
    struct pollfd pf = {.fd = fd, .events = events};
    int n = poll(&pf, 1, ms);
    if (n > 0) return 1;
    if (n < 0 && errno != EINTR) return -1;
  }
}

static int result_ok(const PGresult *r) {
  ExecStatusType st = PQresultStatus(r);
  return r != NULL && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

/* Reads the answer to what was sent on c, waiting until deadline at most. Returns the
 * first failed result, else the last one; NULL with *late set when the time ran out
 * (the answer is still owed: the session can no longer be used). */
static PGresult *collect(PGconn *c, long long deadline, int *late) {
  PGresult *keep = NULL;
  *late = 0;
  for (;;) {
    while (PQisBusy(c)) {
      int w = wait_fd(PQsocket(c), POLLIN, deadline);
      if (w == 0) {
        PQclear(keep);
        *late = 1;
        return NULL;
      }
      /* a lost connection: PQgetResult below reports it without waiting */
      if (w < 0 || !PQconsumeInput(c)) break;
    }
    PGresult *r = PQgetResult(c);
    if (r == NULL) break;
    if (keep != NULL && !result_ok(keep)) {
      PQclear(r);
    } else {
      PQclear(keep);
      keep = r;
    }
  }
  return keep;
}

/* A notice that arrives while the session is idle is the server's last word before it
 * closes the connection when its severity is FATAL (a shutdown or a terminated
 * backend): remember it, so the connection is re-established before its next use. */
static void on_notice(void *arg, const PGresult *res) {
  struct conn_state *s = arg;
  const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
    s->broken = 1;
  else if (s->prev_notice != NULL)
    s->prev_notice(NULL, res);
}

/* The session settings every connection runs with, after each (re)connection. */
static int session_setup(PGconn *c, struct conn_state *s, long long deadline) {
  if (!PQsendQuery(c, "SET TIME ZONE 'Asia/Shanghai'; SET client_min_messages = warning"))
    return YW_EUNAVAIL;
  int late = 0;
  PGresult *r = collect(c, deadline, &late);
  int ok = result_ok(r);
  PQclear(r);
  if (late && s != NULL) s->broken = 1;
  return ok ? 0 : YW_EUNAVAIL;
}

/* Drives a non-blocking connection attempt begun by PQconnectStartParams (reset 0) or
 * PQresetStart (reset 1) until it succeeds, fails or deadline passes. Host names are
 * resolved inside the first poll, on this thread. 0 or YW_EUNAVAIL; *late tells a
 * timeout. */
static int connect_poll(PGconn *c, int reset, long long deadline, int *late) {
  PostgresPollingStatusType ps =
      PQstatus(c) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  *late = 0;
  while (ps == PGRES_POLLING_READING || ps == PGRES_POLLING_WRITING) {
    int w = wait_fd(PQsocket(c), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    if (w <= 0) {
      *late = w == 0;
      return YW_EUNAVAIL;
    }
    ps = reset ? PQresetPoll(c) : PQconnectPoll(c);
  }
  return ps == PGRES_POLLING_OK ? 0 : YW_EUNAVAIL;
}

/* Re-establishes c's session without waiting past deadline. The same PGconn is reused,
 * so a caller holding it keeps a valid pointer; what the old session had prepared is
 * forgotten (the CONNRESET event and here). 0 or YW_EUNAVAIL. */
static int reconnect(PGconn *c, struct conn_state *s, long long deadline) {
  if (now_ms() >= deadline || !PQresetStart(c)) return YW_EUNAVAIL;
  int late = 0;
  int rc = connect_poll(c, 1, deadline, &late);
  /* A connection left half made by a timeout is not CONNECTION_OK, so the next acquire
   * starts over; either way the old session's statements are gone. */
  if (s != NULL) state_forget(s);
  if (rc == 0) rc = session_setup(c, s, deadline);
  return rc;
}

/* Opens one connection of the pool, bounded by its connect timeout. */
static PGconn *connect_one(yw_pg_pool *p, yw_pg_error *err) {
  long long deadline = now_ms() + p->connect_ms;
  PGconn *c = PQconnectStartParams((const char *const *)p->keys, (const char *const *)p->vals, 0);
  if (c == NULL) {
    set_err(err, "", "out of memory");
    return NULL;
  }
  int late = 0;
  struct conn_state *s = NULL;
  int rc = connect_poll(c, 0, deadline, &late);
  if (rc == 0) {
    s = state_of(c);
    if (s == NULL) {
      set_err(err, "", "out of memory");
      PQfinish(c);
      return NULL;
    }
    s->wait_ms = p->connect_ms;
    s->prev_notice = PQsetNoticeReceiver(c, on_notice, s);
    rc = session_setup(c, s, deadline);
  }
  if (rc != 0) {
    set_err(err, "08006", late ? "timed out connecting to the database" : PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  return c;
}

/* Splits conninfo into the keyword and value arrays of PQconnectStartParams, adding
 * connect_timeout when it has none or 0 (libpq waits forever then). */
static int parse_conninfo(yw_pg_pool *p, const char *conninfo, yw_pg_error *err) {
  char *msg = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
  if (opts == NULL) {
    set_err(err, "", msg != NULL ? msg : "out of memory");
    int rc = msg != NULL ? YW_EINVAL : YW_ENOMEM;
    PQfreemem(msg);
    return rc;
  }
  size_t n = 0;
  for (PQconninfoOption *o = opts; o->keyword != NULL; o++) n++;
  p->keys = calloc(n + 2, sizeof *p->keys);
  p->vals = calloc(n + 2, sizeof *p->vals);
  int rc = p->keys != NULL && p->vals != NULL ? 0 : YW_ENOMEM;
  long timeout_s = 0;
  size_t k = 0;
  for (PQconninfoOption *o = opts; rc == 0 && o->keyword != NULL; o++) {
    if (o->val == NULL) continue;
    if (strcmp(o->keyword, "connect_timeout") == 0) {
      timeout_s = strtol(o->val, NULL, 10);
      if (timeout_s <= 0) continue;
    }
    p->keys[k] = strdup(o->keyword);
    p->vals[k] = strdup(o->val);
    if (p->keys[k] == NULL || p->vals[k] == NULL) rc = YW_ENOMEM;
    k++;
  }
  if (rc == 0 && timeout_s <= 0) {
    char v[16];
    snprintf(v, sizeof v, "%d", CONNECT_TIMEOUT_S);
    timeout_s = CONNECT_TIMEOUT_S;
    p->keys[k] = strdup("connect_timeout");
    p->vals[k] = strdup(v);
    if (p->keys[k] == NULL || p->vals[k] == NULL) rc = YW_ENOMEM;
  }
  /* libpq counts a connect_timeout of 1 as 2 seconds */
  if (timeout_s < 2) timeout_s = 2;
  p->connect_ms = timeout_s > INT_MAX / 1000 ? INT_MAX : (int)timeout_s * 1000;
  PQconninfoFree(opts);
  return rc;
}

int yw_pg_pool_new(const char *conninfo, int size, yw_pg_pool **out, yw_pg_error *err) {
  *out = NULL;
  if (size < 1) size = 1;
  yw_pg_pool *p = calloc(1, sizeof *p);
  if (p == NULL) return YW_ENOMEM;
  p->size = size;
  p->conns = calloc((size_t)size, sizeof *p->conns);
  p->busy = calloc((size_t)size, 1);
  if (p->conns == NULL || p->busy == NULL) {
    yw_pg_pool_free(p);
    return YW_ENOMEM;
  }
  int rc = parse_conninfo(p, conninfo, err);
  if (rc != 0) {
    yw_pg_pool_free(p);
    return rc;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cv, &ca);
  pthread_condattr_destroy(&ca);
  p->locks_ready = 1;
  for (int i = 0; i < size; i++) {
    p->conns[i] = connect_one(p, err);
    if (p->conns[i] == NULL) {
      yw_pg_pool_free(p);
      return YW_EUNAVAIL;
    }
  }
  *out = p;
  return 0;
}

void yw_pg_pool_free(yw_pg_pool *p) {
  if (p == NULL) return;
  if (p->conns != NULL)
    for (int i = 0; i < p->size; i++) PQfinish(p->conns[i]);
  if (p->locks_ready) {
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
  }
  for (size_t i = 0; p->keys != NULL && p->keys[i] != NULL; i++) free(p->keys[i]);
  for (size_t i = 0; p->vals != NULL && p->vals[i] != NULL; i++) free(p->vals[i]);
  free(p->keys);
  free(p->vals);
  free(p->conns);
  free(p->busy);
  free(p);
}

/* Whether an idle pooled connection must be re-established before use: marked broken,
 * not open, or its socket readable. An idle session is sent nothing a healthy server
 * means to continue after, except notices, parameter changes and notifications; so
 * read what is there: the end of the stream, or a FATAL notice (the server shutting
 * down), make it stale. One poll() with no wait when all is well. */
static int conn_stale(PGconn *c, struct conn_state *s) {
  if ((s != NULL && s->broken) || PQstatus(c) != CONNECTION_OK ||
      PQtransactionStatus(c) != PQTRANS_IDLE)
    return 1;
  for (int round = 0; round < 4; round++) {
    struct pollfd pf = {.fd = PQsocket(c), .events = POLLIN};
    int n = poll(&pf, 1, 0);
    if (n == 0) return 0;
    if (n < 0 || !PQconsumeInput(c)) return 1;
    (void)PQisBusy(c); /* parses what came; a FATAL notice marks s broken */
    PGnotify *note;
    while ((note = PQnotifies(c)) != NULL) PQfreemem(note);
    if ((s != NULL && s->broken) || PQstatus(c) != CONNECTION_OK) return 1;
  }
  return 1; /* still talking after four reads: not a session to trust */
}

static void slot_free(yw_pg_pool *p, PGconn *c) {
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < p->size; i++) {
    if (p->conns[i] == c) {
      p->busy[i] = 0;
      break;
    }
  }
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

PGconn *yw_pg_pool_acquire(yw_pg_pool *p, int timeout_ms) {
  if (timeout_ms < 0) timeout_ms = 0;
  long long deadline = now_ms() + timeout_ms;
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  int slot = -1;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    for (int i = 0; i < p->size; i++) {
      if (!p->busy[i]) {
        slot = i;
        break;
      }
    }
    if (slot >= 0) break;
    if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) break;
  }
  if (slot >= 0) p->busy[slot] = 1;
  pthread_mutex_unlock(&p->mu);
  if (slot < 0) return NULL;

  PGconn *c = p->conns[slot];
  struct conn_state *s = state_of(c);
  if (s != NULL) {
    s->deadline = 0;
    s->keep_timeout = 0;
  }
  if (conn_stale(c, s) && reconnect(c, s, deadline) != 0) {
    slot_free(p, c);
    return NULL;
  }
  return c;
}

void yw_pg_pool_release(yw_pg_pool *p, PGconn *c) {
  if (c == NULL) return;
  struct conn_state *s = PQinstanceData(c, conn_event);
  if (s != NULL) s->ndeferred = 0;
  if (PQtransactionStatus(c) != PQTRANS_IDLE) yw_pg_rollback(c);
  if (s != NULL) {
    s->deadline = 0;
    s->keep_timeout = 0;
  }
  slot_free(p, c);
}

void yw_pg_set_deadline(PGconn *c, int64_t ms_left) {
  struct conn_state *s = state_of(c);
  if (s == NULL) return;
  if (ms_left >= INT64_MAX / 2) {
    s->deadline = 0;
    return;
  }
  long long d = now_ms() + (ms_left > 0 ? (long long)ms_left : 0);
  s->deadline = d != 0 ? d : 1;
}

int yw_pg_pool_ping(yw_pg_pool *p, int timeout_ms) {
  if (p == NULL || timeout_ms <= 0) return YW_EUNAVAIL;
  long long deadline = now_ms() + timeout_ms;
  PGconn *c = yw_pg_pool_acquire(p, timeout_ms);
  if (c == NULL) return YW_EUNAVAIL;
  long long left = deadline - now_ms();
  int rc = YW_EUNAVAIL;
  struct conn_state *s = PQinstanceData(c, conn_event);
  if (left > 0 && s != NULL) {
    yw_pg_set_deadline(c, left);
    /* Not worth a statement_timeout of its own, which the next call would have to set
     * back: SELECT 1 is bounded by the wait for its answer. */
    s->keep_timeout = 1;
    rc = yw_pg_query_read(c, "SELECT 1", 0, NULL, NULL, NULL) == 0 ? 0 : YW_EUNAVAIL;
  }
  yw_pg_pool_release(p, c);
  return rc;
}

static int map_sqlstate(const char *s) {
  if (s == NULL || s[0] == '\0') return YW_EUNAVAIL;
  if (strcmp(s, "23505") == 0) return YW_EEXIST;
  if (strcmp(s, "23503") == 0 || strcmp(s, "YW001") == 0) return YW_EPRECOND;
  if (strcmp(s, "23514") == 0 || strcmp(s, "23502") == 0 || strncmp(s, "22", 2) == 0)
    return YW_EINVAL;
  if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0) return YW_ECONFLICT;
  if (strcmp(s, "57014") == 0) return YW_ETIMEOUT;
  if (strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0) return YW_EUNAVAIL;
  return YW_EINTERNAL;
}

/* ---- SQL of a service's schema ------------------------------------------------------ */

int yw_pg_schema_ok(const char *s) {
  size_t n = s != NULL ? strlen(s) : 0;
  return n > 0 && n <= 48 && strspn(s, "abcdefghijklmnopqrstuvwxyz_") == n;
}

char *yw_pg_bytea_hex(char *out, const uint8_t *data, size_t len) {
  static const char hex[] = "0123456789abcdef";
  out[0] = '\\';
  out[1] = 'x';
  for (size_t i = 0; i < len; i++) {
    out[2 + 2 * i] = hex[data[i] >> 4];
    out[3 + 2 * i] = hex[data[i] & 15];
  }
  out[2 + 2 * len] = '\0';
  return out;
}

int yw_pg_schema_sql(char *out, size_t len, const char *tmpl, const char *schema) {
  if (!yw_pg_schema_ok(schema)) return YW_EINVAL;
  size_t o = 0, sl = strlen(schema);
  for (const char *p = tmpl; *p != '\0'; p++) {
    if (p[0] == '{' && p[1] == 'S' && p[2] == '}') {
      if (o + sl + 2 >= len) return YW_ETOOBIG;
      out[o++] = '"'; /* [a-z_]+ needs no escapes inside the quotes */
      memcpy(out + o, schema, sl);
      o += sl;
      out[o++] = '"';
      p += 2;
    } else {
      if (o + 1 >= len) return YW_ETOOBIG;
      out[o++] = *p;
    }
  }
  if (len == 0) return YW_ETOOBIG;
  out[o] = '\0';
  return 0;
}

/* ---- which statements are reads --------------------------------------------------- */

static int word_is(const char *w, size_t n, const char *const *list, int prefix) {
  for (; *list != NULL; list++) {
    size_t l = strlen(*list);
    if ((prefix ? n >= l : n == l) && strncasecmp(w, *list, l) == 0) return 1;
  }
  return 0;
}

static int word_char(unsigned char ch) { return isalnum(ch) || ch == '_' || ch >= 0x80; }

/* Skips a quoted run opening at *p (quote ' or "; a doubled quote stays inside,
 * backslashes escape when esc). NULL when the text ends first. */
static const char *skip_quoted(const char *p, int esc) {
  char q = *p++;
  for (;;) {
    if (*p == '\0') return NULL;
    if (*p == q) {
      if (p[1] != q) return p + 1;
      p += 2;
    } else if (esc && *p == '\\' && p[1] != '\0') {
      p += 2;
    } else {
      p++;
    }
  }
}

/* The rule yw_pg.h states for yw_pg_query. Conservative: what it cannot follow is not
 * a read. */
static int sql_is_read(const char *sql) {
  static const char *const firsts[] = {"select", "with", "values", "table", "show", NULL};
  static const char *const writes[] = {"insert",  "update", "delete",     "merge",     "into",
                                       "copy",    "call",   "do",         "lock",      "share",
                                       "nextval", "setval", "set_config", "pg_notify", NULL};
  static const char *const write_prefixes[] = {"pg_advisory", "pg_try_advisory", "lo_", "dblink",
                                               NULL};
  int first = 1;
  const char *p = sql;
  while (p != NULL && *p != '\0') {
    unsigned char ch = (unsigned char)*p;
    if (isspace(ch)) {
      p++;
    } else if (p[0] == '-' && p[1] == '-') {
      while (*p != '\0' && *p != '\n') p++;
    } else if (p[0] == '/' && p[1] == '*') {
      int depth = 0; /* comments nest in PostgreSQL */
      do {
        if (p[0] == '/' && p[1] == '*') {
          depth++;
          p += 2;
        } else if (p[0] == '*' && p[1] == '/') {
          depth--;
          p += 2;
        } else if (*p == '\0') {
          return 0;
        } else {
          p++;
        }
      } while (depth > 0);
    } else if (ch == '\'' || ch == '"') {
      p = skip_quoted(p, 0);
    } else if (ch == '$') {
      if (!isdigit((unsigned char)p[1])) return 0; /* a dollar quote */
      p++;
      while (isdigit((unsigned char)*p)) p++;
    } else if (word_char(ch)) {
      const char *w = p;
      while (word_char((unsigned char)*p) || *p == '$') p++;
      size_t n = (size_t)(p - w);
      if (n == 1 && (w[0] == 'e' || w[0] == 'E') && *p == '\'') {
        p = skip_quoted(p, 1);
        continue;
      }
      if (first && !word_is(w, n, firsts, 0)) return 0;
      first = 0;
      if (word_is(w, n, writes, 0) || word_is(w, n, write_prefixes, 1)) return 0;
    } else {
      p++;
    }
  }
  return p != NULL && !first;
}

/* ---- running statements ------------------------------------------------------------ */

enum kind { KIND_AUTO, KIND_READ, KIND_WRITE };

/* Sends the deferred statements of s, then the statement (prepared as name, or sql
 * unprepared when name is NULL), then COMMIT when commit, in pipeline mode with one sync
 * after them: one round trip. Reads every answer, waiting until the deadline at most.
 * Returns the first failed result (a deferred statement's, the statement's or COMMIT's:
 * what follows a failure is skipped by the server), else the statement's; NULL when it
 * could not all be sent (PQerrorMessage says why) or when *late. The deferred statements
 * are forgotten once sent. */
static PGresult *exec_pipeline(PGconn *c, struct conn_state *s, const char *name, const char *sql,
                               int nparams, const char *const *params, int commit, int *late) {
  int nd = s->ndeferred;
  s->ndeferred = 0;
  s->commit_rolled_back = 0;
  int sent = PQenterPipelineMode(c);
  for (int i = 0; sent && i < nd; i++) {
    const char *dp[YW_PG_DEFER_PARAMS] = {NULL};
    for (int k = 0; k < s->deferred[i].nparams; k++) dp[k] = s->deferred[i].params[k];
    sent = PQsendQueryParams(c, s->deferred[i].sql, s->deferred[i].nparams, NULL, dp, NULL, NULL, 0);
  }
  if (sent)
    sent = name != NULL ? PQsendQueryPrepared(c, name, nparams, params, NULL, NULL, 0)
                        : PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
  if (sent && commit) sent = PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
  if (sent) sent = PQpipelineSync(c);
  if (!sent) {
    /* part of a pipeline may have gone: the session is not to be trusted */
    s->broken = 1;
    return NULL;
  }
  int n = nd + 1 + (commit != 0);
  PGresult *fail = NULL, *mine = NULL;
  for (int i = 0; i <= n; i++) { /* each statement's answer, then the sync's */
    PGresult *r = collect(c, s->deadline, late);
    if (*late) {
      PQclear(fail);
      PQclear(mine);
      s->broken = 1; /* still in pipeline mode, answers owed: re-established on acquire */
      return NULL;
    }
    if (commit && i == n - 1 && fail == NULL && result_ok(r) && strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
      s->commit_rolled_back = 1;
    if (i < n && fail == NULL && !result_ok(r))
      fail = r;
    else if (i == nd)
      mine = r;
    else
      PQclear(r);
  }
  if (!PQexitPipelineMode(c)) s->broken = 1;
  if (fail != NULL) {
    PQclear(mine);
    return fail;
  }
  return mine;
}

/* Prepares sql once per session and executes it, or runs it unprepared when c has no
 * state. With pipe, the deferred statements go ahead of it and, with commit, COMMIT
 * after it, in one round trip (exec_pipeline). Returns the result, or NULL when it could
 * not be sent (PQerrorMessage says why) or when *late (the deadline passed first).
 * *executed tells whether the statement itself may have reached the server. */
static PGresult *exec_once(PGconn *c, struct conn_state *s, const char *sql, int nparams,
                           const char *const *params, int pipe, int commit, int *executed,
                           int *late) {
  long long deadline = s != NULL ? s->deadline : 0;
  *late = 0;
  *executed = 0;
  int piped = s != NULL && pipe && (commit || s->ndeferred > 0);
  if (s == NULL || prepared_reserve(s) != 0) {
    /* no room to remember a prepared statement: parse this one every time */
    *executed = 1;
    if (piped) return exec_pipeline(c, s, NULL, sql, nparams, params, commit, late);
    if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)) return NULL;
    return collect(c, deadline, late);
  }
  unsigned long long h = sql_hash(sql);
  unsigned long long key = h != 0 ? h : 1;
  char name[24];
  snprintf(name, sizeof name, "yw_%016llx", h);
  if (!prepared_has(s, key)) {
    if (!PQsendPrepare(c, name, sql, nparams, NULL)) return NULL;
    PGresult *r = collect(c, deadline, late);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) return r;
    PQclear(r);
    prepared_add(s, key);
  }
  *executed = 1;
  if (piped) return exec_pipeline(c, s, name, NULL, nparams, params, commit, late);
  if (!PQsendQueryPrepared(c, name, nparams, params, NULL, NULL, 0)) return NULL;
  return collect(c, deadline, late);
}

/* The statement_timeout for what is left before deadline: a little under it, so the
 * server cancels before the caller stops waiting, and in steps of 100 ms, so that calls
 * with the same deadline find it already set. -1: the session default. */
static int timeout_for(long long deadline) {
  if (deadline == 0) return -1;
  long long left = deadline - now_ms() - 10;
  if (left < 1) left = 1;
  if (left >= 200) left -= left % 100;
  return left > INT_MAX ? INT_MAX : (int)left;
}

/* Brings the session's statement_timeout to what the deadline asks. Only outside a
 * transaction block: a SET inside one would be undone by its rollback without our
 * knowing. Returns NULL when it is in place, else what exec_once returned. */
static PGresult *apply_timeout(PGconn *c, struct conn_state *s, int *executed, int *late,
                               int *failed) {
  *failed = 0;
  if (s == NULL || s->keep_timeout || PQtransactionStatus(c) != PQTRANS_IDLE) return NULL;
  int want = timeout_for(s->deadline);
  if (want == s->applied) return NULL;
  char ms[16];
  snprintf(ms, sizeof ms, "%d", want);
  const char *p[] = {ms};
  PGresult *r = want < 0 ? exec_once(c, s, "RESET statement_timeout", 0, NULL, 0, 0, executed, late)
                         : exec_once(c, s, "SELECT set_config('statement_timeout', $1, false)", 1,
                                     p, 0, 0, executed, late);
  *executed = 0; /* the caller's statement has not been sent */
  if (result_ok(r)) {
    s->applied = want;
    PQclear(r);
    return NULL;
  }
  *failed = 1;
  return r;
}

static int run(PGconn *c, enum kind kind, int commit, const char *sql, int nparams,
               const char *const *params, PGresult **out, yw_pg_error *err) {
  if (out != NULL) *out = NULL;
  struct conn_state *s = state_of(c);
  int is_read = kind == KIND_READ || (kind == KIND_AUTO && sql_is_read(sql));
  for (int attempt = 0;; attempt++) {
    if ((s != NULL && s->broken) || PQstatus(c) != CONNECTION_OK) {
      set_err(err, "08006",
              s != NULL && s->broken ? "the connection is broken" : PQerrorMessage(c));
      return YW_EUNAVAIL;
    }
    if (s != NULL && s->deadline != 0 && now_ms() >= s->deadline) {
      set_err(err, "57014", "the deadline passed before the statement was sent");
      return YW_ETIMEOUT;
    }
    /* a deferred BEGIN is a transaction begun */
    int outside = PQtransactionStatus(c) == PQTRANS_IDLE && (s == NULL || s->ndeferred == 0);
    int executed = 0, late = 0, failed = 0;
    PGresult *r = apply_timeout(c, s, &executed, &late, &failed);
    if (!failed) r = exec_once(c, s, sql, nparams, params, 1, commit, &executed, &late);
    if (!failed && result_ok(r) && s != NULL && s->commit_rolled_back) {
      s->commit_rolled_back = 0;
      PQclear(r);
      set_err(err, "25P02", "the transaction was aborted by a failed statement: its COMMIT rolled it back");
      return YW_EINTERNAL;
    }
    if (!failed && result_ok(r)) {
      if (out != NULL)
        *out = r;
      else
        PQclear(r);
      return 0;
    }
    if (late) {
      if (s != NULL) s->broken = 1;
      set_err(err, "57014", "no answer from the database before the deadline");
      return YW_ETIMEOUT;
    }
    if (PQstatus(c) == CONNECTION_BAD && attempt == 0 && outside && (is_read || !executed) &&
        s != NULL) {
      PQclear(r);
      long long until = s->deadline != 0 ? s->deadline : now_ms() + s->wait_ms;
      if (reconnect(c, s, until) == 0) continue;
      set_err(err, "08006",
              PQstatus(c) == CONNECTION_OK ? "the connection is broken" : PQerrorMessage(c));
      return YW_EUNAVAIL;
    }
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    set_err(err, state, msg != NULL ? msg : PQerrorMessage(c));
    int rc = PQstatus(c) != CONNECTION_OK ? YW_EUNAVAIL : map_sqlstate(state);
    PQclear(r);
    return rc;
  }
}

int yw_pg_query(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out,
                yw_pg_error *err) {
  return run(c, KIND_AUTO, 0, sql, nparams, params, out, err);
}

int yw_pg_query_read(PGconn *c, const char *sql, int nparams, const char *const *params,
                     PGresult **out, yw_pg_error *err) {
  return run(c, KIND_READ, 0, sql, nparams, params, out, err);
}

int yw_pg_query_write(PGconn *c, const char *sql, int nparams, const char *const *params,
                      PGresult **out, yw_pg_error *err) {
  return run(c, KIND_WRITE, 0, sql, nparams, params, out, err);
}

int yw_pg_query_commit(PGconn *c, const char *sql, int nparams, const char *const *params,
                       PGresult **out, yw_pg_error *err) {
  return run(c, KIND_WRITE, 1, sql, nparams, params, out, err);
}

int yw_pg_defer(PGconn *c, const char *sql, int nparams, const char *const *params) {
  struct conn_state *s = state_of(c);
  if (s == NULL) return YW_ENOMEM;
  if (s->ndeferred >= YW_PG_DEFER_MAX || nparams < 0 || nparams > YW_PG_DEFER_PARAMS)
    return YW_ETOOBIG;
  struct deferred *d = &s->deferred[s->ndeferred];
  for (int i = 0; i < nparams; i++) {
    if (params[i] == NULL || strlen(params[i]) >= sizeof d->params[i]) return YW_ETOOBIG;
    snprintf(d->params[i], sizeof d->params[i], "%s", params[i]);
  }
  d->sql = sql;
  d->nparams = nparams;
  s->ndeferred++;
  return 0;
}

int yw_pg_begin(PGconn *c, yw_pg_error *err) { return yw_pg_query(c, "BEGIN", 0, NULL, NULL, err); }

int yw_pg_begin_deferred(PGconn *c, yw_pg_error *err) {
  int rc = yw_pg_defer(c, "BEGIN", 0, NULL);
  /* no room to defer it: sent now */
  return rc == 0 ? 0 : yw_pg_begin(c, err);
}

int yw_pg_commit(PGconn *c, yw_pg_error *err) {
  struct conn_state *s = state_of(c);
  /* idle with nothing deferred: committed with its last statement (yw_pg_query_commit),
   * or nothing was begun */
  if (PQtransactionStatus(c) == PQTRANS_IDLE && (s == NULL || (s->ndeferred == 0 && !s->broken)))
    return 0;
  PGresult *r = NULL;
  int rc = yw_pg_query(c, "COMMIT", 0, NULL, &r, err);
  if (rc == 0 && r != NULL && strcmp(PQcmdStatus(r), "ROLLBACK") == 0) {
    set_err(err, "25P02", "the transaction was aborted by a failed statement: its COMMIT rolled it back");
    rc = YW_EINTERNAL;
  }
  PQclear(r);
  return rc;
}

int yw_pg_in_transaction(PGconn *c) {
  struct conn_state *s = state_of(c);
  return PQtransactionStatus(c) == PQTRANS_INTRANS ||
         (PQtransactionStatus(c) == PQTRANS_IDLE && s != NULL && s->ndeferred > 0);
}

void yw_pg_rollback(PGconn *c) {
  struct conn_state *s = state_of(c);
  if (s != NULL) s->ndeferred = 0; /* a deferred BEGIN was never sent */
  /* a broken session has no transaction left to end; it is re-established on acquire */
  if ((s != NULL && s->broken) || PQstatus(c) != CONNECTION_OK) return;
  if (PQtransactionStatus(c) == PQTRANS_IDLE) return; /* nothing to end */
  long long deadline = s != NULL ? s->deadline : 0;
  if (deadline != 0 && deadline < now_ms() + ROLLBACK_GRACE_MS)
    deadline = now_ms() + ROLLBACK_GRACE_MS;
  if (!PQsendQuery(c, "ROLLBACK")) return;
  int late = 0;
  PQclear(collect(c, deadline, &late));
  if (late && s != NULL) s->broken = 1;
}

static int exec_script(PGconn *c, const char *text, yw_pg_error *err) {
  /* Migration files are trusted text from the binary, run as a multi-statement script. */
  PGresult *r = PQexec(c, text);
  ExecStatusType st = PQresultStatus(r);
  int rc = 0;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    set_err(err, state, PQresultErrorMessage(r));
    rc = map_sqlstate(state);
  }
  PQclear(r);
  return rc;
}

int yw_pg_migrate(PGconn *c, const char *schema, const struct yw_embedded_file *files,
                  unsigned nfiles, yw_pg_error *err) {
  if (schema[0] == '\0' || strspn(schema, "abcdefghijklmnopqrstuvwxyz_") != strlen(schema)) {
    set_err(err, "", "schema name must match [a-z_]+");
    return YW_EINVAL;
  }
  char *ident = PQescapeIdentifier(c, schema, strlen(schema));
  if (ident == NULL) return YW_ENOMEM;
  char ddl[512];
  snprintf(ddl, sizeof ddl,
           "CREATE SCHEMA IF NOT EXISTS %s;"
           "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
           " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
           ident, ident);
  char check[256];
  snprintf(check, sizeof check, "SELECT 1 FROM %s.schema_migrations WHERE name = $1", ident);
  char record[256];
  snprintf(record, sizeof record, "INSERT INTO %s.schema_migrations (name) VALUES ($1)", ident);
  PQfreemem(ident);

  /* never run again on a new session: it would not hold the lock */
  const char *lock_params[] = {schema};
  int rc = yw_pg_query_write(c, "SELECT pg_advisory_lock(hashtext('yw_migrate.' || $1))", 1,
                             lock_params, NULL, err);
  if (rc != 0) return rc;
  /* a service that runs as a role without CREATE on the database (the migrations were
   * applied by the owner beforehand) must not run DDL when there is nothing to do */
  char table[128];
  snprintf(table, sizeof table, "%s.schema_migrations", schema);
  const char *table_params[] = {table};
  PGresult *tr = NULL;
  rc = yw_pg_query_write(c, "SELECT to_regclass($1) IS NULL", 1, table_params, &tr, err);
  if (rc == 0 && strcmp(PQgetvalue(tr, 0, 0), "t") == 0) rc = exec_script(c, ddl, err);
  PQclear(tr);
  for (unsigned i = 0; rc == 0 && i < nfiles; i++) {
    const char *name[] = {files[i].name};
    PGresult *r = NULL;
    rc = yw_pg_query_write(c, check, 1, name, &r, err);
    if (rc != 0) break;
    int applied = PQntuples(r) > 0;
    PQclear(r);
    if (applied) continue;
    rc = yw_pg_begin(c, err);
    if (rc == 0) rc = exec_script(c, files[i].text, err);
    if (rc == 0) rc = yw_pg_query(c, record, 1, name, NULL, err);
    if (rc == 0) rc = yw_pg_commit(c, err);
    if (rc != 0) {
      yw_pg_rollback(c);
      /* name the file: "001_catalog.sql: <server message>" */
      size_t nl = strlen(files[i].name);
      if (err != NULL && nl + 2 < sizeof err->message) {
        memmove(err->message + nl + 2, err->message, sizeof err->message - nl - 2);
        memcpy(err->message, files[i].name, nl);
        err->message[nl] = ':';
        err->message[nl + 1] = ' ';
        err->message[sizeof err->message - 1] = '\0';
      }
    }
  }
  yw_pg_query_write(c, "SELECT pg_advisory_unlock(hashtext('yw_migrate.' || $1))", 1, lock_params,
                    NULL, NULL);
  return rc;
}
