#!/usr/bin/env python3
"""CLI integration tests: real runs of the pipehost binary with the test
plugins, including hostile ones.  Usage:
  test_cli.py PIPEHOST TEST_PLUGIN_DIR BAD_PLUGIN_DIR
Prints one line per check and ends with 'N passed, N failed'."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

PH, GOOD, BAD = sys.argv[1], sys.argv[2], sys.argv[3]
passed = failed = 0
WORK = tempfile.mkdtemp(prefix="ph-cli-")
ENV = dict(os.environ, PIPEHOST_HOME=os.path.join(WORK, "home"),
           PIPEHOST_PLUGIN_PATH=GOOD, PIPEHOST_KILL_GRACE="1")


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def ph(*args, timeout=120, env=None):
    p = subprocess.run([PH, *args], capture_output=True, text=True,
                       timeout=timeout, env=env or ENV, cwd=WORK)
    return p.returncode, p.stdout, p.stderr


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_json(path, *extra):
    rc, out, err = ph("run", path, "--json", *extra)
    try:
        return rc, json.loads(out), err
    except json.JSONDecodeError:
        return rc, None, err + out


# 1. hostile operators cost one task try each; the rest of the DAG runs
hostile = write("hostile.yaml", """
dag: {id: hostile, default_args: {retries: 0}}
tasks:
  segv:      {op: crash}
  segv_init: {op: crash_init}
  aborts:    {op: abort}
  exits:     {op: exit_now}
  hangs:     {op: hang, execution_timeout: 1}
  fine:      {op: bash, command: "echo still-here"}
  after:     {op: bash, command: "echo after", upstream: [fine]}
  never:     {op: bash, command: "true", upstream: [segv]}
""")
t0 = time.time()
rc, res, err = run_json(hostile)
check("hostile: run fails with exit 1", rc == 1, err)
if res:
    t = res["tasks"]
    check("hostile: segfault in execute fails its task",
          t["segv"]["state"] == "failed")
    check("hostile: other tasks still succeed",
          t["fine"]["state"] == "success" and t["after"]["state"] == "success")
    check("hostile: downstream of the crash is upstream_failed",
          t["never"]["state"] == "upstream_failed")
    check("hostile: segfault in init fails its task",
          t["segv_init"]["state"] == "failed")
    check("hostile: abort fails its task", t["aborts"]["state"] == "failed")
    check("hostile: exit() without result fails its task",
          t["exits"]["state"] == "failed")
    check("hostile: hang is killed at execution_timeout",
          t["hangs"]["state"] == "failed")
    check("xcom: last stdout line is return_value",
          res["xcoms"].get("fine", {}).get("return_value") == "still-here")
    rc2, out2, _ = ph("runs", "show", res["run_id"], "--json")
    tasks = {x["task_id"]: x for x in json.loads(out2)["tasks"]}
    check("hostile: reason names the signal",
          "signal 11" in (tasks["segv"]["reason"] or ""), tasks["segv"]["reason"])
    check("hostile: reason names SIGABRT",
          "signal 6" in (tasks["aborts"]["reason"] or ""))
    check("hostile: reason for exit without result",
          "without reporting a result" in (tasks["exits"]["reason"] or ""))
    check("hostile: reason names the timeout",
          "execution_timeout" in (tasks["hangs"]["reason"] or ""))
check("hostile: the hang costs about timeout + grace, not forever",
      time.time() - t0 < 30)

# 1b. more hostile plugins: each costs its own try, with a clear reason
asan = "ASAN_OPTIONS" in os.environ  # ASan needs unlimited address space
hostile2 = write("hostile2.yaml", f"""
dag: {{id: hostile2}}
tasks:
  {"" if asan else "leaks: {op: leak, memory_limit: 256M}"}
  forks:  {{op: fork_exit}}
  overruns: {{op: overrun}}
  closes: {{op: close_stdout}}
  exits:  {{op: exit_init}}
  fine:   {{op: bash, command: "echo fine"}}
""")
rc, res, err = run_json(hostile2)
if res:
    t = res["tasks"]
    if not asan:
        check("hostile: a leak under memory_limit fails its task",
              t["leaks"]["state"] == "failed")
    check("hostile: children left behind do not stop the try",
          t["forks"]["state"] == "success")
    kids = res["xcoms"].get("forks", {}).get("return_value", [])
    time.sleep(0.2)
    alive = [k for k in kids if os.path.exists(f"/proc/{k}")
             and open(f"/proc/{k}/stat").read().split(")")[1].split()[0] != "Z"]
    check("hostile: the try's children are killed with it",
          len(kids) == 2 and not alive, (kids, alive))
    check("hostile: closing stdout does not lose the result",
          t["closes"]["state"] == "success"
          and res["xcoms"]["closes"]["return_value"] == "still reported")
    check("hostile: writing outside its buffers fails its task",
          t["overruns"]["state"] == "failed")
    check("hostile: exit() in init fails its task",
          t["exits"]["state"] == "failed")
    check("hostile: the rest still runs", t["fine"]["state"] == "success")
    rc2, out2, _ = ph("runs", "show", res["run_id"], "--json")
    rs = {x["task_id"]: x["reason"] or "" for x in json.loads(out2)["tasks"]}
    check("hostile: exit in init is named", "exited with code 3" in rs["exits"],
          rs["exits"])
    if not asan:
        check("hostile: the reason points at memory_limit",
              "memory_limit" in rs["leaks"], rs["leaks"])
else:
    check("hostile2: run produced JSON", False, err)

# 2. refused plugins name the file and the check
rc, out, err = ph("plugins", "list", "--plugin-dir", BAD)
for f, chk in [("bad_major.so", "ABI major"), ("bad_minor.so", "ABI minor"),
               ("null_name.so", "required field"),
               ("no_entry.so", "entry point"),
               ("dup_plugin.so", "duplicate plugin"),
               ("dup_operator.so", "duplicate operator")]:
    check(f"plugins: {f} refused with '{chk}'",
          re.search(re.escape(f) + r".*" + re.escape(chk), err) is not None,
          err[:300])
check("plugins list shows bash and testops", "bash" in out and "testops" in out)
rc, out, err = ph("plugins", "info", "bash")
check("plugins info bash prints params",
      rc == 0 and "command" in out and "required" in out and "templated" in out)
rc, out, err = ph("plugins", "info", "bsh")
check("plugins info suggests", rc != 0 and "did you mean 'bash'" in err)

# 3. retries: retryable vs fail-without-retry vs skip
retr = write("retries.yaml", """
dag: {id: retries, default_args: {retries: 2, retry_delay: 0}}
tasks:
  flaky: {op: status, code: 1}
  final: {op: status, code: 2}
  skip:  {op: status, code: 3}
  ok:    {op: bash, command: '[ "$PIPEHOST_TRY_NUMBER" -ge 2 ]'}
""")
rc, res, err = run_json(retr)
if res:
    t = res["tasks"]
    check("retries: error is retried (retries+1 tries)",
          t["flaky"] == {**t["flaky"], "state": "failed", "tries": 3}, t["flaky"])
    check("retries: fail status skips retries",
          t["final"]["state"] == "failed" and t["final"]["tries"] == 1)
    check("retries: skip status is not retried",
          t["skip"]["state"] == "skipped" and t["skip"]["tries"] == 1)
    check("retries: succeeds on try 2", t["ok"]["state"] == "success"
          and t["ok"]["tries"] == 2)
else:
    check("retries: run produced JSON", False, err)

# 4. sensors: poke mode and reschedule mode, timeout and soft_fail
sens = write("sensors.yaml", f"""
dag: {{id: sensors}}
tasks:
  poke:   {{op: counter_sensor, file: "{WORK}/c1", n: 3, poke_interval: 0.1}}
  resch:  {{op: counter_sensor, file: "{WORK}/c2", n: 3, poke_interval: 0.1, mode: reschedule}}
  late:   {{op: counter_sensor, file: "{WORK}/c3", n: 1000, poke_interval: 0.1, timeout: 0.5}}
  soft:   {{op: counter_sensor, file: "{WORK}/c4", n: 1000, poke_interval: 0.1, timeout: 0.5, soft_fail: true, mode: reschedule}}
""")
rc, res, err = run_json(sens)
if res:
    t, x = res["tasks"], res["xcoms"]
    check("sensor poke mode succeeds on the 3rd poke",
          t["poke"]["state"] == "success" and x["poke"]["return_value"] == 3, t)
    check("sensor reschedule mode succeeds, one try",
          t["resch"]["state"] == "success" and t["resch"]["tries"] == 1
          and x["resch"]["return_value"] == 3, t["resch"])
    check("sensor timeout fails", t["late"]["state"] == "failed")
    check("sensor soft_fail skips on timeout", t["soft"]["state"] == "skipped")
else:
    check("sensors: run produced JSON", False, err)

# 5. XCom size limit fails loudly
big = write("big.yaml", """
dag: {id: big}
tasks:
  small: {op: push, size: 100}
  huge:  {op: push, size: 2000000}
""")
rc, res, err = run_json(big)
if res:
    check("xcom: a small push is stored",
          len(res["xcoms"]["small"]["big"]) == 100)
    check("xcom: an oversized push fails the task",
          res["tasks"]["huge"]["state"] == "failed"
          and "huge" not in res["xcoms"])
    rc2, out2, _ = ph("runs", "show", res["run_id"], "--json")
    r = [x for x in json.loads(out2)["tasks"] if x["task_id"] == "huge"][0]
    check("xcom: the reason names the limit", "limit" in (r["reason"] or ""))

# 6. plugin-side branch
br = write("branch.yaml", """
dag: {id: br}
tasks:
  choose: {op: pick, follow: left}
  left:   {op: bash, command: "true", upstream: [choose]}
  right:  {op: bash, command: "true", upstream: [choose]}
  bad:    {op: pick, follow: nowhere}
""")
rc, res, err = run_json(br)
if res:
    t = res["tasks"]
    check("branch: followed task runs, other skipped",
          t["left"]["state"] == "success" and t["right"]["state"] == "skipped")
    check("branch: following a non-downstream fails",
          t["bad"]["state"] == "failed")

# 7. parallelism: two sleeps overlap (from recorded times, not wall clock)
par = write("par.yaml", """
dag: {id: par}
tasks:
  a: {op: bash, command: "sleep 0.5"}
  b: {op: bash, command: "sleep 0.5"}
""")
rc, res, err = run_json(par, "-j2")  # as make takes it
check("-j2 is -j 2", rc == 0, err)
rc2, out2, _ = ph("runs", "show", "last", "--json")
ts = {x["task_id"]: x for x in json.loads(out2)["tasks"]}
check("parallel: b starts before a ends and vice versa",
      ts["b"]["start_date"] < ts["a"]["end_date"]
      and ts["a"]["start_date"] < ts["b"]["end_date"], ts)
rc, res, err = run_json(par, "-j", "1")
rc2, out2, _ = ph("runs", "show", "last", "--json")
ts = {x["task_id"]: x for x in json.loads(out2)["tasks"]}
first, second = sorted(ts.values(), key=lambda x: x["start_date"])
check("parallelism 1: tries do not overlap",
      second["start_date"] >= first["end_date"])

# 8. CLI commands
rc, out, err = ph("logs", "last", "a")
check("logs prints the task log", rc == 0 and "sleep 0.5" in out, err)
rc, out, err = ph("runs", "list")
check("runs list shows runs", rc == 0 and "par" in out)
rc, out, err = ph("xcom", "list", "last")
check("xcom list runs", rc == 0)
rc, out, err = ph("tasks", "explain", "last", "a")
check("tasks explain names the rule", rc == 0 and "all_success" in out, out + err)
rc, out, err = ph("graph", br, "--format", "mermaid")
check("graph mermaid", rc == 0 and "choose --> left" in out)
rc, out, err = ph("graph", br)
check("graph dot", rc == 0 and '"choose" -> "left"' in out)
grp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dags",
                   "group-basic", "dag.yaml")
rc, out, err = ph("graph", grp)
check("graph: a task group is one node, its edges the group's",
      rc == 0 and '"prep" [label="prep\\n(group, 4 tasks)", shape=folder]'
      in out and '"extract" -> "prep"' in out and '"prep" -> "report"' in out
      and "prep.clean" not in out, out + err)
rc, out, err = ph("graph", grp, "--expand")
check("graph --expand: each group a cluster (nested) around its tasks",
      rc == 0 and 'subgraph "cluster_prep"' in out and
      'subgraph "cluster_prep.feat"' in out and
      '"extract" -> "prep.clean"' in out and
      '"prep.split" -> "prep.feat.count"' in out, out + err)
rc, out, err = ph("graph", grp, "--expand", "--format", "mermaid")
check("graph --expand mermaid: subgraphs, ids Mermaid accepts",
      rc == 0 and 'subgraph prep_feat["prep.feat"]' in out and
      "prep_split --> prep_feat_count" in out, out + err)
mp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dags",
                  "map-from-upstream", "dag.yaml")
rc, out, err = ph("graph", mp)
check("graph: a mapped task is a stack labelled [ ]",
      rc == 0 and '"sq" [label="sq [ ]\\nlua", shape=box3d]' in out, out)
rc, out, err = ph("validate", br)
check("validate ok", rc == 0 and "valid" in out)
rc, out, err = ph("task", "run", par, "a")
check("task run runs one task", rc == 0)
rc, out, err = ph("--version")
check("--version", rc == 0 and re.match(r"pipehost \d+\.\d+", out))
for cmd in (["run"], ["validate"], ["graph"], ["plugins", "list"],
            ["plugins", "info"], ["runs", "list"], ["runs", "show"], ["logs"],
            ["xcom", "list"], ["tasks", "explain"], ["task", "run"],
            ["variables"]):
    rc, out, err = ph(*cmd, "--help")
    check(f"--help: {' '.join(cmd)}", rc == 0 and len(out) > 20, err)
rc, out, err = ph("frobnicate")
check("unknown command: exit 2 and a hint", rc == 2 and "unknown command" in err)
rc, out, err = ph("run")
check("run without FILE: exit 2", rc == 2)
for name, cmd in (("run", ["run", par]),
                  ("task test", ["task", "test", "bash"])):
    rc, out, err = ph(*cmd, "--param", "=1")
    check(f"{name} --param without KEY: exit 2, named",
          rc == 2 and "--param '=1' must be KEY=VALUE" in err, err)
rc, out, err = ph("task", "test", "bash", "--param", 'command=echo "$N"',
                  "--param", "env={\"N\": 42}")
check("task test --param: JSON if it parses, else text",
      rc == 0 and "42" in out, out + err)

# 9. bad input is a clear error, exit 2
bad = write("bad.yaml", "dag: {id: x}\ntasks:\n  a: {op: bash, command: [unclosed\n")
rc, out, err = ph("run", bad)
check("malformed YAML: exit 2 with file:line:col",
      rc == 2 and re.search(r"bad\.yaml:\d+:\d+:", err), err)
rc, out, err = ph("run", os.path.join(WORK, "missing.yaml"))
check("missing file: exit 2", rc == 2 and "missing.yaml" in err, err)

# 9b. "fast" trigger rules: all_success is upstream_failed as soon as one
# upstream fails, while a sibling upstream is still running
fast = write("fast.yaml", """
dag: {id: fast}
tasks:
  boom: {op: bash, command: "exit 1"}
  slow: {op: bash, command: "sleep 1.5"}
  join: {op: bash, command: "true", upstream: [boom, slow]}
""")
rc, res, err = run_json(fast, "-j", "2")
rc2, out2, _ = ph("runs", "show", "last", "--json")
ts = {x["task_id"]: x for x in json.loads(out2)["tasks"]}
check("fast: join is upstream_failed", ts["join"]["state"] == "upstream_failed")
check("fast: decided before the slow sibling finished",
      ts["join"]["end_date"] < ts["slow"]["end_date"] - 0.5, ts)

# 10. kill -9 the host mid-run; resume finishes without rerunning successes
marks = os.path.join(WORK, "marks.log")
killdag = write("kill.yaml", f"""
dag: {{id: killme}}
tasks:
  a: {{op: bash, command: "echo a >> {marks}"}}
  b: {{op: bash, command: "sleep 2; echo b >> {marks}", upstream: [a], retries: 1, retry_delay: 0}}
  c: {{op: bash, command: "echo c >> {marks}", upstream: [b]}}
""")
proc = subprocess.Popen([PH, "run", killdag, "-q"], env=ENV, cwd=WORK,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
run_id = None
for _ in range(100):
    time.sleep(0.05)
    rc, out, _ = ph("runs", "show", "last", "--json")
    if rc == 0:
        r = json.loads(out)
        st = {t["task_id"]: t["state"] for t in r["tasks"]}
        if r["dag_id"] == "killme" and st.get("b") == "running":
            run_id = r["run_id"]
            break
proc.kill()
proc.wait()
check("resume: caught the run with b running", run_id is not None)
if run_id:
    rc, out, err = ph("resume", run_id, "--json", "-q")
    res = json.loads(out) if rc in (0, 1) and out.strip() else None
    check("resume: the run finishes successfully", rc == 0 and res
          and res["state"] == "success", err)
    if res:
        check("resume: a ran exactly once", res["tasks"]["a"]["tries"] == 1)
        check("resume: the lost try of b counts, b retried",
              res["tasks"]["b"]["tries"] == 2)
    with open(marks) as f:
        lines = f.read().split()
    check("resume: every task's effect happened exactly once",
          lines == ["a", "b", "c"], lines)
    rc, out, err = ph("resume", run_id)
    check("resume: a finished run is refused", rc != 0 and "only a running" in err)

# 11. typed params all the way (issue 17): a templated integer param is
# rendered, then read as an integer; text that is no integer fails the
# try naming the param and the rendered text; a mistyped literal is one
# error, without a spurious "missing required param"
typed = write("typed.yaml", """
dag: {id: typed, params: {n: 3}}
tasks:
  ok:  {op: push, size: "{{ params.n * 2 }}"}
  bad: {op: push, size: "{{ 'abc' }}"}
""")
rc, res, err = run_json(typed)
if res:
    check("typed params: a rendered template becomes the declared integer",
          res["tasks"]["ok"]["state"] == "success" and
          res["xcoms"]["ok"]["big"] == "x" * 6, str(res["xcoms"].get("ok")))
    check("typed params: rendered text that is no integer fails, naming it",
          res["tasks"]["bad"]["state"] == "failed" and
          "the template rendered \"abc\", which is not an integer" in
          res["tasks"]["bad"].get("reason", ""), str(res["tasks"]["bad"]))
else:
    check("typed params: the run produced JSON", False, err)
mistyped = write("mistyped.yaml", "dag: {id: mistyped}\ntasks:\n"
                 "  a: {op: bash, command: 42}\n")
rc, out, err = ph("validate", mistyped)
check("typed params: a mistyped literal is one error, no spurious "
      "'missing required param'", rc == 2 and "must be of type string" in err
      and "missing required" not in err, err)

# 11b. choices and ranges in param specs (ABI 1.4): checked at validation,
# and after rendering a template
ch = write("choices.yaml", """
dag: {id: choices, params: {n: -3}}
tasks:
  a: {op: hostile, act: bad_reasn}
  b: {op: push, size: -1}
""")
rc, out, err = ph("validate", ch)
check("param choices: a value not listed is refused with the list and a hint",
      rc == 2 and "choices.yaml:4" in err and "must be one of" in err and
      "did you mean 'bad_reason'?" in err, err)
check("param range: a value out of range is refused at validation",
      "choices.yaml:5" in err and "must be between 0 and 1e+08, got -1" in err,
      err)
rt = write("rangetmpl.yaml", """
dag: {id: rangetmpl, params: {n: -3}}
tasks:
  b: {op: push, size: "{{ params.n }}"}
""")
rc, res, err = run_json(rt)
check("param range: a rendered template out of range fails the try",
      res and res["tasks"]["b"]["state"] == "failed" and
      "must be between" in res["tasks"]["b"].get("reason", ""),
      str(res and res["tasks"]["b"]) + err[-200:])

# 11c. ABI 1.4: an operator with only execute2 (no init, state or destroy)
mini = write("minimal.yaml", "dag: {id: minimal}\ntasks:\n"
             "  m: {op: minimal}\n")
rc, res, err = run_json(mini)
check("ABI 1.4: an operator with only execute2 (and destroy2, given the "
      "host and task) loads and runs",
      res and res["tasks"]["m"]["state"] == "success" and
      res["xcoms"]["m"]["return_value"] == "minimal" and
      res["xcoms"]["m"].get("destroyed") is True, str(res) + err[-300:])

# 11d. compatibility both ways: a plugin built against a newer header
# loads when its min_host_minor allows and its newer members are unset
compat = os.path.join(os.path.dirname(BAD), "compat")
rc, out, err = ph("plugins", "list", "--plugin-dir", compat)
check("a newer-ABI plugin declaring min_host_minor <= this host's loads",
      "future_ok" in out, out[-300:] + err)
check("a plugin needing a newer host is refused, naming min_host_minor",
      re.search(r"needs_newer.so: ABI minor: plugin needs ABI 1\.\d+ "
                r"\(its min_host_minor\)", err) is not None, err)
check("a newer-ABI plugin setting members this host does not know is "
      "refused, saying so", "sets_newer.so: descriptor size" in err and
      "sets members this host does not know" in err, err)
fut = write("future.yaml", "dag: {id: future}\ntasks:\n"
            "  f: {op: future_op_ok}\n")
rc, res, err = run_json(fut, "--plugin-dir", compat)
check("the newer-ABI plugin's operator runs on this host",
      res and res["xcoms"]["f"]["return_value"] == "from the future",
      str(res) + err[-300:])

# 11e. errors with a detail and a hint (ABI 1.4 set_error)
de = write("detail.yaml", "dag: {id: detail}\ntasks:\n"
           "  d: {op: hostile, act: detail, retries: 2}\n")
rc, res, err = run_json(de)
reason = res["tasks"]["d"].get("reason", "") if res else ""
check("set_error: message, DETAIL and HINT in the reason; no retry",
      res and res["tasks"]["d"]["tries"] == 1 and reason ==
      "cannot reach the warehouse\nDETAIL: connect to db.internal:5432 was "
      "refused\nHINT: start the database or fix conn_id", str(res))
rc, out, err = ph("runs", "show", "last")
check("runs show prints the message only",
      "cannot reach the warehouse" in out and "DETAIL" not in out, out[-300:])
rc, out, err = ph("tasks", "explain", "last", "d")
check("tasks explain prints the detail and the hint",
      "DETAIL: connect to db.internal:5432 was refused" in out and
      "HINT: start the database or fix conn_id" in out, out[:400])

# 12. plugins info: qualified names, every flag, --json for tools
rc, out, err = ph("plugins", "info", "testops.push", "--json")
try:
    ops = json.loads(out)
except ValueError:
    ops = []
size = [q for o in ops for q in o["params"] if q["name"] == "size"]
check("plugins info PLUGIN.OPERATOR --json: the operator with typed, "
      "flagged params", rc == 0 and len(ops) == 1 and
      ops[0]["operator"] == "push" and ops[0]["plugin"] == "testops" and
      size and size[0]["type"] == "integer" and size[0]["templated"] and
      size[0]["default"] == 10 and size[0]["minimum"] == 0 and
      size[0]["maximum"] == 1e8, out[-400:] + err)
rc, out, err = ph("plugins", "info", "ml.train")
check("plugins info shows the path flag", rc == 0 and
      re.search(r"input\s+any\s+required templated path", out) is not None,
      out[:600])

shutil.rmtree(WORK, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
