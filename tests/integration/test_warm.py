#!/usr/bin/env python3
"""Warm workers (issue 21): spare workers forked ahead of demand, a
plugin's prefork (ABI 1.5) run once in a zygote of its own, and what must
not change: every try in its own process, a crash or a hang costing
nothing but itself.
Usage: test_warm.py PIPEHOST PREFORK_PLUGIN_DIR"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

ph_bin, prefork_dir = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="ph-warm-")
os.chmod(work, 0o755)
env = dict(os.environ, PIPEHOST_HOME=os.path.join(work, "home"),
           PIPEHOST_PLUGIN_PATH=prefork_dir,
           PIPEHOST_CONN_LITE="sqlite:///" + os.path.join(work, "lite.db"))
env.pop("PIPEHOST_WARM_WORKERS", None)
s = Suite(ph_bin, work, env)
check = s.check

# 1. what a prefork prepares, every worker of that plugin has
# (the first try may start before the zygote is ready: it does without;
# a second later, the zygote has long been ready)
tasks, xc, _ = s.run("ok", {"a": {"op": "prefork_ok_op"},
                            "w": {"op": "bash", "command": "sleep 1",
                                  "upstream": ["a"]},
                            "b": {"op": "prefork_ok_op", "upstream": ["w"]},
                            "c": {"op": "prefork_ok_op", "upstream": ["b"]}})
check("prefork: the plugin's later tries inherit what its prefork prepared",
      [xc.get(t, {}).get("return_value") for t in "bc"] == [42, 42] and
      xc.get("a", {}).get("return_value") in (0, 42), xc)

# 2. a prefork that crashes, or never returns, costs no try
for kind in ("crash", "hang"):
    t0 = time.monotonic()
    tasks, xc, _ = s.run(kind, {"a": {"op": f"prefork_{kind}_op"},
                                "b": {"op": "lua", "fn": "1",
                                      "upstream": ["a"]}})
    took = time.monotonic() - t0
    check(f"prefork that {'crashes' if kind == 'crash' else 'hangs'}: the "
          "tries run without it",
          tasks.get("a", {}).get("state") == "success" and
          xc.get("a", {}).get("return_value") == 0 and
          tasks.get("b", {}).get("state") == "success", (tasks, xc))
    check(f"prefork that {'crashes' if kind == 'crash' else 'hangs'}: the "
          f"run ends promptly ({took:.1f} s)",
          took < 15, took)

# 3. a plugin's libraries stay in its own workers: after a sql try (its
# zygote maps libpq), a lua worker has no libpq mapped
maps = ("local f = io.open('/proc/self/maps') local m = f:read('a') "
        "f:close() return m:find('libpq', 1, true) ~= nil")
tasks, xc, _ = s.run("iso", {"q": {"op": "sql", "conn_id": "lite",
                                   "sql": "select 1"},
                             "l": {"op": "lua", "fn": maps,
                                   "upstream": ["q"]}})
check("zygotes: a lua worker after a sql try maps no libpq",
      tasks.get("q", {}).get("state") == "success" and
      xc.get("l", {}).get("return_value") is False, (tasks, xc))

# 4. spares killed under the host's feet: the next tries still run.  The
# task kills every other child of its own parent (the spares beside it).
# (it looks again for up to 5 s: on a slow build the spares may still be
# on their way; then it waits until the killed ones are gone: a spare
# killed in the instant the host hands it a try costs that try, see
# docs/reliability.md)
kill = ("local me = io.open('/proc/self/stat'):read('l') "
        "local pid, ppid = me:match('^(%d+) %b() %S+ (%d+)') "
        "local n = 0 for _ = 1, 100 do "
        "local p = io.popen(\"awk '$4 == \" .. ppid .. \" && $1 != \" .. pid "
        ".. \" {print $1}' /proc/[0-9]*/stat 2>/dev/null\") "
        "for q in p:lines() do os.execute('kill -9 ' .. q) "
        "n = n + 1 end p:close() "
        "if n > 0 then break end os.execute('sleep 0.05') end "
        "os.execute('sleep 0.3') return n")
chain = {"k": {"op": "lua", "fn": "1"},
         "w": {"op": "bash", "command": "sleep 1", "upstream": ["k"]},
         "x": {"op": "lua", "fn": kill, "upstream": ["w"]}}
prev = "x"
for i in range(6):
    chain[f"t{i}"] = {"op": "lua", "fn": str(i), "upstream": [prev]}
    prev = f"t{i}"
tasks, xc, _ = s.run("killspares", chain)
check("spares killed mid-run: some were there to kill",
      (xc.get("x", {}).get("return_value") or 0) >= 1, xc.get("x"))
check("spares killed mid-run: every later try runs",
      all(tasks.get(f"t{i}", {}).get("state") == "success"
          for i in range(6)) and
      [xc.get(f"t{i}", {}).get("return_value") for i in range(6)] ==
      list(range(6)), (tasks, xc))

# 5. a worker that becomes its command (env keeps bash in the worker; not
# memory_limit, under which an ASan build cannot run): the return value is
# the command's last line, never lost to a race between the command's
# first output and the host's note of where it starts (seen under load;
# tests/fault/torture.py forces it with exec_note_delay)
many = {f"m{i}": {"op": "bash", "command": f"/bin/echo v{i}",
                  "env": {"X": "1"}} for i in range(40)}
tasks, xc, _ = s.run("execs", many, dag_extra=", max_active_tasks: 4")
s.env = dict(env)
got = [xc.get(f"m{i}", {}).get("return_value") for i in range(40)]
check("exec'd commands: every return value is the command's last line",
      got == [f"v{i}" for i in range(40)],
      [(i, g) for i, g in enumerate(got) if g != f"v{i}"][:5])

# 6. without spares (PIPEHOST_WARM_WORKERS=0) nothing changes but speed
s.env = dict(env, PIPEHOST_WARM_WORKERS="0")
tasks, xc, _ = s.run("cold", {"a": {"op": "lua", "fn": "2"},
                              "b": {"op": "prefork_ok_op",
                                    "upstream": ["a"]}})
check("PIPEHOST_WARM_WORKERS=0: tries run (forked on demand, no zygote)",
      xc.get("a", {}).get("return_value") == 2 and
      xc.get("b", {}).get("return_value") == 0, xc)

# 7. prepared tries: while a task runs, the task after it gets a worker
# that reads its spec and loads its plugin, then waits to be told to go
s.env = dict(env)
# two lua tries, each followed by a pause, so that the lua zygote is ready
# and has spares when the tasks under test start
warmup = {"w0": {"op": "lua", "fn": "1"},
          "s0": {"op": "bash", "command": "sleep 0.3", "upstream": ["w0"]},
          "w1": {"op": "lua", "fn": "1", "upstream": ["s0"]},
          "s": {"op": "bash", "command": "sleep 0.3", "upstream": ["w1"]}}
# the worker of task b, prepared, has been given b's log (the host
# creates it then): it exists while a still runs
# (and the store has no try of b yet: runs show, asked from a)
find_b = ("local log = os.getenv('PIPEHOST_HOME') .. '/logs/prep/' .. "
          "run_id .. '/b.1.log' local n = 0 "
          "for i = 1, 50 do local f = io.open(log) "
          "if f then f:close() n = 1 break end os.execute('sleep 0.02') end "
          f"local p = io.popen('{ph_bin} runs show ' .. run_id .. ' --json') "
          "local show = json.decode(p:read('a')) p:close() local b = {} "
          "for _, t in ipairs(show.tasks) do "
          "if t.task_id == 'b' then b = t end end "
          "os.execute('sleep 1') "
          "return {log = n, b_state = b.state, b_try = b.try_number}")
tasks, xc, _ = s.run("prep", {
    **warmup,
    "a": {"op": "lua", "fn": find_b, "upstream": ["s"]},
    # 0.7 s of work under a 1.5 s timeout, prepared > 1 s before it starts
    "b": {"op": "lua", "fn": "os.execute('sleep 0.7') return 2",
          "execution_timeout": 1.5, "upstream": ["a"]}})
got = xc.get("a", {}).get("return_value") or {}
check("prepared tries: the next task's worker waits while its upstream "
      "runs, and the store has no try of it yet",
      got.get("log") == 1 and got.get("b_try") == 0 and
      got.get("b_state") not in ("running", "success"),
      (tasks.get("a"), xc))
check("prepared tries: execution_timeout counts from the try's start, not "
      "from its preparation",
      tasks.get("b", {}).get("state") == "success" and
      xc.get("b", {}).get("return_value") == 2, tasks.get("b"))

# an upstream that fails: the prepared try never runs and leaves no log
tasks, xc, run_id = s.run("prepfail", {
    **warmup,
    "f": {"op": "lua", "fn": "os.execute('sleep 0.3') error('no')",
          "upstream": ["s"]},
    "g": {"op": "lua", "fn": "io.write('ran') return 1", "upstream": ["f"]}})
logdir = os.path.join(work, "home", "logs", "prepfail", run_id or "none")
check("prepared tries: one whose upstream fails is upstream_failed and "
      "leaves no log",
      tasks.get("g", {}).get("state") == "upstream_failed" and
      not [f for f in os.listdir(logdir) if f.startswith("g.")],
      (tasks.get("g"), os.listdir(logdir)))

# a secret the run learns while the prepared try waits is masked in its
# output too (the upstream reads a connection's password)
s.env = dict(env, PIPEHOST_CONN_PW="postgresql://u:s3cr3t-pw-42@h/db")
tasks, xc, run_id = s.run("prepsecret", {
    **warmup,
    "a": {"op": "lua", "fn": "os.execute('sleep 0.3') "
                             "return conn('pw').password ~= nil",
          "upstream": ["s"]},
    "b": {"op": "lua", "fn": "print('pw=s3cr3t-pw-42') return 1",
          "upstream": ["a"]}})
s.env = dict(env)
blog = os.path.join(work, "home", "logs", "prepsecret", run_id or "none",
                    "b.1.log")
text = open(blog).read() if os.path.exists(blog) else ""
check("prepared tries: a secret learnt while one waits is masked in its log",
      tasks.get("b", {}).get("state") == "success" and
      "pw=***" in text and "s3cr3t" not in text, (tasks.get("b"), text))

sys.exit(s.finish())
