#!/usr/bin/python3
"""file_sensor in real runs: a file, a directory, a glob and a recursive
glob that appear while the run waits; min_size (a growing file counts only
once it is big enough); a timeout that fails, soft_fail that skips;
reschedule mode.  Usage: test_file_sensor.py PIPEHOST"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

PH = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="ph-fs-")
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


def later(seconds, fn):
    th = threading.Timer(seconds, fn)
    th.start()
    return th


def put(path, size=10):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("x" * size)


def run(name, tasks):
    path = os.path.join(WORK, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"dag: {{id: {name}}}\ntasks:\n")
        for tid, spec in tasks.items():
            f.write(f"  {tid}: {json.dumps(spec)}\n")
    t0 = time.time()
    p = subprocess.run([PH, "run", path, "--json"], capture_output=True,
                       text=True, env=ENV, timeout=120)
    took = time.time() - t0
    try:
        run_id = json.loads(p.stdout)["run_id"]
    except (ValueError, KeyError):
        print(p.stdout + p.stderr)
        return {}, {}, took
    show = json.loads(subprocess.run(
        [PH, "runs", "show", run_id, "--json"], capture_output=True, text=True,
        env=ENV).stdout)
    xc = json.loads(subprocess.run(
        [PH, "xcom", "list", run_id, "--json"], capture_output=True, text=True,
        env=ENV).stdout)
    return {t["task_id"]: t for t in show["tasks"]}, xc, took


def sensor(**kw):
    spec = {"op": "file_sensor", "poke_interval": 0.2, "timeout": 15}
    spec.update(kw)
    return spec


d = lambda *p: os.path.join(WORK, *p)

# appear mid-run: a file, any file in a directory, a glob, a recursive glob
os.makedirs(d("dir"))
os.makedirs(d("globdir"))
put(d("globdir", "notes.txt"))
os.makedirs(d("deep"))
timers = [later(1.0, lambda: put(d("file.csv"))),
          later(1.0, lambda: put(d("dir", "a.json"))),
          later(1.0, lambda: put(d("globdir", "b.csv"))),
          later(1.0, lambda: put(d("deep", "x", "y", "z.csv")))]
ti, xc, took = run("appear", {
    "file": sensor(path=d("file.csv")),
    "dir": sensor(path=d("dir")),
    "glob": sensor(path=d("globdir", "*.csv")),
    "deep": sensor(path=d("deep", "*.csv"), recursive=True),
    "after": {"op": "bash", "command": "echo go",
              "upstream": ["file", "dir", "glob", "deep"]}})
for t in timers:
    t.join()
check("sensors wait, then succeed when the files appear",
      all(ti.get(k, {}).get("state") == "success"
          for k in ("file", "dir", "glob", "deep", "after")) and took >= 1.0,
      str({k: v.get("state") for k, v in ti.items()}))
check("the file sensor pushes the matched path",
      xc.get("file", {}).get("return_value") == [d("file.csv")], str(xc))
check("a directory matches any file inside",
      xc.get("dir", {}).get("return_value") == [d("dir", "a.json")])
check("a glob matches only its pattern",
      xc.get("glob", {}).get("return_value") == [d("globdir", "b.csv")])
check("recursive: a star matches across directories",
      xc.get("deep", {}).get("return_value") == [d("deep", "x", "y", "z.csv")])

# min_size: a file that grows
put(d("grow.bin"), 5)
tm = later(1.0, lambda: put(d("grow.bin"), 200))
ti, xc, took = run("grow", {"g": sensor(path=d("grow.bin"), min_size=100)})
tm.join()
check("min_size: a small file does not count until it grows",
      ti.get("g", {}).get("state") == "success" and took >= 1.0,
      f"{ti.get('g')} {took:.2f}")
log = subprocess.run([PH, "logs", "last", "g"], capture_output=True,
                     text=True, env=ENV).stdout
check("min_size: the log says the file is still too small",
      "smaller than min_size 100" in log, log[-300:])

# never there: timeout fails, soft_fail skips; reschedule mode succeeds
tm = later(1.0, lambda: put(d("late.csv")))
ti, xc, took = run("never", {
    "fails": sensor(path=d("never.csv"), timeout=1),
    "skips": sensor(path=d("never.csv"), timeout=1, soft_fail=True),
    "resched": sensor(path=d("late.csv"), mode="reschedule")})
tm.join()
check("a file that never appears fails at the timeout",
      ti.get("fails", {}).get("state") == "failed" and
      "timed out" in (ti.get("fails", {}).get("reason") or ""),
      str(ti.get("fails")))
check("soft_fail skips instead",
      ti.get("skips", {}).get("state") == "skipped", str(ti.get("skips")))
check("reschedule mode succeeds when the file appears",
      ti.get("resched", {}).get("state") == "success" and
      xc.get("resched", {}).get("return_value") == [d("late.csv")],
      str(ti.get("resched")))

shutil.rmtree(WORK, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
