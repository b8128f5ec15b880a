#!/usr/bin/env python3
"""The scheduler at fleet scale (issue 21): N DAG files of 10 `empty`
tasks each, @hourly with catchup over the last HOURS hours (N * HOURS
runs).  `pipehost scheduler --once` runs until every run is done; the
scheduler's own CPU, its runs' CPU, its peak RSS and its mean folder-scan
time come from its last log line (scheduler_stopped).  Then a second
--once over the same unchanged folder times a rescan with nothing due.
Usage: bench/fleet.py [PIPEHOST] [N] [HOURS] [MAX_RUNS]"""
import os
import re
import subprocess
import sys
import tempfile
import time

PH = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin/pipehost")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
HOURS = int(sys.argv[3]) if len(sys.argv) > 3 else 24
MAXR = sys.argv[4] if len(sys.argv) > 4 else "32"
work = tempfile.mkdtemp(prefix="ph-fleet-", dir=os.environ.get("PH_BENCH_TMP",
                                                               "/var/tmp"))
dags = os.path.join(work, "dags")
os.makedirs(dags)
start = time.strftime("%Y-%m-%dT%H:00:00+00:00",
                      time.gmtime(time.time() - HOURS * 3600))
for d in range(N):
    with open(os.path.join(dags, f"d{d:04d}.yaml"), "w") as f:
        f.write(f"dag: {{id: d{d:04d}, schedule: '@hourly', start_date: "
                f"'{start}', catchup: true, max_active_runs: 4}}\ntasks:\n")
        for i in range(10):
            up = f", upstream: [t{i - 1}]" if i else ""
            f.write(f"  t{i}: {{op: empty{up}}}\n")
env = dict(os.environ, PIPEHOST_HOME=os.path.join(work, "home"))


def once(label):
    t = time.perf_counter()
    p = subprocess.run([PH, "scheduler", "--dags-dir", dags, "--once",
                        "--max-runs", MAXR], env=env, capture_output=True,
                       text=True)
    wall = time.perf_counter() - t
    last = [ln for ln in p.stderr.splitlines() if "scheduler_stopped" in ln]
    kv = dict(re.findall(r"(\w+)=(\S+)", last[-1])) if last else {}
    started = p.stderr.count("event=run_started")
    return wall, kv, started


total_runs = 0
rounds = []
wall_all = 0.0
while True:
    wall, kv, started = once("catchup")
    if not started:
        break
    total_runs += started
    wall_all += wall
    rounds.append((wall, kv, started))
cpu = sum(float(kv.get("cpu_s", 0)) for _, kv, _ in rounds)
runs_cpu = sum(float(kv.get("runs_cpu_s", 0)) for _, kv, _ in rounds)
rss = max(int(kv.get("max_rss_kb", 0)) for _, kv, _ in rounds) if rounds else 0
tis = total_runs * 10
print(f"{N} DAG files x {HOURS} hourly runs x 10 tasks: {total_runs} runs, "
      f"{tis} task instances, in {len(rounds)} --once rounds")
print("| measure | value |")
print("|---|---|")
print(f"| wall, all rounds | {wall_all:.1f} s |")
print(f"| scheduler CPU (itself) | {cpu:.2f} s = "
      f"{cpu * 1000 / max(tis, 1):.3f} ms per task instance |")
print(f"| its runs' CPU (`pipehost run` processes) | {runs_cpu:.1f} s = "
      f"{runs_cpu * 1000 / max(tis, 1):.3f} ms per task instance |")
print(f"| scheduler peak RSS | {rss / 1024:.1f} MB |")
# an unchanged folder, nothing due: a scheduler left running rescans it
# every 0.1 s for 15 s; its last log line has the mean of the rescans
# (its log to a file: a pipe nobody reads would fill and stop it)
errpath = os.path.join(work, "sched.log")
with open(errpath, "w") as errf:
    p = subprocess.Popen([PH, "scheduler", "--dags-dir", dags, "--poll",
                          "0.1"], env=env, stderr=errf)
    time.sleep(15)
    p.terminate()
    p.wait(60)
err = open(errpath).read()
last = [ln for ln in err.splitlines() if "scheduler_stopped" in ln]
kv = dict(re.findall(r"(\w+)=(\S+)", last[-1])) if last else {}
print(f"| first scan of {N} DAG files (each loaded in a child) | "
      f"{kv.get('first_scan_ms', '?')} ms |")
print(f"| rescan of {N} unchanged DAG files (mean of {kv.get('rescans', '?')}) "
      f"| {kv.get('rescan_ms', '?')} ms |")
subprocess.run(["rm", "-rf", work])
