#!/usr/bin/python3
"""The Slurm executor against a real single-node Slurm (munged, slurmctld,
slurmd).  Usage: test_slurm.py PIPEHOST SERVICES_DIR
Slurm: $SLURM_CONF (tests/run_all.sh starts one), else this test starts its
own with SERVICES_DIR/slurm.sh (root only) and stops it at the end; without
root or Slurm's packages the test is skipped (exit 77).

Asserts: the SQLite store is refused for Slurm tries with a message naming
PostgreSQL and the single-node switch; a DAG mixing local and Slurm tasks
passes XComs both ways (a template rendered by the host, a Lua xcom_pull
answered on the node); each Slurm try's job id is `executor_id` in `runs
show --json`, and `pipehost logs` shows the job's output; executor comes
from default_args, the task, or PIPEHOST_EXECUTOR; queue is the partition;
PIPEHOST_SLURM_MAX_JOBS caps the jobs at once; execution_timeout sets the
job's time limit;
bad slurm options name the line and the fix; a job cancelled with scancel
is a failed try whose reason names CANCELLED, retried; execution_timeout
holds on the node; a job killed at its Slurm time limit is a failed try
naming TIMEOUT; kill -9 of the host with a job running, then resume: the
job is adopted, its side effect happens once, one try; and a job that
ended while no host watched is learned from, not submitted again."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

PH, SVC = os.path.abspath(sys.argv[1]), sys.argv[2]
if os.geteuid() != 0 or not shutil.which("sbatch"):
    print("skipped: needs root and Slurm (apt-get install munge slurmctld "
          "slurmd slurm-client)")
    sys.exit(77)
WORK = tempfile.mkdtemp(prefix="ph-slurm-")
os.chmod(WORK, 0o755)
HOME = os.path.join(WORK, "home")

own = None
if not os.environ.get("SLURM_CONF"):
    own = os.path.join(WORK, "slurm")
    os.makedirs(own)
    p = subprocess.run(["bash", os.path.join(SVC, "slurm.sh"), "up", own],
                       capture_output=True, text=True)
    for line in p.stdout.splitlines():
        k, _, v = line.partition("=")
        if k == "SLURM_CONF":
            os.environ["SLURM_CONF"] = v
    if not os.environ.get("SLURM_CONF"):
        print(p.stderr)
        sys.exit(1)

ENV = dict(os.environ, PIPEHOST_HOME=HOME, PIPEHOST_SLURM_SINGLE_NODE="1",
           PIPEHOST_SLURM_POLL="0.5")
S = Suite(PH, WORK, ENV)
check, ph, write = S.check, S.ph, S.write


def run_json(path, env=ENV, *extra):
    p = subprocess.run([PH, "run", path, "--json", *extra], capture_output=True,
                       text=True, env=env, cwd=WORK, timeout=300)
    try:
        return json.loads(p.stdout)["run_id"], p
    except (ValueError, KeyError):
        return None, p


def show(rid, env=ENV):
    p = subprocess.run([PH, "runs", "show", rid, "--json"], capture_output=True,
                       text=True, env=env, cwd=WORK)
    return json.loads(p.stdout)


def squeue(*args):
    return subprocess.run(["squeue", "-h", "-t", "all", *args],
                          capture_output=True, text=True).stdout


def wait_for(cond, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    return None


# A time-limit kill takes a minute or more (Slurm's limits are in minutes
# and checked every 30 s): started first, looked at last.
tl = write("timelimit.yaml", """dag: {id: timelimit}
tasks:
  slow: {op: bash, executor: slurm, slurm: {time: 1}, command: "sleep 600"}
""")
tl_proc = subprocess.Popen([PH, "run", tl, "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=ENV, cwd=WORK)

def fails_once_dag(name, mark):
    """A DAG of one Slurm task, one retry: its first try marks and sleeps
    (to be killed), its second succeeds at once."""
    return write(f"{name}.yaml", f"""dag: {{id: {name}}}
tasks:
  t:
    op: bash
    executor: slurm
    retries: 1
    retry_delay: 0
    command: "if [ -e {mark} ]; then echo second; else touch {mark}; sleep 300; fi"
""")


# Node loss takes half a minute too (slurmctld declares a silent node down
# after SlurmdTimeout, 5 s here, and its ping interval): on a cluster of its
# own, in a thread, looked at last.
NF = {}


def node_fail():
    d = os.path.join(WORK, "slurm-nf")
    os.makedirs(d)
    p = subprocess.run(["bash", os.path.join(SVC, "slurm.sh"), "up", d],
                       capture_output=True, text=True,
                       env=dict(os.environ, PH_SLURMD_TIMEOUT="5"))
    conf = os.path.join(d, "etc", "slurm.conf")
    if p.returncode != 0:
        NF["error"] = p.stderr
        return
    env = dict(ENV, SLURM_CONF=conf, PIPEHOST_HOME=os.path.join(WORK, "nf"))
    mark = os.path.join(WORK, "nf.mark")
    dag = fails_once_dag("nodefail", mark)
    proc = subprocess.Popen([PH, "run", dag, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=WORK)

    def sq(*a):
        return subprocess.run(["squeue", "-h", "-t", "all", *a], env=env,
                              capture_output=True, text=True).stdout.strip()
    job = wait_for(lambda: os.path.exists(mark) and
                   sq("-t", "RUNNING", "-o", "%i"), 60)
    NF["job"] = job
    if job:
        # the node dies: slurmd, the job's processes and their slurmstepd
        pids = subprocess.run(["scontrol", "listpids", job], env=env,
                              capture_output=True, text=True).stdout.split("\n")[1:]
        kill = [int(x.split()[0]) for x in pids if x.strip()]
        for pid in list(kill):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    kill.append(int(f.read().rsplit(")", 1)[1].split()[1]))
            except OSError:
                pass
        with open(os.path.join(d, "run", "slurmd.pid")) as f:
            kill.append(int(f.read().split()[0]))
        for pid in kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        NF["state"] = wait_for(lambda: sq("-j", job, "-o", "%T") != "RUNNING" and
                               sq("-j", job, "-o", "%T"), 120)
        # the node comes back (ReturnToService=2): the retry runs there
        subprocess.run(["slurmd", "-f", conf, "-N", "localhost"], env=env)
    try:
        out, err = proc.communicate(timeout=180)
        NF["rc"], NF["err"] = proc.returncode, err
        rid = json.loads(out)["run_id"]
        NF["tries"] = json.loads(subprocess.run(
            [PH, "runs", "show", rid, "--json"], capture_output=True, text=True,
            env=env).stdout)["tries"]
    except (subprocess.TimeoutExpired, ValueError, KeyError) as e:
        proc.kill()
        NF["error"] = repr(e)
    subprocess.run(["bash", os.path.join(SVC, "slurm.sh"), "down", d])


nf_thread = threading.Thread(target=node_fail)
nf_thread.start()

# 1. SQLite with Slurm: refused, naming PostgreSQL
mixed = write("mixed.yaml", """dag: {id: mixed}
tasks:
  make: {op: bash, command: "echo 41"}
  remote:
    op: bash
    executor: slurm
    slurm: {cpus_per_task: 1, mem: 100M}
    command: "echo on-node $SLURM_JOB_ID; expr {{ ti.xcom_pull('make') }} + 1"
    upstream: [make]
  lua_remote: {op: lua, executor: slurm, fn: "xcom_pull('remote') * 2", upstream: [remote]}
  back: {op: bash, command: "echo got {{ ti.xcom_pull('lua_remote') }}", upstream: [lua_remote]}
""")
env1 = dict(ENV)
del env1["PIPEHOST_SLURM_SINGLE_NODE"]
def njobs(name):
    return len(squeue("-n", name, "-o", "%i").split())


before = njobs("pipehost:mixed:remote")
rid, p = run_json(mixed, env1)
check("SQLite store with a Slurm task: refused, naming PostgreSQL "
      "(PIPEHOST_STORE) and PIPEHOST_SLURM_SINGLE_NODE; nothing submitted",
      rid is None and p.returncode != 0 and "PostgreSQL" in p.stderr and
      "PIPEHOST_STORE=postgresql://" in p.stderr and
      "PIPEHOST_SLURM_SINGLE_NODE=1" in p.stderr and
      "task 'remote'" in p.stderr and
      njobs("pipehost:mixed:remote") == before,
      p.stdout + p.stderr)

# 2. a mixed DAG: XComs across executors, executor_id, logs
rid, p = run_json(mixed)
sh = show(rid) if rid else {"tasks": [], "tries": []}
states = {t["task_id"]: t["state"] for t in sh["tasks"]}
xc = json.loads(ph("xcom", "list", rid, "--json").stdout) if rid else {}
check("mixed DAG: local -> slurm -> slurm (lua) -> local, every task succeeds",
      p.returncode == 0 and set(states.values()) == {"success"},
      str(states) + p.stderr)
check("XCom across executors: the host renders a Slurm task's template from "
      "a local XCom, a Lua xcom_pull on the node reads the store, and a local "
      "task reads what the Slurm tasks pushed",
      xc.get("remote", {}).get("return_value") == "42" and
      xc.get("lua_remote", {}).get("return_value") == 84 and
      xc.get("back", {}).get("return_value") == "got 84", str(xc))
tries = {t["task_id"]: t for t in sh["tries"]}
jid = tries.get("remote", {}).get("executor_id")
check("runs show --json: each Slurm try's job id as executor_id (executor "
      "slurm); local tries have none",
      jid and jid.isdigit() and tries["remote"].get("executor") == "slurm" and
      tries["lua_remote"].get("executor_id", "").isdigit() and
      tries["lua_remote"]["executor_id"] != jid and
      tries["make"].get("executor_id") is None, str(tries))
check("the job id is Slurm's: squeue knows it as COMPLETED, named after the "
      "DAG and task",
      squeue("-j", jid or "0", "-o", "%T|%j").strip() ==
      "COMPLETED|pipehost:mixed:remote", squeue("-j", jid or "0"))
log = ph("logs", rid, "remote").stdout if rid else ""
check("pipehost logs shows the job's output (it ran under Slurm: "
      "SLURM_JOB_ID is the job's id)", f"on-node {jid}" in log, log)

# 2b. the same DAG with the store on PostgreSQL: no single-node switch
# needed, and the jobs read and write that store
PG = os.environ.get("PH_TEST_PG_URI")
if PG:
    schema = "slurm_test"
    subprocess.run(["psql", "-X", "-q", PG, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE",
                    "-c", f"CREATE SCHEMA {schema}"], check=True, capture_output=True)
    envpg = dict(env1, PIPEHOST_STORE=PG + ("&" if "?" in PG else "?") +
                 f"options=-csearch_path%3D{schema}",
                 PIPEHOST_HOME=os.path.join(WORK, "pghome"))
    rid, p = run_json(mixed, envpg)
    sh = show(rid, envpg) if rid else {"tasks": [], "tries": []}
    xc = json.loads(subprocess.run([PH, "xcom", "list", rid or "none", "--json"],
                                   capture_output=True, text=True, env=envpg,
                                   cwd=WORK).stdout or "{}")
    check("with the store on PostgreSQL the mixed DAG needs no single-node "
          "switch: Slurm jobs read XComs from PostgreSQL and the host records "
          "theirs there",
          p.returncode == 0 and
          {t["state"] for t in sh["tasks"]} == {"success"} and
          xc.get("back", {}).get("return_value") == "got 84" and
          all(t.get("executor_id") for t in sh["tries"]
              if t["task_id"] in ("remote", "lua_remote")),
          f"{p.stderr} {xc}")
    subprocess.run(["psql", "-X", "-q", PG, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
                   capture_output=True)

# 3. where the executor comes from; queue is the partition
where = write("where.yaml", """dag: {id: where, default_args: {executor: slurm}}
tasks:
  a: {op: bash, command: "echo $SLURM_JOB_PARTITION"}
  b: {op: bash, command: "echo ${SLURM_JOB_ID:-none}", executor: local}
  c: {op: bash, queue: other, command: "echo $SLURM_JOB_PARTITION"}
""")
rid, p = run_json(where)
xc = json.loads(ph("xcom", "list", rid, "--json").stdout) if rid else {}
check("default_args executor: slurm applies; a task's executor: local wins; "
      "queue is the partition",
      xc.get("a", {}).get("return_value") == "debug" and
      xc.get("b", {}).get("return_value") == "none" and
      xc.get("c", {}).get("return_value") == "other", str(xc) + p.stderr)
envd = write("envdefault.yaml", """dag: {id: envdefault}
tasks:
  a: {op: bash, command: "echo ${SLURM_JOB_ID:-none}"}
""")
rid, p = run_json(envd, dict(ENV, PIPEHOST_EXECUTOR="slurm"))
xc = json.loads(ph("xcom", "list", rid, "--json").stdout) if rid else {}
check("PIPEHOST_EXECUTOR=slurm is the default executor",
      str(xc.get("a", {}).get("return_value", "none")).isdigit(), str(xc))
cap = write("cap.yaml", """dag: {id: cap}
tasks:
  a: {op: bash, executor: slurm, execution_timeout: 60, command: "sleep 0.3"}
  b: {op: bash, executor: slurm, execution_timeout: 60, command: "sleep 0.3"}
  c: {op: bash, executor: slurm, execution_timeout: 60, command: "sleep 0.3"}
""")
rid, p = run_json(cap, dict(ENV, PIPEHOST_SLURM_MAX_JOBS="1"))
tr = sorted(show(rid)["tries"], key=lambda t: t["start_date"]) if rid else []
ids = [t.get("executor_id") or "" for t in tr]
check("PIPEHOST_SLURM_MAX_JOBS=1: three ready Slurm tries run one after "
      "another, each a job of its own (no array)",
      p.returncode == 0 and len(tr) == 3 and all(i.isdigit() for i in ids) and
      all(tr[k + 1]["start_date"] >= tr[k]["end_date"] for k in range(2)),
      json.dumps(tr) + p.stderr)
limits = {squeue("-j", i, "-o", "%l").strip() for i in ids if i}
check("a task's execution_timeout (60 s) without slurm.time gives the job a "
      "time limit of that plus 2 minutes", limits == {"3:00"}, str(limits))
bad = write("badopts.yaml", """dag: {id: badopts}
tasks:
  a: {op: bash, command: "true", executor: slurm, slurm: {partiton: gpu}}
  b: {op: bash, command: "true", executor: slurm, slurm: {cpus_per_task: 0}}
  c: {op: bash, command: "true", executor: cluster}
""")
p = ph("validate", bad)
check("bad slurm options and executors name the file, line and the fix",
      p.returncode != 0 and "badopts.yaml:3:" in p.stderr and
      "unknown slurm option 'partiton'" in p.stderr and
      "known: partition" in p.stderr and "badopts.yaml:4:" in p.stderr and
      "slurm.cpus_per_task must be a positive integer" in p.stderr and
      "badopts.yaml:5:" in p.stderr and
      "'executor' must be \"local\" or \"slurm\"" in p.stderr, p.stderr)

# 4. scancel: a failed try naming CANCELLED, then the retry
mark = os.path.join(WORK, "cancel.mark")
canc = fails_once_dag("cancel", mark)
proc = subprocess.Popen([PH, "run", canc, "--json"], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, env=ENV, cwd=WORK)
job = wait_for(lambda: os.path.exists(mark) and
               squeue("-n", "pipehost:cancel:t", "-t", "RUNNING", "-o", "%i")
               .strip())
if job:
    subprocess.run(["scancel", job.split()[0]])
out, err = proc.communicate(timeout=120)
try:
    rid = json.loads(out)["run_id"]
    tr = [t for t in show(rid)["tries"] if t["task_id"] == "t"]
except (ValueError, KeyError):
    tr = []
check("scancel of a running job: its try fails with a reason naming "
      "CANCELLED; the retry (a new job) succeeds",
      proc.returncode == 0 and len(tr) == 2 and
      tr[0]["state"] in ("failed", "up_for_retry") and
      "CANCELLED" in (tr[0]["reason"] or "") and
      tr[1]["state"] == "success" and
      tr[0]["executor_id"] != tr[1]["executor_id"],
      json.dumps(tr) + err)

# 5. execution_timeout holds on the node
eto = write("eto.yaml", """dag: {id: eto}
tasks:
  t: {op: bash, executor: slurm, execution_timeout: 1, command: "sleep 60"}
""")
t0 = time.time()
rid, p = run_json(eto)
took = time.time() - t0
tr = show(rid)["tries"] if rid else []
check("execution_timeout on a Slurm try: stopped on the node, the try fails "
      "naming the timeout", rid and tr and tr[0]["state"] == "failed" and
      "execution_timeout of 1 s exceeded" in (tr[0]["reason"] or "") and
      took < 30, json.dumps(tr) + f" {took:.1f}s")

# 6. kill -9 of the host with a job running; resume adopts the job
count = os.path.join(WORK, "adopt.count")
started = os.path.join(WORK, "adopt.started")
adopt = write("adopt.yaml", f"""dag: {{id: adopt}}
tasks:
  t: {{op: bash, executor: slurm, command: "touch {started}; sleep 3; echo once >> {count}; echo done"}}
  after: {{op: bash, command: "cat {count}", upstream: [t]}}
""")


def kill_host_mid_job():
    """Runs the adopt DAG and SIGKILLs its host's process group once the
    job has started; the id of the run it left running."""
    proc = subprocess.Popen([PH, "run", adopt, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=WORK,
                            start_new_session=True)
    wait_for(lambda: os.path.exists(started))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    runs = json.loads(ph("runs", "list", "--json").stdout)
    return next((r["run_id"] for r in runs
                 if r["dag_id"] == "adopt" and r["state"] == "running"), None)


before = njobs("pipehost:adopt:t")
rid = kill_host_mid_job()
live = squeue("-n", "pipehost:adopt:t", "-t", "RUNNING", "-o", "%T").split()
p = ph("resume", rid or "none", "--json")
sh = show(rid) if rid else {"tasks": [], "tries": []}
tr = [t for t in sh["tries"] if t["task_id"] == "t"]
with open(count) if os.path.exists(count) else open(os.devnull) as f:
    n = f.read().count("once")
check("kill -9 of the host (and its group) while its Slurm job runs: the "
      "job goes on; resume adopts it (one try, one job), its side effect "
      "happens once, and the run succeeds",
      live == ["RUNNING"] and p.returncode == 0 and len(tr) == 1 and
      tr[0]["state"] == "success" and n == 1 and
      njobs("pipehost:adopt:t") == before + 1,
      f"{live} {n} {json.dumps(tr)} {p.stdout} {p.stderr}")

# 7. a job that ends while no host watches: learned, not submitted again
os.unlink(count)
os.unlink(started)
rid = kill_host_mid_job()
ended = wait_for(lambda: not squeue("-n", "pipehost:adopt:t", "-t", "RUNNING",
                                   "-o", "%T").strip(), 30)
n_adopt = njobs("pipehost:adopt:t")
p = ph("resume", rid or "none", "--json")
tr = [t for t in show(rid)["tries"] if t["task_id"] == "t"] if rid else []
with open(count) as f:
    n = f.read().count("once")
check("a Slurm job that ended while its host was dead: resume learns its "
      "outcome from its result, submits nothing, and the run succeeds",
      ended and p.returncode == 0 and len(tr) == 1 and
      tr[0]["state"] == "success" and n == 1 and
      njobs("pipehost:adopt:t") == n_adopt,
      f"{n} {json.dumps(tr)} {p.stderr}")

# 8. tries of one shape ready together: one job array
fan = write("fan.yaml", """dag: {id: fan}
tasks:
  m: {op: bash, executor: slurm, expand: {command: ["echo 1", "echo 2", "echo 3", "echo 4"]}}
  x: {op: lua, executor: slurm, fn: "7"}
  big: {op: bash, executor: slurm, slurm: {cpus_per_task: 2}, command: "nproc"}
  total: {op: lua, fn: "#xcom_pull('m') + xcom_pull('x')", upstream: [m, x, big]}
""")
rid, p = run_json(fan)
sh = show(rid) if rid else {"tasks": [], "tries": []}
ids = {(t["task_id"], t["map_index"]): t["executor_id"] for t in sh["tries"]
       if t.get("executor_id")}
arrays = {i.split("_")[0] for i in ids.values() if "_" in i}
xc = json.loads(ph("xcom", "list", rid, "--json").stdout) if rid else {}
check("five ready tries of one shape go as one job array (ids A_0..A_4, one "
      "sbatch); a try with other options as a job of its own; all succeed "
      "with their XComs", p.returncode == 0 and len(arrays) == 1 and
      sorted(i for i in ids.values() if "_" in i) ==
      sorted(f"{next(iter(arrays))}_{k}" for k in range(5)) and
      "_" not in ids.get(("big", -1), "_") and
      xc.get("total", {}).get("return_value") == 11 and
      xc.get("big", {}).get("return_value") == "2", f"{ids} {xc} {p.stderr}")

# 9. the host killed just before, or just after, it submits (Debug builds:
# fault injection): resume neither loses the try nor submits it twice
debug = "fault injection" in ph("--version").stdout
if debug:
    once = os.path.join(WORK, "once.count")
    kdag = write("killsub.yaml", f"""dag: {{id: killsub}}
tasks:
  t: {{op: bash, executor: slurm, retries: 1, retry_delay: 0, command: "echo x >> {once}; echo ran"}}
""")
    for point, expect in (("slurm_kill_after_submit", 1),
                          ("slurm_kill_before_submit", 2)):
        if os.path.exists(once):
            os.unlink(once)
        n0 = njobs("pipehost:killsub:t")
        p = subprocess.run([PH, "run", kdag, "--json"], capture_output=True,
                           text=True, env=dict(ENV, PIPEHOST_FAULT=point + ":1"),
                           cwd=WORK, timeout=60)
        killed = p.returncode == -signal.SIGKILL
        runs = json.loads(ph("runs", "list", "--json").stdout)
        rid = next((r["run_id"] for r in runs if r["dag_id"] == "killsub" and
                    r["state"] == "running"), None)
        r = ph("resume", rid or "none", "--json")
        tr = [t for t in show(rid)["tries"]] if rid else []
        n = open(once).read().count("x") if os.path.exists(once) else 0
        if point == "slurm_kill_after_submit":
            ok = (len(tr) == 1 and tr[0]["state"] == "success" and n == 1 and
                  njobs("pipehost:killsub:t") == n0 + 1)
            what = ("killed right after sbatch, before the job id was "
                    "recorded: resume finds the job by the try's intent "
                    "(--comment), adopts it; one job, one try, one side effect")
        else:
            ok = (len(tr) == 2 and "died" in (tr[0]["reason"] or "") and
                  tr[1]["state"] == "success" and n == 1 and
                  njobs("pipehost:killsub:t") == n0 + 1)
            what = ("killed after the intent's commit, before sbatch: resume "
                    "finds no job, counts the try as lost and retries it; "
                    "one job, one side effect")
        check(what, killed and r.returncode == 0 and ok,
              f"{p.returncode} {n} {json.dumps(tr)} {r.stderr}")

# 9b. a stopped slurmctld holds no local try: squeue waits 20 s for it,
# beside the host's loop, not in it
go, after_mark, rstart = (os.path.join(WORK, n) for n in ("go", "after", "rstart"))
hang = write("hang.yaml", f"""dag: {{id: hang}}
tasks:
  remote: {{op: bash, executor: slurm, command: "touch {rstart}; sleep 6; echo r"}}
  waiter: {{op: bash, command: "while [ ! -e {go} ]; do sleep 0.05; done"}}
  after: {{op: bash, command: "touch {after_mark}", upstream: [waiter]}}
""")


def child_named(parent, name):
    """The pid of a process called name whose parent is parent, or None."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm == name and int(fields[1]) == parent:
            return int(pid)
    return None


def goes_on_beside(dag, name, go, mark, timeout, when=None):
    """Runs dag with slurmctld stopped (SIGSTOP) from when() on (from the
    start when None) until the check ends.  Once the host has a child
    called name, creates go (a local task waits for it) and waits for mark
    (its downstream's).  Returns (TRUE when mark appeared while that child
    was still there, None when either never came; the run's exit code;
    its stderr)."""
    alive = None
    if when is None:
        os.kill(ctld, signal.SIGSTOP)
    try:
        proc = subprocess.Popen([PH, "run", dag, "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=ENV, cwd=WORK)
        if when is not None:
            wait_for(when, 60)
            os.kill(ctld, signal.SIGSTOP)
        child = wait_for(lambda: child_named(proc.pid, name), 20)
        with open(go, "w"):
            pass
        if child and wait_for(lambda: os.path.exists(mark), 15):
            alive = os.path.exists(f"/proc/{child}")
    finally:
        os.kill(ctld, signal.SIGCONT)
    _, err = proc.communicate(timeout=timeout)
    return alive, proc.returncode, err


ctld = None
with open(os.environ["SLURM_CONF"]) as f:
    for line in f:
        if line.startswith("SlurmctldPidFile="):
            with open(line.split("=", 1)[1].strip()) as pf:
                ctld = int(pf.read().split()[0])
alive, rc, err = goes_on_beside(hang, "squeue", go, after_mark, 120,
                                when=lambda: os.path.exists(rstart))
check("a stopped slurmctld (SIGSTOP) holds no local try: while the host's "
      "squeue waits for it, a local task's end is recorded and its "
      "downstream runs; the run then succeeds",
      alive is True and rc == 0, f"{alive} {rc} {err[-500:]}")

# 9c. nor at submission: with slurmctld stopped, sbatch waits for it
# beside the host's loop; a local task's end is recorded and its
# downstream runs meanwhile
go2, after2 = (os.path.join(WORK, n) for n in ("go2", "after2"))
hang2 = write("hang2.yaml", f"""dag: {{id: hang2}}
tasks:
  remote: {{op: bash, executor: slurm, command: "echo r"}}
  waiter: {{op: bash, command: "while [ ! -e {go2} ]; do sleep 0.05; done"}}
  after: {{op: bash, command: "touch {after2}", upstream: [waiter]}}
""")
alive, rc, err = goes_on_beside(hang2, "sbatch", go2, after2, 180)
check("a stopped slurmctld (SIGSTOP) holds no local try at submission: "
      "while the host's sbatch waits for it, a local task's end is recorded "
      "and its downstream runs; the run then succeeds",
      alive is True and rc == 0, f"{alive} {rc} {err[-500:]}")

# 10. the time limit (started first)
try:
    out, err = tl_proc.communicate(timeout=240)
    rid = json.loads(out)["run_id"]
    tr = show(rid)["tries"]
except (subprocess.TimeoutExpired, ValueError, KeyError):
    tl_proc.kill()
    out, err, tr = "", "", []
check("a job killed at its Slurm time limit (slurm: {time: 1}): a failed "
      "try whose reason names TIMEOUT",
      tl_proc.returncode != 0 and len(tr) == 1 and tr[0]["state"] == "failed" and
      "TIMEOUT" in (tr[0]["reason"] or ""), json.dumps(tr) + err)

# 11. node loss (started first)
nf_thread.join()
tr = NF.get("tries", [])
check("a node lost mid-job (slurmd and the job killed): Slurm ends the job "
      "NODE_FAIL (never requeued behind pipehost's back); the try fails "
      "naming NODE_FAIL and its retry runs once the node is back",
      NF.get("state") == "NODE_FAIL" and NF.get("rc") == 0 and len(tr) == 2 and
      "NODE_FAIL" in (tr[0]["reason"] or "") and tr[1]["state"] == "success",
      json.dumps(NF))

rc = S.finish()
if own:
    subprocess.run(["bash", os.path.join(SVC, "slurm.sh"), "down", own])
shutil.rmtree(WORK, ignore_errors=True)
sys.exit(rc)
