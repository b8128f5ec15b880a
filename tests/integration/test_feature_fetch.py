#!/usr/bin/python3
"""feature_fetch in real runs: the point-in-time join against hand-checked
fixtures (fixtures/feature_fetch/README.md: late-arriving rows, a ttl
expiry, an unknown key, a created-time tie, two join keys, time zones and
epoch seconds); the same from a SQLite table source; online lookups;
a Feast feature server (feast_stub.py); bad input.
Usage: test_feature_fetch.py PIPEHOST"""
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

PH = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures", "feature_fetch")
WORK = tempfile.mkdtemp(prefix="ph-ff-")
ENV = dict(os.environ, PIPEHOST_HOME=os.path.join(WORK, "home"))
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def run(name, tasks, env=None):
    path = os.path.join(WORK, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"dag: {{id: {name}}}\ntasks:\n")
        for tid, spec in tasks.items():
            f.write(f"  {tid}: {json.dumps(spec)}\n")
    e = env or ENV
    p = subprocess.run([PH, "run", path, "--json"], capture_output=True,
                       text=True, env=e, timeout=120)
    try:
        run_id = json.loads(p.stdout)["run_id"]
    except (ValueError, KeyError):
        print(p.stdout + p.stderr)
        return {}, {}
    show = json.loads(subprocess.run([PH, "runs", "show", run_id, "--json"],
                                     capture_output=True, text=True,
                                     env=e).stdout)
    xc = json.loads(subprocess.run([PH, "xcom", "list", run_id, "--json"],
                                   capture_output=True, text=True,
                                   env=e).stdout)
    return {t["task_id"]: t for t in show["tasks"]}, xc


def rows(path):
    with open(path) as f:
        return list(csv.reader(f))


fx = lambda n: os.path.join(FIX, n)
VIEWS = [{"name": "driver_stats", "path": fx("driver_stats.csv"),
          "join_keys": ["driver_id"], "timestamp_column": "event_timestamp",
          "created_column": "created", "features": ["conv_rate", "acc_rate"],
          "ttl": "1d"},
         {"name": "zone", "path": fx("zone_stats.csv"),
          "join_keys": ["driver_id", "city"], "timestamp_column": "ts",
          "ttl": 0}]
expected = rows(fx("expected_historical.csv"))

# 1. historical, CSV sources
ti, xc = run("hist", {"ff": {"op": "feature_fetch",
                             "entities": fx("entities.csv"),
                             "feature_views": VIEWS}})
rv = xc.get("ff", {}).get("return_value", {})
check("historical join succeeds", ti.get("ff", {}).get("state") == "success",
      str(ti))
got = rows(rv["path"]) if rv else []
check("point-in-time join equals the hand-checked fixture", got == expected,
      "\n" + "\n".join(map(str, got)))
check("the return value counts rows and missing values",
      rv.get("rows") == 6 and rv.get("missing") ==
      {"conv_rate": 2, "acc_rate": 2, "trips": 3}, str(rv))

# 2. the same from SQLite tables through a connection
db = os.path.join(WORK, "features.db")
con = sqlite3.connect(db)
for table, fname in (("driver_stats", "driver_stats.csv"),
                     ("zone_stats", "zone_stats.csv")):
    r = rows(fx(fname))
    con.execute(f"CREATE TABLE {table} ({', '.join(r[0])})")
    con.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(r[0]))})",
                    r[1:])
con.commit()
con.close()
env = dict(ENV, PIPEHOST_CONN_FEATURES=f"sqlite://{db}")
sql_views = [dict(VIEWS[0], source={"conn_id": "features",
                                    "table": "driver_stats"}),
             dict(VIEWS[1], source={"conn_id": "features",
                                    "table": "zone_stats"})]
for v in sql_views:
    del v["path"]
ti, xc = run("hist_sql", {"ff": {"op": "feature_fetch",
                                 "entities": fx("entities.csv"),
                                 "feature_views": sql_views,
                                 "full_feature_names": True}}, env=env)
rv = xc.get("ff", {}).get("return_value", {})
got = rows(rv["path"]) if rv else []
check("a SQLite table source gives the same rows",
      [r[4:] for r in got[1:]] == [r[4:] for r in expected[1:]], str(got))
check("full_feature_names prefixes the view name",
      got and got[0][4:] == ["driver_stats__conv_rate",
                             "driver_stats__acc_rate", "zone__trips"],
      str(got[:1]))

# 3. online: latest values as of a time
ti, xc = run("online", {"ff": {
    "op": "feature_fetch", "lookup": "online",
    "entities": {"driver_id": [1001, 1002, 1009]},
    "as_of": "2021-04-12T15:10:00Z", "feature_views": [VIEWS[0]]}})
rv = xc.get("ff", {}).get("return_value", {})
got = rows(rv["path"]) if rv else []
check("online lookup gives the latest value at or before as_of",
      [r[1] for r in got[1:]] == ["0.1", "0.4", ""], str(got))

# 4. a Feast feature server
portfile = os.path.join(WORK, "port")
srv = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "feast_stub.py"),
                        portfile])
for _ in range(100):
    if os.path.exists(portfile) and open(portfile).read():
        break
    time.sleep(0.05)
url = "http://127.0.0.1:" + open(portfile).read()
try:
    ti, xc = run("feast", {
        "ok": {"op": "feature_fetch", "lookup": "feast", "url": url,
               "entities": {"driver_id": [1001, 1002, 1003]},
               "features": ["driver_hourly_stats:conv_rate",
                            "driver_hourly_stats:acc_rate"]},
        "missing_fails": {"op": "feature_fetch", "lookup": "feast", "url": url,
                          "entities": {"driver_id": [1003]},
                          "features": ["driver_hourly_stats:conv_rate"],
                          "on_missing": "fail"},
        "bad_view": {"op": "feature_fetch", "lookup": "feast", "url": url,
                     "retries": 2, "retry_delay": 0,
                     "entities": {"driver_id": [1001]},
                     "features": ["bad:x"]},
        "server_error": {"op": "feature_fetch", "lookup": "feast", "url": url,
                         "retries": 1, "retry_delay": 0,
                         "entities": {"driver_id": [1001]},
                         "features": ["boom:x"]}})
finally:
    srv.kill()
    srv.wait()
rv = xc.get("ok", {}).get("return_value", {})
got = rows(rv["path"]) if rv else []
check("feast: the column-major answer is pivoted by name into rows",
      got[:1] == [["acc_rate", "conv_rate", "driver_id"]] and
      got[1:] == [["0.87", "0.7", "1001"], ["0.5", "0.25", "1002"],
                  ["", "", "1003"]], str(got))
check("feast: NOT_FOUND counts as missing",
      rv.get("missing") == {"acc_rate": 1, "conv_rate": 1}, str(rv))
t = ti.get("missing_fails", {})
check("feast: on_missing fail fails the task",
      t.get("state") == "failed" and "missing" in (t.get("reason") or ""),
      str(t))
t = ti.get("bad_view", {})
check("feast: a 400 fails at once with the server's message",
      t.get("state") == "failed" and t.get("try_number") == 1 and
      "Feature view bad does not exist" in (t.get("reason") or ""), str(t))
t = ti.get("server_error", {})
check("feast: a 500 is retried", t.get("state") == "failed" and
      t.get("try_number") == 2, str(t))

# 5. bad input
bad_ts = os.path.join(WORK, "bad_ts.csv")
with open(bad_ts, "w") as f:
    f.write("driver_id,event_timestamp\n1001,yesterday\n")
no_key = os.path.join(WORK, "no_key.csv")
with open(no_key, "w") as f:
    f.write("id,event_timestamp\n1001,2021-04-12T10:00:00Z\n")
ti, xc = run("bad", {
    "bad_ts": {"op": "feature_fetch", "entities": bad_ts,
               "feature_views": [VIEWS[0]]},
    "no_key": {"op": "feature_fetch", "entities": no_key,
               "feature_views": [VIEWS[0]]},
    "no_feature": {"op": "feature_fetch", "entities": fx("entities.csv"),
                   "feature_views": [dict(VIEWS[0], features=["speed"])]}})
expect = {"bad_ts": "data row 1, column 'event_timestamp': 'yesterday' is not "
                    "a timestamp",
          "no_key": "join key 'driver_id' is missing from " + no_key,
          "no_feature": "no feature column 'speed'"}
for tid, msg in expect.items():
    t = ti.get(tid, {})
    check(f"bad input: {tid} names the problem",
          t.get("state") == "failed" and msg in (t.get("reason") or ""),
          f"{t.get('state')}: {t.get('reason')}")

shutil.rmtree(WORK, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
