#!/usr/bin/python3
"""The README's demo DAG, Lua and YAML: both run end to end; the second run
is a cache hit for every task marked cache: true; production is the model
with the better F1; the report exists; lineage and experiments work on it.
Usage: test_demo.py PIPEHOST EXAMPLES_DIR"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

PH, EX = sys.argv[1], sys.argv[2]
WORK = tempfile.mkdtemp(prefix="ph-demo-")
ENV = dict(os.environ, PIPEHOST_HOME=os.path.join(WORK, "home"))
CACHED = ("build_training_set", "train_xgboost", "train_logreg", "predict")
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
    p = subprocess.run([PH, *args], capture_output=True, text=True, env=ENV,
                       timeout=300, cwd=WORK)
    return p.returncode, p.stdout, p.stderr


def run(dag):
    rc, out, err = ph("run", os.path.join(EX, dag), "--json")
    run_id = json.loads(out)["run_id"] if rc in (0, 1) else None
    if not run_id:
        print(err)
        return rc, {}, {}
    show = json.loads(ph("runs", "show", run_id, "--json")[1])
    xc = json.loads(ph("xcom", "list", run_id, "--json")[1])
    return rc, {t["task_id"]: t for t in show["tasks"]}, xc


for dag, model in (("ml_pipeline.lua", "breast_cancer"),
                   ("ml_pipeline.yaml", "breast_cancer_yaml")):
    rc, ti, xc = run(dag)
    check(f"{dag}: the first run succeeds", rc == 0,
          str({k: v["state"] for k, v in ti.items()}))
    f1 = {t: xc.get(t, {}).get("return_value", {}).get("metrics", {}).get("f1")
          for t in ("train_xgboost", "train_logreg")}
    best = max(f1, key=lambda k: f1[k] or 0)
    promoted = "promote_xgboost" if best == "train_xgboost" else "promote_logreg"
    check(f"{dag}: the branch promotes the better model",
          ti.get(promoted, {}).get("state") == "success" and
          xc.get(promoted, {}).get("return_value", {}).get("version") ==
          xc.get(best, {}).get("return_value", {}).get("version"), str(f1))
    _, out, _ = ph("models", "show", model, "--json")
    prod = [m["version"] for m in json.loads(out) if "production" in m["aliases"]]
    check(f"{dag}: production is the better model's version",
          prod == [xc.get(best, {}).get("return_value", {}).get("version")],
          str(prod))
    p = xc.get("predict", {}).get("return_value", {})
    check(f"{dag}: predict scored the 69 new patients",
          p.get("rows") == 69 and sum(p.get("class_counts", {}).values()) == 69,
          str(p))
    report = xc.get("report", {}).get("return_value", "")
    check(f"{dag}: the report file exists",
          isinstance(report, str) and os.path.isfile(report), str(report))
    rc, ti2, _ = run(dag)
    hits = [t for t in CACHED
            if (ti2.get(t, {}).get("reason") or "").startswith("cached")]
    check(f"{dag}: the second run succeeds, every cache: true task a hit",
          rc == 0 and hits == list(CACHED),
          str({t: ti2.get(t, {}).get("reason") for t in CACHED}))
rc, out, _ = ph("lineage", "last", "predict")
check("lineage: predict names its model and input hashes",
      rc == 0 and "input model breast_cancer_yaml@production sha256:" in out,
      out)
rc, out, _ = ph("experiments", "compare")
check("experiments compare: both models side by side",
      rc == 0 and "train_xgboost" in out and "train_logreg" in out and
      "metrics.f1" in out, out)

shutil.rmtree(WORK, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
