#!/usr/bin/env python3
"""Runs one scenario: a DAG (dag.yaml or dag.lua) and its expected.json.

  run_scenario.py --pipehost BIN --dir SCENARIO_DIR --format yaml|lua

expected.json: {"description", "state", "tasks": {id: {"state", "tries"?,
"reason"?: regex}},
"xcoms"?: {id: {key: value}}, "args"?: [...], "error"?: regex, "skip"?: why,
"runs"?: N (run N times in one home, check the last)}.
Every task must be listed.  Exit 0 pass, 1 fail (with a diff), 77 skip."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--pipehost", required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--format", choices=["yaml", "lua"], required=True)
a = ap.parse_args()

with open(os.path.join(a.dir, "expected.json")) as f:
    exp = json.load(f)
if exp.get("skip"):
    print("skipped:", exp["skip"])
    sys.exit(77)
dag = os.path.join(os.path.abspath(a.dir), "dag." + a.format)
home = tempfile.mkdtemp(prefix="ph-scenario-")
env = dict(os.environ, PIPEHOST_HOME=home, PIPEHOST_KILL_GRACE="1",
           **exp.get("env", {}))
try:
    # "runs": N runs the DAG N times in one home; the last is checked (a
    # rerun's cache hits)
    for _ in range(exp.get("runs", 1)):
        p = subprocess.run([a.pipehost, "run", dag, "--json", "-q",
                            *exp.get("args", [])], capture_output=True,
                           text=True, timeout=60, env=env, cwd=a.dir)
finally:
    logs = home
problems = []
if "error" in exp:
    if p.returncode != 2:
        problems.append(f"expected exit 2 (validation error), got {p.returncode}")
    if not re.search(exp["error"], p.stderr):
        problems.append(f"stderr does not match /{exp['error']}/:\n{p.stderr}")
else:
    want_rc = exp.get("exit", 0 if exp["state"] == "success" else 1)
    try:
        got = json.loads(p.stdout)
    except json.JSONDecodeError:
        got = None
        problems.append(f"no JSON on stdout (exit {p.returncode}):\n{p.stderr}")
    if got is not None:
        if p.returncode != want_rc:
            problems.append(f"exit: expected {want_rc}, got {p.returncode}; "
                            f"stderr ends:\n{p.stderr[-3000:]}")
        if got["state"] != exp["state"]:
            problems.append(f"run state: expected {exp['state']}, got {got['state']}")
        et, gt = exp["tasks"], got["tasks"]
        for tid in sorted(set(et) | set(gt)):
            if tid not in gt:
                problems.append(f"task {tid}: expected, not in the run")
                continue
            if tid not in et:
                problems.append(f"task {tid}: in the run, not in expected.json")
                continue
            for k in ("state", "tries"):
                if k in et[tid] and et[tid][k] != gt[tid].get(k):
                    problems.append(f"task {tid}: {k} expected {et[tid][k]!r}, "
                                    f"got {gt[tid].get(k)!r} "
                                    f"({gt[tid].get('reason', '')})")
            if "reason" in et[tid] and not re.search(
                    et[tid]["reason"], gt[tid].get("reason", "")):
                problems.append(f"task {tid}: reason does not match "
                                f"/{et[tid]['reason']}/: "
                                f"{gt[tid].get('reason', '')!r}")
        for tid, keys in exp.get("xcoms", {}).items():
            for k, v in keys.items():
                have = got.get("xcoms", {}).get(tid, {}).get(k, "<missing>")
                if have != v:
                    problems.append(f"xcom {tid}.{k}: expected {v!r}, got {have!r}")
shutil.rmtree(home, ignore_errors=True)
name = f"{os.path.basename(a.dir)} ({a.format})"
if problems:
    print(f"FAIL {name}: {exp.get('description', '')}")
    for pr in problems:
        print("  " + pr)
    print("0 passed, 1 failed")
    sys.exit(1)
print(f"ok   {name}")
print("1 passed, 0 failed")
