#!/usr/bin/env python3
"""`pipehost db clean` (issue 21), Airflow's `db clean`: old finished runs
go with their rows, logs and per-run artifacts (the rows archived first);
what is unfinished, the latest run of each DAG, and what the result cache,
lineage and the model registry point to stay; log retention deletes the
log files of kept runs.  Usage: test_clean.py PIPEHOST TEST_PLUGIN_DIR"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

ph_bin, plugin_dir = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="ph-clean-")
os.chmod(work, 0o755)
home = os.path.join(work, "home")
env = dict(os.environ, PIPEHOST_HOME=home, PIPEHOST_PLUGIN_PATH=plugin_dir)
s = Suite(ph_bin, work, env)
check = s.check


def write(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(path, *args):
    p = s.ph("run", path, "--json", "-q", *args)
    return json.loads(p.stdout)["run_id"] if p.stdout.startswith("{") else None


def runs_of(dag):
    p = s.ph("runs", "list", "-n", "0", "--json")
    return {r["run_id"] for r in json.loads(p.stdout) if r["dag_id"] == dag} \
        if p.returncode == 0 else set()


def log_dir(dag, run_id):
    return os.path.join(home, "logs", dag, run_id)


data = write("input.csv", "a,b\n1,2\n")
plain = write("plain.yaml", "dag: {id: plain}\ntasks:\n"
              "  a: {op: bash, command: 'echo hi'}\n"
              "  b: {op: lua, fn: '7', upstream: [a]}\n")
cached = write("cached.yaml", "dag: {id: cached}\ntasks:\n"
               f"  t: {{op: tracker, cache: true, input: \"{data}\", "
               "score: 0.5}\n")
model = write("model.yaml", "dag: {id: model}\ntasks:\n"
              f"  fit: {{op: tracker, input: \"{data}\", score: 0.5, "
              "model: churn}\n")
plain_runs = [run(plain, "--date", f"2024-01-0{i}") for i in (1, 2, 3)]
cache_src = run(cached, "--date", "2024-01-01")  # computes and caches
cache_hit = run(cached, "--date", "2024-01-02")  # replays cache_src
model_run = run(model, "--date", "2024-01-01")   # registers churn v1
model_late = run(model, "--date", "2024-01-02")  # registers churn v2
# a run in progress: a task that sleeps, in a run started in the background
slow = write("slow.yaml", "dag: {id: slow}\ntasks:\n"
             "  z: {op: bash, command: 'sleep 60'}\n")
bg = subprocess.Popen([ph_bin, "run", slow, "-q"], env=env, cwd=work,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):
    running = [r for r in json.loads(s.ph("runs", "list", "-n", "0",
                                          "--json").stdout)
               if r["dag_id"] == "slow" and r["state"] == "running"]
    if running:
        break
    time.sleep(0.05)
check("setup: the runs exist", all(plain_runs + [cache_src, cache_hit,
                                                  model_run, model_late]) and
      running, (plain_runs, cache_src, cache_hit, model_run, running))
check("setup: the old runs have their logs",
      os.path.isdir(log_dir("plain", plain_runs[0])))

# bad input: a clear error, nothing changed
p = s.ph("db", "clean", "--older-than", "soon")
check("db clean: a bad duration exits 2 naming it",
      p.returncode == 2 and "'soon' is not a duration" in p.stderr, p.stderr)
p = s.ph("db", "clean")
check("db clean: no cutoff deletes nothing (exit 2)", p.returncode == 2 and
      "nothing is deleted by default" in p.stderr, p.stderr)

# dry run: the counts, and nothing changes
before = runs_of("plain")
p = s.ph("db", "clean", "--older-than", "0s", "--dry-run", "--json")
dry = json.loads(p.stdout) if p.returncode == 0 else {}
check("dry run: counts what would go (2 old plain runs, 0 referenced)",
      dry.get("runs") == 2 and dry.get("task_instances") == 4 and
      dry.get("dry_run") is True, p.stdout + p.stderr)
check("dry run: keeps the queued run, each DAG's latest, and what the "
      "cache and the registry point to",
      dry.get("kept_unfinished") == 1 and dry.get("kept_latest") == 3 and
      dry.get("kept_referenced") == 2, dry)
check("dry run: nothing deleted", runs_of("plain") == before and
      os.path.isdir(log_dir("plain", plain_runs[0])) and
      not os.path.exists(os.path.join(home, "archive")))

# the clean
p = s.ph("db", "clean", "--older-than", "0s", "--json")
rep = json.loads(p.stdout) if p.returncode == 0 else {}
check("db clean: deletes the two old plain runs",
      rep.get("runs") == 2 and runs_of("plain") == {plain_runs[2]},
      (rep, runs_of("plain")))
check("db clean: the run in progress stays",
      len(runs_of("slow")) == 1, runs_of("slow"))
bg.terminate()
bg.wait(30)
check("db clean: their logs are gone, the latest run's stay",
      not os.path.exists(log_dir("plain", plain_runs[0])) and
      not os.path.exists(log_dir("plain", plain_runs[1])) and
      os.path.isdir(log_dir("plain", plain_runs[2])))
check("db clean: the cache's source run and the hit both stay",
      runs_of("cached") == {cache_src, cache_hit}, runs_of("cached"))
check("db clean: the runs of registered model versions stay",
      runs_of("model") == {model_run, model_late}, runs_of("model"))
arch = rep.get("archive") or ""
rows = []
if os.path.exists(arch):
    with sqlite3.connect(arch) as db:
        rows = [r[0] for r in db.execute("SELECT run_id FROM dag_run")]
        n_ti = db.execute("SELECT count(*) FROM task_instance").fetchone()[0]
        n_x = db.execute("SELECT count(*) FROM xcom").fetchone()[0]
check("db clean: the deleted rows are in the archive",
      sorted(rows) == sorted(plain_runs[:2]) and n_ti == 4 and n_x >= 2,
      (arch, rows))
q = s.ph("runs", "show", plain_runs[0])
check("db clean: a deleted run is not found", q.returncode != 0)
q = s.ph("xcom", "list", plain_runs[2], "--json")
check("db clean: a kept run's XComs are intact",
      q.returncode == 0 and json.loads(q.stdout).get("b", {})
      .get("return_value") == 7, q.stdout)
# the cache still answers, and the registry still resolves
hit = json.loads(s.ph("run", cached, "--json", "-q", "--date",
                      "2024-01-03").stdout)
check("after clean: a cached task is still a cache hit",
      hit["tasks"]["t"]["state"] == "success" and
      "cache" in json.dumps(s.ph("lineage", hit["run_id"], "t",
                                 "--json").stdout), hit)
q = s.ph("models", "show", "churn", "--json")
check("after clean: the model registry resolves every version",
      q.returncode == 0 and len(json.loads(q.stdout)) == 2 and
      all(os.path.exists(v["path"]) for v in json.loads(q.stdout)),
      q.stdout[-300:])
# a second clean finds nothing new to do
p = s.ph("db", "clean", "--older-than", "0s", "--json")
again = json.loads(p.stdout) if p.returncode == 0 else {}
check("db clean again: nothing left to delete but what became old",
      p.returncode == 0 and again.get("runs", -1) <= 2, again)

# log retention: log files of kept runs go, their rows stay
p = s.ph("db", "clean", "--logs-older-than", "0s", "--json")
ret = json.loads(p.stdout) if p.returncode == 0 else {}
check("log retention: deletes the log files of kept finished runs",
      ret.get("log_files", 0) >= 2 and ret.get("runs") == 0 and
      not [f for f in os.listdir(log_dir("plain", plain_runs[2]))
           if f.endswith(".log")], ret)
check("log retention: the runs stay",
      plain_runs[2] in runs_of("plain") and
      s.ph("runs", "show", plain_runs[2]).returncode == 0)
sys.exit(s.finish())
