#!/usr/bin/env python3
"""Fault-injection torture: for each fault point, fail its 1st, 2nd, ...
call in turn (PIPEHOST_FAULT=POINT:N) while a small DAG runs, and check
that pipehost never crashes, exits 0, 1 or 2 with a message, leaves a
store that passes SQLite's integrity check and can still be read, and never
prints an outcome the store does not hold (a failed write or commit is exit
2, not success).
Needs a Debug build (`pipehost --version` says "with fault injection");
otherwise exits 77 (skipped).  Usage: torture.py PIPEHOST"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

PH = sys.argv[1]
if "fault injection" not in subprocess.run([PH, "--version"], capture_output=True,
                                            text=True).stdout:
    print("skipped: this build has no fault injection (use a Debug build)")
    sys.exit(77)
POINTS = {"store_write": 70, "store_commit": 12, "log_open": 6, "spawn": 6,
          "plugin_load": 6}
work = tempfile.mkdtemp(prefix="ph-torture-")
dag = os.path.join(work, "dag.yaml")
with open(dag, "w") as f:
    f.write("""dag: {id: torture}
tasks:
  a: {op: bash, command: "echo 1"}
  b: {op: lua, fn: "xcom_pull('a') .. '2'", upstream: [a]}
  c: {op: bash, command: "exit 1", retries: 1, retry_delay: 0}
  d: {op: empty, upstream: [b, c], trigger_rule: all_done}
""")
passed = failed = 0
for point, n_max in POINTS.items():
    for n in range(1, n_max + 1):
        home = os.path.join(work, f"{point}-{n}")
        env = dict(os.environ, PIPEHOST_HOME=home, PIPEHOST_FAULT=f"{point}:{n}")
        p = subprocess.run([PH, "run", dag, "--json", "-q"], capture_output=True,
                           text=True, timeout=60, env=env)
        problems = []
        if p.returncode not in (0, 1, 2):
            problems.append(f"exit {p.returncode}")
        if "Sanitizer" in p.stderr or "runtime error" in p.stderr:
            problems.append("sanitizer report")
        if p.returncode in (0, 1):
            try:
                json.loads(p.stdout)
            except json.JSONDecodeError:
                problems.append("no JSON summary")
        db = os.path.join(home, "pipehost.db")
        if os.path.exists(db):
            con = sqlite3.connect(db)
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            con.close()
            if ok != "ok":
                problems.append(f"store integrity: {ok}")
            r = subprocess.run([PH, "runs", "list", "--json"], capture_output=True,
                               text=True, env=dict(env, PIPEHOST_FAULT=""))
            if r.returncode != 0:
                problems.append("store unreadable afterwards")
            elif p.returncode in (0, 1):
                # an outcome printed must be the outcome on disk
                try:
                    said = json.loads(p.stdout)
                    runs = {x["run_id"]: x["state"] for x in json.loads(r.stdout)}
                    if runs.get(said["run_id"]) != said["state"]:
                        problems.append(f"printed {said['state']}, store has "
                                        f"{runs.get(said['run_id'])}")
                except (ValueError, KeyError):
                    problems.append("no JSON summary")
        if problems:
            failed += 1
            print(f"FAIL {point}:{n}: {', '.join(problems)}\n{p.stderr[-800:]}")
        else:
            passed += 1
# a host slow to note where an exec'd command's output starts (a loaded
# machine): the command's last line is still the return value (the worker
# waits for the note before it execs; it once raced the command's output).
# A bash task with env runs in a worker that becomes the command.
ex = os.path.join(work, "exec.yaml")
with open(ex, "w") as f:
    f.write("dag: {id: execnote}\ntasks:\n"
            "  m: {op: bash, command: '/bin/echo limited', "
            "env: {X: '1'}}\n")
env = dict(os.environ, PIPEHOST_HOME=os.path.join(work, "exec"),
           PIPEHOST_FAULT="exec_note_delay:1")
p = subprocess.run([PH, "run", ex, "--json", "-q"], capture_output=True,
                   text=True, timeout=60, env=env)
try:
    rv = json.loads(p.stdout)["xcoms"]["m"]["return_value"]
except (ValueError, KeyError):
    rv = None
if rv == "limited":
    passed += 1
else:
    failed += 1
    print(f"FAIL exec_note_delay: return value {rv!r}\n{p.stdout[-400:]}")
shutil.rmtree(work, ignore_errors=True)
print(f"faults injected at {', '.join(POINTS)}, exec_note_delay")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
