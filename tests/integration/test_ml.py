#!/usr/bin/python3
"""train / predict / model_promote against an oracle: scikit-learn and
python3-xgboost (Debian's), run here on the same split and settings
(research ML.md section 3: data row i is validation when i % 5 == 0).
Usage: test_ml.py PIPEHOST

Asserts: XGBoost accuracy equal exactly and probabilities within 1e-6;
logistic regression's correct count within one row of sklearn's
LogisticRegression(solver='liblinear'); every metric equal to
sklearn.metrics' on the plugin's own validation predictions (1e-9);
regression RMSE/MAE/R2; a reloaded model predicts what training predicted;
byte-identical model files from identical trainings; the registry promotes
only on improvement and predict by NAME@production follows it; bad input
(missing target, non-numeric feature, empty training set, corrupt model
file) fails with a message naming the problem."""
import csv
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb
from sklearn import metrics
from sklearn.linear_model import LogisticRegression

PH = sys.argv[1]
DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
WORK = tempfile.mkdtemp(prefix="ph-ml-")
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


def ph(*args):
    p = subprocess.run([PH, *args], capture_output=True, text=True,
                       timeout=300, env=ENV, cwd=WORK)
    return p.returncode, p.stdout, p.stderr


def write_csv(name, header, rows):
    path = os.path.join(WORK, name)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def sk_csv(fname):
    with open(os.path.join(DATA, fname)) as f:
        rows = list(csv.reader(f))[1:]
    n = len(rows[0]) - 1
    return [f"f{i}" for i in range(n)] + ["target"], rows


def load_sets():
    sets = {}
    for name, fname in (("breast_cancer", "breast_cancer.csv"),
                        ("iris", "iris.csv"), ("wine", "wine_data.csv")):
        header, rows = sk_csv(fname)
        sets[name] = write_csv(name + ".csv", header, rows)
    with gzip.open(os.path.join(DATA, "diabetes_data_raw.csv.gz"), "rt") as f:
        X = [l.split() for l in f if l.strip()]
    with gzip.open(os.path.join(DATA, "diabetes_target.csv.gz"), "rt") as f:
        y = [l.strip() for l in f if l.strip()]
    sets["diabetes"] = write_csv(
        "diabetes.csv", [f"f{i}" for i in range(10)] + ["target"],
        [x + [repr(float(t))] for x, t in zip(X, y)])
    return sets


def arrays(path):
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    a = np.array([[float(v) for v in r] for r in rows])
    X, y = a[:, :-1], a[:, -1]
    va = np.arange(len(y)) % 5 == 0
    return X[~va], y[~va], X[va], y[va]


def run_dag(name, tasks):
    """Writes and runs a DAG; returns (exit code, {task: runs-show entry},
    {task: xcoms})."""
    path = os.path.join(WORK, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"dag: {{id: {name}}}\ntasks:\n")
        for tid, spec in tasks.items():
            f.write(f"  {tid}: {json.dumps(spec)}\n")
    rc, out, err = ph("run", path, "--json")
    try:
        run_id = json.loads(out)["run_id"]
    except (ValueError, KeyError):
        print(err + out)
        return rc, {}, {}
    _, show, _ = ph("runs", "show", run_id, "--json")
    _, xc, _ = ph("xcom", "list", run_id, "--json")
    return (rc, {t["task_id"]: t for t in json.loads(show)["tasks"]},
            json.loads(xc))


def validation(model_path):
    with open(os.path.join(model_path, "validation.csv")) as f:
        return list(csv.DictReader(f))


sets = load_sets()
XGB = {"max_depth": 3, "eta": 0.3}
PY_XGB = dict(XGB, tree_method="exact", base_score=0.5, nthread=1, seed=0)

# 1. classification: breast_cancer (binary), iris and wine (multiclass)
for ds, k in (("breast_cancer", 2), ("iris", 3), ("wine", 3)):
    rc, ti, xc = run_dag("cls_" + ds, {
        "xgb": {"op": "train", "algorithm": "xgboost", "input": sets[ds],
                "target": "target", "hyperparameters": XGB},
        "lr": {"op": "train", "algorithm": "logistic_regression",
               "input": sets[ds], "target": "target"}})
    check(f"{ds}: both trainings succeed", rc == 0, str(ti))
    if rc != 0:
        continue
    Xt, yt, Xv, yv = arrays(sets[ds])
    params = dict(PY_XGB, objective="binary:logistic" if k == 2
                  else "multi:softprob")
    if k > 2:
        params["num_class"] = k
    booster = xgb.train(params, xgb.DMatrix(Xt, label=yt), 20)
    pp = booster.predict(xgb.DMatrix(Xv))
    py_pred = (pp > 0.5).astype(int) if k == 2 else pp.argmax(axis=1)
    py_acc = float((py_pred == yv).mean())
    m = xc["xgb"]["metrics"]
    check(f"{ds}: XGBoost accuracy equals python3-xgboost's exactly",
          m["accuracy"] == py_acc, f"{m['accuracy']} vs {py_acc}")
    rows = validation(xc["xgb"]["return_value"]["model_path"])
    ours = np.array([int(r["prediction"]) for r in rows])
    check(f"{ds}: XGBoost predictions equal row for row",
          (ours == py_pred).all())
    if k == 2:
        prob = np.array([float(r["probability"]) for r in rows])
        check(f"{ds}: XGBoost probabilities within 1e-6",
              np.abs(prob - pp).max() < 1e-6, str(np.abs(prob - pp).max()))
    lr = LogisticRegression(solver="liblinear", C=1.0).fit(Xt, yt)
    sk_correct = int((lr.predict(Xv) == yv).sum())
    ml = xc["lr"]["metrics"]
    our_correct = round(ml["accuracy"] * len(yv))
    check(f"{ds}: logistic regression within one row of sklearn's",
          abs(our_correct - sk_correct) <= 1, f"{our_correct} vs {sk_correct}")
    # metrics equal sklearn.metrics on our own predictions
    for tid in ("xgb", "lr"):
        rows = validation(xc[tid]["return_value"]["model_path"])
        yt_ = np.array([int(r["target"]) for r in rows])
        yp_ = np.array([int(r["prediction"]) for r in rows])
        avg = "binary" if k == 2 else "macro"
        ref = {"accuracy": metrics.accuracy_score(yt_, yp_),
               "precision": metrics.precision_score(yt_, yp_, average=avg,
                                                    zero_division=0),
               "recall": metrics.recall_score(yt_, yp_, average=avg,
                                              zero_division=0),
               "f1": metrics.f1_score(yt_, yp_, average=avg, zero_division=0)}
        if k == 2:
            pr = np.array([float(r["probability"]) for r in rows])
            ref["roc_auc"] = metrics.roc_auc_score(yt_, pr)
            # the CSV holds probabilities to 17 digits: log loss to 1e-9
            ref["log_loss"] = metrics.log_loss(yt_, np.c_[1 - pr, pr])
        got = xc[tid]["metrics"]
        bad = {key: (got.get(key), v) for key, v in ref.items()
               if got.get(key) is None or abs(got[key] - v) > 1e-9}
        check(f"{ds}/{tid}: metrics equal sklearn.metrics'", not bad, str(bad))

# 2. regression: diabetes
rc, ti, xc = run_dag("reg", {
    "xgb": {"op": "train", "algorithm": "xgboost", "input": sets["diabetes"],
            "target": "target", "task": "regression",
            "hyperparameters": XGB}})
check("diabetes: regression trains", rc == 0, str(ti))
if rc == 0:
    Xt, yt, Xv, yv = arrays(sets["diabetes"])
    booster = xgb.train(dict(PY_XGB, objective="reg:squarederror"),
                        xgb.DMatrix(Xt, label=yt), 20)
    pp = booster.predict(xgb.DMatrix(Xv)).astype(np.float64)
    m = xc["xgb"]["metrics"]
    ref = {"rmse": float(np.sqrt(metrics.mean_squared_error(yv, pp))),
           "mae": metrics.mean_absolute_error(yv, pp),
           "r2": metrics.r2_score(yv, pp)}
    bad = {key: (m.get(key), v) for key, v in ref.items()
           if m.get(key) is None or abs(m[key] - v) > 1e-4 * max(1, abs(v))}
    check("diabetes: RMSE, MAE, R2 equal python3-xgboost + sklearn's", not bad,
          str(bad))

# 3. determinism, reload, registry and promotion
bc = sets["breast_cancer"]
rc, ti, xc = run_dag("reg1", {
    "a": {"op": "train", "algorithm": "xgboost", "input": bc,
          "target": "target", "hyperparameters": XGB, "register": "bc",
          "promote_if_better": {"metric": "f1"}},
    "b": {"op": "train", "algorithm": "xgboost", "input": bc,
          "target": "target", "hyperparameters": XGB},
    "c": {"op": "train", "algorithm": "logistic_regression", "input": bc,
          "target": "target"},
    "score": {"op": "predict", "model": "bc@production", "input": bc,
              "upstream": ["a"]}})
check("registry run succeeds", rc == 0, str(ti))


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


if rc == 0:
    pa, pb = (xc[t]["return_value"]["model_path"] for t in ("a", "b"))
    check("same data and params give a byte-identical XGBoost model",
          digest(os.path.join(pa, "model.json")) ==
          digest(os.path.join(pb, "model.json")))
    check("the first registered version is promoted",
          xc["a"]["return_value"]["promoted"] is True and
          xc["a"]["return_value"]["version"] == 1)
    out = xc["score"]["return_value"]
    check("predict by bc@production uses version 1", out.get("version") == 1,
          str(out))
    with open(out["output"]) as f:
        preds = list(csv.DictReader(f))
    val = validation(pa)
    same = all(preds[int(r["row"])]["prediction"] == r["prediction"] and
               abs(float(preds[int(r["row"])]["probability"]) -
                   float(r["probability"])) < 1e-12 for r in val)
    check("a reloaded model predicts what training predicted", same)
    check("predictions carry the input's non-feature columns and a probability",
          list(preds[0].keys()) == ["target", "prediction", "probability"],
          str(list(preds[0].keys())))
    # a worse model is registered but not promoted; a model_promote task
    # with only_if_better keeps production where it is
    rc, ti, xc2 = run_dag("reg2", {
        "worse": {"op": "train", "algorithm": "logistic_regression",
                  "input": bc, "target": "target", "register": "bc",
                  "promote_if_better": {"metric": "f1"}},
        "try_promote": {"op": "model_promote", "model": "bc", "version": 2,
                        "metric": "accuracy", "upstream": ["worse"]}})
    rv = xc2.get("worse", {}).get("return_value", {})
    check("a worse model becomes version 2 and is not promoted",
          rc == 0 and rv.get("version") == 2 and rv.get("promoted") is False,
          str(rv))
    pr = xc2.get("try_promote", {}).get("return_value", {})
    dec = xc2.get("try_promote", {}).get("decision", {})
    check("model_promote keeps production when the candidate is worse",
          dec.get("promoted") is False and pr.get("version") == 1 and
          "does not beat" in dec.get("reason", ""), f"{pr} {dec}")
    _, out, _ = ph("models", "show", "bc", "--json")
    vs = {m["version"]: m["aliases"] for m in json.loads(out)}
    check("the registry shows production on version 1", vs.get(1) ==
          ["production"] and vs.get(2) == [], str(vs))

# 3b. tables through connections: SQLite and PostgreSQL (a throw-away
# server from services/postgres.sh unless PH_TEST_PG_URI is set)
iris_rows = [r.split(",") for r in open(sets["iris"]).read().split()[1:]]
stmts = ["DROP TABLE IF EXISTS iris",
         "CREATE TABLE iris (f0 REAL, f1 REAL, f2 REAL, f3 REAL, target INTEGER)"]
stmts += [f"INSERT INTO iris VALUES ({', '.join(r)})" for r in iris_rows]
lite = os.path.join(WORK, "ml.db")
ENV["PIPEHOST_CONN_LITE"] = f"sqlite://{lite}"
pg_uri, own_pg = os.environ.get("PH_TEST_PG_URI"), None
if not pg_uri:
    own_pg = os.path.join(WORK, "pg")
    os.makedirs(own_pg)
    os.chmod(WORK, 0o755)
    os.chmod(own_pg, 0o755)
    out = subprocess.run(["bash", os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "services", "postgres.sh"), "up", own_pg],
        capture_output=True, text=True).stdout
    pg_uri = next((l.split("=", 1)[1] for l in out.splitlines()
                   if l.startswith("PH_TEST_PG_URI=")), None)
if pg_uri:
    ENV["PIPEHOST_CONN_PG"] = pg_uri
for conn in ("lite", "pg") if pg_uri else ("lite",):
    rc, ti, xc = run_dag("tables_" + conn, {
        "load": {"op": "sql", "conn_id": conn, "sql": stmts},
        "from_table": {"op": "train", "algorithm": "xgboost",
                       "upstream": ["load"],
                       "input": {"conn_id": conn, "table": "iris"},
                       "target": "target", "hyperparameters": XGB},
        "from_csv": {"op": "train", "algorithm": "xgboost",
                     "input": sets["iris"], "target": "target",
                     "hyperparameters": XGB},
        "score": {"op": "predict", "upstream": ["from_table"],
                  "model": "{{ xcom_pull('from_table').model_path }}",
                  "input": {"conn_id": conn,
                            "query": "SELECT * FROM iris WHERE target = 2"},
                  "output": {"conn_id": conn, "table": "iris_scored"}},
        "count": {"op": "sql", "conn_id": conn, "upstream": ["score"],
                  "sql": "SELECT count(*) AS n FROM iris_scored"}})
    check(f"{conn}: training from a table equals training from the CSV",
          rc == 0 and xc.get("from_table", {}).get("metrics") ==
          xc.get("from_csv", {}).get("metrics"), str(ti))
    check(f"{conn}: predict reads a query and writes a table",
          xc.get("count", {}).get("return_value") == [{"n": 50}],
          str(xc.get("count")))
if own_pg:
    subprocess.run(["bash", os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "services", "postgres.sh"), "down", own_pg])

# 4. bad input: each a clear message
empty = write_csv("empty.csv", ["f0", "target"], [])
words = write_csv("words.csv", ["f0", "f1", "target"],
                  [[1, "abc", 0], [2, 3, 1], [3, 4, 0], [4, 5, 1]] * 3)
rc, ti, xc = run_dag("bad", {
    "no_target": {"op": "train", "algorithm": "xgboost", "input": bc,
                  "target": "diagnosis"},
    "not_numeric": {"op": "train", "algorithm": "xgboost", "input": words,
                    "target": "target", "features": ["f0", "f1"]},
    "empty_set": {"op": "train", "algorithm": "logistic_regression",
                  "input": empty, "target": "target"},
    "no_file": {"op": "train", "algorithm": "xgboost",
                "input": os.path.join(WORK, "nope.csv"), "target": "target"},
    "bad_algo": {"op": "train", "algorithm": "random_forest", "input": bc,
                 "target": "target"}})
expect = {"no_target": "no target column 'diagnosis'",
          "not_numeric": "column 'f1', data row 5: 'abc' is not a number",
          "empty_set": "the training set is empty",
          "no_file": "nope.csv",
          "bad_algo": "algorithm 'random_forest' is not one of"}
for tid, msg in expect.items():
    t = ti.get(tid, {})
    check(f"bad input: {tid} fails once with a clear reason",
          t.get("state") == "failed" and msg in (t.get("reason") or ""),
          f"{t.get('state')}: {t.get('reason')}")
# a corrupt model file
if os.path.isdir(os.path.join(WORK, "home")):
    rc, ti, xc = run_dag("corrupt_src", {
        "m": {"op": "train", "algorithm": "xgboost", "input": bc,
              "target": "target"}})
    src = xc["m"]["return_value"]["model_path"]
    broken = os.path.join(WORK, "broken_model")
    shutil.copytree(src, broken)
    with open(os.path.join(broken, "model.json"), "w") as f:
        f.write('{"learner": truncated')
    rc, ti, xc = run_dag("corrupt", {
        "p": {"op": "predict", "model": broken, "input": bc},
        "q": {"op": "predict", "model": "nosuchmodel@production",
              "input": bc}})
    r = ti.get("p", {}).get("reason") or ""
    check("a corrupt model file fails predict, naming the file",
          ti.get("p", {}).get("state") == "failed" and "model.json" in r and
          "not a valid XGBoost model" in r, r)
    r = ti.get("q", {}).get("reason") or ""
    check("an unknown registry reference fails predict clearly",
          "nosuchmodel@production" in r and "registered model" in r, r)

# issue 16: sklearn fidelity at the edges
# (10) a class absent from the validation rows: sklearn's macro average
# runs over the labels present in y_true or y_pred
header, rows = sk_csv("iris.csv")
by = {c: [r for r in rows if r[-1] == c] for c in ("0", "1", "2")}
mixed, low = [], by["0"] + by["1"]
twos = list(by["2"])
for i in range(120):
    # validation rows (i % 5 == 0) never hold class 2
    mixed.append(low.pop(0) if i % 5 == 0 or not twos else
                 (twos.pop(0) if i % 2 else low.pop(0)))
absent = write_csv("absent.csv", header, mixed)
# (13) a class present only in the validation rows (the training rows
# keep two classes)
low = by["0"] + by["1"]
only_val = low[:40] + by["1"][:20]
for i in range(0, len(only_val), 5):
    only_val[i] = by["2"][i // 5]
onlyv = write_csv("onlyval.csv", header, only_val)
# every training row of one class, the other only in validation rows
one = list(by["0"][:40])
for i in range(0, 40, 5):
    one[i] = by["1"][i]
onlyone = write_csv("onlyone.csv", header, one)
rc, ti, xc = run_dag("sk_edges", {
    "absent_xgb": {"op": "train", "algorithm": "xgboost", "input": absent,
                   "target": "target", "hyperparameters": XGB},
    "absent_lr": {"op": "train", "algorithm": "logistic_regression",
                  "input": absent, "target": "target"},
    "onlyval_lr": {"op": "train", "algorithm": "logistic_regression",
                   "input": onlyv, "target": "target"},
    "softmax": {"op": "train", "algorithm": "xgboost", "input": absent,
                "target": "target",
                "hyperparameters": {"objective": "multi:softmax"}},
    "logitraw": {"op": "train", "algorithm": "xgboost",
                 "input": sets["breast_cancer"], "target": "target",
                 "hyperparameters": {"objective": "binary:logitraw"}},
    "rounds0": {"op": "train", "algorithm": "xgboost", "input": absent,
                "target": "target", "num_round": 0},
    "oneclass": {"op": "train", "algorithm": "logistic_regression",
                 "input": onlyone, "target": "target"}})
for tid in ("absent_xgb", "absent_lr"):
    if tid not in xc:
        check(f"absent class: {tid} trains", False, str(ti.get(tid)))
        continue
    vrows = validation(xc[tid]["return_value"]["model_path"])
    yt_ = np.array([int(r["target"]) for r in vrows])
    yp_ = np.array([int(r["prediction"]) for r in vrows])
    ref = {m: getattr(metrics, f"{m}_score")(yt_, yp_, average="macro",
                                              zero_division=0)
           for m in ("precision", "recall", "f1")}
    got = xc[tid]["metrics"]
    bad = {key: (got.get(key), v) for key, v in ref.items()
           if got.get(key) is None or abs(got[key] - v) > 1e-9}
    check(f"a class absent from validation ({tid}): macro metrics equal "
          "sklearn's", not bad and 2 not in set(yt_), str(bad))
ll = xc.get("onlyval_lr", {}).get("metrics", {}).get("log_loss")
check("a class only in validation rows: logistic regression's log_loss is "
      "finite (its probability slot is 0, not garbage)",
      ll is not None and np.isfinite(ll) and ll > 0, str(ti.get("onlyval_lr")))
for tid, msg in (("oneclass", "the training rows hold a single class"),
                 ("softmax", "multi:softprob only"),
                 ("logitraw", "binary:logistic only"),
                 ("rounds0", "num_round must be at least 1, got 0")):
    t = ti.get(tid, {})
    check(f"train refuses {tid} with a clear reason",
          t.get("state") == "failed" and msg in (t.get("reason") or ""),
          f"{t.get('state')}: {t.get('reason')}")
# (14) the effective configuration is tracked
rc, out, err = ph("experiments", "list", "--json")
try:
    exps = json.loads(out)
except ValueError:
    exps = []
params = {}
for e in exps:
    if e.get("task_id") in ("absent_xgb", "absent_lr"):
        rc2, o2, _ = ph("experiments", "show", str(e["id"]), "--json")
        try:
            params[e["task_id"]] = json.loads(o2).get("params", {})
        except ValueError:
            pass
px, pl = params.get("absent_xgb", {}), params.get("absent_lr", {})
check("tracked params hold the effective configuration (XGBoost's pinned "
      "tree_method, base_score, nthread, seed; liblinear's C and eps)",
      px.get("tree_method") == "exact" and px.get("base_score") == 0.5 and
      px.get("nthread") == 1 and px.get("seed") == 0 and
      px.get("max_depth") == 3 and pl.get("C") == 1.0 and
      pl.get("eps") == 1e-4, f"{px} {pl}")

# (15) data formats users already have, and a baseline
gz = os.path.join(WORK, "bc.csv.gz")
with open(sets["breast_cancer"], "rb") as f, gzip.open(gz, "wb") as g:
    g.write(f.read())
raw = os.path.join(DATA, "diabetes_data_raw.csv.gz")
tgt = os.path.join(DATA, "diabetes_target.csv.gz")
rc, ti, xc = run_dag("formats", {
    "plain": {"op": "train", "algorithm": "xgboost",
              "input": sets["breast_cancer"], "target": "target",
              "hyperparameters": XGB},
    "gzipped": {"op": "train", "algorithm": "xgboost", "input": gz,
                "target": "target", "hyperparameters": XGB},
    "diab_csv": {"op": "train", "algorithm": "xgboost",
                 "input": sets["diabetes"], "target": "target",
                 "task": "regression", "hyperparameters": XGB},
    "diab_raw": {"op": "train", "algorithm": "xgboost", "target": "target",
                 "task": "regression", "hyperparameters": XGB,
                 "input": {"path": raw, "sep": "whitespace",
                           "header": False,
                           "columns": [f"f{i}" for i in range(10)],
                           "target_path": tgt}},
    "hint": {"op": "train", "algorithm": "xgboost", "input": raw,
             "target": "target"},
    "base_cls": {"op": "train", "algorithm": "baseline",
                 "input": sets["iris"], "target": "target"},
    "base_reg": {"op": "train", "algorithm": "baseline",
                 "input": sets["diabetes"], "target": "target",
                 "task": "regression"}})
m = lambda tid: xc.get(tid, {}).get("metrics", {})  # noqa: E731
check("a .csv.gz file trains exactly as the plain CSV",
      m("gzipped") and m("gzipped") == m("plain"), f"{m('gzipped')}")
check("a whitespace-separated, header-less, gzip file with its target in "
      "another file trains as the same data in one CSV",
      m("diab_raw") and all(abs(m("diab_raw")[k] - m("diab_csv")[k]) < 1e-9
                            for k in ("rmse", "mae", "r2")),
      f"{m('diab_raw')} vs {m('diab_csv')}")
r = ti.get("hint", {}).get("reason") or ""
check("a misread layout names what the file looks like and the param that "
      "reads it", "whitespace" in r and "sep" in r, r)
from sklearn.dummy import DummyClassifier, DummyRegressor  # noqa: E402
Xt, yt, Xv, yv = arrays(sets["iris"])
dc = DummyClassifier(strategy="prior").fit(Xt, yt)
check("baseline classifier: accuracy equals sklearn's DummyClassifier(prior)",
      abs(m("base_cls").get("accuracy", -1) - dc.score(Xv, yv)) < 1e-12,
      f"{m('base_cls')} vs {dc.score(Xv, yv)}")
Xt, yt, Xv, yv = arrays(sets["diabetes"])
dr = DummyRegressor().fit(Xt, yt)
pv = dr.predict(Xv)
check("baseline regressor: R2 and MAE equal sklearn's DummyRegressor",
      abs(m("base_reg").get("r2", 9) - metrics.r2_score(yv, pv)) < 1e-9 and
      abs(m("base_reg").get("mae", 9) -
          metrics.mean_absolute_error(yv, pv)) < 1e-9, f"{m('base_reg')}")

# relative paths in path params mean next to the DAG file (not the
# working directory)
sub = os.path.join(WORK, "dags")
os.makedirs(sub)
shutil.copy(sets["iris"], os.path.join(sub, "rel.csv"))
with open(os.path.join(sub, "rel.yaml"), "w") as f:
    f.write("dag: {id: rel}\ntasks:\n  t: {op: train, algorithm: baseline, "
            "input: rel.csv, target: target}\n")
rc, out, err = ph("run", os.path.join(sub, "rel.yaml"), "--json")
try:
    st = json.loads(out)["tasks"]["t"]["state"]
except (ValueError, KeyError):
    st = None
check("a relative input path resolves against the DAG file's directory",
      st == "success", err[-300:] + out[-300:])

shutil.rmtree(WORK, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
