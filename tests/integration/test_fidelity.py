#!/usr/bin/python3
"""Airflow fidelity under the real scheduler and real runs (issue 16):
latest_only skips every run but the latest (scheduled and backfill), a
DAG's max_active_tasks caps -j, a file sensor on a directory finds a file
in a subdirectory (os.walk), trigger_dag pushes trigger_run_id.  The rest
of the fidelity cases are scenarios (tests/dags).
Usage: test_fidelity.py PIPEHOST"""
import datetime as dt
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

PH = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="ph-fidelity-")
ENV = dict(os.environ, PIPEHOST_HOME=os.path.join(WORK, "home"))
s = Suite(PH, WORK, ENV)


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def runs(dag_id):
    return [r for r in json.loads(s.ph("runs", "list", "--json").stdout)
            if r["dag_id"] == dag_id]


def state_of(run_id, task):
    show = json.loads(s.ph("runs", "show", run_id, "--json").stdout)
    return {t["task_id"]: t["state"] for t in show["tasks"]}.get(task)


# 1. latest_only: a @daily DAG that started three days ago
dags = os.path.join(WORK, "dags")
os.makedirs(dags)
start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).strftime(
    "%Y-%m-%d")
write("dags/news.yaml", f"""dag: {{id: news, schedule: "@daily", start_date: "{start}"}}
tasks:
  latest: {{op: latest_only}}
  send: {{op: bash, command: "echo sent", upstream: [latest]}}
""")
s.ph("scheduler", "--dags-dir", dags, "--once")
rs = sorted(runs("news"), key=lambda r: r["logical_date"])
sends = [state_of(r["run_id"], "send") for r in rs]
s.check("latest_only under the scheduler: only the latest interval's run "
        "sends, the older ones skip", len(rs) == 3 and
        sends == ["skipped", "skipped", "success"], str(sends))
old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)).date()
write("old.yaml", f"""dag: {{id: oldnews, schedule: "@daily", start_date: "{old}"}}
tasks:
  latest: {{op: latest_only}}
  send: {{op: bash, command: "echo sent", upstream: [latest]}}
""")
p = s.ph("backfill", os.path.join(WORK, "old.yaml"), "--from", old.isoformat(),
         "--to", (old + dt.timedelta(days=1)).isoformat())
bf = runs("oldnews")
s.check("latest_only in a backfill of old intervals: skipped",
        len(bf) == 2 and all(state_of(r["run_id"], "send") == "skipped"
                             for r in bf), p.stdout[-300:])
p = s.ph("run", os.path.join(dags, "news.yaml"), "--json", "-q")
s.check("latest_only in a manual run: proceeds",
        json.loads(p.stdout)["tasks"]["send"]["state"] == "success",
        p.stdout[-300:])

# 2. max_active_tasks caps -j
marks = os.path.join(WORK, "marks")
lines = ["dag: {id: capped, max_active_tasks: 2}", "tasks:"]
for i in range(5):
    lines.append(f"  t{i}: {{op: bash, command: 'echo start >> {marks}; "
                 f"sleep 0.4; echo end >> {marks}'}}")
capped = write("capped.yaml", "\n".join(lines) + "\n")
p = s.ph("run", capped, "-j", "4", "-q")
peak = cur = 0
for line in open(marks).read().split():
    cur += 1 if line == "start" else -1
    peak = max(peak, cur)
s.check("max_active_tasks: 2 caps -j 4 (never more than 2 at once)",
        p.returncode == 0 and peak == 2, f"peak {peak}")

# 3. a file sensor on a directory finds a file at any depth (os.walk)
base = os.path.join(WORK, "drop")
os.makedirs(os.path.join(base, "2024", "01"))
with open(os.path.join(base, "2024", "01", "part.csv"), "w") as f:
    f.write("x\n")
fs = write("fs.yaml", f"""dag: {{id: fs}}
tasks:
  wait: {{op: file_sensor, path: "{base}", poke_interval: 0.1, timeout: 2}}
""")
p = s.ph("run", fs, "--json", "-q")
got = json.loads(p.stdout)
s.check("file_sensor on a directory: a file in a subdirectory counts",
        got["tasks"]["wait"]["state"] == "success" and
        got["xcoms"]["wait"]["return_value"] ==
        [os.path.join(base, "2024", "01", "part.csv")], p.stdout[-300:])

# 4. trigger_dag pushes trigger_run_id as Airflow does
target = write("target.yaml", "dag: {id: target}\ntasks:\n"
               "  a: {op: bash, command: 'true'}\n")
trig = write("trig.yaml", f"""dag: {{id: trig}}
tasks:
  t: {{op: trigger_dag, dag: "{target}", wait_for_completion: true}}
""")
p = s.ph("run", trig, "--json", "-q")
got = json.loads(p.stdout)
x = got["xcoms"].get("t", {})
s.check("trigger_dag pushes trigger_run_id (and return_value)",
        x.get("trigger_run_id") and x.get("trigger_run_id") ==
        x.get("return_value") and runs("target"), str(x))

sys.exit(s.finish())
