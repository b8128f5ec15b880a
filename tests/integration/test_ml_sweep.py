#!/usr/bin/python3
"""The sweep demo (examples/ml_sweep.lua and .yaml, issue 20): 45 mapped
train tries over 5 folds x 9 settings, the reduce ranks them, the paired
t-test, the winner retrained and promoted; a rerun is all cache hits;
adding one grid point runs only its 5 new tries; experiments compare shows
the sweep; the YAML twin finds the same ranking.  The ranking is checked
against the train tries' own metrics, recomputed here.
Usage: test_ml_sweep.py PIPEHOST EXAMPLES_DIR"""
import json
import math
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

PH, EX = sys.argv[1], sys.argv[2]
WORK = tempfile.mkdtemp(prefix="ph-sweep-")
S = Suite(PH, WORK, dict(os.environ, PIPEHOST_HOME=os.path.join(WORK, "home")))
check, ph = S.check, S.ph


def run(path):
    p = ph("run", path, "--json", "-q")
    try:
        return json.loads(p.stdout)
    except ValueError:
        print(p.stdout[-2000:], p.stderr[-2000:])
        return {"state": None, "tasks": {}, "xcoms": {}}


def ran(r):
    """The instances that really ran (not cache hits)."""
    return sorted(k for k, t in r["tasks"].items()
                  if not (t.get("reason") or "").startswith("cached"))


# a copy of the examples (the sweep edits its grid; data stays shared)
ex = os.path.join(WORK, "examples")
os.makedirs(ex)
os.symlink(os.path.join(EX, "data"), os.path.join(ex, "data"))
for f in ("ml_sweep.lua", "ml_sweep.yaml"):
    shutil.copy(os.path.join(EX, f), ex)
lua = os.path.join(ex, "ml_sweep.lua")

r1 = run(lua)
trains = [k for k in r1["tasks"] if k.startswith("train_")]
check("sweep: 45 mapped train tries (6 + 3 settings x 5 folds), all succeed",
      r1["state"] == "success" and len(trains) == 45 and
      all(r1["tasks"][k]["state"] == "success" for k in trains),
      (r1["state"], len(trains)))
rank = r1["xcoms"].get("rank", {}).get("return_value", {})
ranking = rank.get("ranking", [])
# the ranking recomputed from the tries' own results
byconf = {}
for k in trains:
    rv = r1["xcoms"][k]["return_value"]
    key = (rv["algorithm"], json.dumps(rv["hyperparameters"], sort_keys=True))
    byconf.setdefault(key, {})[rv["validation_fold"]] = rv["metrics"]["f1"]
means = sorted(((statistics.mean(v.values()), k) for k, v in byconf.items()),
               reverse=True)
check("rank: 9 configurations, each with its 5 folds, ordered by mean F1 as "
      "recomputed from the tries",
      len(ranking) == 9 and all(len(c["f1"]) == 5 for c in ranking) and
      [round(c["mean"], 12) for c in ranking] ==
      [round(m, 12) for m, _ in means] and
      all(abs(c["sd"] - statistics.stdev(c["f1"])) < 1e-12 for c in ranking),
      (ranking[:2], means[:2]))
best, second = ranking[0]["f1"], ranking[1]["f1"]
d = [a - b for a, b in zip(best, second)]
sd = statistics.stdev(d)
t = statistics.mean(d) / (sd / math.sqrt(len(d))) if sd else None
check("rank: the paired t statistic over the folds, and a p-value in [0, 1]",
      0 <= rank.get("p_value", -1) <= 1 and
      (t is None or abs(rank.get("t", 1e9) - t) < 1e-9),
      (rank.get("t"), t, rank.get("p_value")))
re_ = r1["xcoms"].get("retrain[0]", {}).get("return_value", {})
check("retrain: the winner's algorithm and settings reach it through "
      "expand_kwargs; it is registered and promoted (no production yet)",
      re_.get("algorithm") == ranking[0]["algorithm"] and
      re_.get("hyperparameters") == ranking[0]["hyperparameters"] and
      re_.get("promoted") is True, re_)

r2 = run(lua)
check("rerun: every task is a cache hit", r2["state"] == "success" and
      ran(r2) == [] and len(r2["tasks"]) == 48, ran(r2))

with open(lua) as f:
    text = f.read()
with open(lua, "w") as f:
    f.write(text.replace("{ C = 10.0 } }", "{ C = 10.0 }, { C = 100.0 } }"))
r3 = run(lua)
new = [k for k in ran(r3) if k.startswith("train_")]
check("one grid point more: only its 5 folds train (the reduce reruns)",
      r3["state"] == "success" and len(new) == 5 and
      all(k.startswith("train_logreg[") for k in new) and "rank" in ran(r3) and
      all(r3["xcoms"][k]["return_value"]["hyperparameters"] == {"C": 100.0}
          for k in new), ran(r3))
cmp = ph("experiments", "compare")
rows = [ln for ln in cmp.stdout.splitlines() if ln.startswith("train_")]
check("experiments compare: the sweep one row per try, in map_index order, "
      "with the settings that differ and the metrics",
      cmp.returncode == 0 and len(rows) == 50 and
      rows[0].startswith("train_logreg[0] ") and
      rows[1].startswith("train_logreg[1] ") and
      "validation_f" in cmp.stdout and " f1 " in cmp.stdout and
      "max_depth" in cmp.stdout, cmp.stdout[:800])

ry = run(os.path.join(ex, "ml_sweep.yaml"))
ranky = ry["xcoms"].get("rank", {}).get("return_value", {})
check("the YAML twin: the same 45 tries (cache hits, same fingerprints) and "
      "the same ranking", ry["state"] == "success" and
      [c["config"] for c in ranky.get("ranking", [])] ==
      [c["config"] for c in ranking] and
      sum(1 for k in ry["tasks"] if k.startswith("train_")) == 45,
      (ry["state"], ranky.get("winner")))

sys.exit(S.finish())
