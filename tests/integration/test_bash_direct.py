#!/usr/bin/python3
"""Command operators (ABI 1.3) in real runs: a bash task that sets nothing
but its command, cwd and skip code is started by the host with no worker,
and behaves exactly as through the worker: return value, skip code, exit
codes, a missing program, cwd, templates, timeouts, retries, the try's
identity in the environment.  A task that sets env or memory_limit goes
through the worker.  A host killed with -9 leaves no command running.
Usage: test_bash_direct.py PIPEHOST"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

PH = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="ph-direct-")
HOME = os.path.join(WORK, "home")
ENV = dict(os.environ, PIPEHOST_HOME=HOME, PIPEHOST_TASK_ID="stale",
           PIPEHOST_KILL_GRACE="0.2")
s = Suite(PH, WORK, ENV)
DIRECT = "started by the host, no worker"


def log(run_id, task):
    return s.ph("logs", run_id, task).stdout


os.makedirs(os.path.join(WORK, "sub"))
tasks = {
    "plain": {"op": "bash", "command": "/bin/echo hello   world"},
    "shell": {"op": "bash", "command": "echo abc | tr a-c x-z"},
    "ident": {"op": "bash", "command": "env"},
    "skip": {"op": "bash", "command": "false", "skip_on_exit_code": 1},
    "skip99": {"op": "bash", "command": "exit 99"},
    "fail3": {"op": "bash", "command": "exit 3"},
    "missing": {"op": "bash", "command": "no-such-program-xyz --flag"},
    "cwd": {"op": "bash", "command": "/bin/pwd", "cwd": os.path.join(WORK, "sub")},
    "badcwd": {"op": "bash", "command": "/bin/pwd",
               "cwd": os.path.join(WORK, "nope")},
    "tmpl": {"op": "bash", "command": "/bin/echo {{ ds_nodash }} {{ ti.try_number }}"},
    "pull": {"op": "bash", "command": "/bin/echo got-{{ ti.xcom_pull('plain') }}",
             "upstream": ["plain"]},
    "badtmpl": {"op": "bash", "command": "/bin/echo {{ nosuch( }}"},
    "slow": {"op": "bash", "command": "sleep 30", "execution_timeout": 0.5},
    "retry": {"op": "bash", "command": "false", "retries": 1, "retry_delay": 0},
    "env": {"op": "bash", "command": "env", "env": {"MINE": "1"},
            "append_env": True},
    "memlim": {"op": "bash", "command": "/bin/echo limited",
               "memory_limit": "512MiB"},
    "noout": {"op": "bash", "command": "true"},
    "sigs": {"op": "bash", "command": "grep Sig /proc/self/status"},
    "blank": {"op": "bash", "command": "printf 'last\\n  \\n\\n'"},
}
t0 = time.time()
ti, xc, run = s.run("direct", tasks)
s.check("the run ends", run is not None and time.time() - t0 < 20)
st = {k: v.get("state") for k, v in ti.items()}
rv = {k: v.get("return_value") for k, v in xc.items()}
why = {k: v.get("reason") or "" for k, v in ti.items()}

s.check("plain words run without the shell", DIRECT in log(run, "plain") and
        "no shell needed" in log(run, "plain"), log(run, "plain"))
s.check("... and the last line is the return value",
        rv.get("plain") == "hello world", rv.get("plain"))
s.check("a shell line runs bash from the host",
        "bash -c echo abc" in log(run, "shell") and DIRECT in log(run, "shell"))
s.check("... with its return value", rv.get("shell") == "xyz", rv.get("shell"))
env_out = log(run, "ident")
s.check("the try's identity is in the environment",
        "PIPEHOST_TASK_ID=ident\n" in env_out and
        "PIPEHOST_TRY_NUMBER=1\n" in env_out and
        "PIPEHOST_DAG_ID=direct\n" in env_out and
        f"PIPEHOST_RUN_ID={run}\n" in env_out, env_out[-300:])
s.check("... replacing the host's own", "PIPEHOST_TASK_ID=stale" not in env_out)
s.check("... and the rest of the environment is inherited",
        f"PIPEHOST_HOME={HOME}\n" in env_out)
s.check("skip_on_exit_code skips (direct)", st.get("skip") == "skipped" and
        "bash exited with code 1 (skip_on_exit_code)" in why.get("skip"),
        f"{st.get('skip')} {why.get('skip')}")
s.check("the default skip code 99 skips", st.get("skip99") == "skipped")
s.check("another exit code fails, naming it",
        st.get("fail3") == "failed" and why["fail3"] == "bash exited with code 3",
        why.get("fail3"))
s.check("a program not on PATH: the shell says so (exit 127)",
        st.get("missing") == "failed" and "code 127" in why["missing"] and
        "not found" in log(run, "missing"), why.get("missing"))
s.check("cwd is the command's working directory",
        rv.get("cwd") == os.path.join(WORK, "sub"), rv.get("cwd"))
s.check("a missing cwd fails the try with a reason",
        st.get("badcwd") == "failed" and why["badcwd"].startswith("cannot enter")
        and "No such file" in why["badcwd"], why.get("badcwd"))
digits = (rv.get("tmpl") or "").split(" ")
s.check("templates render in the host", len(digits) == 2 and
        len(digits[0]) == 8 and digits[0].isdigit() and digits[1] == "1" and
        DIRECT in log(run, "tmpl"), rv.get("tmpl"))
s.check("... including xcom_pull", rv.get("pull") == "got-hello world",
        rv.get("pull"))
s.check("a template error goes through the worker and fails there",
        st.get("badtmpl") == "failed" and "template error" in why["badtmpl"]
        and DIRECT not in log(run, "badtmpl"), why.get("badtmpl"))
s.check("execution_timeout stops a direct command",
        st.get("slow") == "failed" and "execution_timeout" in why["slow"] and
        ti["slow"]["end_date"] - ti["slow"]["start_date"] < 5, why.get("slow"))
s.check("retries apply", st.get("retry") == "failed" and
        ti["retry"].get("try_number") == 2, ti.get("retry"))
s.check("env means the worker (the operator's own execute)",
        DIRECT not in log(run, "env") and "MINE=1\n" in log(run, "env") and
        "PIPEHOST_TASK_ID=env\n" in log(run, "env"))
# (under ASan the worker cannot live within an address-space limit, as
# in test_cli: there only the path is checked, not the try's success)
asan = "ASAN_OPTIONS" in os.environ
s.check("memory_limit means the worker",
        DIRECT not in log(run, "memlim") and
        (asan or (st.get("memlim") == "success" and
                  rv.get("memlim") == "limited")), (st.get("memlim"),
                                                    log(run, "memlim")))
s.check("no output, no return value", st.get("noout") == "success" and
        "noout" not in xc)
s.check("trailing blank lines are not the return value",
        rv.get("blank") == "last", rv.get("blank"))

sig = dict(line.split(":\t") for line in log(run, "sigs").splitlines()
           if line.startswith("Sig") and ":\t" in line)
s.check("the command starts with no signal blocked or ignored (SIGPIPE, "
        "which the host ignores, is back to its default)",
        int(sig.get("SigBlk", "1"), 16) == 0 and
        # signals 1-31 (glibc's posix_spawn ignores its internal 32, 33)
        int(sig.get("SigIgn", "1"), 16) & 0x7fffffff == 0, sig)

# runs show: the try's pid is recorded once the try ends
show = json.loads(s.ph("runs", "show", run, "--json").stdout)
pids = [t["pid"] for t in show["tries"] if t["task_id"] == "plain"]
s.check("the try's pid is recorded", pids and pids[0] and pids[0] > 0, pids)

# Group commit: no task starts before its upstream's end is durable.  b
# kills the host (its parent) the moment it starts, within the 20 ms an
# end may wait to be committed: a's success must be on disk all the same,
# and after resume a has run once.
ran = os.path.join(WORK, "a.ran")
mark = os.path.join(WORK, "b.killed")
path = os.path.join(WORK, "order.yaml")
with open(path, "w") as f:
    f.write("dag: {id: order}\ntasks:\n"
            f"  a: {{op: bash, command: \"echo a >> {ran}\"}}\n"
            f"  b: {{op: bash, command: \"[ -e {mark} ] || "
            f"{{ touch {mark}; kill -9 $PPID; sleep 5; }}\", "
            "upstream: [a]}\n")
p = s.ph("run", path, "--json")
show = json.loads(s.ph("runs", "show", "last", "--json").stdout)
st = {t["task_id"]: t["state"] for t in show["tasks"]}
s.check("a host killed as a downstream starts has its upstream's success "
        "on disk", p.returncode == -9 and st.get("a") == "success", (p, st))
p = s.ph("resume", show["run_id"])
with open(ran) as f:
    s.check("... and after resume the run succeeds with a run once",
            p.returncode == 0 and f.read() == "a\n", p.stdout + p.stderr)

# kill -9 of the host: the launcher stops the commands the host started
marker = "31.4159"
path = os.path.join(WORK, "hang.yaml")
with open(path, "w") as f:
    f.write("dag: {id: hang}\ntasks:\n"
            f"  a: {{op: bash, command: \"sleep {marker}\"}}\n")
p = subprocess.Popen([PH, "run", path, "-q"], env=ENV, cwd=WORK,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sleeping():
    """pids of live `sleep MARKER` processes (from /proc: no procps)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cmd[:2] == [b"sleep", marker.encode()] and state != "Z":
            pids.append(pid)
    return pids


for _ in range(100):
    if sleeping():
        break
    time.sleep(0.05)
s.check("the command runs", bool(sleeping()))
p.send_signal(signal.SIGKILL)
p.wait()
for _ in range(60):
    if not sleeping():
        break
    time.sleep(0.05)
s.check("a host killed with -9 leaves no command behind", not sleeping(),
        sleeping())
for pid in sleeping():
    os.kill(int(pid), signal.SIGKILL)
sys.exit(s.finish())
