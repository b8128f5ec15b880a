#!/usr/bin/env python3
"""Datasets (issue 20): outlets record events (one per mapped instance),
`datasets list|show|stale`, lineage across DAGs, dataset-triggered runs and
lazy freshness under the real scheduler, and OpenLineage run events sent
to a local HTTP server that checks the spec's required fields.
Usage: test_datasets.py PIPEHOST"""
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

ph_bin = sys.argv[1]
work = tempfile.mkdtemp(prefix="ph-datasets-")
dags = os.path.join(work, "dags")
os.makedirs(dags)
env = dict(os.environ, PIPEHOST_HOME=os.path.join(work, "home"))
s = Suite(ph_bin, work, env)
check = s.check


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def runs_of(dag_id):
    out = json.loads(s.ph("runs", "list", "--json", "--limit", "0").stdout)
    return sorted((r for r in out if r["dag_id"] == dag_id),
                  key=lambda r: r["start_date"])


def events(uri):
    p = s.ph("datasets", "show", uri, "--json", "--limit", "0")
    return json.loads(p.stdout)["events"] if p.returncode == 0 else []


def wait_for(cond, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.1)
    return False


# 1. outlets record an event per successful try; a mapped task one per
# instance; a failed task none
m = write(os.path.join(work, "mapped.yaml"), """dag: {id: mapped}
tasks:
  part:
    op: bash
    outlets: ["s3://lake/parts"]
    expand: {command: ["echo 0", "echo 1", "echo 2"]}
  broken: {op: bash, command: "exit 1", outlets: ["s3://lake/broken"]}
""")
s.ph("run", m, "-q")
ev = events("s3://lake/parts")
check("outlets: a mapped task records one dataset event per instance",
      sorted(e["map_index"] for e in ev) == [0, 1, 2] and
      all(e["dag_id"] == "mapped" and e["task_id"] == "part" for e in ev),
      ev)
lst = json.loads(s.ph("datasets", "list", "--json").stdout)
broken = [d for d in lst if d["uri"] == "s3://lake/broken"]
check("outlets: a failed task records none; the dataset is known, never "
      "updated", broken and broken[0]["events"] == 0 and
      broken[0]["last_update"] is None, broken)

# 2. freshness: stale exits 1 and lists what is past its max_lag
f = write(os.path.join(work, "fresh.yaml"), """dag: {id: fresh}
tasks:
  make:
    op: bash
    command: "true"
    outlets: [{uri: "file:///data/model.bin", freshness: {max_lag: 1s}}]
""")
s.ph("run", f, "-q")
st0 = s.ph("datasets", "stale", "--json")
time.sleep(1.3)
st1 = s.ph("datasets", "stale", "--json")
stale1 = [d["uri"] for d in json.loads(st1.stdout or "[]")]
check("datasets stale: exit 0 while fresh, 1 once past max_lag, naming it",
      st0.returncode == 0 and json.loads(st0.stdout) == [] and
      st1.returncode == 1 and stale1 == ["file:///data/model.bin"],
      (st0.returncode, st0.stdout, st1.returncode, st1.stdout))
bad = write(os.path.join(work, "bad.yaml"), """dag: {id: bad}
tasks:
  a: {op: bash, command: "true", outlets: [{uri: "x://y", auto: lazy}]}
  b: {op: bash, command: "true", outlets: ["has space"]}
""")
v = s.ph("validate", bad)
check("outlets: auto without freshness, and a URI with a space, are "
      "refused with the line and the fix",
      v.returncode == 2 and "auto: lazy needs freshness" in v.stderr and
      "has a space" in v.stderr and re.search(r"bad\.yaml:3:", v.stderr),
      v.stderr)

# 3. the scheduler: a DAG scheduled on two datasets runs once both were
# updated since its last dataset-triggered run, and only then; a lazy
# dataset's producer starts only when the dataset would miss max_lag
write(os.path.join(dags, "pa.yaml"), """dag: {id: pa}
tasks:
  make: {op: bash, command: "true", outlets: ["s3://lake/a"]}
""")
write(os.path.join(dags, "pb.yaml"), """dag: {id: pb}
tasks:
  make: {op: bash, command: "true", outlets: ["s3://lake/b"]}
""")
write(os.path.join(dags, "consumer.yaml"), """dag:
  id: consumer
  schedule: {datasets: ["s3://lake/a", "s3://lake/b"]}
tasks:
  use: {op: bash, command: "true", inlets: ["s3://lake/a", "s3://lake/b"]}
""")
write(os.path.join(dags, "lazy.yaml"), """dag: {id: lazy}
tasks:
  train:
    op: bash
    command: "sleep 0.2"
    outlets: [{uri: "models://churn", freshness: {max_lag: 2s}, auto: lazy}]
""")
write(os.path.join(dags, "eager.yaml"), """dag: {id: eager}
tasks:
  train:
    op: bash
    command: "true"
    outlets: [{uri: "models://other", freshness: {max_lag: 1s}}]
""")
sched = subprocess.Popen([ph_bin, "scheduler", "--dags-dir", dags, "--poll",
                          "0.2"], env=env, cwd=work, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
try:
    time.sleep(1.0)
    s.ph("run", os.path.join(dags, "pa.yaml"), "-q")
    time.sleep(1.0)
    none_yet = runs_of("consumer")
    s.ph("run", os.path.join(dags, "pb.yaml"), "-q")
    got_one = wait_for(lambda: len(runs_of("consumer")) >= 1)
    time.sleep(1.0)
    after_one = runs_of("consumer")
    s.ph("run", os.path.join(dags, "pa.yaml"), "-q")
    s.ph("run", os.path.join(dags, "pb.yaml"), "-q")
    got_two = wait_for(lambda: len(runs_of("consumer")) >= 2)
    time.sleep(4.0)
finally:
    os.killpg(sched.pid, signal.SIGTERM)
    out, _ = sched.communicate(timeout=60)
cons = runs_of("consumer")
check("dataset schedule: no run while one of its two datasets is not "
      "updated; one run once both are; a second only after both are "
      "updated again", none_yet == [] and got_one and len(after_one) == 1 and
      got_two and len(cons) == 2 and
      all(r["run_id"].startswith("dataset_triggered__consumer__") and
          r["state"] == "success" for r in cons),
      (none_yet, after_one, cons, out[-1500:]))
lazy_runs = runs_of("lazy")
ev_t = sorted(e["time"] for e in events("models://churn"))
starts = [r["start_date"] for r in lazy_runs]
# each freshness run after the first began once the last update was about
# max_lag old (less the ~0.2 s a run takes), never while it was fresh
early = [t for t in starts[1:]
         if t < max([e for e in ev_t if e < t], default=0) + 2 - 0.5 - 0.1]
gaps = [b - a for a, b in zip(ev_t, ev_t[1:])]
check("freshness auto: lazy: the producer (no schedule of its own) starts at "
      "once when never updated, then only as the dataset nears max_lag",
      len(lazy_runs) >= 3 and not early and
      all(r["run_id"].startswith("freshness__lazy__") for r in lazy_runs) and
      gaps and max(gaps) < 2 + 1.5,
      (starts, ev_t, early, gaps, out[-800:]))
check("freshness without auto: lazy starts nothing (the DAG has no "
      "schedule)", runs_of("eager") == [], runs_of("eager"))
check("the scheduler logs why it started a run for freshness",
      'event=freshness dag=lazy dataset=models://churn reason="models://churn '
      'was never updated' in out, out[-1500:])

# 4. lineage connects tasks and DAGs through datasets, across DAGs
ln = s.ph("lineage")
dot = s.ph("lineage", "--format", "dot")
check("lineage: producers, readers and triggered DAGs of each dataset",
      ln.returncode == 0 and re.search(
          r"s3://lake/a\n  updated by  pa\.make\n  read by     consumer\.use\n"
          r"  triggers    consumer \(DAG\)", ln.stdout) and
      '"pa.make" -> "s3://lake/a";' in dot.stdout and
      '"s3://lake/a" -> "consumer.use";' in dot.stdout, ln.stdout + dot.stdout)
shw = s.ph("datasets", "show", "s3://lake/a")
check("datasets show: the last updates, newest first, with their runs",
      shw.returncode == 0 and shw.stdout.count("pa.make  run manual__") == 2,
      shw.stdout)


# 5. OpenLineage: START and COMPLETE/FAIL per try and per DAG run, with the
# spec's required fields, to a local HTTP endpoint
class Collector(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        Collector.got.append((self.path, self.headers.get("Content-Type"),
                              json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
threading.Thread(target=srv.serve_forever, daemon=True).start()
ol_env = dict(env, PIPEHOST_OPENLINEAGE_URL=f"http://127.0.0.1:"
              f"{srv.server_address[1]}/api/v1/lineage",
              PIPEHOST_OPENLINEAGE_NAMESPACE="team-ml")
ol = write(os.path.join(work, "ol.yaml"), """dag: {id: ol}
tasks:
  extract:
    op: bash
    command: "echo 1"
    inlets: ["postgres://db:5432/shop.orders"]
    outlets: ["s3://lake/orders", "file:///srv/orders.csv"]
  flaky: {op: bash, command: "exit 3", upstream: [extract]}
""")
p = subprocess.run([ph_bin, "run", ol, "-q"], env=ol_env, cwd=work,
                   capture_output=True, text=True, timeout=60)
srv.shutdown()
evs = [e for _, _, e in Collector.got]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-"
                  r"[0-9a-f]{12}$")


def valid(e):
    """The RunEvent's required fields (OpenLineage 2-0-2)."""
    return (e.get("eventType") in ("START", "COMPLETE", "FAIL", "ABORT")
            and re.match(r"\d{4}-\d\d-\d\dT", e.get("eventTime", "")) and
            e.get("producer", "").startswith("https://") and
            e.get("schemaURL", "").startswith("https://openlineage.io/spec/")
            and UUID.match(e.get("run", {}).get("runId", "")) and
            e.get("job", {}).get("namespace") == "team-ml" and
            e.get("job", {}).get("name") and
            all("namespace" in d and "name" in d
                for d in e.get("inputs", []) + e.get("outputs", [])))


by_job = {}
for e in evs:
    by_job.setdefault(e["job"]["name"], []).append(e)
ex = by_job.get("ol.extract", [])
fl = by_job.get("ol.flaky", [])
dag = by_job.get("ol", [])
check("OpenLineage: every event has the RunEvent's required fields and is "
      "posted as JSON",
      evs and all(valid(e) for e in evs) and
      all(path == "/api/v1/lineage" and ctype == "application/json"
          for path, ctype, _ in Collector.got), (p.stderr, evs[:2]))
check("OpenLineage: a try sends START then COMPLETE with one runId, its "
      "inlets as inputs and outlets as outputs (named by the conventions)",
      [e["eventType"] for e in ex] == ["START", "COMPLETE"] and
      ex[0]["run"]["runId"] == ex[1]["run"]["runId"] and
      ex[1]["inputs"] == [{"namespace": "postgres://db:5432",
                           "name": "shop.orders"}] and
      ex[1]["outputs"] == [{"namespace": "s3://lake", "name": "orders"},
                           {"namespace": "file", "name": "/srv/orders.csv"}],
      ex)
check("OpenLineage: a failed try sends FAIL with its error message; each "
      "try's parent facet is its DAG run, whose own events are START and "
      "FAIL", [e["eventType"] for e in fl] == ["START", "FAIL"] and
      "exited with code 3" in fl[1]["run"]["facets"]["errorMessage"]["message"]
      and fl[1]["run"]["facets"]["parent"]["job"] ==
      {"namespace": "team-ml", "name": "ol"} and
      [e["eventType"] for e in dag] == ["START", "FAIL"] and
      fl[1]["run"]["facets"]["parent"]["run"]["runId"] ==
      dag[0]["run"]["runId"], (fl, dag))
dead = subprocess.run([ph_bin, "run", ol, "-q"], cwd=work, text=True,
                      capture_output=True, timeout=60,
                      env=dict(ol_env, PIPEHOST_OPENLINEAGE_URL=
                               "http://127.0.0.1:9/api/v1/lineage"))
check("OpenLineage: an unreachable backend costs one warning, not the run's "
      "outcome", dead.returncode == p.returncode == 1 and
      dead.stderr.count("OpenLineage: cannot send") == 1, dead.stderr)

# a backend that takes the connection and never answers: the run ends
# after draining for the timeout, and says how many events it dropped
import socket  # noqa: E402
hole = socket.socket()
hole.bind(("127.0.0.1", 0))
hole.listen(64)
many = write(os.path.join(work, "many.yaml"), "dag: {id: many}\ntasks:\n" +
             "".join(f"  t{i}: {{op: bash, command: \"true\"}}\n"
                     for i in range(10)))
t0 = time.monotonic()
q = subprocess.run([ph_bin, "run", many, "-q"], cwd=work, text=True,
                   capture_output=True, timeout=120,
                   env=dict(ol_env, PIPEHOST_OPENLINEAGE_TIMEOUT="1",
                            PIPEHOST_OPENLINEAGE_URL="http://127.0.0.1:"
                            f"{hole.getsockname()[1]}/api/v1/lineage"))
took = time.monotonic() - t0
hole.close()
check("OpenLineage: a backend that never answers holds the run's end for "
      "about the timeout, not once per event (22 events, 1 s timeout)",
      q.returncode == 0 and took < 10 and
      re.search(r"OpenLineage: \d+ events not sent", q.stderr),
      (q.returncode, took, q.stderr[-300:]))

sys.exit(s.finish())
