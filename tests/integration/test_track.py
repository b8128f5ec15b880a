#!/usr/bin/env python3
"""Result caching, experiment tracking and the model registry (ABI 1.1),
with real runs of the pipehost binary and the test plugin's `tracker`
operator.  Usage: test_track.py PIPEHOST TEST_PLUGIN_DIR"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

PH, GOOD = sys.argv[1], sys.argv[2]
passed = failed = 0
WORK = tempfile.mkdtemp(prefix="ph-track-")
HOME = os.path.join(WORK, "home")
ENV = dict(os.environ, PIPEHOST_HOME=HOME, PIPEHOST_PLUGIN_PATH=GOOD)


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def ph(*args):
    p = subprocess.run([PH, *args], capture_output=True, text=True,
                       timeout=120, env=ENV, cwd=WORK)
    return p.returncode, p.stdout, p.stderr


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(path, *extra):
    """Runs a DAG; returns its exit status and `runs show --json`."""
    rc, out, err = ph("run", path, "--json", *extra)
    try:
        run_id = json.loads(out)["run_id"]
    except (json.JSONDecodeError, KeyError):
        print(err + out)
        return rc, None
    rc2, out, err = ph("runs", "show", run_id, "--json")
    return rc, json.loads(out)


def tasks(doc):
    return {t["task_id"]: t for t in doc["tasks"]} if doc else {}


def runs_of(log):
    try:
        with open(log) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


# 1. cache: true -- a second run with the same inputs reuses everything
data = write("input.csv", "a,b\n1,2\n")
log_t, log_d = os.path.join(WORK, "t.log"), os.path.join(WORK, "d.log")
dag = """
dag: {id: cached}
tasks:
  train: {op: tracker, cache: true, input: "%s", score: %s, log_file: "%s"}
  downstream: {op: bash, cache: true, upstream: [train],
               command: "echo {{ xcom_pull('train')['version'] }} >> %s; echo done"}
  always: {op: bash, upstream: [downstream], command: "echo always"}
"""
path = write("cached.yaml", dag % (data, "0.5", log_t, log_d))
rc, d1 = run(path)
t1 = tasks(d1)
check("cache: first run succeeds", rc == 0 and d1["state"] == "success",
      str(d1))
check("cache: first run executes every task",
      runs_of(log_t) == 1 and runs_of(log_d) == 1)
rc, d2 = run(path)
t2 = tasks(d2)
check("cache: second run succeeds", rc == 0 and d2["state"] == "success")
check("cache: unchanged task is not executed again",
      runs_of(log_t) == 1 and runs_of(log_d) == 1,
      f"{runs_of(log_t)} {runs_of(log_d)}")
check("cache: the reason says cached",
      "cached" in (t2["train"].get("reason") or "") and
      "cached" in (t2["downstream"].get("reason") or ""), str(t2))
check("cache: a task without cache: true runs again",
      t2["always"]["try_number"] == 1 and
      "cached" not in (t2["always"].get("reason") or ""))
rc, out, _ = ph("xcom", "list", "last", "--json")
x = json.loads(out) if rc == 0 else {}
check("cache: the reused XComs are in the new run",
      x.get("train", {}).get("return_value", {}).get("version") == 1, out)
mp = x.get("train", {}).get("return_value", {}).get("path", "")
check("cache: the artifact path contains the fingerprint",
      os.path.exists(mp) and "/artifacts/cached/train/" in mp)
rc, out, _ = ph("lineage", "last", "downstream")
check("lineage: names the upstream, the input file and its hash",
      rc == 0 and "upstream train sha256:" in out and
      f"input {data} sha256:" in out and "cached" in out, out)

# a changed input file invalidates the task and everything downstream
write("input.csv", "a,b\n1,3\n")
rc, d3 = run(path)
check("cache: a changed input file reruns the task and its downstream",
      rc == 0 and runs_of(log_t) == 2 and runs_of(log_d) == 2,
      f"{runs_of(log_t)} {runs_of(log_d)}")
rc, d4 = run(path)
check("cache: ...and the run after that is cached again",
      runs_of(log_t) == 2 and runs_of(log_d) == 2)
# a changed param invalidates it
path = write("cached.yaml", dag % (data, "0.25", log_t, log_d))
rc, d5 = run(path)
check("cache: a changed param reruns the task", runs_of(log_t) == 3)
# back to an earlier param and input: that result is still cached
write("input.csv", "a,b\n1,2\n")
path = write("cached.yaml", dag % (data, "0.5", log_t, log_d))
rc, d6 = run(path)
check("cache: an earlier combination is still a cache hit",
      runs_of(log_t) == 3, str(runs_of(log_t)))
# a deleted artifact directory: the cached result is not trusted
shutil.rmtree(os.path.join(HOME, "artifacts", "cached", "train"))
rc, d7 = run(path)
check("cache: a result whose artifact directory is gone is rebuilt",
      rc == 0 and runs_of(log_t) == 4, str(runs_of(log_t)))

# 2. tracking and the registry, with promotion only when better
reg = """
dag: {id: registry}
tasks:
  fit: {op: tracker, input: "%s", score: %s, model: churn}
"""
versions = []
for score in ("0.5", "0.4", "0.9"):
    p = write("reg.yaml", reg % (data, score))
    rc, d = run(p)
    rc2, out, _ = ph("xcom", "list", "last", "--json")
    versions.append(json.loads(out)["fit"]["return_value"])
check("registry: each run registers a new version",
      [v["version"] for v in versions] == [1, 2, 3], str(versions))
check("registry: promoted only when the metric improves",
      [v["promoted"] for v in versions] == [True, False, True], str(versions))
rc, out, _ = ph("models", "list", "--json")
ms = json.loads(out) if rc == 0 else []
prod = [m for m in ms if m["name"] == "churn" and "production" in m["aliases"]]
check("models list: production is version 3",
      len(prod) == 1 and prod[0]["version"] == 3, out)
rc, out, _ = ph("models", "promote", "churn", "1", "--alias", "production")
check("models promote: moves the alias", rc == 0, out)
rc, out, _ = ph("models", "show", "churn", "--json")
vs = {m["version"]: m for m in json.loads(out)} if rc == 0 else {}
check("models show: the alias moved to version 1, away from 3",
      "production" in vs.get(1, {}).get("aliases", []) and
      "production" not in vs.get(3, {}).get("aliases", []), out)
check("models show: versions carry the metrics of their try",
      vs.get(3, {}).get("metrics", {}).get("score") == 0.9, out)
rc, out, err = ph("models", "promote", "churn", "7")
check("models promote: an unknown version is an error",
      rc == 1 and "no version 7" in err, err)
rc, out, err = ph("models", "show", "nosuch")
check("models show: an unknown model is an error", rc == 1 and "nosuch" in err)
# a run with a fresh DAG picks the promoted version up by reference
rc, out, _ = ph("experiments", "list", "--json")
ex = json.loads(out) if rc == 0 else []
fits = [e for e in ex if e["task_id"] == "fit"]
check("experiments list: one experiment per tracked try",
      len(fits) == 3 and all(e["state"] == "success" for e in fits), out)
check("experiments: params and metrics recorded",
      fits and fits[0]["metrics"] == {"score": 0.9} and
      fits[0]["params"]["model"] == "churn", str(fits[:1]))
ids = [str(e["id"]) for e in fits[:2]]
rc, out, _ = ph("experiments", "compare", *ids)
check("experiments compare: a side-by-side table of metrics",
      rc == 0 and "metrics.score" in out and "0.9" in out and "0.4" in out,
      out)
rc, out, _ = ph("experiments", "compare")
check("experiments compare: defaults to the newest run's experiments",
      rc == 0 and "metrics.score" in out, out)
rc, out, err = ph("experiments", "show", "99999")
check("experiments show: unknown id is an error", rc == 1 and "99999" in err)

shutil.rmtree(WORK, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
