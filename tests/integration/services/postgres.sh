#!/usr/bin/env bash
# A throw-away PostgreSQL 15 for the tests, on 127.0.0.1.
#   postgres.sh up DIR    initdb in DIR (first time), start, create role and
#                         database; prints PH_TEST_PG_URI=postgresql://...
#   postgres.sh down DIR  stops the server whose data directory is DIR/data
# As root the server runs as Debian's `postgres` user (initdb refuses root).
# fsync is off: test data only.
set -euo pipefail
cmd=${1:?up|down} dir=${2:?state dir}
bin=/usr/lib/postgresql/15/bin
data=$dir/data
if [ "$(id -u)" -eq 0 ]; then as_pg() { runuser -u postgres -- "$@"; }
else as_pg() { "$@"; }; fi

if [ "$cmd" = down ]; then
  [ -f "$data/postmaster.pid" ] || exit 0
  as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
    as_pg "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  exit 0
fi

[ -x "$bin/postgres" ] || { echo "postgres.sh: $bin/postgres missing (apt-get install postgresql-15)" >&2; exit 1; }
mkdir -p "$dir/sock"
chmod 755 "$dir" "$dir/sock"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir" "$dir/sock"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pass=pipehost-test-$RANDOM$RANDOM
if [ ! -s "$data/PG_VERSION" ]; then
  as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  printf "listen_addresses = '127.0.0.1'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n" |
    as_pg tee -a "$data/postgresql.conf" >/dev/null
fi
as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
  -o "-p $port -k $dir/sock -h 127.0.0.1" start >&2 ||
  { tail -20 "$dir/postgres.log" >&2; exit 1; }
psql() { as_pg /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres -d postgres "$@"; }
psql -c "DROP DATABASE IF EXISTS pipehost" -c "DROP ROLE IF EXISTS pipehost" >&2
psql -c "CREATE ROLE pipehost LOGIN PASSWORD '$pass'" -c "CREATE DATABASE pipehost OWNER pipehost" >&2
echo "PH_TEST_PG_URI=postgresql://pipehost:$pass@127.0.0.1:$port/pipehost"
