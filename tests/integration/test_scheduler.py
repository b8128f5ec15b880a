#!/usr/bin/python3
"""Scheduling: backfill (30 daily runs, never more than max_active_runs=2
at once, from the recorded times), catchup on and off, data intervals in
templates, pools serialising tasks in priority order, weight rules,
depends_on_past, trigger with conf, clear + resume, and the long-running
scheduler picking up new and changed DAG files and stopping on SIGTERM.
Usage: test_scheduler.py PIPEHOST"""
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

PH = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="ph-sched-")
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


def ph(*args, timeout=300):
    return subprocess.run([PH, *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout, cwd=WORK)


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def runs(dag_id=None):
    out = json.loads(ph("runs", "list", "--json").stdout)
    return [r for r in out if dag_id is None or r["dag_id"] == dag_id]


def show(run_id):
    return json.loads(ph("runs", "show", run_id, "--json").stdout)


def xcoms(run_id):
    return json.loads(ph("xcom", "list", run_id, "--json").stdout)


# 1. backfill: 30 daily runs, max_active_runs 2
bf = write("bf.yaml", """
dag: {id: bf, schedule: "@daily", start_date: "2024-01-01", max_active_runs: 2}
tasks:
  work: {op: bash, command: "sleep 0.2; echo {{ ds }} {{ data_interval_end }}"}
""")
t0 = time.time()
p = ph("backfill", bf, "--from", "2024-01-01", "--to", "2024-01-30")
took = time.time() - t0
check("backfill: 30 runs, all successful", p.returncode == 0 and
      "30 run(s), 0 failed" in p.stdout, p.stdout[-300:] + p.stderr[-500:])
rs = runs("bf")
check("backfill: one run per day, run_type backfill",
      sorted(r["logical_date"][:10] for r in rs) ==
      [f"2024-01-{d:02d}" for d in range(1, 31)] and
      all(r["run_id"].startswith("backfill__") for r in rs), str(len(rs)))
events = sorted([(r["start_date"], 1) for r in rs] +
                [(r["end_date"], -1) for r in rs], key=lambda e: (e[0], e[1]))
level = peak = 0
for _, d in events:
    level += d
    peak = max(peak, level)
check("backfill: never more than 2 runs at once (recorded times)",
      peak == 2, f"peak {peak}")
check("backfill: slots refill continuously (30 x 0.2 s in well under the "
      "serial time)", took < 30 * 0.2 + 10, f"{took:.1f}s")
first = [r for r in rs if r["logical_date"].startswith("2024-01-05")][0]
check("backfill: ds and data_interval_end in templates",
      xcoms(first["run_id"])["work"]["return_value"] ==
      "2024-01-05 2024-01-06T00:00:00+00:00",
      str(xcoms(first["run_id"])))
p = ph("backfill", bf, "--from", "2024-01-01", "--to", "2024-01-03")
check("backfill again: successful intervals are skipped",
      p.returncode == 0 and p.stdout.count("success (earlier)") == 3,
      p.stdout)

# 2. catchup on and off, with the scheduler's --once pass
dags = os.path.join(WORK, "dags")
os.makedirs(dags)
start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=5)).strftime(
    "%Y-%m-%d")
with open(os.path.join(dags, "up.yaml"), "w") as f:
    f.write(f"""dag: {{id: catchup_on, schedule: "@daily", start_date: "{start}"}}
tasks:
  t: {{op: bash, command: "echo {{{{ ds }}}}"}}
""")
with open(os.path.join(dags, "off.yaml"), "w") as f:
    f.write(f"""dag: {{id: catchup_off, schedule: "@daily", start_date: "{start}", catchup: false}}
tasks:
  t: {{op: bash, command: "echo {{{{ ds }}}}"}}
""")
with open(os.path.join(dags, "manual.yaml"), "w") as f:
    f.write("dag: {id: manual_only}\ntasks:\n  t: {op: bash, command: \"true\"}\n")
p = ph("scheduler", "--dags-dir", dags, "--once")
on, off = runs("catchup_on"), runs("catchup_off")
check("catchup on: every missed day runs (5)", len(on) == 5 and
      all(r["state"] == "success" for r in on), f"{len(on)} {p.stderr[-400:]}")
yesterday = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).strftime(
    "%Y-%m-%d")
check("catchup off: only the latest interval (yesterday's)",
      len(off) == 1 and off[0]["logical_date"].startswith(yesterday),
      str([r["logical_date"] for r in off]))
check("a DAG without schedule gets no runs", runs("manual_only") == [])
check("scheduler logs are structured (event=... key=value)",
      "event=dag_loaded" in p.stderr and "event=run_started" in p.stderr and
      "event=run_finished" in p.stderr, p.stderr[-500:])
p = ph("scheduler", "--dags-dir", dags, "--once")
check("a second pass creates nothing new", len(runs("catchup_on")) == 5 and
      len(runs("catchup_off")) == 1)

# 3. a pool with one slot serialises its tasks, in priority order
ph("pools", "set", "single", "1")
pool = write("pool.yaml", """
dag: {id: pooled}
tasks:
  low:  {op: bash, command: "sleep 0.3", pool: single, priority_weight: 1, weight_rule: absolute}
  high: {op: bash, command: "sleep 0.3", pool: single, priority_weight: 9, weight_rule: absolute}
  mid:  {op: bash, command: "sleep 0.3", pool: single, priority_weight: 5, weight_rule: absolute}
  free: {op: bash, command: "sleep 0.3"}
""")
p = ph("run", pool, "-j", "4", "--json")
rid = json.loads(p.stdout)["run_id"]
tasks = {t["task_id"]: t for t in show(rid)["tasks"]}
spans = sorted((tasks[k]["start_date"], tasks[k]["end_date"], k)
               for k in ("low", "high", "mid"))
check("pool of 1 slot: its tasks never overlap",
      all(spans[i][1] <= spans[i + 1][0] + 1e-3 for i in range(2)),
      str(spans))
check("pool: they start in priority order (high, mid, low)",
      [s[2] for s in spans] == ["high", "mid", "low"], str(spans))
check("a task outside the pool runs alongside",
      tasks["free"]["start_date"] < spans[1][0], str(tasks["free"]))
p = ph("pools", "list")
check("pools list", "single" in p.stdout and " 1" in p.stdout, p.stdout)

# a pool is shared by concurrent runs (separate processes)
ph("pools", "set", "shared", "1")
shared = write("shared.yaml", """
dag: {id: shared_pool}
tasks:
  hold: {op: bash, command: "sleep 0.4", pool: shared}
""")
procs = [subprocess.Popen([PH, "run", shared, "-q"], env=ENV, cwd=WORK,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
         for _ in range(3)]
for pr in procs:
    pr.wait(timeout=60)
spans = sorted((t["start_date"], t["end_date"])
               for r in runs("shared_pool")
               for t in show(r["run_id"])["tasks"])
check("a pool of 1 slot serialises tasks across three concurrent runs",
      len(spans) == 3 and all(spans[i][1] <= spans[i + 1][0] + 1e-3
                              for i in range(2)), str(spans))

# 4. weight rules with one worker: downstream (default) puts the head of
# a long chain first; absolute follows priority_weight only
wr = write("weights.yaml", """
dag: {id: weights}
tasks:
  lone: {op: bash, command: "true", priority_weight: 2}
  c1: {op: bash, command: "true"}
  c2: {op: bash, command: "true", upstream: [c1]}
  c3: {op: bash, command: "true", upstream: [c2]}
  c4: {op: bash, command: "true", upstream: [c3]}
""")
rid = json.loads(ph("run", wr, "-j", "1", "--json").stdout)["run_id"]
t = {x["task_id"]: x for x in show(rid)["tasks"]}
check("weight_rule downstream: the chain's head (weight 4) before lone (2)",
      t["c1"]["start_date"] < t["lone"]["start_date"])
wr2 = write("weights2.yaml", """
dag: {id: weights2, default_args: {weight_rule: absolute}}
tasks:
  lone: {op: bash, command: "true", priority_weight: 2}
  c1: {op: bash, command: "true"}
  c2: {op: bash, command: "true", upstream: [c1]}
  c3: {op: bash, command: "true", upstream: [c2]}
""")
rid = json.loads(ph("run", wr2, "-j", "1", "--json").stdout)["run_id"]
t = {x["task_id"]: x for x in show(rid)["tasks"]}
check("weight_rule absolute: lone (2) before the chain's head (1)",
      t["lone"]["start_date"] < t["c1"]["start_date"])
wr3 = write("weights3.yaml", """
dag: {id: weights3, default_args: {weight_rule: upstream}}
tasks:
  root: {op: bash, command: "true"}
  deep: {op: bash, command: "true", upstream: [root]}
  other: {op: bash, command: "true", priority_weight: 1}
  leaf: {op: bash, command: "true", upstream: [deep, other]}
  side: {op: bash, command: "true", upstream: [root], priority_weight: 3}
""")
rid = json.loads(ph("run", wr3, "-j", "1", "--json").stdout)["run_id"]
t = {x["task_id"]: x for x in show(rid)["tasks"]}
check("weight_rule upstream: side (3 + root) before deep (1 + root)",
      t["side"]["start_date"] < t["deep"]["start_date"])

# 5. depends_on_past
dop = write("dop.yaml", """
dag: {id: dop, params: {ok: true}}
tasks:
  x: {op: bash, depends_on_past: true, command: "test {{ params.ok }} = true"}
""")
ph("run", dop, "--date", "2024-02-01", "--param", "ok=false")
p = ph("run", dop, "--date", "2024-02-02", "--json")
r2 = json.loads(p.stdout)
t = {x["task_id"]: x for x in show(r2["run_id"])["tasks"]}
check("depends_on_past: after a failed previous run the task does not run",
      t["x"]["state"] == "failed" and t["x"]["try_number"] == 0 and
      "depends_on_past" in (t["x"]["reason"] or ""), str(t["x"]))
dop2 = write("dop2.yaml", """
dag: {id: dop2}
tasks:
  x: {op: bash, depends_on_past: true, command: "true"}
""")
ph("run", dop2, "--date", "2024-03-01")
p = ph("run", dop2, "--date", "2024-03-02", "--json")
check("depends_on_past: after a successful previous run it runs",
      json.loads(p.stdout)["state"] == "success")

# depends_on_past in a backfill with two runs at once: each day's task
# waits for the day before
seq = write("seq.yaml", """
dag: {id: seq, schedule: "@daily", start_date: "2024-05-01", max_active_runs: 2}
tasks:
  pre: {op: bash, command: "true"}
  x: {op: bash, depends_on_past: true, upstream: [pre], command: "sleep 0.2"}
""")
p = ph("backfill", seq, "--from", "2024-05-01", "--to", "2024-05-04")
xs = []
for r in runs("seq"):
    t = {x["task_id"]: x for x in show(r["run_id"])["tasks"]}
    xs.append((r["logical_date"], t["x"]["start_date"], t["x"]["end_date"]))
xs.sort()
check("depends_on_past in a backfill: each day's task waits for the day "
      "before (in order, no overlap)", p.returncode == 0 and len(xs) == 4 and
      all(xs[i][2] <= xs[i + 1][1] + 1e-3 for i in range(3)),
      p.stdout + str(xs))

# 6. trigger with conf
trg = write("trg.yaml", """
dag: {id: trg}
tasks:
  hello: {op: bash, command: "echo hello {{ dag_run.conf.who }}"}
""")
p = ph("trigger", trg, "--conf", '{"who": "ada"}', "--wait")
rid = p.stdout.strip()
check("trigger --conf --wait: the run succeeds with the conf in templates",
      p.returncode == 0 and
      xcoms(rid).get("hello", {}).get("return_value") == "hello ada",
      p.stdout + p.stderr)
p = ph("trigger", "trg", "--wait")
check("trigger by DAG id (a DAG with earlier runs)", p.returncode == 0,
      p.stderr)

# the trigger_dag operator: conf passing, waiting for the run
write("child.yaml", """
dag: {id: child}
tasks:
  hi: {op: bash, command: "echo child got {{ dag_run.conf.n }}; test {{ dag_run.conf.n }} != bad"}
""")
parent = write("parent.yaml", """
dag: {id: parent}
tasks:
  go: {op: trigger_dag, dag: "{{ dag_dir }}/child.yaml", conf: {n: "42"}, wait_for_completion: true}
  bad: {op: trigger_dag, dag: "{{ dag_dir }}/child.yaml", conf: {n: "bad"}, wait_for_completion: true}
  fire: {op: trigger_dag, dag: child}
""")
p = ph("run", parent, "--json")
pr = json.loads(p.stdout)
px = xcoms(pr["run_id"])
child_run = px.get("go", {}).get("return_value")
check("trigger_dag: the child run gets the conf and is waited for",
      pr["tasks"]["go"]["state"] == "success" and child_run and
      xcoms(child_run).get("hi", {}).get("return_value") == "child got 42",
      str(px))
check("trigger_dag: a failed child run fails the task when waiting",
      pr["tasks"]["bad"]["state"] == "failed", str(pr["tasks"]["bad"]))
check("trigger_dag: by DAG id, without waiting",
      pr["tasks"]["fire"]["state"] == "success" and
      str(px.get("fire", {}).get("return_value", "")).startswith("manual__"))

# 7. clear + resume reruns only the cleared tasks
marker = os.path.join(WORK, "marker")
log = os.path.join(WORK, "clear.log")
cl = write("clear.yaml", f"""
dag: {{id: clearme}}
tasks:
  a: {{op: bash, command: "echo a >> {log}"}}
  b: {{op: bash, command: "echo b >> {log}; test -e {marker}", upstream: [a],
      retries: 1, retry_delay: 0}}
  c: {{op: bash, command: "echo c >> {log}", upstream: [b]}}
""")
p = ph("run", cl, "--json")
rid = json.loads(p.stdout)["run_id"]
check("clear: the first run fails at b", json.loads(p.stdout)["state"] == "failed")
open(marker, "w").close()
p = ph("clear", rid, "--failed-only")
check("clear --failed-only clears b and c (failed, upstream_failed)",
      p.returncode == 0 and "cleared 2 task instance(s)" in p.stdout, p.stdout + p.stderr)
p = ph("resume", rid, "--json")
with open(log) as f:
    lines = f.read().split()
with sqlite3.connect(os.path.join(ENV["PIPEHOST_HOME"], "pipehost.db")) as db:
    b_tries = db.execute("SELECT try_number, state FROM task_try WHERE "
                         "run_id=? AND task_id='b' ORDER BY try_number",
                         (rid,)).fetchall()
check("resume after clear: the run succeeds; a ran once, b three times "
      "(two tries, cleared, one try), c once; the store keeps only the try "
      "after the clear (the earlier tries' logs are kept aside)",
      json.loads(p.stdout)["state"] == "success" and
      lines.count("a") == 1 and lines.count("b") == 3 and
      lines.count("c") == 1 and b_tries == [(1, "success")],
      (lines, b_tries))
p = ph("clear", rid, "--task", "b", "--downstream")
ph("resume", rid)
with open(log) as f:
    lines = f.read().split()
check("clear --task b --downstream reruns b and c only",
      lines.count("a") == 1 and lines.count("b") == 4 and
      lines.count("c") == 2, str(lines))

# 8. the long-running scheduler: a DAG dropped in, changed, SIGTERM
live = os.path.join(WORK, "live")
os.makedirs(live)
errlog = open(os.path.join(WORK, "sched.log"), "w")
sched = subprocess.Popen([PH, "scheduler", "--dags-dir", live, "--poll",
                          "0.2"], env=ENV, stderr=errlog, cwd=WORK)
time.sleep(1)
hour_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)).strftime(
    "%Y-%m-%dT%H:00:00Z")
with open(os.path.join(live, "drop.yaml"), "w") as f:
    f.write(f"""dag: {{id: dropped, schedule: "every 1h", start_date: "{hour_ago}"}}
tasks:
  t: {{op: bash, command: "echo {{{{ ds }}}}"}}
""")
deadline = time.time() + 20
while time.time() < deadline and len([r for r in runs("dropped")
                                      if r["state"] == "success"]) < 3:
    time.sleep(0.2)
check("the scheduler picks up a new DAG file and runs its due intervals",
      len([r for r in runs("dropped") if r["state"] == "success"]) >= 3,
      str(runs("dropped")))
with open(os.path.join(live, "drop.yaml"), "a") as f:
    f.write("  u: {op: bash, command: \"true\", upstream: [t]}\n")
time.sleep(1.5)
sched.send_signal(signal.SIGTERM)
try:
    rc = sched.wait(timeout=30)
except subprocess.TimeoutExpired:
    sched.kill()
    rc = -1
errlog.close()
text = open(os.path.join(WORK, "sched.log")).read()
check("a changed DAG file is reloaded", "event=dag_changed" in text,
      text[-500:])
check("SIGTERM stops the scheduler gracefully (exit 0, logged)",
      rc == 0 and "event=stopping" in text and
      "event=scheduler_stopped" in text, f"{rc} {text[-300:]}")

# 9. --max-runs caps the runs going at once across every DAG; its last log
# line says what the scheduler cost
fleet = os.path.join(WORK, "fleet")
os.makedirs(fleet)
marks = os.path.join(WORK, "fleet.marks")
hour = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)) \
    .strftime("%Y-%m-%dT%H:00:00+00:00")
for i in range(6):
    with open(os.path.join(fleet, f"f{i}.yaml"), "w") as f:
        f.write(f"dag: {{id: fleet{i}, schedule: '@hourly', start_date: "
                f"'{hour}', catchup: false}}\ntasks:\n"
                f"  t: {{op: bash, command: 'echo start >> {marks}; sleep 0.5;"
                f" echo end >> {marks}'}}\n")
p = subprocess.run([PH, "scheduler", "--dags-dir", fleet, "--once",
                    "--max-runs", "2"], capture_output=True, text=True,
                   env=ENV, timeout=120)
peak = cur = 0
for line in open(marks).read().split() if os.path.exists(marks) else []:
    cur += 1 if line == "start" else -1
    peak = max(peak, cur)
started = p.stderr.count("event=run_started")
check("scheduler --max-runs 2: six DAGs' runs, never more than 2 at once",
      p.returncode == 0 and started == 6 and peak == 2,
      f"rc {p.returncode} started {started} peak {peak}")
last = [ln for ln in p.stderr.splitlines() if "scheduler_stopped" in ln]
check("scheduler_stopped reports its CPU, its runs' CPU, RSS and scans",
      last and all(k in last[-1] for k in ("cpu_s=", "runs_cpu_s=",
                                           "max_rss_kb=", "first_scan_ms=")),
      last[-1:] if last else p.stderr[-300:])

# A run forked by the scheduler outlives it (its own process group): the
# scheduler killed alone, the run goes on, and other processes that open
# and close the store meanwhile must not take the WAL from under it.  (A
# forked child inherited SQLite's belief that the scheduler's locks were
# its own; the last closer then deleted the WAL the run still committed
# to, and the run's later tries were lost: "running" forever.)
kdir = os.path.join(WORK, "killdags")
os.makedirs(kdir)
with open(os.path.join(kdir, "outlive.yaml"), "w") as f:
    f.write("dag: {id: outlive, schedule: '@once', start_date: '2024-01-01'}\n"
            "tasks:\n  a: {op: bash, command: 'sleep 2'}\n"
            "  b: {op: bash, command: 'echo b', upstream: [a]}\n"
            "  c: {op: bash, command: 'echo c', upstream: [b]}\n")
sch = subprocess.Popen([PH, "scheduler", "--dags-dir", kdir, "--poll", "0.1"],
                       env=ENV, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
deadline = time.time() + 30
while time.time() < deadline and not runs("outlive"):
    time.sleep(0.1)
time.sleep(0.3)
sch.kill()
sch.wait()
deadline = time.time() + 30
states = {}
while time.time() < deadline:
    ph("runs", "list")  # opens and closes the store: the last one, once
    out = runs("outlive")
    if out:
        states = {t["task_id"]: t["state"]
                  for t in show(out[0]["run_id"])["tasks"]}
        if out[0]["state"] == "success":
            break
    time.sleep(0.3)
check("scheduler killed alone: its forked run finishes and every try it "
      "records after the kill is in the store",
      states == {"a": "success", "b": "success", "c": "success"}, states)

shutil.rmtree(WORK, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
