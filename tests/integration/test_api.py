#!/usr/bin/python3
"""pipehost webserver's REST API (issue 19, first part): Airflow's REST API
v1 shapes over a real store, every response checked against the served
OpenAPI 3.1 document (python3-jsonschema, Draft 2020-12); problems as
application/problem+json; the bearer token for writes (and reads off
loopback); triggering a run; log tailing with continuation tokens; log
paths outside the store refused; passwords never returned.
Usage: test_api.py PIPEHOST"""
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

PH = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="ph-api-")
HOME = os.path.join(WORK, "home")
S = Suite(PH, WORK, dict(os.environ, PIPEHOST_HOME=HOME))
check, ph = S.check, S.ph

csv = os.path.join(WORK, "toy.csv")
with open(csv, "w") as f:
    f.write("a,b,y\n" + "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n"
                                for i in range(40)))
dag = os.path.join(WORK, "api.yaml")
with open(dag, "w") as f:
    f.write(f"""dag: {{id: api}}
tasks:
  fit:
    op: train
    algorithm: logistic_regression
    input: {csv}
    target: y
    register: toy
    outlets: ["file://{csv}.model"]
  talk: {{op: bash, command: "echo line one; echo line two; echo '<script>x</script>'"}}
  gen: {{op: lua, fn: "{{1, 2}}"}}
  sq: {{op: lua, fn: "return kwargs.x * kwargs.x", expand: {{x: {{from: gen}}}}}}
  broken: {{op: bash, command: "exit 4", upstream: [talk]}}
  tmpl: {{op: bash, command: "echo {{{{ run_id }}}} {{{{ var.value.deploy_password }}}}"}}
  pat: {{op: bash, command: "echo {{{{ ('ab'):gsub('b', 'c') }}}}"}}
""")
ph("variables", "set", "deploy_password", "pw-in-template")
ph("run", dag, "--run-id", "r1", "-q")
ph("variables", "set", "region", "eu")
ph("variables", "set", "api_token", "s3cr3t-var")
p = subprocess.run([PH, "connections", "add", "db", "-"], env=S.env,
                   input="postgresql://u:hunter2pw@dbhost:5432/shop\n",
                   text=True, capture_output=True)
ph("pools", "set", "gpu", "2")


def start(*args):
    srv = subprocess.Popen([PH, "webserver", "--port", "0", *args],
                           env=S.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    line = srv.stdout.readline()
    m = re.search(r"listening on (http://\S+?)/? ", line)
    return srv, (m.group(1).rstrip("/") if m else None), line


srv, base, first = start()
token = ph("webserver", "--print-token").stdout.strip()
tok_file = os.path.join(HOME, "webserver.token")


def call(method, path, body=None, auth=None, accept=None, raw=False):
    data = body if isinstance(body, bytes) else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", "Bearer " + auth)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, ctype, text = r.status, r.headers["Content-Type"], \
                r.read().decode()
    except urllib.error.HTTPError as e:
        status, ctype, text = e.code, e.headers["Content-Type"], \
            e.read().decode()
    if raw:
        return status, ctype, text
    try:
        return status, ctype, json.loads(text)
    except ValueError:
        return status, ctype, text


st, _, doc = call("GET", "/api/v1/openapi.json")
check("the OpenAPI document is served, version 3.1, with paths and schemas",
      st == 200 and doc.get("openapi", "").startswith("3.1") and
      "/dags/{dag_id}/dagRuns" in doc.get("paths", {}) and
      "DAGRun" in doc.get("components", {}).get("schemas", {}), first)

# the document against the OpenAPI Initiative's published JSON Schema for
# OpenAPI 3.1 (schema-base: the document, and its schemas in the base
# dialect), and each of its schemas against JSON Schema 2020-12's own


def oas_validator():
    base = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "openapi-3.1")
    store = {}
    for dirpath, _, files in os.walk(base):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(dirpath, name)) as f:
                    d = json.load(f)
                store[d["$id"]] = d
    sb = store["https://spec.openapis.org/oas/3.1/schema-base/2021-04-15"]
    return jsonschema.Draft202012Validator(
        sb, resolver=jsonschema.RefResolver.from_schema(sb, store=store))


oas = oas_validator()


def oas_problems(d):
    errs = [str(e).splitlines()[0] for e in oas.iter_errors(d)]
    for name, sch in d.get("components", {}).get("schemas", {}).items():
        try:
            jsonschema.Draft202012Validator.check_schema(sch)
        except jsonschema.SchemaError as e:
            errs.append(f"{name}: {e.message}")
    return errs


broken_doc = json.loads(json.dumps(doc))
broken_doc["paths"]["/health"]["get"]["responses"]["200"]["description"] = 5
broken_doc["components"]["schemas"]["DAGRun"]["properties"]["state"] = \
    {"type": "nosuchtype"}
check("the document is a valid OpenAPI 3.1 document (the OAI's published "
      "schema) and its schemas valid JSON Schema 2020-12; the check is not "
      "vacuous", not oas_problems(doc) and len(oas_problems(broken_doc)) >= 2,
      (oas_problems(doc)[:3], oas_problems(broken_doc)[:3]))

# every $ref of the document resolves, every response names a schema
refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(doc))
resolver = jsonschema.RefResolver.from_schema(doc)
bad = []
for r in set(refs):
    try:
        resolver.resolve(r)
    except jsonschema.exceptions.RefResolutionError:
        bad.append(r)
for sch in doc["components"]["schemas"].values():
    jsonschema.Draft202012Validator.check_schema(sch)
check("the document is consistent: its schemas are valid JSON Schema "
      "2020-12 and every $ref resolves", not bad and len(refs) > 30, bad)


def valid(obj, schema_name):
    """None when obj matches components/schemas/schema_name, else why."""
    v = jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema_name}"}, resolver=resolver)
    errs = sorted(v.iter_errors(obj), key=str)
    return None if not errs else str(errs[0])[:300]


def response_schema(path_tpl, method, status, ctype="application/json"):
    resp = doc["paths"][path_tpl][method]["responses"][str(status)]
    if "$ref" in resp:
        resp = resolver.resolve(resp["$ref"])[1]
    ref = resp["content"][ctype]["schema"].get("$ref", "")
    return ref.rsplit("/", 1)[-1]


check("the schema check is not vacuous: a run with a numeric dag_id and "
      "no state fails it", valid({"dag_id": 3}, "DAGRun") is not None and
      valid({"dags": [], "total_entries": "1"}, "DAGCollection") is not None)

# every read endpoint, against the schema the document gives it
R = "/api/v1/dags/api/dagRuns/r1"
cases = [
    ("/health", "/api/v1/health", None),
    ("/version", "/api/v1/version", None),
    ("/dags", "/api/v1/dags", None),
    ("/dags/{dag_id}", "/api/v1/dags/api", None),
    ("/dags/{dag_id}/dagRuns", "/api/v1/dags/api/dagRuns", None),
    ("/dags/{dag_id}/dagRuns", "/api/v1/dags/~/dagRuns?limit=5&order_by=-start_date", None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}", R, None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", R + "/taskInstances", None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}", R + "/taskInstances/talk", None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}", R + "/taskInstances/sq/1", None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}", R + "/taskInstances/talk/logs/1", None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries", R + "/taskInstances/sq/xcomEntries", None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}", R + "/taskInstances/sq/xcomEntries/return_value?map_index=1", None),
    ("/pools", "/api/v1/pools", None),
    ("/variables", "/api/v1/variables", None),
    ("/connections", "/api/v1/connections", None),
    ("/experiments", "/api/v1/experiments?run_id=latest", None),
    ("/models", "/api/v1/models", None),
    ("/datasets", "/api/v1/datasets", None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/explain", R + "/taskInstances/broken/explain", None),
    ("/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/explain", R + "/taskInstances/sq/explain?map_index=1", None),
]
got = {}
problems = []
for tpl, url, _ in cases:
    st, ctype, body = call("GET", url)
    got[url] = body
    why = valid(body, response_schema(tpl, "get", 200)) if st == 200 else \
        f"status {st}: {body}"
    if why or not ctype.startswith("application/json"):
        problems.append((url, why, ctype))
check(f"every read endpoint ({len(cases)} calls) answers 200 with JSON "
      "that matches its schema in the document", not problems, problems)

tis = got[R + "/taskInstances"]["task_instances"]
ex = got["/api/v1/experiments?run_id=latest"]["experiments"]
mods = got["/api/v1/models"]["models"]
dss = got["/api/v1/datasets"]["datasets"]
check("pipehost's own: the train try's experiment (params, metrics), the "
      "model it registered (no alias yet), its outlet dataset",
      len(ex) == 1 and ex[0]["task_id"] == "fit" and "f1" in ex[0]["metrics"]
      and [m["name"] for m in mods] == ["toy"] and
      mods[0]["aliases"] == {} and len(mods[0]["versions"]) == 1 and
      [d["uri"] for d in dss] == [f"file://{csv}.model"] and
      dss[0]["events"] == 1, (ex, mods, dss))
check("task instances: Airflow's fields, each mapped instance with its "
      "map_index, states as Airflow names them",
      got[R + "/taskInstances"]["total_entries"] == 8 and
      sorted((t["task_id"], t["map_index"]) for t in tis) ==
      [("broken", -1), ("fit", -1), ("gen", -1), ("pat", -1), ("sq", 0),
       ("sq", 1), ("talk", -1), ("tmpl", -1)] and
      {t["task_id"]: t["state"] for t in tis}["broken"] == "failed", tis)
rf = call("GET", R + "/taskInstances/tmpl")[2].get("rendered_fields")
pat = call("GET", R + "/taskInstances/pat")[2]
check("a task instance's rendered_fields: its templated params as its "
      "latest try rendered them, a secret variable masked; {} without "
      "templates, and for templates calling Lua pattern functions (only "
      "the worker renders those)",
      rf == {"command": "echo r1 ***"} and
      got[R + "/taskInstances/talk"].get("rendered_fields") == {} and
      pat.get("state") == "success" and pat.get("rendered_fields") == {} and
      "pw-in-template" not in json.dumps(rf), (rf, pat))
exb = got[R + "/taskInstances/broken/explain"]
exs = got[R + "/taskInstances/sq/explain?map_index=1"]
st_m, _, exm = call("GET", R + "/taskInstances/sq/explain")
check("explain (pipehost's own, `tasks explain --json`): the state, the "
      "reason, the trigger rule, each upstream instance; a mapped task "
      "asks which instance (404 naming them)",
      exb["state"] == "failed" and "exited with code 4" in exb["reason"] and
      exb["trigger_rule"] == "all_success" and
      exb["upstreams"] == [{"task_id": "talk", "map_index": -1,
                            "state": "success"}] and
      exs["map_index"] == 1 and exs["state"] == "success" and
      exs["upstreams"][0]["task_id"] == "gen" and
      st_m == 404 and "mapped into 2 instances" in exm.get("detail", ""),
      (exb, exs, st_m, exm))
xv = got[R + "/taskInstances/sq/xcomEntries/return_value?map_index=1"]
check("xcomEntries: the list without values, one entry with its value",
      got[R + "/taskInstances/sq/xcomEntries"]["total_entries"] == 2 and
      "value" not in got[R + "/taskInstances/sq/xcomEntries"]
      ["xcom_entries"][0] and xv.get("value") == 4 and xv["map_index"] == 1,
      xv)
conns = json.dumps(got["/api/v1/connections"])
varz = got["/api/v1/variables"]["variables"]
check("connections never carry a password; a secret-named variable is "
      "masked", "hunter2pw" not in conns and "password" not in conns and
      '"host": "dbhost"' in json.dumps(got["/api/v1/connections"],
                                        indent=0).replace("\n", " ") and
      {v["key"]: v["value"] for v in varz} == {"region": "eu",
                                               "api_token": "***",
                                               "deploy_password": "***"},
      (conns, varz))
# writes: a connection (its password write-only) and a variable, made and
# removed through the API
new_conn = {"connection_id": "wh", "conn_type": "postgresql",
            "host": "db.example", "login": "etl user",
            "password": "p@ss:w/rd%", "schema": "shop", "port": 5432}
st_n, _, made = call("POST", "/api/v1/connections", new_conn)
st_c, _, made = call("POST", "/api/v1/connections", new_conn, token)
st_d, _, dup = call("POST", "/api/v1/connections", new_conn, token)
st_b, _, bad = call("POST", "/api/v1/connections",
                    {"connection_id": "x y", "conn_type": "pg"}, token)
listed = call("GET", "/api/v1/connections")[2]
with sqlite3.connect(os.path.join(HOME, "pipehost.db")) as db:
    stored = urllib.parse.urlsplit(db.execute(
        "SELECT uri FROM connection WHERE conn_id='wh'").fetchone()[0])
st_v, _, var = call("POST", "/api/v1/variables",
                    {"key": "s3_secret", "value": "zzz"}, token)
st_x = call("DELETE", "/api/v1/connections/wh", None, token)[0]
st_x2 = call("DELETE", "/api/v1/connections/wh", None, token)[0]
st_y = call("DELETE", "/api/v1/variables/s3_secret", None, token)[0]
check("POST connections needs the token, stores the URI (the password "
      "round-trips, escaped) and answers without the password; a second "
      "POST is 409, a bad id 400; DELETE removes it (204, then 404); a "
      "POSTed secret-named variable is masked in the reply",
      st_n == 401 and st_c == 200 and valid(made, "Connection") is None and
      "password" not in made and made["login"] == "etl user" and
      made["port"] == 5432 and st_d == 409 and st_b == 400 and
      "p@ss" not in json.dumps(listed) and
      urllib.parse.unquote(stored.password) == "p@ss:w/rd%" and
      urllib.parse.unquote(stored.username) == "etl user" and
      st_v == 200 and var == {"key": "s3_secret", "value": "***",
                              "description": None} and
      (st_x, st_x2, st_y) == (204, 404, 204),
      (st_n, st_c, made, st_d, st_b, stored, st_v, var, st_x, st_x2, st_y))
tries = call("GET", R + "/taskInstances/broken/tries")
check("tries: every try of a task instance with its state and reason "
      "(its schema)", tries[0] == 200 and
      valid(tries[2], "TaskInstanceTryCollection") is None and
      [(t["try_number"], t["state"]) for t in tries[2]["task_instances"]] ==
      [(1, "failed")] and "code 4" in tries[2]["task_instances"][0]["reason"],
      tries)
pools = got["/api/v1/pools"]["pools"]
check("pools: slots and open slots", pools == [
    {"name": "gpu", "slots": 2, "occupied_slots": 0, "running_slots": 0,
     "queued_slots": 0, "open_slots": 2, "description": None}], pools)

# logs: JSON with a continuation token; the token tails; text/plain raw
log1 = got[R + "/taskInstances/talk/logs/1"]
st2, _, log2 = call("GET", R + "/taskInstances/talk/logs/1?token=" +
                    log1.get("continuation_token", ""))
st3, ctype3, raw = call("GET", R + "/taskInstances/talk/logs/1",
                        accept="text/plain", raw=True)
st4, ctype4, bad_tok = call("GET", R + "/taskInstances/talk/logs/1?token=0.x")
check("logs: the content and a continuation token; from that token, only "
      "what came since (nothing); text/plain gives the raw log; a forged "
      "token is refused",
      "line one" in log1.get("content", "") and st2 == 200 and
      log2.get("content") == "" and st3 == 200 and
      ctype3.startswith("text/plain") and "line two" in raw and
      st4 == 400 and "Bad Signature" in bad_tok.get("detail", ""),
      (log1, log2, st3, st4, bad_tok))

# problems: RFC 7807, application/problem+json, the Error schema
errs = []
for method, url, body, auth, want in [
        ("GET", "/api/v1/dags/nope", None, None, 404),
        ("GET", "/api/v1/dags/api/dagRuns/nope", None, None, 404),
        ("GET", "/api/v1/dags/api/dagRuns?limit=-1", None, None, 400),
        ("GET", "/api/v1/dags/api/dagRuns?order_by=color", None, None, 400),
        ("GET", "/api/v1/nothing", None, None, 404),
        ("POST", "/api/v1/dags/api/dagRuns", {}, None, 401),
        ("POST", "/api/v1/dags/api/dagRuns", {}, "wrong-token", 401),
        ("POST", "/api/v1/dags/nope/dagRuns", {}, token, 404),
        ("POST", "/api/v1/dags/api/dagRuns", {"dag_run_id": "r1"}, token, 409),
        ("POST", "/api/v1/dags/api/dagRuns", {"conf": 3}, token, 400),
        ("POST", "/api/v1/dags/api/dagRuns", b"x" * (2 << 20), token, 413)]:
    st, ctype, body = call(method, url, body, auth)
    why = valid(body, "Error") if isinstance(body, dict) else "not JSON"
    if st != want or why or body.get("status") != want or \
            ctype != "application/problem+json":
        errs.append((method, url, st, ctype, why, body))
check("errors: 400, 401, 404, 409 and 413 as application/problem+json "
      "problems with type, title, status and detail", not errs, errs)

# trigger: a manual run with conf, through the token
st, _, run = call("POST", "/api/v1/dags/api/dagRuns",
                  {"dag_run_id": "from_api", "conf": {"who": "api"}}, token)


def run_state():
    s2, _, r2 = call("GET", "/api/v1/dags/api/dagRuns/from_api")
    return r2.get("state") if s2 == 200 else None


deadline = time.time() + 60
while time.time() < deadline and run_state() not in ("success", "failed"):
    time.sleep(0.2)
check("trigger: POST dagRuns with the token answers the queued run "
      "(its schema), which then runs to its end with its conf",
      st == 200 and valid(run, "DAGRun") is None and
      run.get("state") == "queued" and run_state() == "failed" and
      call("GET", "/api/v1/dags/api/dagRuns/from_api")[2]["conf"] ==
      {"who": "api"}, (st, run, run_state()))

# clearTaskInstances: Airflow's defaults (dry_run, only_failed) list what
# would be cleared; a real clear resets it and the run resumes
st, _, dry = call("POST", "/api/v1/dags/api/clearTaskInstances",
                  {"dag_run_id": "r1"}, token)
st2, _, real = call("POST", "/api/v1/dags/api/clearTaskInstances",
                    {"dag_run_id": "r1", "task_ids": ["broken"],
                     "dry_run": False}, token)
deadline = time.time() + 60
tries = None
while time.time() < deadline:
    ti = call("GET", R + "/taskInstances/broken")[2]
    run_now = call("GET", R)[2]
    tries = ti.get("try_number")
    if run_now.get("state") in ("success", "failed") and ti.get("state") == \
            "failed":
        break
    time.sleep(0.2)
check("clearTaskInstances: by default a dry run of the failed ones; for "
      "real it clears them and the run resumes (the task runs again)",
      st == 200 and valid(dry, response_schema(
          "/dags/{dag_id}/clearTaskInstances", "post", 200)) is None and
      [t["task_id"] for t in dry["task_instances"]] == ["broken"] and
      st2 == 200 and [t["task_id"] for t in real["task_instances"]] ==
      ["broken"] and tries == 1 and
      call("GET", R + "/taskInstances/broken")[2]["state"] == "failed" and
      os.path.exists(os.path.join(HOME, "logs", "api", "r1",
                                  "broken.1.log")), (dry, real, tries))

# replies kept while the store is unchanged are dropped when it changes
before = [call("GET", R + "/taskInstances/talk")[2]["state"] for _ in range(3)]
with sqlite3.connect(os.path.join(HOME, "pipehost.db")) as db:
    db.execute("UPDATE task_instance SET state='up_for_retry' WHERE "
               "run_id='r1' AND task_id='talk'")
after = call("GET", R + "/taskInstances/talk")[2]["state"]
listed = {t["task_id"]: t["state"] for t in
          call("GET", R + "/taskInstances")[2]["task_instances"]}
with sqlite3.connect(os.path.join(HOME, "pipehost.db")) as db:
    db.execute("UPDATE task_instance SET state='success' WHERE "
               "run_id='r1' AND task_id='talk'")
check("a reply kept while the store is unchanged is not served once "
      "another process changed the store",
      before == ["success"] * 3 and after == "up_for_retry" and
      listed["talk"] == "up_for_retry" and
      call("GET", R + "/taskInstances/talk")[2]["state"] == "success",
      (before, after, listed.get("talk")))

# a log path the store points outside its logs folder is refused
with sqlite3.connect(os.path.join(HOME, "pipehost.db")) as db:
    db.execute("UPDATE task_try SET log_path='/etc/passwd' WHERE "
               "run_id='r1' AND task_id='gen'")
st, ctype, body = call("GET", R + "/taskInstances/gen/logs/1")
check("logs: a path outside the store's logs folder is refused (403), "
      "nothing of it is sent", st == 403 and "root:" not in json.dumps(body),
      (st, body))
mode = stat.S_IMODE(os.stat(tok_file).st_mode)
check("the token was made at first start into a 0600 file",
      mode == 0o600 and len(token) == 64, oct(mode))
srv.terminate()
srv.wait(timeout=10)

# --dags-dir: its DAGs are listed (schedule, next run) before they ever
# ran, and can be triggered
ddir = os.path.join(WORK, "dags")
os.makedirs(ddir)
with open(os.path.join(ddir, "daily.yaml"), "w") as f:
    f.write("dag: {id: daily, schedule: '@daily', start_date: '2024-01-01'}\n"
            "tasks:\n  t: {op: bash, command: 'echo daily'}\n")
with open(os.path.join(ddir, "broken.yaml"), "w") as f:
    f.write("dag: {id: nope}\ntasks:\n  t: {op: nosuchop}\n")
srv, base, first = start("--dags-dir", ddir)
dl = call("GET", "/api/v1/dags")[2]
one = call("GET", "/api/v1/dags/daily")
st_t, _, trig = call("POST", "/api/v1/dags/daily/dagRuns",
                     {"dag_run_id": "daily_now"}, token)
deadline = time.time() + 60
while time.time() < deadline and call(
        "GET", "/api/v1/dags/daily/dagRuns/daily_now")[2].get("state") != \
        "success":
    time.sleep(0.2)
final = call("GET", "/api/v1/dags/daily/dagRuns/daily_now")[2]
srv.terminate()
srv.wait(timeout=10)
daily = [d for d in dl.get("dags", []) if d["dag_id"] == "daily"]
check("--dags-dir: a DAG that never ran is listed with its schedule and "
      "next run (a file that does not validate is left out), and can be "
      "triggered", [d["dag_id"] for d in dl["dags"]] == ["api", "daily"] and
      dl["total_entries"] == 2 and valid(dl, "DAGCollection") is None and
      daily[0]["schedule_interval"] == {"__type": "CronExpression",
                                        "value": "@daily"} and
      daily[0]["next_dagrun_create_after"].endswith("T00:00:00+00:00") and
      one[0] == 200 and st_t == 200 and final.get("state") == "success",
      (dl, one, st_t, trig, final))

# bound off loopback: reads need the token too (health and version do not)
srv, base, first = start("--bind", "0.0.0.0")
s1 = call("GET", "/api/v1/dags")[0]
s2 = call("GET", "/api/v1/dags", auth=token)[0]
s3 = call("GET", "/api/v1/health")[0]
srv.terminate()
srv.wait(timeout=10)
check("--bind 0.0.0.0: reads without the token are 401, with it 200; "
      "health needs none", (s1, s2, s3) == (401, 200, 200), (s1, s2, s3,
                                                             first))
# /metrics in Prometheus's text format, and the scheduler's heartbeat
from prometheus_client.parser import text_string_to_metric_families  # noqa
empty = os.path.join(WORK, "nodags")
os.makedirs(empty)
sch = subprocess.Popen([PH, "scheduler", "--dags-dir", empty, "--poll",
                        "0.2"], env=S.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
time.sleep(1.0)
srv, base, first = start()
st, ctype, text = call("GET", "/api/v1/metrics", raw=True)
health = call("GET", "/api/v1/health")[2]
srv.terminate()
srv.wait(timeout=10)
sch.terminate()
sch.wait(timeout=30)
fams = {f.name: f for f in text_string_to_metric_families(text)}


def samples(name, **labels):
    """The values of the samples named name (a histogram's _bucket, _count
    and _sum are samples of its family) with those labels."""
    return [x.value for f in fams.values() for x in f.samples
            if x.name == name and
            all(x.labels.get(k) == v for k, v in labels.items())]


with sqlite3.connect(os.path.join(HOME, "pipehost.db")) as db:
    ended = db.execute("SELECT count(*) FROM task_try WHERE end_date IS "
                       "NOT NULL").fetchone()[0]
    failed_runs = db.execute("SELECT count(*) FROM dag_run WHERE "
                             "state='failed'").fetchone()[0]
    success_tis = db.execute("SELECT count(*) FROM task_instance WHERE "
                             "state='success'").fetchone()[0]
check("/metrics: Prometheus text that its client parses, counting what the "
      "store holds (runs and task instances by state, a try-duration "
      "histogram, pool slots, the scheduler's loop)",
      st == 200 and ctype.startswith("text/plain; version=0.0.4") and
      samples("pipehost_dag_runs", state="failed") == [failed_runs] and
      samples("pipehost_task_instances", state="success") == [success_tis] and
      samples("pipehost_task_try_duration_seconds_count") == [ended] and
      samples("pipehost_task_try_duration_seconds_bucket", le="+Inf") ==
      [ended] and samples("pipehost_pool_slots", pool="gpu", state="open")
      == [2] and samples("pipehost_scheduler_loop_seconds")[0] >= 0,
      text[:1500])
check("health: the scheduler is healthy while its loop beats, with the "
      "time of its last beat", health["scheduler"]["status"] == "healthy" and
      health["scheduler"]["latest_scheduler_heartbeat"] and
      valid(health, "Health") is None, health)

sys.exit(S.finish())
