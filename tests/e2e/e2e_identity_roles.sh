#!/usr/bin/env bash
# e2e_identity_roles.sh - yw-identity runs as a login role that owns nothing (yw_identity,
# a member of yw_identity_writer; migrations/006_roles.sql), so its audit log is not its
# to empty or alter: as that role, disabling or dropping the append-only triggers,
# replacing their function, TRUNCATE, DELETE, UPDATE and DROP TABLE are all refused,
# while the service logs in and audits through the gateway. The migrations apply from
# scratch as the superuser (e2e_database) and as a database owner that is no superuser
# (CREATEROLE), and on an existing database whose earlier migrations the service's own
# login role applied (as deployments did before), which hands everything over; a role
# that can create no roles is refused, not left halfway.
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"

OLD="e2e_idold_$$" OWN="e2e_idown_$$" DB2="${E2E_DB}_old" DB3="${E2E_DB}_own" DB4="${E2E_DB}_self"
SU=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -qtA -v ON_ERROR_STOP=1)
roles_cleanup() {
  local d
  for d in "$DB2" "$DB3" "$DB4"; do
    "${SU[@]}" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
  done
  "${SU[@]}" -c "DROP ROLE IF EXISTS $OLD" >/dev/null 2>&1 || true
  "${SU[@]}" -c "DROP ROLE IF EXISTS $OWN" >/dev/null 2>&1 || true
}
trap 'roles_cleanup; e2e_cleanup' EXIT

# --- the running service
e2e_staff role.clerk 320700-GA dept_staff
req POST /v1/auth/sessions "" "{\"username\":\"role.clerk\",\"password\":\"$E2E_STAFF_PASSWORD\"}"
expect_status "a staff login through the service running as yw_identity" 200
req POST /v1/auth/sessions "" '{"username":"role.clerk","password":"wrong guess"}'
expect_status "a wrong password is refused (its record written by the service's role)" 401
check "both are in the audit log" test "$("${PSQL[@]}" -c "SELECT count(*) FROM identity.audit_log WHERE actor = 'role.clerk' AND action IN ('login', 'login_failed')")" = 2
check "yw-identity is connected as yw_identity, no superuser" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename WHERE a.datname = current_database() AND a.usename = 'yw_identity' AND NOT r.rolsuper")" -ge 1
check "the audit log belongs to a role nobody logs in as and the service is no member of" \
  test "$("${PSQL[@]}" -c "SELECT t.tableowner = 'yw_identity_audit' AND NOT r.rolcanlogin AND NOT pg_has_role('yw_identity', t.tableowner, 'MEMBER') FROM pg_tables t JOIN pg_roles r ON r.rolname = t.tableowner WHERE t.schemaname = 'identity' AND t.tablename = 'audit_log'")" = t
# nothing of the schema is the service's: not the schema, a table, a sequence or a function
owned_by() { # owned_by ROLE [DB]: objects of schema identity ROLE owns or is a member of the owner of
  psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "${2:-$E2E_DB}" -qtA -c "
    SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'identity'::regnamespace AND pg_has_role('$1', relowner, 'MEMBER'))
         + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'identity'::regnamespace AND pg_has_role('$1', proowner, 'MEMBER'))
         + (SELECT count(*) FROM pg_namespace WHERE nspname = 'identity' AND pg_has_role('$1', nspowner, 'MEMBER'))"
}
check "the service's role owns nothing of schema identity" test "$(owned_by yw_identity)" = 0

AS_SERVICE=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U yw_identity -d "$E2E_DB" -qtA)
refused() { # refused NAME WANT SQL: the service's role tries SQL and gets an error saying WANT
  local out; out="$("${AS_SERVICE[@]}" -c "$3" 2>&1)" && { fail "$1 (it ran)"; return; }
  case "$out" in *"$2"*) pass "$1" ;; *) fail "$1 ($out)" ;; esac
}
AUDITED="$("${PSQL[@]}" -c "SELECT count(*) FROM identity.audit_log")"
refused "the service's role cannot disable the audit log's triggers" "must be owner" \
  "ALTER TABLE identity.audit_log DISABLE TRIGGER USER"
refused "nor disable them all" "must be owner" "ALTER TABLE identity.audit_log DISABLE TRIGGER ALL"
refused "nor drop its append-only trigger" "must be owner" \
  "DROP TRIGGER audit_log_no_change ON identity.audit_log"
refused "nor its TRUNCATE trigger" "must be owner" "DROP TRIGGER audit_log_no_truncate ON identity.audit_log"
refused "nor replace the triggers' function" "permission denied" \
  "CREATE OR REPLACE FUNCTION identity.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NULL; END \$\$"
refused "nor TRUNCATE the audit log" "permission denied" "TRUNCATE identity.audit_log"
refused "nor DELETE from it" "permission denied" "DELETE FROM identity.audit_log"
refused "nor UPDATE it" "permission denied" "UPDATE identity.audit_log SET outcome = 'ok'"
refused "nor drop it" "must be owner" "DROP TABLE identity.audit_log"
refused "nor rename it away" "must be owner" "ALTER TABLE identity.audit_log RENAME TO gone"
refused "nor record migrations as applied" "permission denied" \
  "INSERT INTO identity.schema_migrations (name) VALUES ('999_x.sql')"
check "the service's role may still read and append" \
  test "$("${AS_SERVICE[@]}" -c "INSERT INTO identity.audit_log (actor, actor_kind, action, outcome) VALUES ('probe', 'staff', 'probe', 'ok') RETURNING 1")" = 1
check "the audit log kept every record" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM identity.audit_log")" = "$((AUDITED + 1))"
OUT="$("${PSQL[@]}" -c "TRUNCATE identity.audit_log" 2>&1 || true)"
case "$OUT" in *append-only*) pass "even the owner's TRUNCATE is refused by a trigger" ;; *) fail "TRUNCATE by the owner ($OUT)" ;; esac

# --- an existing database, its earlier migrations applied by the service's own login
# role (OLD, as deployments ran it), migrated now by a superuser, who takes it over
"${SU[@]}" >/dev/null <<SQL
CREATE ROLE $OLD LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE $OWN LOGIN NOSUPERUSER NOCREATEDB CREATEROLE;
CREATE DATABASE $DB2;
CREATE DATABASE $DB3 OWNER $OWN;
CREATE DATABASE $DB4 OWNER $OLD;
SQL
"${SU[@]}" -d "$DB2" -c "GRANT CREATE ON DATABASE $DB2 TO $OLD" >/dev/null
AS_OLD=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U "$OLD" -d "$DB2" -qtA -v ON_ERROR_STOP=1)
# what yw_pg_migrate did for migrations 001 to 005, as that role
"${AS_OLD[@]}" -c "CREATE SCHEMA identity; CREATE TABLE identity.schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())" >/dev/null
for f in 001_identity 002_company 003_refresh 004_totp 005_rep_change; do
  "${AS_OLD[@]}" -1 -f "$YW_SOURCE_DIR/services/identity/migrations/$f.sql" \
    -c "INSERT INTO identity.schema_migrations (name) VALUES ('$f.sql')" >/dev/null
done
"${AS_OLD[@]}" -c "INSERT INTO identity.audit_log (actor, actor_kind, action, outcome) VALUES ('earlier', 'staff', 'login', 'ok')" >/dev/null
check "before: the service's role owns the audit log" \
  test "$("${AS_OLD[@]}" -c "SELECT tableowner FROM pg_tables WHERE schemaname = 'identity' AND tablename = 'audit_log'")" = "$OLD"
migrate() { # migrate ROLE DB: yw-identity --migrate-only as ROLE
  YW_PG_DSN="host=127.0.0.1 port=$YW_TEST_PG_PORT dbname=$2 user=$1" \
    "$YW_BUILD_DIR/services/identity/yw-identity" --migrate-only >"$E2E_TMP/migrate.log" 2>&1
}
check "a superuser applies the later migrations" migrate postgres "$DB2"
cat "$E2E_TMP/migrate.log"
check "every migration is recorded" test "$("${AS_OLD[@]}" -c "SELECT count(*) FROM identity.schema_migrations")" = \
  "$(ls "$YW_SOURCE_DIR"/services/identity/migrations/*.sql | wc -l)"
check "the earlier audit record is kept" \
  test "$("${AS_OLD[@]}" -c "SELECT count(*) FROM identity.audit_log WHERE actor = 'earlier'")" = 1
check "the former owner owns nothing of schema identity now" test "$(owned_by "$OLD" "$DB2")" = 0
check "and is a member of yw_identity_writer (it runs the service)" \
  test "$("${AS_OLD[@]}" -c "SELECT pg_has_role('$OLD', 'yw_identity_writer', 'MEMBER')")" = t
check "the audit log belongs to yw_identity_audit" \
  test "$("${AS_OLD[@]}" -c "SELECT tableowner FROM pg_tables WHERE schemaname = 'identity' AND tablename = 'audit_log'")" = yw_identity_audit
AS_SERVICE=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U "$OLD" -d "$DB2" -qtA -v ON_ERROR_STOP=1)
refused "there the former owner cannot disable the audit triggers" "must be owner" \
  "ALTER TABLE identity.audit_log DISABLE TRIGGER USER"
refused "nor DELETE from the audit log" "permission denied" "DELETE FROM identity.audit_log"
refused "nor drop it (the schema is no longer its)" "must be owner" "DROP TABLE identity.audit_log"
refused "nor replace the triggers' function" "permission denied" \
  "CREATE OR REPLACE FUNCTION identity.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NULL; END \$\$"
check "it reads and writes the accounts" \
  test "$("${AS_SERVICE[@]}" -c "INSERT INTO identity.staff (subject, username, password_hash, department, roles)
    VALUES ('stf_roles_probe', 'roles.probe', 'x', '', '{}') RETURNING 1" \
    -c "UPDATE identity.staff SET failed_count = 1 WHERE username = 'roles.probe' RETURNING failed_count" \
    -c "DELETE FROM identity.staff WHERE username = 'roles.probe' RETURNING 1")" = "$(printf '1\n1\n1')"
check "and yw-identity starts as it with nothing to apply (no DDL)" migrate "$OLD" "$DB2"

# --- from scratch, by the owner that is no superuser
check "the owner (no superuser) migrates a new database" migrate "$OWN" "$DB3"
cat "$E2E_TMP/migrate.log"
check "there the audit log belongs to yw_identity_audit" \
  test "$(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U "$OWN" -d "$DB3" -qtA -c "SELECT tableowner FROM pg_tables WHERE schemaname = 'identity' AND tablename = 'audit_log'")" = yw_identity_audit

# --- the service's own login role, able to create no roles, migrating itself: refused
# before the audit log is given away or left its own without the roles' grants
migrate_self() { migrate "$OLD" "$DB4"; }
if migrate_self; then fail "the service's own role migrated itself"; else pass "the service's own role cannot migrate itself past the roles"; fi
check "it is refused at 006_roles.sql" grep -q '006_roles.sql' "$E2E_TMP/migrate.log"
check "and the migrations before it are recorded, the roles' migration not" \
  test "$(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U "$OLD" -d "$DB4" -qtA -c "SELECT count(*) FILTER (WHERE name < '006') || ' ' || count(*) FILTER (WHERE name >= '006') FROM identity.schema_migrations")" = "5 0"

finish
