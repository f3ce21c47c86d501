/*
 * yw_testdb.c - per-test databases on the test PostgreSQL server.
 *
 * Offers: yw_testdb_create, yw_testdb_drop, yw_testdb_run_file.
 */
#include "yw_testdb.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char created[64];

static PGconn *admin(void) {
  const char *dsn = getenv("YW_TEST_PG_DSN");
  if (dsn == NULL) {
    fprintf(stderr, "YW_TEST_PG_DSN is not set: run the tests with ./dev test\n");
    return NULL;
  }
  PGconn *c = PQconnectdb(dsn);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "test database server: %s", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  return c;
}

int yw_testdb_create(char *dsn, size_t size) {
  PGconn *c = admin();
  if (c == NULL) return -1;
  snprintf(created, sizeof created, "yw_test_%d_%ld", (int)getpid(), (long)random() % 100000);
  char *ident = PQescapeIdentifier(c, created, strlen(created));
  char sql[160];
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", ident);
  PQfreemem(ident);
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) fprintf(stderr, "create database: %s", PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  if (!ok) return -1;
  snprintf(dsn, size, "%s dbname=%s", getenv("YW_TEST_PG_DSN"), created);
  return 0;
}

void yw_testdb_drop(void) {
  if (created[0] == '\0') return;
  PGconn *c = admin();
  if (c == NULL) return;
  char *ident = PQescapeIdentifier(c, created, strlen(created));
  char sql[200];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
  PQfreemem(ident);
  PQclear(PQexec(c, sql));
  PQfinish(c);
  created[0] = '\0';
}

int yw_testdb_run_file(const char *dsn, const char *path) {
  char full[1024];
  snprintf(full, sizeof full, "%s/%s", YW_SOURCE_DIR, path);
  FILE *f = fopen(full, "rb");
  if (f == NULL) {
    perror(full);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)n + 1);
  if (text == NULL || fread(text, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(text);
    return -1;
  }
  text[n] = '\0';
  fclose(f);
  PGconn *c = PQconnectdb(dsn);
  PGresult *r = PQexec(c, text);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) fprintf(stderr, "%s: %s", path, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  free(text);
  return ok ? 0 : -1;
}
