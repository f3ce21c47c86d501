/*
 * yw_pg.c - libpq connection pool, parameterised queries, migrations.
 *
 * The pool is a fixed array of connections guarded by one mutex and condition variable;
 * acquire waits with a timeout so a slow database turns into UNAVAILABLE, not a stuck
 * thread. A connection found broken is reset before it is handed out.
 *
 * Offers: yw_pg_pool_new, yw_pg_pool_free, yw_pg_pool_acquire, yw_pg_pool_release,
 * yw_pg_query, yw_pg_begin, yw_pg_commit, yw_pg_rollback, yw_pg_migrate.
 */
#include "yw_pg.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yw_err.h"

struct yw_pg_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int size;
  PGconn **conns;
  unsigned char *busy;
  char *conninfo;
};

/*
 * Statements are prepared once per connection and then executed by name, which saves
 * the parse and plan of every call (for a search query, most of its cost). The
 * registry of what each connection has prepared is process-wide; a connection that is
 * reset or closed forgets its statements.
 */
#define PREPARED_MAX 512

static pthread_mutex_t prepared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  const PGconn *conn;
  unsigned long long hash;
} prepared[PREPARED_MAX];
static size_t n_prepared;

static unsigned long long sql_hash(const char *sql) {
  unsigned long long h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return h;
}

static int prepared_has(const PGconn *c, unsigned long long h) {
  int found = 0;
  pthread_mutex_lock(&prepared_mu);
  for (size_t i = 0; i < n_prepared && !found; i++)
    found = prepared[i].conn == c && prepared[i].hash == h;
  pthread_mutex_unlock(&prepared_mu);
  return found;
}

static int prepared_add(const PGconn *c, unsigned long long h) {
  int added = 0;
  pthread_mutex_lock(&prepared_mu);
  if (n_prepared < PREPARED_MAX) {
    prepared[n_prepared].conn = c;
    prepared[n_prepared].hash = h;
    n_prepared++;
    added = 1;
  }
  pthread_mutex_unlock(&prepared_mu);
  return added;
}

static void prepared_forget(const PGconn *c) {
  pthread_mutex_lock(&prepared_mu);
  for (size_t i = 0; i < n_prepared;) {
    if (prepared[i].conn == c)
      prepared[i] = prepared[--n_prepared];
    else
      i++;
  }
  pthread_mutex_unlock(&prepared_mu);
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

static int session_setup(PGconn *c) {
  PGresult *r = PQexec(c, "SET TIME ZONE 'Asia/Shanghai'; SET client_min_messages = warning");
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  return ok ? 0 : YW_EUNAVAIL;
}

static PGconn *connect_one(const char *conninfo, yw_pg_error *err) {
  PGconn *c = PQconnectdb(conninfo);
  if (c == NULL) {
    set_err(err, "", "out of memory");
    return NULL;
  }
  if (PQstatus(c) != CONNECTION_OK || session_setup(c) != 0) {
    set_err(err, "08006", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  return c;
}

int yw_pg_pool_new(const char *conninfo, int size, yw_pg_pool **out, yw_pg_error *err) {
  *out = NULL;
  if (size < 1) size = 1;
  yw_pg_pool *p = calloc(1, sizeof *p);
  if (p == NULL) return YW_ENOMEM;
  p->size = size;
  p->conns = calloc((size_t)size, sizeof *p->conns);
  p->busy = calloc((size_t)size, 1);
  p->conninfo = strdup(conninfo);
  if (p->conns == NULL || p->busy == NULL || p->conninfo == NULL) {
    yw_pg_pool_free(p);
    return YW_ENOMEM;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (int i = 0; i < size; i++) {
    p->conns[i] = connect_one(conninfo, err);
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
  if (p->conns != NULL) {
    for (int i = 0; i < p->size; i++)
      if (p->conns[i] != NULL) {
        prepared_forget(p->conns[i]);
        PQfinish(p->conns[i]);
      }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
  }
  free(p->conns);
  free(p->busy);
  free(p->conninfo);
  free(p);
}

PGconn *yw_pg_pool_acquire(yw_pg_pool *p, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
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
  if (PQstatus(c) != CONNECTION_OK) {
    prepared_forget(c);
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK || session_setup(c) != 0) {
      pthread_mutex_lock(&p->mu);
      p->busy[slot] = 0;
      pthread_cond_signal(&p->cv);
      pthread_mutex_unlock(&p->mu);
      return NULL;
    }
  }
  return c;
}

void yw_pg_pool_release(yw_pg_pool *p, PGconn *c) {
  if (c == NULL) return;
  if (PQtransactionStatus(c) != PQTRANS_IDLE) yw_pg_rollback(c);
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

int yw_pg_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                PGresult **out, yw_pg_error *err) {
  if (out != NULL) *out = NULL;
  unsigned long long h = sql_hash(sql);
  char name[24];
  snprintf(name, sizeof name, "yw_%016llx", h);
  PGresult *r = NULL;
  if (prepared_has(c, h)) {
    r = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
  } else {
    r = PQprepare(c, name, sql, nparams, NULL);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
      PQclear(r);
      /* a full registry only means this statement is parsed every time */
      r = prepared_add(c, h) ? PQexecPrepared(c, name, nparams, params, NULL, NULL, 0)
                             : PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    }
  }
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (out != NULL)
      *out = r;
    else
      PQclear(r);
    return 0;
  }
  const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  set_err(err, state, msg != NULL ? msg : PQerrorMessage(c));
  int rc = PQstatus(c) != CONNECTION_OK ? YW_EUNAVAIL : map_sqlstate(state);
  PQclear(r);
  return rc;
}

int yw_pg_begin(PGconn *c, yw_pg_error *err) { return yw_pg_query(c, "BEGIN", 0, NULL, NULL, err); }

int yw_pg_commit(PGconn *c, yw_pg_error *err) {
  return yw_pg_query(c, "COMMIT", 0, NULL, NULL, err);
}

void yw_pg_rollback(PGconn *c) { PQclear(PQexec(c, "ROLLBACK")); }

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

  const char *lock_params[] = {schema};
  int rc = yw_pg_query(c, "SELECT pg_advisory_lock(hashtext('yw_migrate.' || $1))", 1,
                       lock_params, NULL, err);
  if (rc != 0) return rc;
  rc = exec_script(c, ddl, err);
  for (unsigned i = 0; rc == 0 && i < nfiles; i++) {
    const char *name[] = {files[i].name};
    PGresult *r = NULL;
    rc = yw_pg_query(c, check, 1, name, &r, err);
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
  yw_pg_query(c, "SELECT pg_advisory_unlock(hashtext('yw_migrate.' || $1))", 1, lock_params,
              NULL, NULL);
  return rc;
}
