/*
 * yw_service.h - what every service handler needs around its logic, so that a handler
 * is its logic: a pooled connection within the caller's deadline, a statement or a
 * transaction run with the connection released on every branch and a failure turned
 * into the call's status, checks of who calls, column readers into the call's arena,
 * enums stored as text, and list paging with opaque tokens.
 *
 * Every function that answers for the call (returns a code) has set the call's status
 * message when the code is not 0, so a handler writes `if (rc != 0) return rc;`.
 */
#ifndef YW_SERVICE_H
#define YW_SERVICE_H

#include <jansson.h>

#include "yw_arena.h"
#include "yw_caller.h"
#include "yw_config.h"
#include "yw_metrics.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"

/* A pooled connection, waiting at most wait_ms and never past the caller's deadline,
 * with the caller's deadline set on it (yw_pg_set_deadline): its statements and any
 * reconnection end by then. NULL when none could be had (answer UNAVAILABLE). */
PGconn *yw_service_db(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms);

/* Sets the call's status for a failed query and returns the code to answer with:
 * rule violations (constraints, the project's YW0xx rules) carry the database's
 * message; anything else is logged with its SQLSTATE and answered as UNAVAILABLE,
 * DEADLINE_EXCEEDED (YW_ETIMEOUT: statement_timeout or the deadline) or INTERNAL
 * without details. */
int yw_service_db_fail(yw_rpc_call *call, int rc, const yw_pg_error *err);

/* Refuses the call (INVALID_ARGUMENT, message as its status message) naming every field
 * that is wrong: fields is a JSON array of {"field": path, "reason": code} (a form's
 * violations, yw_form_report_json), sent as the YW_FIELDS_TRAILER trailer (ASCII, JSON
 * escapes for other characters; entries past YW_FIELDS_TRAILER_MAX bytes left out).
 * Returns YW_EINVAL to answer with. fields is only read. */
int yw_service_fail_fields(yw_rpc_call *call, const char *message, const json_t *fields);

/* ---- statements and transactions ------------------------------------------------- */

/* One statement on a pooled connection: acquires within wait_ms and the caller's deadline,
 * runs sql with params, releases. Returns 0 with *out (PQclear it; out may be NULL), or
 * the code to answer with: YW_EUNAVAIL ("<what> is busy") when no connection came, else
 * as yw_service_db_fail. what names the database in messages ("the catalog database"). */
int yw_service_query(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms, const char *what,
                     const char *sql, int nparams, const char *const *params, PGresult **out);

/* The work of a transaction. Runs on conn inside BEGIN (deferred: sent with fn's first
 * statement, so fn must run its statements through yw_pg). Returns 0 to commit; or a
 * code with the call's status set (yw_rpc_call_fail: a rule refused the write) and err
 * left empty; or the code of a failed statement with err filled by it. fn may run its
 * last statement with yw_pg_query_commit (one round trip for it and COMMIT); it then
 * runs nothing more and returns that call's code. */
typedef int (*yw_service_tx_fn)(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err);

/* Acquires a connection (as yw_service_query), BEGIN, fn, COMMIT; on any failure ROLLBACK;
 * the connection is released on every branch. A failure of fn or of COMMIT leaves the
 * data exactly as it was. Returns 0 once committed, or the code to answer with (status
 * set: fn's own, or the database's through yw_service_db_fail). */
int yw_service_tx(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms, const char *what,
                  yw_service_tx_fn fn, void *arg);

/* ---- who calls -------------------------------------------------------------------- */

/* Reads and verifies the caller (yw_rpc_call_caller). Returns 0 or YW_EUNAUTH (set). */
int yw_service_caller(yw_rpc_call *call, const yw_caller_keys *keys, yw_caller *out);

/* The caller must be staff holding one of roles ("dept_admin,platform_admin"; NULL or
 * "": any staff). Returns 0, YW_EUNAUTH or YW_EPERM (status set: "<action> needs ..."). */
int yw_service_require_staff(yw_rpc_call *call, const yw_caller_keys *keys, const char *roles,
                             const char *action, yw_caller *out);

/* The caller must be a resident (a person) of real-name level min_level or more.
 * Returns 0, YW_EUNAUTH or YW_EPERM (status set). */
int yw_service_require_person(yw_rpc_call *call, const yw_caller_keys *keys, int min_level,
                              yw_caller *out);

/* When the caller acts for a company (caller->org), what it does for the company must be
 * within the scope the session carries (yw_caller_org_may): scope is "apply" (filing or
 * changing the company's applications), "pay", "read" (the company's data) or "sign";
 * action names it in the refusal ("filing an application for the company"). A caller
 * acting for nobody passes. Returns 0 or YW_EPERM (status set, naming the missing scope). */
int yw_service_require_org_scope(yw_rpc_call *call, const yw_caller *caller, const char *scope,
                                 const char *action);

/* ---- whose an application is ------------------------------------------------------ */

/*
 * An application filed for a company (applicant_kind "company") is the company's
 * (applicant_org), whoever filed it: only a person acting for that company (caller->org
 * equal to org) with scope ("read" for reads, lists and downloads, "apply" for changes,
 * "pay" for paying) may see or act on it. An application filed as a person ("person")
 * is that person's (applicant_subject) alone. Anyone else is told it does not exist.
 * Staff are not applicants: their access is the department's, checked by the service.
 */

/* 1 when the person caller is the applicant of an application of kind, subject and org
 * (its owner, scope aside); 0 otherwise (never for staff or anonymous callers). */
int yw_applicant_is_caller(const yw_caller *caller, const char *kind, const char *subject,
                           const char *org);

/* Whose feed an application's entries go to, written into buf (len bytes) and returned:
 * "org:<credit code>" for a company's application (kind "company", org its credit code),
 * the person's subject otherwise. A resident reads the feed of the same key for themself
 * (kind "person") or, acting for a company with the scope "read", for the company
 * (kind "company", org caller->org). */
const char *yw_feed_recipient(const char *kind, const char *subject, const char *org, char *buf,
                              size_t len);

/* The caller must be the applicant (yw_applicant_is_caller) with scope for a company's
 * application. Returns 0; YW_ENOTFOUND (status "no <what> <number>") when the caller is
 * not; YW_EPERM (status naming the scope) when acting for the company without scope. */
int yw_service_require_applicant(yw_rpc_call *call, const yw_caller *caller, const char *kind,
                                 const char *subject, const char *org, const char *scope,
                                 const char *what, const char *number);

/* Whose applications a person's list ("mine") holds: acting for a company, the company's
 * (*kind "company", *key its credit code; the session needs the scope "read", else
 * YW_EPERM with the status set); otherwise their own (*kind "person", *key the subject).
 * The pointers point into caller. Returns 0 or YW_EPERM. */
int yw_service_applicant_key(yw_rpc_call *call, const yw_caller *caller, const char **kind,
                             const char **key);

/* The SQL predicate of such a list over columns named col_kind, col_subject and col_org
 * (col "a.applicant": an application's; "l.holder": a license's); kp and keyp are the
 * parameters ("$1") bound to yw_service_applicant_key's kind and key. */
#define YW_APPLICANT_SQL(col, kp, keyp)                                                       \
  "((" kp " = 'person' AND " col "_kind = 'person' AND " col "_subject = " keyp ") OR ("     \
  kp " = 'company' AND " col "_kind = 'company' AND " col "_org = " keyp "))"

/* 1 when the caller holds one of roles ("a,b"). */
int yw_service_has_any_role(const yw_caller *c, const char *roles);

/* ---- columns and enums ------------------------------------------------------------ */

/* The text of a column as a NUL-terminated copy in a (NULL on ENOMEM; "" for SQL NULL). */
char *yw_col_str(yw_arena *a, const PGresult *r, int row, int col);
/* A column's integer (0 for SQL NULL or junk); a column's boolean ('t'). */
long long yw_col_ll(const PGresult *r, int row, int col);
int yw_col_bool(const PGresult *r, int row, int col);

/* Enum values kept as text in the database: the value whose name is text upper-cased
 * ("city" -> CITY), 0 when none; and back, the name (lower-cased when lower), NULL for
 * 0 or an unknown value (refuse it: the caller sent a number the proto does not know). */
int yw_enum_from_db(const ProtobufCEnumDescriptor *desc, const char *text);
const char *yw_enum_to_db(yw_arena *a, const ProtobufCEnumDescriptor *desc, int value, int lower);

/* ---- list paging ------------------------------------------------------------------ */

/*
 * Keyset paging with opaque tokens. A page token is base64url("v1|<hash of the filters>|
 * <cursor>"): the cursor is the service's own text naming the last row of the page
 * (its sort key, e.g. "rank|code"), and the hash binds it to the filters of the query,
 * so a token replayed with other filters is refused. The cursor is opaque to callers but
 * not secret nor signed: the service parses it strictly and uses it only as a
 * parameter.
 */
#define YW_PAGE_CURSOR_MAX 256

typedef struct yw_page {
  int size;                       /* the page size to answer: requested, or the default */
  unsigned long long filters;     /* the hash of the filters */
  int has_cursor;                 /* a token came */
  char cursor[YW_PAGE_CURSOR_MAX + 1]; /* its cursor, "" without one */
} yw_page;

/* Checks page_size (0: def; otherwise 1..max) and page_token against the filters (nf
 * strings, any may be ""). Returns 0 with *out, or YW_EINVAL with the status set
 * ("pageSize must be ...", "pageToken is not valid", "pageToken belongs to another
 * query"). */
int yw_page_begin(yw_rpc_call *call, int32_t page_size, const char *page_token, int def, int max,
                  const char *const *filters, size_t nf, yw_page *out);

/* yw_page_begin for lists paged by a row id (bigserial, newest first): the cursor must
 * also be 1 to 18 digits. Returns 0 or YW_EINVAL (status set). */
int yw_page_begin_id(yw_rpc_call *call, int32_t page_size, const char *page_token, int def,
                     int max, const char *const *filters, size_t nf, yw_page *out);

/* The token of the next page, whose previous page ended at cursor (text the service
 * parses back from page->cursor); allocated in a. NULL on ENOMEM or a cursor over
 * YW_PAGE_CURSOR_MAX bytes. */
char *yw_page_token(yw_arena *a, const yw_page *page, const char *cursor);

/* ---- a service's process ------------------------------------------------------------ */

/*
 * What every service's main() does, once: the settings every service has, --help and
 * --migrate-only, the log, mutual TLS, the caller keys, the database pool with the
 * service's migrations, Redis, and serving until a signal. A service's main fills the
 * first part of a yw_service_proc (name, defaults, its own settings), calls
 * yw_service_start, builds its context from the filled part, and calls yw_service_run:
 *
 *   static yw_service_proc proc = {.name = "catalog", .listen = "127.0.0.1:50052",
 *       .schema = "catalog", .settings = own, .n_settings = N};
 *   int rc = yw_service_start(&proc, argc, argv);
 *   if (rc != YW_SERVICE_SERVE) return rc;
 *   ... ctx.pool = proc.pool; ctx.redis = proc.redis; ctx.caller_keys = proc.caller_keys;
 *   return yw_service_run(&proc, &svc);
 *
 * Settings every service has (NAME is the upper-cased name): YW_NAME_LISTEN,
 * YW_NAME_THREADS, YW_NAME_QUEUE, YW_NAME_MAX_STREAMS, YW_NAME_METRICS_LISTEN,
 * YW_NAME_DB_POOL, YW_NAME_DB_WAIT_MS, YW_PG_DSN,
 * YW_REDIS_ADDR, YW_REDIS_PREFIX, YW_CALLER_KEY, YW_CALLER_KEY_PREVIOUS,
 * YW_CALLER_WINDOW_S, YW_LOG_LEVEL, YW_TLS_CA, YW_TLS_CERT, YW_TLS_KEY.
 */
#define YW_SERVICE_SERVE (-1000) /* yw_service_start: go on and serve */
#define YW_SERVICE_MAX_SETTINGS 64

typedef struct yw_service_proc {
  /* given by the service */
  const char *name;          /* "catalog": the process is yw-catalog, settings YW_CATALOG_* */
  const char *listen;        /* the default listen address ("127.0.0.1:50052") */
  int threads, queue, db_pool; /* defaults; 0: 8, 64, 8 */
  const char *schema;        /* the database schema whose migrations apply; NULL: no database */
  const struct yw_embedded_file *migrations;
  unsigned n_migrations;
  int events;                /* 1: the schema also gets the outbox tables (yw_events_migrate) */
  int idempotency;           /* 1: and the table of idempotent answers (yw_idem_migrate) */
  int redis_timeout_ms;      /* 0: no Redis; else each command's deadline */
  const char *redis_use;     /* what Redis is for, said in the log when it is unreachable */
  const yw_cfg_entry *settings; /* the service's own settings, or NULL */
  size_t n_settings;
  const char *usage;         /* the service's own arguments, for --help ("[--create-staff U D R]") */
  int keep_args;             /* 1: arguments past argv[0] other than --migrate-only and --help
                              * are the service's own (it parses them); 0: they are refused */
  void (*on_stop)(void *arg); /* run by yw_service_run once serving ended, before Redis and
                              * the pool close: stop the service's own threads there */
  void *on_stop_arg;
  yw_metrics_fn metrics_fn;  /* the service's own lines of /metrics (YW_<NAME>_METRICS_LISTEN) */
  void *metrics_arg;
  int calls_out;             /* 1: it calls other services (yw_service_channel): the
                              * settings YW_TLS_CLIENT_CERT and YW_TLS_CLIENT_KEY */
  const yw_rpc_service *more[4]; /* services the process serves besides yw_service_run's */
  int n_more;                /* svc, on the same port and threads (set before it) */
  const char *priority;      /* methods admitted ahead of the others, with room of their
                              * own as large as the queue (yw_rpc_server_set_priority);
                              * NULL: none */
  yw_rpc_priority_gate priority_gate; /* may take one call's priority away
                              * (yw_rpc_server_set_priority_gate); NULL: none */
  void *priority_gate_arg;

  /* filled by yw_service_start */
  char *listen_addr, *pg_dsn, *redis_addr, *redis_prefix, *log_level;
  char *tls_client_names; /* YW_TLS_CLIENT_NAMES */
  char *caller_key, *caller_key_previous, *tls_ca, *tls_cert, *tls_key;
  char *tls_client_cert, *tls_client_key, *metrics_listen;
  long n_threads, n_queue, n_db_pool, db_wait_ms, caller_window_s, max_streams;
  int migrate_only;
  yw_caller_keys caller_keys;
  yw_rpc_tls tls;
  int tls_on;
  yw_pg_pool *pool;          /* NULL without a schema */
  yw_redis *redis;           /* NULL without redis_timeout_ms, or while it is unreachable */

  yw_rpc_client *client;     /* made by the first yw_service_channel */

  /* private */
  char program_[48];
  char names_[7][64];
  char defaults_[3][16];
  yw_rpc_channel *channels_[8];
  int n_channels_;
  yw_cfg_entry table_[YW_SERVICE_MAX_SETTINGS];
  size_t n_table_;
} yw_service_proc;

/* Reads the arguments and the settings, starts the log, checks TLS files and caller keys,
 * opens the database (applying the migrations) and Redis. Returns YW_SERVICE_SERVE, or
 * the exit code for main: 0 after --help or --migrate-only, 2 for bad arguments or
 * settings (said on stderr), 1 when the database cannot be had (logged). */
int yw_service_start(yw_service_proc *p, int argc, char **argv);

/* Serves svc until SIGINT or SIGTERM (yw_service_serve with the process's limits), then
 * closes Redis and the pool. Returns the exit code for main. */
int yw_service_run(yw_service_proc *p, const yw_rpc_service *svc);

/* A channel to another service at target ("dns:///catalog.internal:50052"), with mutual
 * TLS when YW_TLS_CA, YW_TLS_CLIENT_CERT and YW_TLS_CLIENT_KEY are set (p->calls_out).
 * Calls on it from a handler go through yw_rpc_call_forward, which carries the caller,
 * the request id and the deadline. NULL on a bad TLS setting (logged) or ENOMEM; freed
 * by yw_service_stop. After yw_service_start. */
yw_rpc_channel *yw_service_channel(yw_service_proc *p, const char *target);

/* Closes what yw_service_start opened (for a process that ends without serving). */
void yw_service_stop(yw_service_proc *p);

/* ---- serving ---------------------------------------------------------------------- */

/* Opens a pool of pool_size connections to dsn and applies schema's migrations (under
 * their advisory lock). Returns 0 and *out, or a code after logging why (the pool is
 * closed then). */
int yw_service_open_db(const char *dsn, int pool_size, const char *schema,
                       const struct yw_embedded_file *migrations, unsigned n_migrations,
                       yw_pg_pool **out);

/* How a service serves: handler threads, calls that may wait for one (past both, calls
 * are refused at once with RESOURCE_EXHAUSTED), the database its health check probes
 * (NULL: none), and its mutual TLS (NULL: cleartext; see yw_rpc_tls_from_settings). */
typedef struct yw_service_limits {
  int threads;
  int queue;
  yw_pg_pool *health_db;
  const yw_rpc_tls *tls;
  int max_streams;                  /* open server streams at once; 0: the runtime's default */
  const yw_caller_keys *caller_keys; /* with name: callers forwarded to other services are */
  const char *name;                 /* signed anew (yw_rpc_call_forward); NULL: not */
  const char *metrics_listen;       /* /metrics and /healthz (yw_metrics.h); NULL or "": none */
  yw_metrics_fn metrics_fn;         /* the service's own metrics after the runtime's; NULL: none */
  void *metrics_arg;
  const char *client_names;         /* mutual TLS: the client certificates' names served
                                       (yw_rpc_server_set_client_names); NULL or "": any */
  const yw_rpc_service *const *more; /* more services on the same server, or NULL */
  int n_more;
  const char *priority;             /* yw_rpc_server_set_priority's methods; NULL: none */
  int priority_reserve;             /* and their own room beyond threads + queue */
  yw_rpc_priority_gate priority_gate; /* yw_rpc_server_set_priority_gate's; NULL: none */
  void *priority_gate_arg;
} yw_service_limits;

/* Serves svc on listen until SIGINT or SIGTERM, then finishes the calls in flight. The
 * health check answers NOT_SERVING while health_db does not answer a query within a
 * second. Returns 0 after a clean stop, or a code when it could not start (logged). */
int yw_service_serve(const char *listen, const yw_service_limits *limits,
                     const yw_rpc_service *svc);

#endif
