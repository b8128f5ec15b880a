"""Helpers shared by the integration tests: counting checks, running the
pipehost CLI with a test's environment, and running a DAG written from a
dict of tasks, returning `runs show` and `xcom list` of the run."""
import json
import os
import subprocess


class Suite:
    def __init__(self, pipehost, work, env):
        self.ph_bin, self.work, self.env = pipehost, work, env
        self.passed = self.failed = 0
        self.outputs = []  # every CLI output, for secret-leak checks

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}")

    def ph(self, *args, timeout=120):
        p = subprocess.run([self.ph_bin, *args], capture_output=True,
                           text=True, errors="backslashreplace", env=self.env, timeout=timeout,
                           cwd=self.work)
        self.outputs.append(p.stdout + p.stderr)
        return p

    def run(self, name, tasks, dag_extra=""):
        """Writes NAME.yaml from tasks (id -> spec) and runs it; returns
        ({task_id: task from runs show}, {task_id: {key: xcom}}, run_id)."""
        path = os.path.join(self.work, name + ".yaml")
        with open(path, "w") as f:
            f.write(f"dag: {{id: {name}{dag_extra}}}\ntasks:\n")
            for tid, spec in tasks.items():
                f.write(f"  {tid}: {json.dumps(spec)}\n")
        p = self.ph("run", path, "--json")
        try:
            run_id = json.loads(p.stdout)["run_id"]
        except (ValueError, KeyError):
            print(p.stdout + p.stderr)
            return {}, {}, None
        show = json.loads(self.ph("runs", "show", run_id, "--json").stdout)
        xc = json.loads(self.ph("xcom", "list", run_id, "--json").stdout)
        return {t["task_id"]: t for t in show["tasks"]}, xc, run_id

    def leaks(self, home, *secrets):
        """Files under home and CLI outputs that contain a secret."""
        found = []
        for root, _, files in os.walk(home):
            for fn in files:
                with open(os.path.join(root, fn), "rb") as f:
                    data = f.read()
                if any(s.encode() in data for s in secrets):
                    found.append(fn)
        return found + [o[:60] for o in self.outputs
                        if any(s in o for s in secrets)]

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0

    def write(self, name, text):
        """Writes text to WORK/name; returns its path."""
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path


def postgres(work, svc):
    """A PostgreSQL URI: $PH_TEST_PG_URI (tests/run_all.sh starts one), else
    a server of the test's own under work (svc/postgres.sh).  Returns
    (uri or None, own state dir or None: stop it with svc/postgres.sh down)."""
    uri = os.environ.get("PH_TEST_PG_URI")
    if uri:
        return uri, None
    own = os.path.join(work, "pg")
    os.makedirs(own)
    os.chmod(own, 0o755)
    p = subprocess.run(["bash", os.path.join(svc, "postgres.sh"), "up", own],
                       capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("PH_TEST_PG_URI="):
            uri = line.split("=", 1)[1]
    if not uri:
        print(p.stderr)
    return uri, own
