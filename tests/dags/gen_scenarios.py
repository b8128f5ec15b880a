#!/usr/bin/env python3
"""Writes the scenario suite: one directory per scenario with the same DAG
as dag.yaml and dag.lua, and expected.json.  The expected outcomes are
derived here from Airflow's rules as AIRFLOW.md states them (an
implementation independent of the host's C code).  Run it after editing:
  python3 tests/dags/gen_scenarios.py   (rewrites tests/dags/*/)"""
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
# a skip finishes after a failure among the same upstreams: which one a
# rule sees first decides some early outcomes (all_success: failed wins),
# in Airflow as here, so the scenarios fix the order
OK, FAIL, SKIP = "true", "exit 1", "sleep 0.3; exit 99"


def T(id, op="bash", up=(), **kw):
    if op == "bash" and "command" not in kw and "expand" not in kw and \
            "expand_kwargs" not in kw:
        kw["command"] = OK
    return {"id": id, "op": op, "up": list(up), "kw": kw}


def yaml_val(v):
    return json.dumps(v)  # JSON is valid YAML flow syntax


def lua_val(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nil"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # ASCII only: the escapes agree
    if isinstance(v, list):
        return "{ " + ", ".join(lua_val(x) for x in v) + " }"
    return "{ " + ", ".join(f"{k} = {lua_val(x)}" for k, x in v.items()) + " }"


def lua_mapped(v, ids):
    """A mapping the Lua DSL writes as t:expand{...} with task objects (of
    tasks that exist: an unknown one stays a {from = "ID"} table)."""
    if isinstance(v, dict) and v.get("from") in ids:
        return True
    return isinstance(v, dict) and any(isinstance(x, dict) and
                                       x.get("from") in ids
                                       for x in v.values())


def lua_map_ref(v):
    if isinstance(v, dict) and "from" in v:
        if "key" in v:
            return f"{{ from = {v['from']}, key = {json.dumps(v['key'])} }}"
        return v["from"]  # the task object itself
    return lua_val(v)


def write(name, desc, tasks, expect, state=None, xcoms=None, args=None,
          dag_args=None, lua_edges=None, error=None, env=None, runs=None):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    dag_args = dag_args or {}
    # YAML
    head = {"id": name.replace("-", "_")}
    head.update(dag_args)
    y = [f"# {desc}", "dag: " + json.dumps(head), "tasks:"]
    for t in tasks:
        body = {"op": t["op"]}
        for k, v in t["kw"].items():
            if k == "fn_lua":
                continue
            body[k] = v
        if t["up"]:
            body["upstream"] = t["up"]
        y.append(f"  {t['id']}: " + ", ".join([]) + json.dumps(body))
    with open(os.path.join(d, "dag.yaml"), "w") as f:
        f.write("\n".join(y) + "\n")
    # Lua
    lines = [f"-- {desc}", 'local ph = require "pipehost"',
             "local d = ph.dag{ id = " + json.dumps(head["id"]) +
             "".join(f", {k} = {lua_val(v)}" for k, v in dag_args.items()) +
             " }"]
    ids = {t["id"] for t in tasks}
    for t in tasks:
        parts = [f"id = {json.dumps(t['id'])}", f"op = {json.dumps(t['op'])}"]
        mapped = None
        for k, v in t["kw"].items():
            if k == "fn" and "fn_lua" in t["kw"]:
                continue
            if k in ("expand", "expand_kwargs") and lua_mapped(v, ids):
                mapped = (k, v)  # the DSL's method form, with task objects
                continue
            if k == "fn_lua":
                parts.append(f"fn = {v}")
            else:
                parts.append(f"{k} = {lua_val(v)}")
        lines.append(f"local {t['id']} = d:task{{ " + ", ".join(parts) + " }")
        if mapped:
            k, v = mapped
            lines.append(f"{t['id']}:{k}" + (
                "{ " + ", ".join(f"{n} = {lua_map_ref(x)}"
                                 for n, x in v.items()) + " }"
                if k == "expand" else f"({lua_map_ref(v)})"))
    if lua_edges is not None:
        lines += lua_edges
    else:
        for t in tasks:
            if len(t["up"]) == 1:
                lines.append(f"{t['up'][0]} >> {t['id']}")
            elif t["up"]:
                lines.append("{ " + ", ".join(t["up"]) + " } >> " + t["id"])
    lines.append("return d")
    with open(os.path.join(d, "dag.lua"), "w") as f:
        f.write("\n".join(lines) + "\n")
    exp = {"description": desc}
    if error:
        exp["error"] = error
    else:
        exp["state"] = state
        exp["tasks"] = {}
        for tid, st in expect.items():
            if isinstance(st, dict):
                exp["tasks"][tid] = st
            elif isinstance(st, tuple):
                exp["tasks"][tid] = {"state": st[0], "tries": st[1]}
            else:
                exp["tasks"][tid] = {"state": st}
        if xcoms:
            exp["xcoms"] = xcoms
    if args:
        exp["args"] = args
    if env:
        exp["env"] = env
    if runs:
        exp["runs"] = runs
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=2)
        f.write("\n")


# ---- trigger rules (AIRFLOW.md §1.2), every upstream finished
def decide(rule, kinds):
    n = len(kinds)
    s, sk = kinds.count("s"), kinds.count("k")
    f, uf = kinds.count("f"), kinds.count("u")
    if rule == "all_success":
        return "upstream_failed" if f + uf else "skipped" if sk else "run"
    if rule == "all_failed":
        return "skipped" if s or sk else "run"
    if rule == "all_done":
        return "run"
    if rule == "all_skipped":
        return "skipped" if s + f + uf else "run"
    if rule == "one_success":
        return "run" if s else "skipped" if sk == n else "upstream_failed"
    if rule == "one_failed":
        return "run" if f + uf else "skipped"
    if rule == "one_done":
        return "run" if s + f else "skipped"
    if rule == "none_failed":
        return "upstream_failed" if f + uf else "run"
    if rule == "none_failed_min_one_success":
        return "upstream_failed" if f + uf else "skipped" if sk == n else "run"
    if rule == "none_skipped":
        return "skipped" if sk else "run"
    if rule == "always":
        return "run"
    raise ValueError(rule)


MIXES = {"ss": "ss", "sf": "sf", "sk": "sk", "kk": "kk", "ff": "ff",
         "su": "su", "fk": "fk", "uu": "uu", "ku": "ku"}
SOURCES = [T("s1"), T("s2"), T("f1", command=FAIL), T("f2", command=FAIL),
           T("k1", command=SKIP), T("k2", command=SKIP),
           T("u1", up=["f1"]), T("u2", up=["f2"])]
SRC_STATE = {"s1": ("success", 1), "s2": ("success", 1), "f1": ("failed", 1),
             "f2": ("failed", 1), "k1": ("skipped", 1), "k2": ("skipped", 1),
             "u1": ("upstream_failed", 0), "u2": ("upstream_failed", 0)}

for rule in ["all_success", "all_failed", "all_done", "all_skipped",
             "one_success", "one_failed", "one_done", "none_failed",
             "none_failed_min_one_success", "none_skipped", "always"]:
    tasks, expect = list(SOURCES), dict(SRC_STATE)
    failed_leaf = False
    for mix in MIXES:
        ups, used = [], {}
        for k in mix:
            used[k] = used.get(k, 0) + 1
            ups.append({"s": "s", "f": "f", "k": "k", "u": "u"}[k] + str(used[k]))
        tid = "t_" + mix
        tasks.append(T(tid, up=ups, trigger_rule=rule))
        dec = decide(rule, list(mix))
        expect[tid] = ("success", 1) if dec == "run" else (dec, 0)
        failed_leaf |= dec == "upstream_failed"
    write("tr-" + rule,
          f"trigger rule {rule} against nine upstream mixes of success (s), "
          "failed (f), skipped (k) and upstream_failed (u) (AIRFLOW.md §1.2)",
          tasks, expect, state="failed" if failed_leaf else "success")

# ---- foundation
write("basic-xcom", "the last stdout line is return_value; templates pull it",
      [T("extract", command="echo 42"),
       T("report", up=["extract"],
         command="test {{ xcom_pull('extract') }} = 42 && echo ok")],
      {"extract": ("success", 1), "report": ("success", 1)}, state="success",
      xcoms={"extract": {"return_value": "42"}, "report": {"return_value": "ok"}})
write("chain-xcom", "a chain passes values along with XCom",
      [T("a", command="echo 1"),
       T("b", up=["a"], command="echo $(( {{ xcom_pull('a') }} + 1 ))"),
       T("c", up=["b"], command="echo $(( {{ xcom_pull('b') }} + 1 ))")],
      {"a": "success", "b": "success", "c": "success"}, state="success",
      xcoms={"c": {"return_value": "3"}})
write("bash-no-shell",
      "plain commands run without a shell (as make does) and behave the same: "
      "exit codes, skip code, stdout as return_value; builtins, quotes and "
      "expansions still go through bash",
      [T("direct_ok", command="true"),
       T("direct_out", command="expr 40 + 2"),
       T("direct_fail", command="false"),
       T("direct_args", command="printenv PIPEHOST_TASK_ID"),
       T("builtin_skip", command="exit 99"),
       T("builtin_echo", command="echo -n builtin"),
       T("shell_expand", command="echo $((6 * 7))"),
       T("spaces", command="  expr   1   +   1  ")],
      {"direct_ok": "success", "direct_out": "success",
       "direct_fail": "failed", "direct_args": "success",
       "builtin_skip": "skipped", "builtin_echo": "success",
       "shell_expand": "success", "spaces": "success"},
      state="failed",
      xcoms={"direct_out": {"return_value": "42"},
             "direct_args": {"return_value": "direct_args"},
             "builtin_echo": {"return_value": "builtin"},
             "shell_expand": {"return_value": "42"},
             "spaces": {"return_value": "2"}})
write("fan-out-in", "a fan-out into an empty join; empty tasks start no try",
      [T("root"), T("m1", up=["root"]), T("m2", up=["root"]),
       T("m3", up=["root"]), T("join", op="empty", up=["m1", "m2", "m3"]),
       T("final", up=["join"], command="echo done")],
      {"root": "success", "m1": "success", "m2": "success", "m3": "success",
       "join": ("success", 0), "final": ("success", 1)}, state="success")
write("failure-propagates",
      "a failure makes all_success downstreams upstream_failed; an "
      "independent branch still runs; the run fails (its leaf failed)",
      [T("a", command=FAIL), T("b", up=["a"]), T("c", up=["b"]), T("other")],
      {"a": ("failed", 1), "b": ("upstream_failed", 0),
       "c": ("upstream_failed", 0), "other": ("success", 1)}, state="failed")
write("skip-propagates",
      "exit 99 skips; all_success downstream is skipped; none_failed after "
      "an all-skipped upstream runs (AIRFLOW.md §10.1)",
      [T("a", command=SKIP), T("b", up=["a"]),
       T("c", up=["b"], trigger_rule="none_failed")],
      {"a": ("skipped", 1), "b": ("skipped", 0), "c": ("success", 1)},
      state="success")
write("run-state-from-leaves",
      "a failed middle task with an all_done leaf that succeeds gives a "
      "successful run (AIRFLOW.md §1.5)",
      [T("a"), T("b", up=["a"], command=FAIL),
       T("c", up=["b"], trigger_rule="all_done")],
      {"a": "success", "b": "failed", "c": "success"}, state="success")
write("leaf-skipped-run-success",
      "a skipped leaf counts as success for the run state",
      [T("a", command=SKIP)], {"a": "skipped"}, state="success")
write("lua-dependency-forms",
      "a >> {b, c}; {b, c} >> j; e << j; e >> f >> g >> h (YAML: upstream)",
      [T("a"), T("b", up=["a"]), T("c", up=["a"]), T("j", up=["b", "c"]),
       T("e", up=["j"]), T("f", up=["e"]), T("g", up=["f"]), T("h", up=["g"],
                                                               command="echo end")],
      {x: ("success", 1) for x in "abcjefgh"}, state="success",
      xcoms={"h": {"return_value": "end"}},
      lua_edges=["a >> { b, c }", "{ b, c } >> j", "e << j", "e >> f >> g >> h"])
write("parallel-independent", "independent tasks all run",
      [T(f"p{i}", command=f"echo {i}") for i in range(6)],
      {f"p{i}": "success" for i in range(6)}, state="success",
      xcoms={"p5": {"return_value": "5"}}, args=["-j", "3"])

# ---- branching (AIRFLOW.md §1.3)
BR = "branch"
write("branch-one", "branch follows one direct downstream; the other skips",
      [T("pick", op=BR, fn="'left'", fn_lua='function(ctx) return "left" end'),
       T("left", up=["pick"]), T("right", up=["pick"]),
       T("after_right", up=["right"])],
      {"pick": "success", "left": ("success", 1), "right": ("skipped", 0),
       "after_right": ("skipped", 0)}, state="success",
      xcoms={"pick": {"return_value": "left"}})
write("branch-list", "branch follows a list of downstreams",
      [T("pick", op=BR, fn="{'a', 'b'}",
         fn_lua='function(ctx) return { "a", "b" } end'),
       T("a", up=["pick"]), T("b", up=["pick"]), T("c", up=["pick"])],
      {"pick": "success", "a": "success", "b": "success", "c": "skipped"},
      state="success")
write("branch-none", "branch returning nil skips every direct downstream",
      [T("pick", op=BR, fn="nil", fn_lua="function(ctx) return nil end"),
       T("a", up=["pick"]), T("b", up=["pick"])],
      {"pick": "success", "a": "skipped", "b": "skipped"}, state="success")
write("branch-join-nfmos",
      "a join after a branch with none_failed_min_one_success runs",
      [T("pick", op=BR, fn="'left'", fn_lua='function() return "left" end'),
       T("left", up=["pick"]), T("right", up=["pick"]),
       T("join", up=["left", "right"],
         trigger_rule="none_failed_min_one_success")],
      {"pick": "success", "left": "success", "right": "skipped",
       "join": "success"}, state="success")
write("branch-join-all-success",
      "a join after a branch with the default all_success is skipped",
      [T("pick", op=BR, fn="'left'", fn_lua='function() return "left" end'),
       T("left", up=["pick"]), T("right", up=["pick"]),
       T("join", up=["left", "right"])],
      {"pick": "success", "left": "success", "right": "skipped",
       "join": "skipped"}, state="success")
write("branch-join-reachable",
      "a join that is a direct downstream of the branch but reachable from "
      "the chosen task is not skipped (skip_all_except)",
      [T("pick", op=BR, fn="'a'", fn_lua='function() return "a" end'),
       T("a", up=["pick"]), T("b", up=["pick"]), T("join", up=["pick", "a"])],
      {"pick": "success", "a": "success", "b": "skipped", "join": "success"},
      state="success")
write("branch-on-xcom", "branch decides from an upstream XCom",
      [T("count", op="lua", fn="#params.items",
         fn_lua="function(ctx) return #ctx.params.items end"),
       T("pick", op=BR, up=["count"],
         fn="xcom_pull('count') > 2 and 'big' or 'small'",
         fn_lua='function(ctx) return ctx.xcom_pull("count") > 2 and "big" '
                'or "small" end'),
       T("big", up=["pick"]), T("small", up=["pick"])],
      {"count": "success", "pick": "success", "big": "success",
       "small": "skipped"}, state="success",
      dag_args={"params": {"items": [1, 2, 3]}},
      xcoms={"count": {"return_value": 3}})

# ---- short circuit (AIRFLOW.md §1.4)
SC = "short_circuit"
write("short-circuit-true", "a truthy result lets everything run",
      [T("check", op=SC, fn="1 < 2", fn_lua="function() return 1 < 2 end"),
       T("a", up=["check"]), T("b", up=["a"])],
      {"check": "success", "a": "success", "b": "success"}, state="success",
      xcoms={"check": {"return_value": True}})
write("short-circuit-false",
      "a falsy result skips every downstream, even all_done ones "
      "(ignore_downstream_trigger_rules defaults to true)",
      [T("check", op=SC, fn="false", fn_lua="function() return false end"),
       T("a", up=["check"]), T("b", up=["a"]),
       T("c", up=["b"], trigger_rule="all_done"), T("other")],
      {"check": "success", "a": "skipped", "b": "skipped", "c": "skipped",
       "other": "success"}, state="success")
write("short-circuit-false-rules",
      "with ignore_downstream_trigger_rules false only direct downstreams "
      "are skipped; the rest follow their trigger rules",
      [T("check", op=SC, fn="0", fn_lua="function() return 0 end",
         ignore_downstream_trigger_rules=False),
       T("a", up=["check"]), T("b", up=["a"]),
       T("c", up=["b"], trigger_rule="all_done"),
       T("d", up=["a"], trigger_rule="none_failed")],
      {"check": "success", "a": "skipped", "b": "skipped", "c": "success",
       "d": "success"}, state="success")

# ---- retries (AIRFLOW.md §3)
write("retries",
      "retries+1 tries for a retryable failure; success on a later try; "
      "fail() and skips are never retried",
      [T("always_fails", command=FAIL, retries=2, retry_delay=0),
       T("flaky", command='[ "$PIPEHOST_TRY_NUMBER" -ge 2 ]', retries=3,
         retry_delay=0),
       T("gives_up", op="lua", fn="fail('no point retrying')",
         fn_lua='function(ctx) ctx.fail("no point retrying") end', retries=3,
         retry_delay=0),
       T("skips", command=SKIP, retries=2, retry_delay=0),
       T("downstream", up=["flaky"])],
      {"always_fails": ("failed", 3), "flaky": ("success", 2),
       "gives_up": ("failed", 1), "skips": ("skipped", 1),
       "downstream": ("success", 1)}, state="failed")
write("retries-default-args", "default_args retries apply to every task",
      [T("a", command=FAIL), T("b", command='[ "$PIPEHOST_TRY_NUMBER" -ge 3 ]')],
      {"a": ("failed", 3), "b": ("success", 3)}, state="failed",
      dag_args={"default_args": {"retries": 2, "retry_delay": 0}})
write("execution-timeout",
      "execution_timeout stops a try; the timeout is a retryable failure",
      [T("slow", command="sleep 30", execution_timeout=1, retries=1,
         retry_delay=0), T("after", up=["slow"], trigger_rule="all_done")],
      {"slow": ("failed", 2), "after": ("success", 1)}, state="success")

# ---- the worker's environment
write("worker-environment",
      "a try sees the try's identity in its environment and nothing the "
      "host set for its launcher's own start (LD_BIND_NOW)",
      [T("lua_env", op="lua",
         fn="{bind = os.getenv('LD_BIND_NOW'), "
            "marker = os.getenv('PIPEHOST_LAUNCHER_BIND_NOW'), "
            "task = os.getenv('PIPEHOST_TASK_ID')}",
         fn_lua='function(ctx) return {bind = os.getenv("LD_BIND_NOW"), '
                'marker = os.getenv("PIPEHOST_LAUNCHER_BIND_NOW"), '
                'task = os.getenv("PIPEHOST_TASK_ID")} end'),
       T("shell_env", command="echo ${LD_BIND_NOW:-unset} $PIPEHOST_TASK_ID")],
      {"lua_env": "success", "shell_env": "success"}, state="success",
      xcoms={"lua_env": {"return_value": {"task": "lua_env"}},
             "shell_env": {"return_value": "unset shell_env"}})

# ---- XCom (AIRFLOW.md §5)
write("xcom-pull-list", "pulling a list of task ids gives a list, in order",
      [T("a", command="echo 1"), T("b", command="echo 2"),
       T("both", op="lua", up=["a", "b"], fn="xcom_pull({'b', 'a'})",
         fn_lua='function(ctx) return ctx.xcom_pull({ "b", "a" }) end')],
      {"a": "success", "b": "success", "both": "success"}, state="success",
      xcoms={"both": {"return_value": ["2", "1"]}})
write("xcom-numbers",
      "Lua floats cross as valid JSON: 1e20 stays 1e20 (json-glib alone "
      "writes the invalid 1e+20.0), NaN and infinity become null",
      [T("nums", op="lua", fn="{big = 1e20, nan = 0/0, inf = math.huge, "
                              "small = 1e-7, third = 1/3, int = 7}",
         fn_lua='function(ctx) return {big = 1e20, nan = 0/0, inf = '
                'math.huge, small = 1e-7, third = 1/3, int = 7} end'),
       T("check", op="lua", up=["nums"],
         fn="xcom_pull('nums').big == 1e20 and xcom_pull('nums').nan == nil",
         fn_lua='function(ctx) local n = ctx.xcom_pull("nums") '
                'return n.big == 1e20 and n.nan == nil end')],
      {"nums": "success", "check": "success"}, state="success",
      xcoms={"nums": {"return_value": {"big": 1e20, "nan": None, "inf": None,
                                       "small": 1e-7, "third": 1 / 3,
                                       "int": 7}},
             "check": {"return_value": True}})
write("xcom-keys-and-tables",
      "xcom_push with a custom key; a table return value is a JSON object; "
      "empty stdout pushes nothing",
      [T("push", op="lua", fn="xcom_push('k', {x = 1})",
         fn_lua='function(ctx) ctx.xcom_push("k", { x = 1 }) end'),
       T("obj", op="lua", fn="{name = 'pipehost', n = 2}",
         fn_lua='function(ctx) return { name = "pipehost", n = 2 } end'),
       T("silent", command="true"),
       T("reader", op="lua", up=["push", "obj"],
         fn="xcom_pull('push', 'k').x + xcom_pull('obj').n",
         fn_lua='function(ctx) return ctx.xcom_pull("push", "k").x + '
                'ctx.xcom_pull("obj").n end')],
      {"push": "success", "obj": "success", "silent": "success",
       "reader": "success"}, state="success",
      xcoms={"push": {"k": {"x": 1}, "return_value": "<missing>"},
             "obj": {"return_value": {"name": "pipehost", "n": 2}},
             "silent": {"return_value": "<missing>"},
             "reader": {"return_value": 3}})

# ---- templates (AIRFLOW.md §8)
write("templates-context",
      "ds, ds_nodash, ts, run_id, params (default and --param), task and ti",
      [T("dates", command="echo {{ ds }} {{ ds_nodash }} {{ ts }}"),
       T("params", command="echo {{ params.n * 2 }} {{ params.who }}"),
       T("ids", command='[ -n "{{ run_id }}" ] && echo {{ task.task_id }} '
                        '{{ ti.try_number }} {{ dag.dag_id }}'),
       T("interval", command="echo {{ logical_date }} {{ data_interval_start }}"
                             " {{ data_interval_end }} {{ ts_nodash }}"),
       T("conf", command="echo {{ dag_run.conf.n }} {{ var.value.region }} "
                         "{{ task_instance_key_str }}")],
      {"dates": "success", "params": "success", "ids": "success",
       "interval": "success", "conf": "success"},
      state="success", args=["--date", "2024-01-02", "--param", "n=21"],
      dag_args={"params": {"n": 1, "who": "me"}},
      env={"PIPEHOST_VAR_region": "eu-west"},
      xcoms={"dates": {"return_value":
                       "2024-01-02 20240102 2024-01-02T00:00:00+00:00"},
             "params": {"return_value": "42 me"},
             "ids": {"return_value": "ids 1 templates_context"},
             "interval": {"return_value": "2024-01-02T00:00:00+00:00 "
                          "2024-01-02T00:00:00+00:00 2024-01-02T00:00:00+00:00 "
                          "20240102T000000"},
             "conf": {"return_value":
                      "21 eu-west templates_context__conf__20240102"}})
write("templates-xcom-shell-quote",
      "xcom_pull in a template and shell_quote of a value with a quote",
      [T("a", op="lua", fn="\"it's\"", fn_lua="function() return \"it's\" end"),
       T("b", up=["a"],
         command="test {{ xcom_pull('a') | shell_quote }} = \"it's\" && "
                 "echo {{ xcom_pull('a') | upper | shell_quote }}")],
      {"a": "success", "b": "success"}, state="success",
      xcoms={"b": {"return_value": "IT'S"}})
write("template-error",
      "a template error fails the task with the template text and position",
      [T("bad", command="echo {{ nope.x }}"), T("fine")],
      {"bad": ("failed", 1), "fine": "success"}, state="failed")

# ---- latest_only
write("latest-only-manual",
      "latest_only lets a manual run through (AIRFLOW.md: not skipped for "
      "externally triggered runs)",
      [T("latest", op="latest_only"), T("a", up=["latest"])],
      {"latest": "success", "a": "success"}, state="success")

# ---- validation errors: exit 2 and a clear message, nothing runs
write("error-cycle", "a cycle is refused and printed",
      [T("a", up=["c"]), T("b", up=["a"]), T("c", up=["b"])], {},
      error=r"cycle: .*>>")
write("error-unknown-operator", "an unknown operator gets a suggestion",
      [T("a", op="bsh", command="true")], {},
      error=r"unknown operator 'bsh' \(did you mean 'bash'\?\)")
write("error-unknown-param", "an unknown param gets a suggestion",
      [T("a", comand="true")], {},
      error=r"unknown param 'comand'.*did you mean 'command'")
write("error-missing-param", "a missing required param is named",
      [{"id": "a", "op": "bash", "up": [], "kw": {}}], {},
      error=r"missing required param 'command'")
write("error-wrong-type", "a mistyped param names the types",
      [T("a", command=["echo", "hi"])], {},
      error=r"param 'command' of operator 'bash' must be of type string, got array")
write("error-unknown-upstream", "an unknown upstream id is named, with a hint",
      [T("a"), T("b", up=["aa"])], {},
      error=r"unknown upstream task 'aa' in dependency aa >> [bc] \(did you mean 'a'\?\)",
      lua_edges=['d:task{ id = "c", op = "empty", upstream = { "aa" } }'])
write("error-bad-trigger-rule", "an unknown trigger rule gets a suggestion",
      [T("a", trigger_rule="all_sucess")], {},
      error=r"unknown trigger_rule 'all_sucess' \(did you mean 'all_success'\?\)")

# ---- Airflow fidelity (issue 16)
write("templates-strict-undefined",
      "an undefined template name fails the task, naming it (Airflow's "
      "StrictUndefined); var.value.missing fails, var.value.get gives a "
      "default",
      [T("typo", command="echo {{ execution_dat }}"),
       T("novar", command="echo {{ var.value.missing }}"),
       T("getvar", command="echo {{ var.value.get('missing', 'dflt') }}")],
      {"typo": "failed", "novar": "failed", "getvar": "success"},
      state="failed",
      xcoms={"getvar": {"return_value": "dflt"}})
write("templates-airflow2-names",
      "Airflow 2's context names: execution_date, yesterday_ds, tomorrow_ds, "
      "next_ds/prev_ds from the schedule, macros.ds_add and ds_format",
      [T("names", command="echo {{ execution_date }} {{ yesterday_ds }} "
                          "{{ tomorrow_ds_nodash }} {{ next_ds }} "
                          "{{ prev_ds_nodash }}"),
       T("macros", command="echo {{ macros.ds_add(ds, -40) }} "
                           "{{ macros.ds_format(ds, '%Y-%m-%d', '%d.%m.%Y') }}")],
      {"names": "success", "macros": "success"},
      state="success", args=["--date", "2024-03-01"],
      dag_args={"schedule": "@daily", "start_date": "2024-01-01"},
      xcoms={"names": {"return_value":
                       "2024-03-01T00:00:00+00:00 2024-02-29 20240302 "
                       "2024-03-02 20240229"},
             "macros": {"return_value": "2024-01-21 01.03.2024"}})
write("variables-env-upper",
      "PIPEHOST_VAR_FOO is var.value.foo and ctx.var('foo') (Airflow "
      "upper-cases the name); a missing variable in a callable fails unless "
      "a default is given",
      [T("tmpl", command="echo {{ var.value.foo }}"),
       T("fn", op="lua", fn="var('foo') .. '/' .. tostring(var('nope', nil))"),
       T("missing", op="lua", fn="var('nope')")],
      {"tmpl": "success", "fn": "success", "missing": "failed"},
      state="failed", env={"PIPEHOST_VAR_FOO": "bar"},
      xcoms={"tmpl": {"return_value": "bar"},
             "fn": {"return_value": "bar/nil"}})
write("xcom-lua-lossless",
      "Lua values cross as JSON without loss: mixed keys, lists with holes, "
      "json.encode/decode; a value with no JSON form fails loudly",
      [T("mixed", op="lua", fn="{x = 1, [2] = 'two'}"),
       T("holes", op="lua", fn="{xcom_pull('nope'), 2}"),
       T("codec", op="lua", fn="json.decode(json.encode({a = {1, 2}})).a[2]"),
       T("bad", op="lua", fn="{f = print}")],
      {"mixed": "success", "holes": "success", "codec": "success",
       "bad": "failed"},
      state="failed",
      xcoms={"mixed": {"return_value": {"2": "two", "x": 1}},
             "holes": {"return_value": [None, 2]},
             "codec": {"return_value": 2}})
write("xcom-pull-forms",
      "xcom_pull in Airflow's forms, in templates and callables alike: "
      "keyword arguments, the table form, task_ids left out (any task), "
      "ti.xcom_pull, and key '*' for every key of a task",
      [T("a", op="lua", fn="xcom_push('k', 'from-a') return 1"),
       T("tmpl", up=["a"], command="echo {{ xcom_pull(key='k') }} "
         "{{ ti.xcom_pull(task_ids='a', key='k') }} "
         "{{ xcom_pull{task_ids='a'} }}"),
       T("fn", op="lua", up=["a"],
         fn="{xcom_pull{key='k'}, ti.xcom_pull{task_ids='a', key='k'}, "
            "ti:xcom_pull('a')}"),
       T("every", op="lua", up=["a"], fn="xcom_pull('a', '*')")],
      {"a": "success", "tmpl": "success", "fn": "success",
       "every": "success"},
      state="success",
      xcoms={"a": {"return_value": 1, "k": "from-a"},
             "tmpl": {"return_value": "from-a from-a 1"},
             "fn": {"return_value": ["from-a", "from-a", 1]},
             "every": {"return_value": {"k": "from-a", "return_value": 1}}})
write("lua-sensor",
      "lua_sensor pokes a Lua callable until it is truthy (Airflow's "
      "PythonSensor); its value becomes the XCom; soft_fail skips at timeout",
      [T("ok", op="lua_sensor", fn="{ready = true}", poke_interval=0.1,
         timeout=5),
       T("never", op="lua_sensor", fn="0", poke_interval=0.1, timeout=0.5,
         soft_fail=True)],
      {"ok": "success", "never": "skipped"},
      state="success",
      xcoms={"ok": {"return_value": {"ready": True}}})
write("variable-set",
      "a task sets a variable (Airflow's Variable.set, ABI 1.4 "
      "variable_set); later tasks read it in callables and templates",
      [T("setter", op="lua", fn="var_set('counter', '7') var_set('conf', "
                               "{a = 1}) return 1"),
       T("reader", op="lua", up=["setter"], fn="var('counter')"),
       T("tmpl", up=["setter"],
         command="echo {{ var.value.counter }} {{ var.json.conf.a }}")],
      {"setter": "success", "reader": "success", "tmpl": "success"},
      state="success",
      xcoms={"setter": {"return_value": 1},
             "reader": {"return_value": "7"},
             "tmpl": {"return_value": "7 1"}})
write("yaml-fn-chunk",
      "a fn of statements without return runs (as Lua's REPL reads a line), "
      "and a queue key is accepted (ignored by the local executor)",
      [T("stmts", op="lua", fn="local t = {} t.k = 'v' log(t.k)",
         queue="gpu")],
      {"stmts": "success"}, state="success")

write("lua-ctx-lazy",
      "ctx is filled from the run context on first use: ti first, a name "
      "from the context next to a standard global, every member through "
      "pairs, and var the function over the context's var table",
      [T("first", op="lua", fn="ti.task_id .. ' ' .. ti.try_number",
         fn_lua="function(ctx) return ctx.ti.task_id .. ' ' .. "
                "ctx.ti.try_number end"),
       T("mixed", op="lua",
         fn="ds .. ' ' .. tostring(math.floor(2.5)) .. ' ' .. params.who",
         fn_lua="function(ctx) return ctx.ds .. ' ' .. "
                "tostring(math.floor(2.5)) .. ' ' .. ctx.params.who end"),
       T("all", op="lua",
         fn="local n = 0 for k in pairs(_ENV) do n = n + 1 end "
            "return n > 20 and ds_nodash",
         fn_lua="function(ctx) local n = 0 for k in pairs(ctx) do n = n + 1 "
                "end return n > 20 and ctx.ds_nodash end"),
       T("var_fn", op="lua", fn="var('region')",
         fn_lua="function(ctx) return ctx.var('region') end")],
      {"first": "success", "mixed": "success", "all": "success",
       "var_fn": "success"},
      state="success", args=["--date", "2024-01-02"],
      dag_args={"params": {"who": "me"}},
      env={"PIPEHOST_VAR_REGION": "eu-west"},
      xcoms={"first": {"return_value": "first 1"},
             "mixed": {"return_value": "2024-01-02 2 me"},
             "all": {"return_value": "20240102"},
             "var_fn": {"return_value": "eu-west"}})

# ---- dynamic task mapping (AIRFLOW.md §6)
SQ = "return kwargs.x * kwargs.x"
SQ_LUA = "function(ctx) return ctx.kwargs.x * ctx.kwargs.x end"
SUM = "local s = 0 for _, v in ipairs(xcom_pull('sq')) do s = s + v end return s"
SUM_LUA = ("function(ctx) local s = 0 for _, v in "
           "ipairs(ctx.xcom_pull('sq')) do s = s + v end return s end")
write("map-literal",
      "expand over a literal list: one instance per item, map_index in "
      "order; a downstream pulls the list of their values in map_index "
      "order (the reduce)",
      [T("echo", expand={"command": ["echo a", "echo b", "echo c"]}),
       T("reduce", op="lua", up=["echo"], fn="xcom_pull('echo')",
         fn_lua="function(ctx) return ctx.xcom_pull('echo') end")],
      {"echo[0]": "success", "echo[1]": "success", "echo[2]": "success",
       "reduce": "success"}, state="success",
      xcoms={"echo[0]": {"return_value": "a"},
             "echo[2]": {"return_value": "c"},
             "reduce": {"return_value": ["a", "b", "c"]}})
write("map-from-upstream",
      "expand over an upstream's return value (the upstream becomes an "
      "upstream); a lua task's mapped name is a keyword argument",
      [T("gen", op="lua", fn="{3, 1, 2}",
         fn_lua="function(ctx) return {3, 1, 2} end"),
       T("sq", op="lua", fn=SQ, fn_lua=SQ_LUA, expand={"x": {"from": "gen"}}),
       T("total", op="lua", up=["sq"], fn=SUM, fn_lua=SUM_LUA),
       T("all", op="lua", up=["sq"], fn="xcom_pull('sq')",
         fn_lua="function(ctx) return ctx.xcom_pull('sq') end")],
      {"gen": "success", "sq[0]": "success", "sq[1]": "success",
       "sq[2]": "success", "total": "success", "all": "success"},
      state="success",
      xcoms={"sq[0]": {"return_value": 9}, "total": {"return_value": 14},
             "all": {"return_value": [9, 1, 4]}})
write("map-cartesian",
      "several expanded params form a cartesian product, the first "
      "outermost; map_index is in the context",
      [T("pair", op="lua",
         fn="kwargs.a .. kwargs.b .. ti.map_index",
         fn_lua="function(ctx) return ctx.kwargs.a .. ctx.kwargs.b .. "
                "ctx.ti.map_index end",
         expand={"a": ["1", "2"], "b": ["x", "y", "z"]}),
       T("reduce", op="lua", up=["pair"], fn="xcom_pull('pair')",
         fn_lua="function(ctx) return ctx.xcom_pull('pair') end")],
      {**{f"pair[{i}]": "success" for i in range(6)}, "reduce": "success"},
      state="success",
      xcoms={"reduce": {"return_value": ["1x0", "1y1", "1z2", "2x3", "2y4",
                                         "2z5"]}})
write("map-zero",
      "zero items: the mapped task is skipped, and its skip propagates (an "
      "empty Lua table is an empty list)",
      [T("gen", op="lua", fn="{}",
         fn_lua="function(ctx) return {} end"),
       T("sq", op="lua", fn=SQ, fn_lua=SQ_LUA, expand={"x": {"from": "gen"}}),
       T("after", up=["sq"]),
       T("done", up=["sq"], trigger_rule="none_failed")],
      {"gen": "success", "sq": {"state": "skipped", "reason": "zero items"},
       "after": "skipped", "done": "success"}, state="success")
write("map-over-limit",
      "more items than max_map_length: the mapped task fails, naming the "
      "limit; nothing of it runs",
      [T("gen", op="lua", fn="{1, 2, 3}",
         fn_lua="function(ctx) return {1, 2, 3} end"),
       T("sq", op="lua", fn=SQ, fn_lua=SQ_LUA, max_map_length=2,
         expand={"x": {"from": "gen"}}),
       T("after", up=["sq"])],
      {"gen": "success",
       "sq": {"state": "failed", "reason": "3 instances: over its "
              "max_map_length of 2"},
       "after": "upstream_failed"}, state="failed")
write("map-non-list",
      "an upstream value that is not a list fails the mapped task with a "
      "message naming the upstream and the value's type",
      [T("gen", op="lua", fn="{a = 1}",
         fn_lua="function(ctx) return {a = 1} end"),
       T("sq", op="lua", fn=SQ, fn_lua=SQ_LUA, expand={"x": {"from": "gen"}}),
       T("none", op="lua", fn="nil", fn_lua="function(ctx) return nil end"),
       T("sq2", op="lua", fn=SQ, fn_lua=SQ_LUA,
         expand={"x": {"from": "none"}})],
      {"gen": "success",
       "sq": {"state": "failed",
              "reason": "upstream 'gen' returned object, not a list"},
       "none": "success",
       "sq2": {"state": "failed",
               "reason": "upstream 'none' pushed no return_value"}},
      state="failed")
write("map-trigger-rules",
      "a downstream's trigger rule counts every mapped instance (one of "
      "three fails)",
      [T("m", expand={"command": ["true", "exit 1", "true"]}),
       T("all_success", up=["m"]),
       T("all_done", up=["m"], trigger_rule="all_done"),
       T("one_failed", up=["m"], trigger_rule="one_failed"),
       T("one_success", up=["m"], trigger_rule="one_success"),
       T("none_failed", up=["m"], trigger_rule="none_failed"),
       T("all_failed", up=["m"], trigger_rule="all_failed")],
      {"m[0]": "success", "m[1]": "failed", "m[2]": "success",
       "all_success": "upstream_failed", "all_done": "success",
       "one_failed": "success", "one_success": "success",
       "none_failed": "upstream_failed", "all_failed": "skipped"},
      state="failed")
write("map-retries",
      "each instance has its own tries: only the failing one is retried",
      [T("m", retries=2, retry_delay=0,
         expand={"command": ["true", '[ "$PIPEHOST_TRY_NUMBER" -ge 2 ]',
                             '[ "$PIPEHOST_MAP_INDEX" = 2 ]']}),
       T("after", up=["m"])],
      {"m[0]": ("success", 1), "m[1]": ("success", 2), "m[2]": ("success", 1),
       "after": ("success", 1)}, state="success")
write("map-map-reduce",
      "map over a mapped task's output (map, map, reduce)",
      [T("gen", op="lua", fn="{1, 2, 3}",
         fn_lua="function(ctx) return {1, 2, 3} end"),
       T("double", op="lua", fn="return kwargs.x * 2",
         fn_lua="function(ctx) return ctx.kwargs.x * 2 end",
         expand={"x": {"from": "gen"}}),
       T("inc", op="lua", fn="return kwargs.x + 1",
         fn_lua="function(ctx) return ctx.kwargs.x + 1 end",
         expand={"x": {"from": "double"}}),
       T("reduce", op="lua", up=["inc"], fn="xcom_pull('inc')",
         fn_lua="function(ctx) return ctx.xcom_pull('inc') end")],
      {"gen": "success", **{f"double[{i}]": "success" for i in range(3)},
       **{f"inc[{i}]": "success" for i in range(3)}, "reduce": "success"},
      state="success", xcoms={"reduce": {"return_value": [3, 5, 7]}})
write("map-expand-kwargs",
      "expand_kwargs maps over a list of objects: literal, or an "
      "upstream's; a key that is no param fails the task",
      [T("lit", expand_kwargs=[{"command": "echo 1"},
                               {"command": "echo 2", "cwd": "/"}]),
       T("gen", op="lua", fn="{{command = 'echo x'}, {command = 'pwd', "
                             "cwd = '/tmp'}}",
         fn_lua="function(ctx) return {{command = 'echo x'}, {command = "
                "'pwd', cwd = '/tmp'}} end"),
       T("from", expand_kwargs={"from": "gen"}),
       T("badgen", op="lua", fn="{{commnd = 'true'}}",
         fn_lua="function(ctx) return {{commnd = 'true'}} end"),
       T("bad", expand_kwargs={"from": "badgen"})],
      {"lit[0]": "success", "lit[1]": "success", "gen": "success",
       "from[0]": "success", "from[1]": "success", "badgen": "success",
       "bad": {"state": "failed",
               "reason": "item 0 sets 'commnd', which is not a param"}},
      state="failed",
      xcoms={"lit[1]": {"return_value": "2"},
             "from[1]": {"return_value": "/tmp"}})
write("map-kwargs-partial",
      "the constant keyword arguments stay each instance's own: mapping x "
      "next to kwargs {y: 1} gives every instance its x",
      [T("f", op="lua", fn="return kwargs.x * 10 + kwargs.y",
         fn_lua="function(ctx) return ctx.kwargs.x * 10 + ctx.kwargs.y end",
         kwargs={"y": 1}, expand={"x": [1, 2, 3]}),
       T("reduce", op="lua", up=["f"], fn="xcom_pull('f')",
         fn_lua="function(ctx) return ctx.xcom_pull('f') end")],
      {"f[0]": "success", "f[1]": "success", "f[2]": "success",
       "reduce": "success"}, state="success",
      xcoms={"reduce": {"return_value": [11, 21, 31]}})
write("map-short-circuit",
      "a mapped short_circuit: an instance with a falsy result skips the "
      "task's downstream",
      [T("sc", op="short_circuit", fn="return kwargs.x > 1",
         fn_lua="function(ctx) return ctx.kwargs.x > 1 end",
         expand={"x": [2, 0, 3]}),
       T("after", up=["sc"])],
      {"sc[0]": "success", "sc[1]": "success", "sc[2]": "success",
       "after": "skipped"}, state="success")
write("map-cache",
      "a cache per instance: run twice, every instance of the second run is "
      "a cache hit of its own instance, with its own result",
      [T("gen", op="lua", fn="{1, 2, 3}", cache=True,
         fn_lua="function(ctx) return {1, 2, 3} end"),
       T("sq", op="lua", fn="return kwargs.x * 2", cache=True,
         fn_lua="function(ctx) return ctx.kwargs.x * 2 end",
         expand={"x": {"from": "gen"}})],
      {"gen": {"state": "success", "reason": "^cached"},
       **{f"sq[{i}]": {"state": "success", "tries": 0, "reason": "^cached"}
          for i in range(3)}},
      state="success", runs=2,
      xcoms={"sq[0]": {"return_value": 2}, "sq[2]": {"return_value": 6}})
write("map-templated",
      "a mapped value of a templated param is rendered (unlike Airflow), "
      "and each instance sees its own map_index in templates",
      [T("m", expand={"command": ["echo {{ ti.map_index }}-a",
                                  "echo {{ ti.map_index }}-b"]})],
      {"m[0]": "success", "m[1]": "success"}, state="success",
      xcoms={"m[0]": {"return_value": "0-a"},
             "m[1]": {"return_value": "1-b"}})
write("error-map-unknown-param",
      "expand of a name that is no param of the operator is refused, with "
      "a hint",
      [T("m", expand={"comand": ["true"]})], {},
      error=r"dag\.(yaml|lua):\d+: task 'm': expand names 'comand', which "
            r"is not a param of operator 'bash' \(did you mean 'command'")
write("error-map-both",
      "a param both set and mapped is refused",
      [T("m", command="true", expand={"command": ["true"]})], {},
      error=r"param 'command' is both set and mapped")
write("error-map-not-list",
      "an expand value that is neither a list nor {from: TASK} is refused",
      [T("m", expand={"command": "true"})], {},
      error=r"expand\.command must be a list of values or \{from: TASK_ID\}")
write("error-map-expand-and-kwargs",
      "expand and expand_kwargs on one task are refused",
      [T("m", expand={"command": ["true"]},
         expand_kwargs=[{"command": "true"}])], {},
      error=r"task 'm': use 'expand' or 'expand_kwargs', not both")
write("error-map-unknown-from",
      "mapping over an unknown task names it",
      [T("m", expand={"command": {"from": "nope"}})], {},
      error=r"unknown upstream task 'nope'")

# ---- task groups (Airflow's TaskGroup): written by hand, the generator's
# flat task list cannot express them
def write_raw(name, desc, yaml, lua, expected):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "dag.yaml"), "w") as f:
        f.write(f"# {desc}\n" + yaml)
    with open(os.path.join(d, "dag.lua"), "w") as f:
        f.write(f"-- {desc}\nlocal ph = require \"pipehost\"\n" + lua)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"description": desc, **expected}, f, indent=2)
        f.write("\n")


write_raw(
    "group-basic",
    "a task group: ids prefixed 'group.', default_args per group (nested "
    "groups inherit), names inside a group mean its members, a group as "
    "upstream means its leaves and as downstream its roots",
    """dag: {id: group_basic, default_args: {retry_delay: 0}}
tasks:
  extract: {op: bash, command: "echo e"}
  report:
    op: lua
    fn: "xcom_pull({'prep.split', 'prep.feat.count', 'prep.side'})"
    upstream: [prep]
groups:
  prep:
    upstream: [extract]
    default_args: {retries: 2}
    tasks:
      clean: {op: bash, command: "echo c"}
      split:
        op: bash
        command: '[ "$PIPEHOST_TRY_NUMBER" -ge 3 ] && echo split'
        upstream: [clean]
      side: {op: bash, command: "exit 1", retries: 0, trigger_rule: all_done}
    groups:
      feat:
        upstream: [split]
        tasks:
          count: {op: bash, command: '[ "$PIPEHOST_TRY_NUMBER" -ge 2 ] && echo 3'}
""",
    """local d = ph.dag{ id = "group_basic", default_args = { retry_delay = 0 } }
local extract = d:task{ id = "extract", op = "bash", command = "echo e" }
local prep = d:group{ "prep", default_args = { retries = 2 } }
local clean = prep:task{ id = "clean", op = "bash", command = "echo c" }
local split = prep:task{ id = "split", op = "bash",
                         command = '[ "$PIPEHOST_TRY_NUMBER" -ge 3 ] && echo split',
                         upstream = { "clean" } }
prep:task{ id = "side", op = "bash", command = "exit 1", retries = 0,
           trigger_rule = "all_done" }
local feat = prep:group{ "feat" }
local count = feat:task{ id = "count", op = "bash",
                         command = '[ "$PIPEHOST_TRY_NUMBER" -ge 2 ] && echo 3' }
local report = d:task{ id = "report", op = "lua", fn = function(ctx)
  return ctx.xcom_pull({ "prep.split", "prep.feat.count", "prep.side" }) end }
split >> feat
extract >> prep >> report
""",
    {"state": "failed",
     "tasks": {"extract": {"state": "success", "tries": 1},
               "prep.clean": {"state": "success", "tries": 1},
               "prep.split": {"state": "success", "tries": 3},
               "prep.side": {"state": "failed", "tries": 1},
               "prep.feat.count": {"state": "success", "tries": 2},
               "report": {"state": "upstream_failed"}}})
write_raw(
    "group-roots-leaves",
    "only a group's roots wait for its upstream and only its leaves hold "
    "its downstream back; a group can follow a group",
    """dag: {id: group_roots_leaves}
tasks:
  start: {op: bash, command: "echo s"}
  finish:
    op: lua
    fn: "xcom_pull({'a.one', 'a.two', 'b.three'})"
    upstream: [b]
groups:
  a:
    upstream: [start]
    tasks:
      one: {op: bash, command: "echo 1"}
      two: {op: bash, command: "echo 2", upstream: [one]}
  b:
    upstream: [a]
    tasks:
      three: {op: lua, fn: "xcom_pull('a.two')"}
""",
    """local d = ph.dag{ id = "group_roots_leaves" }
local start = d:task{ id = "start", op = "bash", command = "echo s" }
local a = d:group{ "a" }
local one = a:task{ id = "one", op = "bash", command = "echo 1" }
local two = a:task{ id = "two", op = "bash", command = "echo 2" }
one >> two
local b = d:group{ "b" }
b:task{ id = "three", op = "lua",
        fn = function(ctx) return ctx.xcom_pull("a.two") end }
local finish = d:task{ id = "finish", op = "lua", fn = function(ctx)
  return ctx.xcom_pull({ "a.one", "a.two", "b.three" }) end }
start >> a >> b >> finish
""",
    {"state": "success",
     "tasks": {"start": {"state": "success"}, "a.one": {"state": "success"},
               "a.two": {"state": "success"},
               "b.three": {"state": "success"},
               "finish": {"state": "success"}},
     "xcoms": {"b.three": {"return_value": "2"},
               "finish": {"return_value": ["1", "2", "2"]}}})
write_raw(
    "error-group-own-member",
    "a group member cannot depend on its own group",
    """dag: {id: g}
groups:
  prep:
    tasks:
      a: {op: bash, command: "true", upstream: [prep]}
""",
    """local d = ph.dag{ id = "g" }
local prep = d:group{ "prep" }
local a = prep:task{ id = "a", op = "bash", command = "true" }
prep >> a
""",
    {"error": r"dependency prep >> prep\.a: a task group cannot depend on "
              r"its own members"})
write_raw(
    "error-group-empty",
    "a dependency on a group with no tasks is refused",
    """dag: {id: g}
tasks:
  after: {op: bash, command: "true", upstream: [empty]}
groups:
  empty: {tasks: {}}
""",
    """local d = ph.dag{ id = "g" }
local empty = d:group{ "empty" }
local after = d:task{ id = "after", op = "bash", command = "true" }
empty >> after
""",
    {"error": r"task group 'empty' has no tasks"})
write_raw(
    "error-group-unknown",
    "a misspelt name inside a group is named, with the nearest member",
    """dag: {id: g}
groups:
  prep:
    tasks:
      clean: {op: bash, command: "true"}
      split: {op: bash, command: "true", upstream: [claen]}
""",
    """local d = ph.dag{ id = "g" }
local prep = d:group{ "prep" }
prep:task{ id = "clean", op = "bash", command = "true" }
prep:task{ id = "split", op = "bash", command = "true", upstream = { "claen" } }
""",
    {"error": r"unknown upstream task 'claen' in dependency claen >> "
              r"prep\.split"})

# duplicate ids: written by hand, the generator cannot express them
d = os.path.join(HERE, "error-duplicate-id")
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "dag.yaml"), "w") as f:
    f.write("# a task id defined twice (a duplicate key in YAML)\n"
            "dag: {id: dup}\ntasks:\n  a: {op: bash, command: \"true\"}\n"
            "  a: {op: bash, command: \"false\"}\n")
with open(os.path.join(d, "dag.lua"), "w") as f:
    f.write("-- a task id defined twice\nlocal ph = require \"pipehost\"\n"
            "local d = ph.dag{ id = \"dup\" }\n"
            "d:task{ id = \"a\", op = \"bash\", command = \"true\" }\n"
            "d:task{ id = \"a\", op = \"bash\", command = \"false\" }\nreturn d\n")
with open(os.path.join(d, "expected.json"), "w") as f:
    json.dump({"description": "a task id defined twice is refused with both "
               "lines", "error": r"dag\.(yaml|lua):5: duplicate"}, f, indent=2)
    f.write("\n")
