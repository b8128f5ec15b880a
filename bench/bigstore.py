#!/usr/bin/env python3
"""A store after a year of production: N runs (default 100,000) of a
10-task DAG, with their task instances, tries and XComs, written straight
into a pipehost store; then the read commands a user runs every day are
timed (median of 5, wall clock of the whole CLI process).
Usage: bench/bigstore.py [PIPEHOST] [N]"""
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

PH = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin/pipehost")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
work = tempfile.mkdtemp(prefix="ph-bigstore-", dir="/var/tmp")
home = os.path.join(work, "home")
env = dict(os.environ, PIPEHOST_HOME=home)
dag = os.path.join(work, "big.yaml")
with open(dag, "w") as f:
    f.write("dag: {id: big, schedule: '@hourly', start_date: '2024-01-01'}\n"
            "tasks:\n")
    for i in range(10):
        up = f", upstream: [t{i-1}]" if i else ""
        f.write(f"  t{i}: {{op: bash, command: 'echo {i}'{up}}}\n")
# one real run creates the schema (and is the newest run)
subprocess.run([PH, "run", dag, "-q"], env=env, check=True,
               stdout=subprocess.DEVNULL)
db = sqlite3.connect(os.path.join(home, "pipehost.db"))
t0 = time.time()
# hourly runs, the newest ending an hour ago (db clean's cutoffs are ages)
base = time.time() - (N + 1) * 3600
with db:
    for r in range(N):
        rid = f"scheduled__2024-{r:07d}"
        ts = base + r * 3600
        db.execute("INSERT INTO dag_run(run_id, dag_id, dag_file, state, "
                   "run_type, logical_date, conf, start_date, end_date) "
                   "VALUES(?,?,?,?,?,?,?,?,?)",
                   (rid, "big", dag, "success", "scheduled",
                    time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts)),
                    "{}", ts, ts + 5))
        for i in range(10):
            db.execute("INSERT INTO task_instance(run_id, task_id, state, "
                       "operator, try_number, max_tries, start_date, "
                       "end_date) VALUES(?,?,?,?,?,?,?,?)",
                       (rid, f"t{i}", "success", "bash", 1, 0, ts, ts + 1))
            db.execute("INSERT INTO task_try(run_id, task_id, try_number, "
                       "state, start_date, end_date, log_path) "
                       "VALUES(?,?,?,?,?,?,?)",
                       (rid, f"t{i}", 1, "success", ts, ts + 1, "/dev/null"))
            db.execute("INSERT INTO xcom(run_id, task_id, key, value, "
                       "timestamp) VALUES(?,?,?,?,?)",
                       (rid, f"t{i}", "return_value", json.dumps(str(i)), ts))
db.close()
print(f"filled {N} runs ({10 * N} task instances, tries and XComs) in "
      f"{time.time() - t0:.0f} s")
mid = f"scheduled__2024-{N // 2:07d}"
cases = [("runs list (latest 50)", ["runs", "list"]),
         ("runs show (a run in the middle)", ["runs", "show", mid]),
         ("runs show last", ["runs", "show", "last"]),
         ("xcom list (a run in the middle)", ["xcom", "list", mid]),
         ("tasks explain (a run in the middle)", ["tasks", "explain", mid,
                                                  "t5"]),
         ("run (a new run of the 10-task DAG, all of it)", ["run", dag,
                                                            "-q"])]
print(f"| query, {N} runs in the store | median ms (5 runs) |")
print("|---|---|")
for name, args in cases:
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([PH, *args], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    print(f"| {name} | {statistics.median(times):.1f} |")
# db clean: everything older than the newest 10% of runs (Airflow's db
# clean), once counted (--dry-run), once for real (archived)
keep_h = max(1, N // 10)
for name, extra in [("db clean --dry-run", ["--dry-run"]),
                    (f"db clean ({N - keep_h} of {N} runs, archived)", [])]:
    t = time.perf_counter()
    p = subprocess.run([PH, "db", "clean", "--older-than", f"{keep_h}h",
                        "--json", *extra], env=env, capture_output=True,
                       text=True)
    ms = (time.perf_counter() - t) * 1000
    print(f"| {name} | {ms:.0f} (one run; deleted {p.stdout.strip()[:60]}...) |")
subprocess.run(["rm", "-rf", work])
