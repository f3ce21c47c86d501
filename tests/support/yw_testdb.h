/*
 * yw_testdb.h - a fresh PostgreSQL database per test process, on the throw-away server
 * that `./dev test` starts (YW_TEST_PG_DSN names its maintenance database).
 */
#ifndef YW_TESTDB_H
#define YW_TESTDB_H

#include <stddef.h>

/* Creates a database with a unique name and writes its connection string into dsn.
 * Returns 0, or -1 (with a message on stderr) when YW_TEST_PG_DSN is unset or the
 * server refuses. */
int yw_testdb_create(char *dsn, size_t size);

/* Drops the database made by yw_testdb_create. */
void yw_testdb_drop(void);

/* Runs the SQL file at path (relative to the source tree) in the database. 0 or -1. */
int yw_testdb_run_file(const char *dsn, const char *path);

#endif
