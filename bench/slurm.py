#!/usr/bin/python3
"""The Slurm executor against the best a shell script does (issue 18):
N independent `true` tasks on a real Slurm, submitted (1) by a shell loop,
one `sbatch --parsable` per task, (2) as one job array, (3) by `pipehost
run` of a DAG of N independent `executor: slurm` bash tasks.  The scripts
poll `squeue` every 0.1 s until every job has ended.  Prints the median
wall time of RUNS runs of each, pipehost's ratio to the best script, and
the pipehost host's CPU: its own (user + sys from /proc, sampled until it
exits) and with its children (sbatch, squeue) as a share of its wall time.

Usage: bench/slurm.py [-n N] [-r RUNS]   (as root; build first)
Slurm: $SLURM_CONF, else a throw-away single-node cluster started with
tests/integration/services/slurm.sh (8 job slots) and stopped at the end.
PIPEHOST defaults to build/bin/pipehost."""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("-n", type=int, default=200)
ap.add_argument("-r", type=int, default=3)
a = ap.parse_args()
PH = os.environ.get("PIPEHOST", os.path.join(ROOT, "build/bin/pipehost"))
work = tempfile.mkdtemp(prefix="ph-slurmbench-", dir="/var/tmp")
os.chmod(work, 0o755)
own = None
if not os.environ.get("SLURM_CONF"):
    own = os.path.join(work, "slurm")
    os.makedirs(own)
    out = subprocess.run(["bash", os.path.join(ROOT, "tests/integration/services/slurm.sh"),
                          "up", own], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        k, _, v = line.partition("=")
        os.environ[k] = v
ENV = dict(os.environ, PIPEHOST_HOME=os.path.join(work, "home"),
           PIPEHOST_SLURM_SINGLE_NODE="1")


def wait_jobs(ids):
    """Polls squeue every 0.1 s until none of ids is pending or running."""
    q = ",".join(ids)
    while subprocess.run(["squeue", "-h", "-r", "-j", q, "-t", "PD,R,CG,CF",
                          "-o", "%i"], capture_output=True, text=True).stdout.strip():
        time.sleep(0.1)


def per_job():
    t0 = time.time()
    ids = [subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"],
                          capture_output=True, text=True, check=True).stdout.strip()
           for _ in range(a.n)]
    wait_jobs(ids)
    return time.time() - t0


def array():
    t0 = time.time()
    aid = subprocess.run(["sbatch", "--parsable", f"--array=0-{a.n - 1}", "-o", "/dev/null",
                          "--wrap", "true"], capture_output=True, text=True,
                         check=True).stdout.strip()
    wait_jobs([aid])
    return time.time() - t0


dag = os.path.join(work, "fan.yaml")
with open(dag, "w") as f:
    f.write("dag: {id: slurm_fan}\ntasks:\n")
    for i in range(a.n):
        f.write(f"  t{i}: {{op: bash, executor: slurm, command: \"true\"}}\n")


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pipehost():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    p = subprocess.Popen([PH, "run", dag, "-q", "--json"], env=ENV, cwd=work,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    own_cpu = 0.0
    while p.poll() is None:
        try:
            own_cpu = cpu_of(p.pid)
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    state = json.loads(p.stdout.read())["state"]
    assert state == "success", state
    return wall, own_cpu, total


rows = {"per_job": [], "array": [], "pipehost": []}
cpu_own, cpu_all = [], []
for _ in range(a.r):
    rows["per_job"].append(per_job())
    rows["array"].append(array())
    w, c, t = pipehost()
    rows["pipehost"].append(w)
    cpu_own.append(c / w)
    cpu_all.append(t / w)
med = {k: statistics.median(v) for k, v in rows.items()}
best = min(med["per_job"], med["array"])
print(f"{a.n} x true on Slurm, median of {a.r} runs")
print(f"{'submitter':<28} {'wall_s':>8}")
print(f"{'shell, one sbatch per task':<28} {med['per_job']:8.2f}")
print(f"{'shell, one job array':<28} {med['array']:8.2f}")
print(f"{'pipehost run':<28} {med['pipehost']:8.2f}   {med['pipehost'] / best:.2f}x the best script")
print(f"pipehost host CPU: own {100 * statistics.median(cpu_own):.1f}% of its wall time, "
      f"with sbatch/squeue {100 * statistics.median(cpu_all):.1f}%")
if own:
    subprocess.run(["bash", os.path.join(ROOT, "tests/integration/services/slurm.sh"),
                    "down", own])
shutil.rmtree(work, ignore_errors=True)
