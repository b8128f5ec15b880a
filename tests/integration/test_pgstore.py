#!/usr/bin/python3
"""The metadata store on a real PostgreSQL 15 (PIPEHOST_STORE).
Usage: test_pgstore.py PIPEHOST SERVICES_DIR
PostgreSQL: $PH_TEST_PG_URI (tests/run_all.sh starts one), else this test
starts its own with SERVICES_DIR/postgres.sh and stops it at the end.
Each part runs in a schema of its own (search_path in the URI's options).

Asserts: a PIPEHOST_STORE that is not a postgresql:// URI is refused; an
unreachable server is an error naming the URI without its password; a run
records its tries and XComs in PostgreSQL and nothing in a SQLite file;
db check and db upgrade report the PostgreSQL store; kill -9 of the host
mid-run, then resume: what was recorded stays, no try runs twice; two
`pipehost run`s at once on one store both finish with all their records;
two schedulers at once on one store create each scheduled run once and
run each task once; and with two "machines" (PIPEHOST_HOST_ID), a
scheduler leaves alone a run whose host on the other machine beats, and
takes it over once that machine dies (its heartbeat stops): the lost try
is retried there, the run finishes, nothing else runs twice."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite, postgres  # noqa: E402

PH, SVC = os.path.abspath(sys.argv[1]), sys.argv[2]
WORK = tempfile.mkdtemp(prefix="ph-pgstore-")
os.chmod(WORK, 0o755)
PG, own_pg = postgres(WORK, SVC)
if not PG:
    sys.exit(1)
PW = urllib.parse.urlparse(PG).password


def psql(*cmds):
    args = ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", PG]
    for c in cmds:
        args += ["-c", c]
    return subprocess.run(args, capture_output=True, text=True)


def store_in(schema):
    """A PIPEHOST_STORE in a fresh schema of its own."""
    psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}")
    return PG + ("&" if "?" in PG else "?") + f"options=-csearch_path%3D{schema}"


HOME = os.path.join(WORK, "home")
ENV = dict(os.environ, PIPEHOST_HOME=HOME, PIPEHOST_STORE=store_in("ph_main"))
S = Suite(PH, WORK, ENV)
check, ph, write = S.check, S.ph, S.write


def run(path, env=ENV, *args):
    p = subprocess.run([PH, "run", path, "--json", "-q", *args], capture_output=True,
                       text=True, env=env, cwd=WORK, timeout=120)
    try:
        return json.loads(p.stdout), p
    except ValueError:
        return {}, p


# 1. what PIPEHOST_STORE may be
p = subprocess.run(
    [PH, "runs", "list"], capture_output=True, text=True, cwd=WORK,
    env=dict(ENV, PIPEHOST_STORE="mysql://u@h/db"))
check("a PIPEHOST_STORE that is not a postgresql:// URI is refused, saying "
      "what it must be", p.returncode != 0 and
      "PIPEHOST_STORE must be a postgresql:// URI" in p.stderr, p.stderr)
u = urllib.parse.urlparse(PG)
down = PG.replace(f":{u.port}/", ":1/")
p = subprocess.run([PH, "runs", "list"], capture_output=True, text=True,
                   cwd=WORK, env=dict(ENV, PIPEHOST_STORE=down))
check("an unreachable PostgreSQL: an error naming the store's URI without its "
      "password", p.returncode != 0 and "cannot connect to PostgreSQL" in
      p.stderr and f"127.0.0.1:1/" in p.stderr and
      (not PW or PW not in p.stderr + p.stdout), p.stderr)

# 2. a run on PostgreSQL
dag = write("xc.yaml", """dag: {id: pg_xc}
tasks:
  a: {op: bash, command: "echo 20"}
  b: {op: lua, fn: "xcom_pull('a') + 1", upstream: [a]}
  c: {op: bash, command: "echo {{ ti.xcom_pull('b') * 2 }}", upstream: [b]}
  d: {op: bash, command: "exit 3", retries: 1, retry_delay: 0}
""")
out, p = run(dag)
rid = out.get("run_id")
rows = psql("SET search_path TO ph_main",
            f"SELECT task_id, state, try_number FROM task_instance WHERE run_id='{rid}' "
            "ORDER BY task_id").stdout
xc = json.loads(ph("xcom", "list", rid or "none", "--json").stdout or "{}")
check("a run on PostgreSQL: its task instances and XComs are rows there "
      "(d failed after its retry), and `xcom list` reads them back",
      out.get("state") == "failed" and rows.split() ==
      ["a|success|1", "b|success|1", "c|success|1", "d|failed|2"] and
      xc.get("c", {}).get("return_value") == "42", rows + json.dumps(xc) + p.stderr)
tries = json.loads(ph("runs", "show", rid or "none", "--json").stdout or "{}").get("tries", [])
check("runs show lists each try in order (d twice)",
      [t["task_id"] for t in tries].count("d") == 2 and len(tries) == 5,
      json.dumps(tries))
check("no SQLite file is made in PIPEHOST_HOME (only logs)",
      not os.path.exists(os.path.join(HOME, "pipehost.db")) and
      os.path.isdir(os.path.join(HOME, "logs")), str(os.listdir(HOME)))

# 3. db check / upgrade
env3 = dict(ENV, PIPEHOST_STORE=store_in("ph_fresh"))
p1 = subprocess.run([PH, "db", "check"], capture_output=True, text=True, env=env3)
p2 = subprocess.run([PH, "db", "upgrade"], capture_output=True, text=True, env=env3)
p3 = subprocess.run([PH, "db", "check", "--json"], capture_output=True, text=True, env=env3)
try:
    j3 = json.loads(p3.stdout)
except ValueError:
    j3 = {}
check("db check / upgrade on PostgreSQL: an empty schema is 'upgrade pending' "
      "(exit 1), upgrade makes the store, then check says current (exit 0) "
      "and names the store by its URI without the password",
      p1.returncode == 1 and p2.returncode == 0 and "made at schema" in p2.stdout and
      p3.returncode == 0 and j3.get("state") == "current" and
      j3.get("store", "").startswith("postgresql://") and
      (not PW or PW not in p1.stdout + p2.stdout + p3.stdout),
      p1.stdout + p1.stderr + p2.stdout + p2.stderr + p3.stdout)

# 4. kill -9 mid-run, resume
marks = os.path.join(WORK, "marks")
k = write("kill.yaml", f"""dag: {{id: pg_kill}}
tasks:
  a: {{op: bash, command: "echo a >> {marks}"}}
  b: {{op: bash, command: "echo b >> {marks}; sleep 2", upstream: [a]}}
  c: {{op: bash, command: "echo c >> {marks}", upstream: [b]}}
""")
proc = subprocess.Popen([PH, "run", k, "-q"], env=ENV, cwd=WORK,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True)
end = time.time() + 20
while time.time() < end and not (os.path.exists(marks) and "b" in open(marks).read()):
    time.sleep(0.05)
os.killpg(proc.pid, signal.SIGKILL)
proc.wait()
runs = json.loads(ph("runs", "list", "--json").stdout or "[]")
rid = next((r["run_id"] for r in runs if r["dag_id"] == "pg_kill"), None)
p = ph("resume", rid or "none", "--json")
lines = open(marks).read().split() if os.path.exists(marks) else []
sh = json.loads(ph("runs", "show", rid or "none", "--json").stdout or "{}")
states = {t["task_id"]: t["state"] for t in sh.get("tasks", [])}
check("kill -9 of the host (its process group) mid-run on PostgreSQL, then "
      "resume: a stays done (it ran once), b's lost try counts as failed "
      "(no retries), c never runs without its upstream",
      lines.count("a") == 1 and lines.index("a") == 0 and
      states.get("a") == "success" and lines.count("c") <= 1 and
      p.returncode in (0, 1), f"{lines} {states} {p.stderr}")

# 5. two runs at once on one store
fan = write("fan.yaml", "dag: {id: pg_fan}\ntasks:\n" +
            "".join(f"  t{i}: {{op: bash, command: \"echo {i}\"}}\n" for i in range(40)))
res = []


def one():
    res.append(run(fan, ENV, "-j", "4"))


ts = [threading.Thread(target=one) for _ in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
ids = [r[0].get("run_id") for r in res]
counts = [psql("SET search_path TO ph_main",
               f"SELECT count(*) FROM task_try WHERE run_id='{i}' AND state='success'"
               ).stdout.split() for i in ids]
check("two `pipehost run`s at once on one PostgreSQL store: both succeed, "
      "each with its 40 successful tries recorded",
      all(r[0].get("state") == "success" for r in res) and len(set(ids)) == 2 and
      all(c == ["40"] for c in counts), f"{ids} {counts} " +
      " ".join(r[1].stderr[-300:] for r in res))

# 6. two schedulers at once on one store
dags = os.path.join(WORK, "dags")
os.makedirs(dags)
tick = os.path.join(WORK, "tick")
write("dags/hourly.yaml", f"""dag: {{id: pg_hourly, schedule: "@hourly",
  start_date: "2026-01-01T00:00:00Z", end_date: "2026-01-01T05:00:00Z", catchup: true}}
tasks:
  t: {{op: bash, command: "echo {{{{ ds }}}}-{{{{ ts }}}} >> {tick}"}}
""")
env6 = dict(ENV, PIPEHOST_STORE=store_in("ph_sched"))
procs = [subprocess.Popen([PH, "scheduler", "--dags-dir", dags, "--once"], env=env6,
                          cwd=WORK, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) for _ in range(2)]
outs = [p.communicate(timeout=120) for p in procs]
runs = psql("SET search_path TO ph_sched",
            "SELECT count(*), count(DISTINCT logical_date) FROM dag_run").stdout.split()
lines = open(tick).read().split() if os.path.exists(tick) else []
check("two schedulers at once on one PostgreSQL store: each of the 6 hourly "
      "runs is created once and its task runs once",
      runs == ["6|6"] and len(lines) == 6 and len(set(lines)) == 6,
      f"{runs} {lines} " + " | ".join(o[1][-300:] for o in outs))

# 6b. db clean on PostgreSQL: the old run deleted there, archived to a
# SQLite file first
env8 = dict(ENV, PIPEHOST_STORE=store_in("ph_clean"))
cdag = write("clean.yaml", "dag: {id: pg_clean}\ntasks:\n  a: {op: bash, command: \"echo 5\"}\n")
first, _ = run(cdag, env8)
time.sleep(1.1)
second, _ = run(cdag, env8)
p = subprocess.run([PH, "db", "clean", "--older-than", "1s", "--json"],
                   capture_output=True, text=True, env=env8, cwd=WORK)
try:
    rep = json.loads(p.stdout)
except ValueError:
    rep = {}
arch = rep.get("archive") or ""
archived = []
if arch and os.path.exists(arch):
    import sqlite3
    with sqlite3.connect(arch) as adb:
        archived = [r[0] for r in adb.execute("SELECT run_id FROM dag_run")]
        archived += [r[0] + "/" + r[1] for r in
                     adb.execute("SELECT run_id, task_id FROM task_try")]
left = psql("SET search_path TO ph_clean", "SELECT run_id FROM dag_run").stdout.split()
check("db clean on PostgreSQL: the older run (not the DAG's latest) is "
      "deleted there, archived first to a SQLite file with its tries",
      p.returncode == 0 and left == [second.get("run_id")] and
      archived == [first.get("run_id"), f"{first.get('run_id')}/a"],
      f"{p.stdout} {p.stderr} {left} {archived}")

# 7. two machines: the run of a dead one is taken over
dags7 = os.path.join(WORK, "dags7")
os.makedirs(dags7)
m7 = os.path.join(WORK, "marks7")
write("dags7/once.yaml", f"""dag: {{id: pg_takeover, schedule: "@once",
  start_date: "2026-01-01T00:00:00Z"}}
tasks:
  slow: {{op: bash, retries: 1, retry_delay: 0,
         command: "echo start >> {m7}; sleep 6; echo slow >> {m7}"}}
  after: {{op: bash, command: "echo after >> {m7}", upstream: [slow]}}
""")
env7 = dict(ENV, PIPEHOST_STORE=store_in("ph_takeover"), PIPEHOST_HEARTBEAT="0.5",
            PIPEHOST_HEARTBEAT_TIMEOUT="4")


def machine(name):
    return subprocess.Popen([PH, "scheduler", "--dags-dir", dags7, "--poll", "0.5"],
                            env=dict(env7, PIPEHOST_HOST_ID=name), cwd=WORK,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def marks7():
    return open(m7).read().split() if os.path.exists(m7) else []


def kill_machine(name):
    """SIGKILL every process of "machine" name (its PIPEHOST_HOST_ID)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"PIPEHOST_HOST_ID={name}".encode() in f.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


a = machine("machine-a")
end = time.time() + 30
while time.time() < end and "start" not in marks7():
    time.sleep(0.1)
b = machine("machine-b")
time.sleep(3)  # b sees a's run, a beats
early = psql("SET search_path TO ph_takeover",
             "SELECT count(*) FROM task_try WHERE task_id='slow'").stdout.split()
kill_machine("machine-a")
a.wait()
state = None
end = time.time() + 60
while time.time() < end:
    state = psql("SET search_path TO ph_takeover",
                 "SELECT state FROM dag_run").stdout.split()
    if state and state[0] != "running":
        break
    time.sleep(0.5)
b.send_signal(signal.SIGTERM)
try:
    _, berr = b.communicate(timeout=30)
except subprocess.TimeoutExpired:
    b.kill()
    _, berr = b.communicate()
tries7 = psql("SET search_path TO ph_takeover",
              "SELECT task_id, try_number, state FROM task_try ORDER BY task_id, "
              "try_number").stdout.split()
runs7 = psql("SET search_path TO ph_takeover", "SELECT count(*) FROM dag_run").stdout.split()
check("two machines on one store: while machine a's host beats, machine b "
      "leaves its run alone (one try of slow)", early == ["1"], f"{early}")
check("machine a dies (every process of it killed): machine b takes the run "
      "over once the heartbeat is 4 s old; slow's lost try is retried there "
      "and the run finishes; one run, `after` once",
      state == ["success"] and runs7 == ["1"] and
      tries7 == ["after|1|success", "slow|1|up_for_retry", "slow|2|success"] and
      marks7().count("after") == 1 and marks7().count("slow") == 1 and
      "run_resumed" in berr,
      f"{state} {runs7} {tries7} {marks7()} {berr[-600:]}")

rc = S.finish()
for sch in ("ph_main", "ph_fresh", "ph_sched", "ph_takeover", "ph_clean"):
    psql(f"DROP SCHEMA IF EXISTS {sch} CASCADE")
if own_pg:
    subprocess.run(["bash", os.path.join(SVC, "postgres.sh"), "down", own_pg])
shutil.rmtree(WORK, ignore_errors=True)
sys.exit(rc)
