#!/usr/bin/python3
"""Durable resume under kill -9: `pipehost run` (and then each `pipehost
resume`) is killed with SIGKILL at random moments, again and again, until a
resume runs to the end.  Every task appends its name to a file when it
succeeds.  Asserts, for every run: it ends in success; every task ran; and
no task that the store had recorded as successful at the moment of a kill
ran again afterwards (nothing recorded is lost, nothing finished is redone).
Then the same with `pipehost scheduler` killed and restarted.
Usage: kill9_torture.py PIPEHOST [KILLS]"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PH = sys.argv[1]
KILLS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
WORK = tempfile.mkdtemp(prefix="ph-kill9-")
ENV = dict(os.environ, PIPEHOST_HOME=os.path.join(WORK, "home"),
           PIPEHOST_KILL_GRACE="0.2")
rng = random.Random(20261124)
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def ph(*args):
    return subprocess.run([PH, *args], capture_output=True, text=True,
                          env=ENV, timeout=120, cwd=WORK)


def dag(name, log):
    tasks = {}
    for i in range(4):
        tasks[f"c{i}"] = {"up": [f"c{i-1}"] if i else []}
    for i in range(6):
        tasks[f"f{i}"] = {"up": ["c3"]}
    tasks["j0"] = {"up": [f"f{i}" for i in range(6)]}
    tasks["j1"] = {"up": ["j0"]}
    lines = [f"dag: {{id: {name}, default_args: {{retries: 100, "
             f"retry_delay: 0}}}}", "tasks:"]
    for t, spec in tasks.items():
        cmd = f"sleep 0.0{rng.randint(1, 6)}; echo {t} >> {log}"
        lines.append(f"  {t}: {{op: bash, command: \"{cmd}\", "
                     f"upstream: {json.dumps(spec['up'])}}}")
    path = os.path.join(WORK, name + ".yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, list(tasks)


def successes(run_id):
    p = ph("runs", "show", run_id, "--json")
    if p.returncode != 0:
        return set(), None
    r = json.loads(p.stdout)
    return {t["task_id"] for t in r["tasks"] if t["state"] == "success"}, \
        r["state"]


def lines_after(log, offset):
    try:
        with open(log) as f:
            f.seek(offset)
            return f.read().split()
    except FileNotFoundError:
        return []


def size(log):
    try:
        return os.path.getsize(log)
    except FileNotFoundError:
        return 0


kills = 0
run_no = 0
while kills < KILLS:
    run_no += 1
    log = os.path.join(WORK, f"run{run_no}.log")
    path, names = dag(f"torture{run_no}", log)
    run_id = f"torture-{run_no}"
    args = ["run", path, "--run-id", run_id, "-q", "-j", "3"]
    violations, rounds = [], 0
    while True:
        rounds += 1
        proc = subprocess.Popen([PH, *args], env=ENV, cwd=WORK,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(0.05, 0.5))
            break  # it finished before the kill
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        # what the store says now, and where the side-effect file is
        done, state = successes(run_id)
        off = size(log)
        time.sleep(0.05)
        # a kill before the run was created leaves nothing to resume: it
        # is started again (a slow start, as under ASan, meets this)
        if state is not None:
            args = ["resume", run_id, "-q", "-j", "3"]
        # tasks recorded as successful must never run again
        violations.append((done, off))
        if rounds > 60:
            break
    done, state = successes(run_id)
    ran = lines_after(log, 0)
    redone = []
    for recorded, off in violations:
        after = lines_after(log, off)
        redone += [t for t in after if t in recorded]
    check(f"run {run_no} ({rounds - 1} kills): ends in success",
          state == "success", f"state {state}")
    check(f"run {run_no}: every task ran", set(ran) == set(names),
          str(sorted(set(names) - set(ran))))
    check(f"run {run_no}: no task recorded as successful ran again",
          not redone, str(redone))

# the scheduler: kill -9 it while it drives backfill-like catchup runs
dags = os.path.join(WORK, "dags")
os.makedirs(dags)
slog = os.path.join(WORK, "sched.log")
with open(os.path.join(dags, "s.yaml"), "w") as f:
    f.write(f"""dag: {{id: sched_torture, schedule: "@daily", start_date: "2024-01-01",
      end_date: "2024-01-08", max_active_runs: 3, default_args: {{retries: 100, retry_delay: 0}}}}
tasks:
  a: {{op: bash, command: "sleep 0.05; echo {{{{ ds }}}}-a >> {slog}"}}
  b: {{op: bash, command: "sleep 0.05; echo {{{{ ds }}}}-b >> {slog}", upstream: [a]}}
""")
snapshots = []
for i in range(8):
    sp = subprocess.Popen([PH, "scheduler", "--dags-dir", dags, "--poll",
                           "0.1"], env=ENV, cwd=WORK,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.1, 0.6))
    sp.send_signal(signal.SIGKILL)
    sp.wait()
    # its runs go on as orphans or die with it; record what is final now
    recorded = set()
    for r in json.loads(ph("runs", "list", "--json").stdout):
        if r["dag_id"] != "sched_torture":
            continue
        s, _ = successes(r["run_id"])
        recorded |= {f"{r['logical_date'][:10]}-{t}" for t in s}
    snapshots.append((recorded, size(slog)))
p = subprocess.run([PH, "scheduler", "--dags-dir", dags, "--once"],
                   env=ENV, cwd=WORK, capture_output=True, text=True,
                   timeout=120)
# --once resumes dead runs and creates missing ones, then waits for them
time.sleep(0.5)
deadline = time.time() + 60
while time.time() < deadline:
    rs = [r for r in json.loads(ph("runs", "list", "--json").stdout)
          if r["dag_id"] == "sched_torture"]
    if len(rs) == 8 and all(r["state"] == "success" for r in rs):
        break
    subprocess.run([PH, "scheduler", "--dags-dir", dags, "--once"], env=ENV,
                   cwd=WORK, capture_output=True, timeout=120)
rs = [r for r in json.loads(ph("runs", "list", "--json").stdout)
      if r["dag_id"] == "sched_torture"]
check("scheduler killed 8 times: all 8 daily runs end in success",
      len(rs) == 8 and all(r["state"] == "success" for r in rs),
      str([(r["run_id"], r["state"]) for r in rs]))
redone = []
for recorded, off in snapshots:
    redone += [t for t in lines_after(slog, off) if t in recorded]
check("scheduler: no task recorded as successful ran again", not redone,
      str(redone))
check("scheduler: every task of every day ran",
      len(set(lines_after(slog, 0))) == 16, str(len(set(lines_after(slog, 0)))))

shutil.rmtree(WORK, ignore_errors=True)
print(f"{passed} passed, {failed} failed ({kills} kills of pipehost run)")
sys.exit(1 if failed else 0)
