#!/usr/bin/python3
"""sql and sql_sensor against SQLite and a real PostgreSQL 15.
Usage: test_sql.py PIPEHOST SERVICES_DIR
PostgreSQL: $PH_TEST_PG_URI (tests/run_all.sh starts one), else this test
starts its own with SERVICES_DIR/postgres.sh and stops it at the end.

Asserts: parameters are bound, never spliced (injection attempts are stored
verbatim and the table survives); a failing statement rolls the transaction
back and fails at once with the server's message; autocommit keeps earlier
statements; rows as XCom (objects, lists, JSON types) and as CSV (RFC 4180
quoting, NULL); max_rows fails loudly; the sensor succeeds when a row
appears mid-run and times out / soft-fails when it never does; connection
errors are retried; the password appears in no log and no CLI output."""
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite, postgres  # noqa: E402

PH, SVC = sys.argv[1], sys.argv[2]
WORK = tempfile.mkdtemp(prefix="ph-sql-")
os.chmod(WORK, 0o755)
HOME = os.path.join(WORK, "home")


PG, own_pg = postgres(WORK, SVC)
PW = urllib.parse.urlparse(PG).password if PG else None
LITE = os.path.join(WORK, "t.db")
ENV = dict(os.environ, PIPEHOST_HOME=HOME, PIPEHOST_CONN_LITE=f"sqlite://{LITE}")
if PG:
    ENV["PIPEHOST_CONN_PG"] = PG
    bad = urllib.parse.urlparse(PG)
    ENV["PIPEHOST_CONN_PG_DOWN"] = PG.replace(f":{bad.port}/", ":1/")


S = Suite(PH, WORK, ENV)
check, ph = S.check, S.ph


def run(name, tasks):
    ti, xc, _ = S.run(name, tasks)
    return ti, xc


EVIL = ["'); DROP TABLE people; --", "O'Reilly \"quoted\" \\ back", "ünïcödé ✓",
        "1; DELETE FROM people"]


def suite(db, conn, ph_style):
    """The same checks on SQLite (ph_style '?') and PostgreSQL ('$')."""
    p = (lambda i: "?") if ph_style == "?" else (lambda i: f"${i}")
    create = ("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, "
              "score REAL)")
    ti, xc = run(f"{db}_basic", {
        "setup": {"op": "sql", "conn_id": conn, "sql": [
            "DROP TABLE IF EXISTS people", create]},
        "insert": {"op": "sql", "conn_id": conn, "upstream": ["setup"],
                   "sql": f"INSERT INTO people VALUES ({p(1)}, {p(2)}, {p(3)})",
                   "parameters": [1, "ada", 9.5]},
        **{f"evil{i}": {"op": "sql", "conn_id": conn, "upstream": ["insert"],
                        "sql": f"INSERT INTO people VALUES ({p(1)}, {p(2)}, NULL)",
                        "parameters": [10 + i, e]}
           for i, e in enumerate(EVIL)},
        "select": {"op": "sql", "conn_id": conn,
                   "upstream": [f"evil{i}" for i in range(len(EVIL))],
                   "sql": "SELECT id, name, score FROM people ORDER BY id"},
        "count": {"op": "bash", "upstream": ["select"],
                  "command": "echo {{ #xcom_pull('select') }}"}})
    rows = xc.get("select", {}).get("return_value", [])
    check(f"{db}: rows come back as XCom objects with JSON types",
          rows[:1] == [{"id": 1, "name": "ada", "score": 9.5}], str(rows[:2]))
    check(f"{db}: injection attempts through parameters are stored verbatim",
          [r["name"] for r in rows[1:]] == EVIL and
          all(r["score"] is None for r in rows[1:]), str(rows))
    check(f"{db}: a downstream task reads the rows",
          xc.get("count", {}).get("return_value") == str(1 + len(EVIL)),
          str(xc.get("count")))
    # a failing statement rolls back the transaction, fails once
    ti, xc = run(f"{db}_rollback", {
        "tx": {"op": "sql", "conn_id": conn, "retries": 2, "retry_delay": 0,
               "sql": [f"INSERT INTO people VALUES ({p(1)}, 'first', 1)",
                       f"INSERT INTO people VALUES ({p(1)}, 'dup', 2)"],
               "parameters": [100]},
        "auto": {"op": "sql", "conn_id": conn, "autocommit": True,
                 "upstream": ["tx"], "trigger_rule": "all_done",
                 "sql": [f"INSERT INTO people VALUES ({p(1)}, 'kept', 1)",
                         f"INSERT INTO people VALUES ({p(1)}, 'dup', 2)"],
                 "parameters": [200]},
        "after": {"op": "sql", "conn_id": conn, "upstream": ["auto"],
                  "trigger_rule": "all_done",
                  "sql": "SELECT id FROM people WHERE id >= 100 ORDER BY id",
                  "output_format": "rows"}})
    t = ti.get("tx", {})
    reason = t.get("reason") or ""
    msg = "UNIQUE constraint failed" if db == "sqlite" else \
        "duplicate key value violates unique constraint"
    check(f"{db}: a failing statement fails the task once with the "
          "database's message", t.get("state") == "failed" and
          t.get("try_number") == 1 and msg in reason, str(t))
    if db == "postgres":
        check("postgres: the reason carries the SQLSTATE",
              "SQLSTATE 23505" in reason, reason)
    check(f"{db}: the transaction rolled back; autocommit kept its first "
          "statement", xc.get("after", {}).get("return_value") == [[200]],
          str(xc.get("after")))
    # CSV output and max_rows
    out = os.path.join(WORK, f"{db}.csv")
    ti, xc = run(f"{db}_csv", {
        "csv": {"op": "sql", "conn_id": conn, "output_csv": out,
                "sql": "SELECT id, name, score FROM people WHERE id < 100 "
                       "ORDER BY id"},
        "too_many": {"op": "sql", "conn_id": conn, "max_rows": 2,
                     "sql": "SELECT id FROM people"}})
    with open(out, newline="") as f:
        got = list(csv.reader(f))
    want = [["id", "name", "score"], ["1", "ada", "9.5"]] + \
        [[str(10 + i), e, ""] for i, e in enumerate(EVIL)]
    check(f"{db}: CSV output quotes what needs it; NULL is empty",
          got == want, str(got))
    check(f"{db}: the CSV task pushes its path and row count",
          xc.get("csv", {}).get("return_value") == {"path": out, "rows": 5},
          str(xc.get("csv")))
    t = ti.get("too_many", {})
    check(f"{db}: more rows than max_rows fails loudly",
          t.get("state") == "failed" and "max_rows 2" in (t.get("reason") or ""),
          str(t))
    # a try stopped mid-statement: the operator's on_kill (run by the
    # worker's kill thread, started before the try in the sql zygote's
    # spares) interrupts the statement; with a 60 s grace, only on_kill
    # can end it before the SIGKILL
    long = ("SELECT pg_sleep(60)" if ph_style == "$" else
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
            "SELECT count(*) FROM c")
    S.env = dict(ENV, PIPEHOST_KILL_GRACE="60")
    ti, _ = run(f"{db}_stopped", {"slow": {
        "op": "sql", "conn_id": conn, "sql": long, "execution_timeout": 0.5}})
    S.env = ENV
    r = ti.get("slow", {})
    took = (r.get("end_date") or 1e9) - (r.get("start_date") or 0)
    check(f"{db}: a statement stopped by execution_timeout is interrupted "
          "by on_kill (the try ends long before the 60 s grace)",
          r.get("state") == "failed" and took < 30, str(r))

    # the sensor: a row appearing mid-run; never; soft_fail
    ti, xc = None, None

    def insert_later():
        run(f"{db}_late_insert", {"i": {
            "op": "sql", "conn_id": conn,
            "sql": "INSERT INTO people VALUES (999, 'late', 0)"}})
    th = threading.Timer(1.0, insert_later)
    th.start()
    ti, xc = run(f"{db}_sensor", {
        "wait": {"op": "sql_sensor", "conn_id": conn, "poke_interval": 0.2,
                 "timeout": 30, "sql": "SELECT count(*) FROM people "
                                       "WHERE id = 999"},
        "never": {"op": "sql_sensor", "conn_id": conn, "poke_interval": 0.2,
                  "timeout": 1, "sql": "SELECT count(*) FROM people "
                                       "WHERE id = -1"},
        "soft": {"op": "sql_sensor", "conn_id": conn, "poke_interval": 0.2,
                 "timeout": 1, "soft_fail": True, "mode": "reschedule",
                 "sql": "SELECT name FROM people WHERE id = -1"}})
    th.join()
    check(f"{db}: sql_sensor succeeds when the row appears mid-run",
          ti.get("wait", {}).get("state") == "success" and
          xc.get("wait", {}).get("return_value") == 1, str(ti.get("wait")))
    check(f"{db}: sql_sensor times out (failed) or soft-fails (skipped)",
          ti.get("never", {}).get("state") == "failed" and
          ti.get("soft", {}).get("state") == "skipped",
          f"{ti.get('never')} {ti.get('soft')}")


# SQLite
suite("sqlite", "lite", "?")
ti, xc = run("sqlite_named", {"q": {
    "op": "sql", "conn_id": "lite",
    "sql": "SELECT :a + :b AS s, :name AS n",
    "parameters": {"a": 1, "b": 2, "name": "x'y"}}})
check("sqlite: named parameters bind by :name",
      xc.get("q", {}).get("return_value") == [{"s": 3, "n": "x'y"}],
      str(xc.get("q")))
con = sqlite3.connect(LITE)
check("sqlite: the table survived every injection attempt",
      con.execute("SELECT count(*) FROM people").fetchone()[0] >= 6)
con.close()

# PostgreSQL
if not PG:
    check("postgres: a server to test against", False,
          "could not start PostgreSQL (see above)")
else:
    suite("postgres", "pg", "$")
    ti, xc = run("pg_types", {"q": {
        "op": "sql", "conn_id": "pg",
        "sql": "SELECT 42::int AS i, 12.50::numeric(10,2) AS n, true AS b, "
               "'text'::text AS t, '2024-01-02 03:04:05'::timestamp AS ts, "
               "'{\"k\": [1, 2]}'::json AS j, NULL::int AS z, "
               ":name::text AS named",
        "parameters": {"name": "it's"}}})
    check("postgres: types map to JSON (int, numeric, bool, text, "
          "timestamp, json, NULL); named parameters",
          xc.get("q", {}).get("return_value") ==
          [{"i": 42, "n": 12.5, "b": True, "t": "text",
            "ts": "2024-01-02 03:04:05", "j": {"k": [1, 2]}, "z": None,
            "named": "it's"}], str(xc.get("q")))
    ti, xc = run("pg_errors", {
        "missing": {"op": "sql", "conn_id": "pg", "retries": 2,
                    "retry_delay": 0, "sql": "SELECT * FROM no_such_table"},
        "down": {"op": "sql", "conn_id": "pg_down", "retries": 1,
                 "retry_delay": 0, "sql": "SELECT 1"}})
    t = ti.get("missing", {})
    check("postgres: an SQL error fails at once with the server's message",
          t.get("state") == "failed" and t.get("try_number") == 1 and
          'relation "no_such_table" does not exist' in (t.get("reason") or ""),
          str(t))
    t = ti.get("down", {})
    check("postgres: a connection error is retried",
          t.get("state") == "failed" and t.get("try_number") == 2 and
          "cannot connect" in (t.get("reason") or ""), str(t))
    leaks = S.leaks(HOME, PW)
    check("postgres: the password is in no log, no store file and no CLI "
          "output", not leaks, str(leaks))

if own_pg:
    subprocess.run(["bash", os.path.join(SVC, "postgres.sh"), "down", own_pg])
shutil.rmtree(WORK, ignore_errors=True)
sys.exit(S.finish())
