#!/usr/bin/env python3
"""The webserver under load (issue 19): a store of RUNS runs (default
10,000) of a 20-task DAG -- 200,000 task instances -- written straight
into a pipehost store, then `wrk` (Debian's) at 50 connections on the list
endpoints and the grid data, the webserver's peak RSS, and the size of the
UI's first page load.
With PIPEHOST_WEB_CACHE=0 in the environment the webserver keeps no
replies (every request queries the store), as under a store that changes
between every two requests.
Usage: bench/webbench.py [PIPEHOST] [RUNS]"""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

PH = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin/pipehost")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
TASKS = 20
work = tempfile.mkdtemp(prefix="ph-webbench-", dir="/var/tmp")
home = os.path.join(work, "home")
env = dict(os.environ, PIPEHOST_HOME=home)
dag = os.path.join(work, "big.yaml")
with open(dag, "w") as f:
    f.write("dag: {id: big}\ntasks:\n")
    for i in range(TASKS):
        up = f", upstream: [t{i-1}]" if i else ""
        f.write(f"  t{i}: {{op: bash, command: 'echo {i}'{up}}}\n")
subprocess.run([PH, "run", dag, "-q"], env=env, check=True,
               stdout=subprocess.DEVNULL)
db = sqlite3.connect(os.path.join(home, "pipehost.db"))
base = time.time() - (N + 1) * 60
with db:
    for r in range(N):
        rid = f"scheduled__{r:07d}"
        ts = base + r * 60
        db.execute("INSERT INTO dag_run(run_id, dag_id, dag_file, state, "
                   "run_type, logical_date, conf, start_date, end_date) "
                   "VALUES(?,?,?,?,?,?,?,?,?)",
                   (rid, "big", dag, "success", "scheduled",
                    f"2024-01-01T00:00:00+00:00#{r}", "{}", ts, ts + 5))
        db.executemany(
            "INSERT INTO task_instance(run_id, task_id, map_index, state, "
            "operator, try_number, max_tries, start_date, end_date, pid) "
            "VALUES(?,?,-1,'success','bash',1,0,?,?,1)",
            [(rid, f"t{i}", ts + i * 0.2, ts + i * 0.2 + 0.1)
             for i in range(TASKS)])
        db.executemany(
            "INSERT INTO task_try(run_id, task_id, map_index, try_number, "
            "state, start_date, end_date, pid, log_path) "
            "VALUES(?,?,-1,1,'success',?,?,1,NULL)",
            [(rid, f"t{i}", ts + i * 0.2, ts + i * 0.2 + 0.1)
             for i in range(TASKS)])
db.close()
srv = subprocess.Popen([PH, "webserver", "--port", "0"], env=env,
                       stdout=subprocess.PIPE, text=True)
url = re.search(r"listening on (http://\S+?)/? ", srv.stdout.readline()) \
    .group(1).rstrip("/")
mid = f"scheduled__{N // 2:07d}"
cases = [("runs of a DAG (limit 100)", "/api/v1/dags/big/dagRuns?limit=100", 20),
         ("task instances of a run", f"/api/v1/dags/big/dagRuns/{mid}/taskInstances", 20),
         ("grid data (25 runs x 20 tasks)", "/object/grid_data?dag_id=big&num_runs=25", 50)]
TRIALS = 3
print("replies kept while the store is unchanged: "
      f"{'no' if os.environ.get('PIPEHOST_WEB_CACHE') == '0' else 'yes'}")
print(f"store: {N} runs, {N * TASKS} task instances; wrk -t2 -c50 -d10s, "
      f"a 2 s warm-up, then the median of {TRIALS} trials")
print(f"{'endpoint':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} target")


def wrk(path, secs):
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{secs}s", "--latency",
                          url + path], capture_output=True, text=True).stdout

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return (float(rps.group(1)) if rps else 0, ms("50"), ms("99"),
            int(errs.group(1)) if errs else 0, sock.group(1) if sock else "")


for name, path, target in cases:
    wrk(path, 2)
    trials = sorted((wrk(path, 10) for _ in range(TRIALS)),
                    key=lambda t: t[2])
    rps, p50, p99, errs, sock = trials[TRIALS // 2]
    print(f"{name:34} {rps:8.0f} {p50:8.2f} {p99:8.2f} "
          f"{sum(t[3] for t in trials):7d} "
          f"p99 < {target} ms: {'met' if p99 < target else 'NOT met'}"
          f" (trials' p99: {', '.join(f'{t[2]:.0f}' for t in trials)} ms)"
          f"{' (' + sock + ')' if sock else ''}")
with open(f"/proc/{srv.pid}/status") as f:
    hwm = re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)
page = sum(len(urllib.request.urlopen(url + p).read())
           for p in ("/", "/static/app.js", "/static/style.css"))
first = len(urllib.request.urlopen(url + "/api/v1/dags?limit=1000").read()) + \
    len(urllib.request.urlopen(url + "/api/v1/dags/big/dagRuns?limit=10").read())
print(f"webserver peak RSS: {int(hwm) / 1024:.1f} MB (target < 50 MB)")
print(f"first page load: {page} bytes of assets + {first} bytes of data = "
      f"{(page + first) / 1024:.1f} KB (target < 300 KB)")
srv.terminate()
srv.wait()
