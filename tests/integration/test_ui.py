#!/usr/bin/python3
"""pipehost webserver's UI in a real browser (issue 19): headless Chromium
driven by Selenium (Debian's chromium, chromium-driver, python3-selenium).
After a run, the grid shows each task's state; clicking a task shows its
log; triggering from the UI starts a run that the grid then shows; an XSS
catalogue in logs and XComs stays text and never runs.
Usage: test_ui.py PIPEHOST EXAMPLES_DIR [SCREENSHOT_DIR]"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402

if not shutil.which("chromedriver") or not os.path.exists("/usr/bin/chromium"):
    print("skipped: chromium and chromium-driver are not installed")
    sys.exit(77)
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PH, EXAMPLES = sys.argv[1], sys.argv[2]
SHOTS = sys.argv[3] if len(sys.argv) > 3 else None
WORK = tempfile.mkdtemp(prefix="ph-ui-")
S = Suite(PH, WORK, dict(os.environ, PIPEHOST_HOME=os.path.join(WORK, "home")))
check, ph = S.check, S.ph

XSS = ['<script>window.__xss=1</script>',
       '<img src=x onerror="window.__xss=2">',
       '"><svg onload="window.__xss=3">',
       "javascript:window.__xss=4"]
dag = os.path.join(WORK, "ui.yaml")
with open(dag, "w") as f:
    f.write("dag: {id: ui_demo}\ntasks:\n"
            "  extract: {op: bash, command: \"echo extracting; echo line two\","
            " outlets: [\"s3://lake/raw\"]}\n"
            "  evil:\n    op: bash\n    upstream: [extract]\n"
            "    inlets: [\"s3://lake/raw\"]\n    command: |\n" +
            "      echo run {{ run_id }}\n" +
            "".join(f"      echo {json.dumps(x)}\n" for x in XSS) +
            "  gen: {op: lua, fn: \"{1, 2, 3}\"}\n"
            "  sq: {op: lua, fn: \"return kwargs.x\", expand: {x: {from: gen}}}\n"
            "  broken: {op: bash, command: \"exit 3\", upstream: [extract]}\n")
ph("run", dag, "--run-id", "first", "-q")

srv = subprocess.Popen([PH, "webserver", "--port", "0"], env=S.env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
line = srv.stdout.readline()
base = re.search(r"listening on (http://\S+?)/? ", line).group(1).rstrip("/")

opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--window-size=1280,800",
          "--disable-dev-shm-usage"):
    opts.add_argument(a)
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
wait = WebDriverWait(drv, 20)


# the page renders itself again every 1.5 s (live): read and click in one
# script, so that no element goes stale in between
def states_in_grid():
    cells = drv.execute_script(
        "return [...document.querySelectorAll('#grid .cell')]"
        ".map(c => [c.dataset.run, c.dataset.task, c.dataset.state])")
    return {(r, t): st for r, t, st in cells}


def click(selector):
    return drv.execute_script(
        "const e = document.querySelector(arguments[0]);"
        "if (e) e.click(); return !!e;", selector)


def text_of(selector):
    return drv.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".map(e => e.textContent).join(' ')", selector)


try:
    drv.get(base + "/")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dags a.dag"))
    links = text_of("#dags a.dag").split()
    check("the DAG list shows the DAG with runs in the store",
          links == ["ui_demo"], links)
    click("#dags a.dag")
    wait.until(lambda d: len(states_in_grid()) >= 5)
    got = states_in_grid()
    check("the grid shows each task's state in the run (a mapped task "
          "rolled up)",
          got == {("first", "extract"): "success", ("first", "evil"): "success",
                  ("first", "gen"): "success", ("first", "sq"): "success",
                  ("first", "broken"): "failed"}, got)
    wait.until(lambda d: d.execute_script(
        "const i = document.getElementById('graph');"
        "return i && i.complete && i.naturalWidth > 0"))
    svg = subprocess.run(["curl", "-s", base + "/object/graph?dag_id=ui_demo"],
                         capture_output=True, text=True).stdout
    fills = dict(re.findall(r'<title>([\w.-]+)</title>\s*<path fill="(\w+)"',
                            svg))
    check("the graph of the run, laid out by Graphviz, shows in the page "
          "with each task in its state's colour (a mapped task marked with "
          "its instances)",
          fills == {"extract": "green", "evil": "green", "gen": "green",
                    "sq": "green", "broken": "red"} and "sq [3]" in svg,
          (fills, svg[:300]))
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        drv.save_screenshot(os.path.join(SHOTS, "grid.png"))
    click('#grid .cell[data-task="extract"]')
    wait.until(lambda d: "extracting" in text_of("#log"))
    log = text_of("#log")
    check("clicking a task shows its try's log", "line two" in log, log)
    if SHOTS:
        drv.save_screenshot(os.path.join(SHOTS, "task.png"))

    # the XSS catalogue: shown as text in the log and the XCom, never run
    drv.get(base + "/#/ti/ui_demo/first/evil/-1")
    wait.until(lambda d: "svg onload" in text_of("#log") and
               text_of("#xcoms .xcom"))
    rendered = text_of("#rendered")
    check("a task's page shows its rendered params (the command with "
          "{{ run_id }} filled in, the XSS catalogue as text)",
          "echo run first" in rendered and
          "<script>window.__xss=1</script>" in rendered,
          rendered[-300:])
    log = text_of("#log")
    xcom = text_of("#xcoms .xcom")
    fired = drv.execute_script("return window.__xss === undefined ? null : "
                               "window.__xss")
    injected = drv.find_elements(By.CSS_SELECTOR, "main script, main img, "
                                 "main svg")
    check("an XSS catalogue in a log and an XCom stays text: shown "
          "verbatim, nothing runs, no element is made of it",
          all(x in log for x in XSS) and "javascript:window.__xss=4" in xcom
          and fired is None and not injected, (log[-300:], xcom, fired))

    # clear from a task's page: it and its downstream are cleared and the
    # run resumes (its earlier log kept aside)
    drv.get(base + "/#/ti/ui_demo/first/broken/-1")
    wait.until(lambda d: "exited with code 3" in text_of("#explain"))
    why = text_of("#explain")
    check("a task's page says why (tasks explain): its reason, its trigger "
          "rule and each upstream's state; its tries with their reasons",
          "all_success" in why and "extract" in text_of("#upstreams") and
          "success" in text_of("#upstreams") and
          "exited with code 3" in text_of("#tries"), (why, text_of("#tries")))
    wait.until(lambda d: click("#clear"))
    wait.until(lambda d: "cleared 1 task instance" in text_of("#status"))
    logs = os.path.join(S.env["PIPEHOST_HOME"], "logs", "ui_demo", "first")
    wait.until(lambda d: any(".cleared-" in f for f in os.listdir(logs)) and
               os.path.exists(os.path.join(logs, "broken.1.log")))
    check("clear from the UI: the task is cleared and runs again (its "
          "earlier log kept aside)", True)

    # the sweep demo's experiments side by side, with a metric chart, and
    # the model registry
    sweep = ph("run", os.path.join(EXAMPLES, "ml_sweep.lua"), "-q",
               timeout=300)
    drv.get(base + "/#/experiments")
    wait.until(lambda d: drv.execute_script(
        "return document.querySelectorAll('#chart rect').length") == 46)
    bars = drv.execute_script(
        "return [...document.querySelectorAll('#chart rect')].map(r => "
        "[r.dataset.task, r.getAttribute('class')])")
    rows = drv.execute_script(
        "return document.querySelectorAll('#experiments tr').length")
    header = text_of("#experiments tr:first-child")
    if SHOTS:
        drv.save_screenshot(os.path.join(SHOTS, "experiments.png"))
    check("experiments: the sweep's 46 tries side by side (the settings that "
          "differ, every metric) with a chart of F1, the best bar marked",
          sweep.returncode == 0 and rows == 47 and "max_depth" in header and
          "validation_fold" in header and "f1" in header and
          sum(1 for _, c in bars if c == "best") >= 1 and
          bars[0][0] == "retrain[0]" and bars[1][0] == "train_logreg[0]",
          (sweep.stderr[-300:], rows, header, bars[:3]))
    drv.execute_script(
        "const s = document.getElementById('metric'); s.value = 'accuracy';"
        "s.dispatchEvent(new Event('change'));")
    wait.until(lambda d: drv.execute_script(
        "const s = document.getElementById('metric'); return s && "
        "s.value") == "accuracy")
    drv.get(base + "/#/models")
    wait.until(lambda d: "breast_cancer_sweep" in text_of("#models"))
    check("models: the registry's versions and aliases",
          "production" in text_of("#models .aliases"), text_of("#models"))

    # lineage: the datasets and the tasks they connect
    drv.get(base + "/#/lineage")
    wait.until(lambda d: "s3://lake/raw" in text_of("#lineage .uri"))
    check("lineage: a dataset with the task that updates it and the one that "
          "reads it", text_of("#lineage .producers") == "ui_demo.extract" and
          text_of("#lineage .readers") == "ui_demo.evil",
          text_of("#lineage"))

    # trigger from the UI: the grid then shows the new run
    drv.get(base + "/#/dag/ui_demo")
    wait.until(lambda d: click("#trigger"))
    deadline = time.time() + 60
    runs = set()
    while time.time() < deadline:
        runs = {r for r, _ in states_in_grid()}
        if len(runs) == 2 and all(
                s in ("success", "failed") for (r, t), s in
                states_in_grid().items() if r != "first"):
            break
        time.sleep(0.3)
    listed = [r for r in json.loads(ph("runs", "list", "--json").stdout)
              if r["dag_id"] == "ui_demo"]
    check("trigger from the UI (CSRF cookie and header, no token typed) "
          "starts a run that the grid shows as it ends",
          len(runs) == 2 and len(listed) == 2 and
          {r["run_id"] for r in listed} == runs, (runs, listed))
finally:
    drv.quit()
    srv.terminate()
    srv.wait(timeout=10)

# a write without the cookie's header is refused: CSRF
p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    "-X", "POST", "-b", "ph_csrf=forged",
                    "-H", "X-CSRF-Token: forged", base + "/api/v1/dags/"
                    "ui_demo/dagRuns"], capture_output=True, text=True)
check("a write with a forged CSRF cookie and header is refused",
      p.stdout in ("401", "000"), p.stdout)
sys.exit(S.finish())
