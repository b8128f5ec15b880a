#!/usr/bin/env bash
# Runs a test command with the metadata store on PostgreSQL: a schema of
# its own in $PH_TEST_PG_URI (made now, dropped after), named by NAME.
#   on_pg.sh NAME COMMAND [ARG...]
# Exits 77 (skipped) without PH_TEST_PG_URI; else the command's status.
set -uo pipefail
name=${1:?name} && shift
[ -n "${PH_TEST_PG_URI:-}" ] || { echo "skipped: no PH_TEST_PG_URI"; exit 77; }
schema="it_${name//[^A-Za-z0-9_]/_}"
psql -X -q "$PH_TEST_PG_URI" -c "DROP SCHEMA IF EXISTS $schema CASCADE" \
  -c "CREATE SCHEMA $schema" >/dev/null || exit 1
sep='?'; case $PH_TEST_PG_URI in *\?*) sep='&' ;; esac
export PIPEHOST_STORE="$PH_TEST_PG_URI${sep}options=-csearch_path%3D$schema"
"$@"
rc=$?
psql -X -q "$PH_TEST_PG_URI" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
exit $rc
