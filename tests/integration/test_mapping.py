#!/usr/bin/env python3
"""Dynamic task mapping (issue 20) beyond one run: a cache per instance
(a rerun is all hits, a new grid point runs alone), max_active_tis_per_dag,
pools per instance, resume after kill -9 with instances running, clear
expanding again, and the CLI's view of instances (runs show --json, logs
TASK[N] / --map-index, tasks explain, xcom list).
Usage: test_mapping.py PIPEHOST"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

ph_bin = sys.argv[1]
work = tempfile.mkdtemp(prefix="ph-mapping-")
env = dict(os.environ, PIPEHOST_HOME=os.path.join(work, "home"),
           PIPEHOST_KILL_GRACE="1")
s = Suite(ph_bin, work, env)
check = s.check


def write(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def show(run_id):
    """{instance name: task} of a run, from runs show --json."""
    r = json.loads(s.ph("runs", "show", run_id, "--json").stdout)
    out = {}
    for t in r["tasks"]:
        mi = t.get("map_index", -1)
        out[t["task_id"] + (f"[{mi}]" if mi >= 0 else "")] = t
    return out, r


def run(path, *args):
    p = s.ph("run", path, "--json", *args)
    try:
        return json.loads(p.stdout)
    except ValueError:
        print(p.stdout + p.stderr)
        return {"run_id": None, "tasks": {}, "state": None}


def overlap(path):
    """The most intervals (start end lines) open at once."""
    ev = []
    with open(path) as f:
        for line in f:
            a, b = map(float, line.split())
            ev += [(a, 1), (b, -1)]
    cur = most = 0
    for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
        cur += d
        most = max(most, cur)
    return most


# 1. a cache per instance: a rerun is all cache hits; a new grid point
# runs only the new instance
def grid(points):
    return write("grid.yaml", f"""dag: {{id: grid}}
tasks:
  train:
    op: lua
    cache: true
    fn: "append_line(kwargs.lr) return kwargs.lr * 10"
    expand: {{lr: {json.dumps(points)}}}
  best:
    op: lua
    upstream: [train]
    fn: "local b = 0 for _, v in ipairs(xcom_pull('train')) do if v > b then b = v end end return b"
""")


marker = os.path.join(work, "trained.txt")
with open(os.path.join(work, "append.lua"), "w") as f:
    f.write("")
# the callable records each training it really runs
grid_src = grid([1, 2, 3])
text = open(grid_src).read().replace(
    "append_line(kwargs.lr)",
    f"local f = io.open('{marker}', 'a') f:write(kwargs.lr, '\\\\n') f:close()")
open(grid_src, "w").write(text)
r1 = run(grid_src)
r2 = run(grid_src)
trained = open(marker).read().split()
_, show2 = show(r2["run_id"])
cached = [t for t in show2["tasks"] if t["task_id"] == "train" and
          (t.get("reason") or "").startswith("cached")]
check("cache per instance: the first run trains each of 3 points once, a "
      "rerun is 3 cache hits and the same result",
      sorted(trained) == ["1", "2", "3"] and len(cached) == 3 and
      r2["xcoms"].get("best", {}).get("return_value") == 30 and
      r2["state"] == "success", (trained, len(cached), r2.get("xcoms")))
text = text.replace("[1, 2, 3]", "[1, 2, 3, 4]")
open(grid_src, "w").write(text)
r3 = run(grid_src)
trained = open(marker).read().split()
check("cache per instance: adding one grid point runs only the new "
      "instance", sorted(trained[:3]) == ["1", "2", "3"] and
      trained[3:] == ["4"] and
      r3["xcoms"].get("best", {}).get("return_value") == 40 and
      r3["xcoms"].get("train[3]", {}).get("return_value") == 40,
      (trained, r3.get("xcoms")))

# 2. max_active_tis_per_dag caps an expanded task's running instances;
# a pool caps them across tasks
for name, extra, most in (("limited", "max_active_tis_per_dag: 2", 2),
                          ("pooled", "pool: one", 1),
                          ("free", "", 6)):
    spans = os.path.join(work, f"{name}.spans")
    if name == "pooled":
        s.ph("pools", "set", "one", "1")
    path = write(f"{name}.yaml", f"""dag: {{id: {name}}}
tasks:
  m:
    op: bash
    {extra}
    expand:
      command: {json.dumps([f"a=$(date +%s.%N); sleep 0.3; echo $a $(date +%s.%N) >> {spans}"] * 6)}
""")
    r = run(path, "-j", "6")
    got = overlap(spans) if os.path.exists(spans) else -1
    ok = got <= most if most < 6 else got > 2
    check(f"{name}: 6 instances with {extra or 'no limit'} overlap "
          f"{'at most ' + str(most) if most < 6 else 'more than 2'} at a time",
          r["state"] == "success" and ok, (r["state"], got))

# max_active_tis_per_dag counts across the DAG's runs (Airflow): two runs
# at once, 4 instances each, at most 2 running in all
spans = os.path.join(work, "across.spans")
path = write("across.yaml", f"""dag: {{id: across}}
tasks:
  m:
    op: bash
    max_active_tis_per_dag: 2
    expand:
      command: {json.dumps([f"a=$(date +%s.%N); sleep 0.3; echo $a $(date +%s.%N) >> {spans}"] * 4)}
""")
procs = [subprocess.Popen([ph_bin, "run", path, "-q", "-j", "4"], env=env,
                          cwd=work, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) for _ in range(2)]
rcs = [p.wait(timeout=120) for p in procs]
got = overlap(spans) if os.path.exists(spans) else -1
n_spans = len(open(spans).read().split("\n")) - 1 if got >= 0 else 0
check("max_active_tis_per_dag: two runs at once share the limit (8 "
      "instances, at most 2 running at a time)",
      rcs == [0, 0] and n_spans == 8 and got <= 2, (rcs, n_spans, got))

# 3. the CLI names instances: runs show --json, logs TASK[N] and
# --map-index, tasks explain counting each instance, xcom list
cli = write("cli.yaml", """dag: {id: cli}
tasks:
  m: {op: bash, expand: {command: ["echo zero", "echo one; exit 3", "echo two"]}}
  after: {op: bash, command: "true", upstream: [m], trigger_rule: all_done}
  strict: {op: bash, command: "true", upstream: [m]}
""")
r = run(cli)
rid = r["run_id"]
tis, _ = show(rid)
check("runs show --json: each instance has its map_index, state and tries",
      [(tis.get(f"m[{i}]") or {}).get("state") for i in range(3)] ==
      ["success", "failed", "success"] and
      all(tis[f"m[{i}]"]["map_index"] == i for i in range(3)) and
      tis["after"]["map_index"] == -1, tis)
l1 = s.ph("logs", rid, "m[1]")
l2 = s.ph("logs", rid, "m", "--map-index", "2")
l3 = s.ph("logs", rid, "m[7]")
check("logs: TASK[N] and --map-index N show that instance's log; an "
      "unknown instance is named",
      "one" in l1.stdout and "zero" not in l1.stdout and
      "two" in l2.stdout and l3.returncode == 1 and "m[7]" in l3.stderr,
      (l1.stdout[-200:], l2.stdout[-200:], l3.stderr))
ex = s.ph("tasks", "explain", rid, "strict")
exm = s.ph("tasks", "explain", rid, "m")
ex1 = s.ph("tasks", "explain", rid, "m[1]")
check("tasks explain: a downstream lists and counts every instance; a "
      "mapped task asks which instance; an instance explains itself",
      "m[0]" in ex.stdout and "m[2]" in ex.stdout and
      "upstream_failed" in ex.stdout and exm.returncode == 1 and
      "m[N]" in exm.stderr and "exited with code 3" in ex1.stdout,
      (ex.stdout, exm.stderr, ex1.stdout))
xl = s.ph("xcom", "list", rid)
check("xcom list names each instance's values",
      "m[0]" in xl.stdout and "zero" in xl.stdout and "m[2]" in xl.stdout,
      xl.stdout)

# 4. kill -9 of the host with instances running: resume finishes them,
# and no instance's try runs twice at once (each writes its side effect
# once per try; the lost tries are retried)
side = os.path.join(work, "side")
os.makedirs(side)
path = write("killed.yaml", f"""dag: {{id: killed}}
tasks:
  gen:
    op: lua
    fn: "local l = {{}} for i = 0, 3 do l[#l + 1] = 'sleep 1; echo $PIPEHOST_MAP_INDEX > {side}/' .. i .. '.$PIPEHOST_TRY_NUMBER; echo ' .. i end return l"
  m:
    op: bash
    retries: 1
    retry_delay: 0
    expand: {{command: {{from: gen}}}}
  total: {{op: lua, upstream: [m], fn: "#xcom_pull('m')"}}
""")
p = subprocess.Popen([ph_bin, "run", path, "--run-id", "k1", "-q", "-j", "4"],
                     env=env, cwd=work, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
deadline = time.time() + 20
running = 0
while time.time() < deadline:
    q = s.ph("runs", "show", "k1", "--json")
    try:
        tl = json.loads(q.stdout)["tasks"]
        running = sum(1 for t in tl if t["task_id"] == "m" and
                      t["state"] == "running")
    except (ValueError, KeyError):
        running = 0
    if running >= 2:
        break
    time.sleep(0.05)
os.killpg(p.pid, signal.SIGKILL)
p.wait()
rs = s.ph("resume", "k1", "--json")
try:
    rj = json.loads(rs.stdout)
except ValueError:
    rj = {"state": None, "tasks": {}, "xcoms": {}}
files = sorted(os.listdir(side))
tis, _ = show("k1")
check("kill -9 with instances running: resume adopts the expansion and "
      "finishes every instance; the reduce sees all four",
      running >= 2 and rj["state"] == "success" and
      rj["xcoms"].get("total", {}).get("return_value") == 4 and
      all(tis[f"m[{i}]"]["state"] == "success" for i in range(4)),
      (running, rj.get("state"), rj.get("xcoms"), rs.stderr[-300:]))
per_try = {}
for fn in files:
    i, t = fn.split(".")
    per_try.setdefault(i, []).append(int(t))
check("kill -9 with instances running: each instance ends with one "
      "successful try, the tries lost with the host are counted, none "
      "wrote twice", sorted(per_try) == ["0", "1", "2", "3"] and
      all(tis[f"m[{i}]"]["try_number"] == max(per_try[str(i)])
          for i in range(4)), (files, {k: v["try_number"]
                                       for k, v in tis.items()}))

# 5. clear a mapped task: it expands again from its (new) input
inp = os.path.join(work, "n.txt")
open(inp, "w").write("2")
path = write("reclear.yaml", f"""dag: {{id: reclear}}
tasks:
  gen: {{op: lua, fn: "local n = tonumber(io.open('{inp}'):read('a')) local l = {{}} for i = 1, n do l[i] = i end return l"}}
  m: {{op: lua, fn: "return kwargs.x", expand: {{x: {{from: gen}}}}}}
  total: {{op: lua, upstream: [m], fn: "#xcom_pull('m')"}}
""")
r = run(path, "--run-id", "c1")
open(inp, "w").write("5")
cl = s.ph("clear", "c1", "--task", "gen", "--downstream")
rs = s.ph("resume", "c1", "--json")
try:
    rj = json.loads(rs.stdout)
except ValueError:
    rj = {"xcoms": {}}
tis, _ = show("c1")
check("clear + resume: the cleared mapped task expands again from its "
      "upstream's new value (2 instances, then 5)",
      r["xcoms"].get("total", {}).get("return_value") == 2 and
      rj["xcoms"].get("total", {}).get("return_value") == 5 and
      sum(1 for k in tis if k.startswith("m[")) == 5,
      (cl.stdout[-300:], cl.stderr[-300:], rj.get("xcoms"), sorted(tis)))
# and down to 1: the 5 instances' tries go with them
open(inp, "w").write("1")
s.ph("clear", "c1", "--task", "gen", "--downstream")
s.ph("resume", "c1")
with sqlite3.connect(os.path.join(env["PIPEHOST_HOME"], "pipehost.db")) as db:
    m_tries = db.execute("SELECT map_index, try_number FROM task_try WHERE "
                         "run_id='c1' AND task_id='m' ORDER BY map_index"
                         ).fetchall()
check("clear to fewer instances: the store keeps only the new instances' "
      "tries (none of the 5 earlier ones)", m_tries == [(0, 1)], m_tries)

# 6. a mapped task run alone into a run where it expanded already (pipehost
# task run FILE TASK RUN): it expands again over the same instances
path = write("alone.yaml", """dag: {id: alone}
tasks:
  m: {op: bash, expand: {command: ["echo a", "echo b"]}}
  after: {op: bash, command: "true", upstream: [m]}
""")
r = run(path, "--run-id", "a1")
p = s.ph("task", "run", path, "m", "a1")
tis, _ = show("a1")
check("task run of a mapped task into its run: it runs its instances again, "
      "the run's records stay whole",
      r["state"] == "success" and p.returncode == 0 and
      sorted(tis) == ["after", "m[0]", "m[1]"] and
      all(tis[f"m[{i}]"]["state"] == "success" for i in range(2)),
      (p.returncode, p.stderr[-400:], sorted(tis)))

sys.exit(s.finish())
