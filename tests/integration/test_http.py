#!/usr/bin/python3
"""http and http_sensor against a real HTTP/HTTPS server (httpd.py, started
here). Usage: test_http.py PIPEHOST

Asserts: a JSON answer is the XCom and a downstream task pulls it; POST of a
JSON body and headers arrive as sent; basic auth from a connection URI and
bearer auth, with the secrets in no log and no CLI output; 5xx is retried
(and succeeds on the second try), 4xx fails at once; a 429 is retryable;
request_timeout; TLS verification on by default (a self-signed server
fails), passing with ca_bundle; response_check and response_filter; the
sensor succeeds when the resource appears mid-run and times out / soft
fails when it never does, in reschedule mode too."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402
import threading
import time
import urllib.request

PH = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
WORK = tempfile.mkdtemp(prefix="ph-http-")
STATE = os.path.join(WORK, "srv")
os.makedirs(STATE)
srv = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "httpd.py"),
                        STATE])
for _ in range(200):
    if os.path.exists(os.path.join(STATE, "ports")):
        break
    time.sleep(0.05)
HP, SP = open(os.path.join(STATE, "ports")).read().split()
BASE, TLS = f"http://127.0.0.1:{HP}", f"https://127.0.0.1:{SP}"
CA = os.path.join(STATE, "ca.pem")
SECRET_PW, TOKEN = "s3cret-pw-8841", "tok-XYZ-55617"
ENV = dict(os.environ, PIPEHOST_HOME=os.path.join(WORK, "home"),
           PIPEHOST_CONN_API=f"http://alice:{SECRET_PW}@127.0.0.1:{HP}/")
RETURN_RUN_ID = False
S = Suite(PH, WORK, ENV)
check, ph = S.check, S.ph


def run(name, tasks, dag_extra=""):
    ti, xc, run_id = S.run(name, tasks, dag_extra)
    return ti, (run_id if RETURN_RUN_ID else xc)


try:
    ti, xc = run("basics", {
        "get": {"op": "http", "url": BASE + "/json"},
        "use": {"op": "bash", "upstream": ["get"],
                "command": "echo {{ xcom_pull('get').items[3] }}"},
        "post": {"op": "http", "method": "POST", "url": BASE + "/echo",
                 "headers": {"X-Run": "{{ run_id }}"},
                 "json": {"a": [1, 2], "b": "c"}},
        "basic": {"op": "http", "conn_id": "api",
                  "endpoint": "/basic/alice/" + SECRET_PW},
        "bearer": {"op": "http", "url": BASE + "/bearer/" + TOKEN,
                   "auth": {"type": "bearer", "token": TOKEN}},
        "echo_pw": {"op": "http", "conn_id": "api",
                    "endpoint": "/echo/" + SECRET_PW},
        "check": {"op": "http", "url": BASE + "/json",
                  "response_check": "response.json.state == 'done' and "
                                    "response.status == 200",
                  "response_filter": "#response.json.items"},
        "check_fails": {"op": "http", "url": BASE + "/json",
                        "response_check": "response.json.state == 'failed'"}})
    check("a JSON answer is the XCom",
          xc.get("get", {}).get("return_value", {}).get("items") == [1, 2, 3],
          str(xc.get("get")))
    check("a downstream task pulls it",
          xc.get("use", {}).get("return_value") == "3")
    echo = xc.get("post", {}).get("return_value", {})
    check("POST sends the JSON body with its content type and the headers",
          echo.get("method") == "POST" and echo.get("json") ==
          {"a": [1, 2], "b": "c"} and
          echo.get("headers", {}).get("Content-Type") == "application/json" and
          echo.get("headers", {}).get("X-Run", "").startswith("manual__"),
          str(echo))
    check("basic auth from the connection URI",
          ti.get("basic", {}).get("state") == "success" and
          xc.get("basic", {}).get("return_value") == {"authenticated": True},
          str(ti.get("basic")))
    check("bearer auth",
          xc.get("bearer", {}).get("return_value") == {"authenticated": True})
    check("a password that reaches an XCom is stored masked",
          xc.get("echo_pw", {}).get("return_value", {}).get("path") ==
          "/echo/***", str(xc.get("echo_pw")))
    check("response_check and response_filter",
          xc.get("check", {}).get("return_value") == 3)
    t = ti.get("check_fails", {})
    check("a false response_check fails the task",
          t.get("state") == "failed" and "response_check is false" in
          (t.get("reason") or ""), str(t))

    ti, xc = run("errors", {
        "flaky": {"op": "http", "url": BASE + "/flaky/k1/1", "retries": 1,
                  "retry_delay": 0},
        "server_error": {"op": "http", "url": BASE + "/status/500",
                         "retries": 1, "retry_delay": 0},
        "not_found": {"op": "http", "url": BASE + "/status/404", "retries": 3,
                      "retry_delay": 0},
        "bad_request": {"op": "http", "url": BASE + "/status/400",
                        "retries": 3, "retry_delay": 0},
        "too_many": {"op": "http", "url": BASE + "/retry-after", "retries": 1,
                     "retry_delay": 0},
        "slow": {"op": "http", "url": BASE + "/delay/3",
                 "request_timeout": 0.5},
        "accepted_404": {"op": "http", "url": BASE + "/status/404",
                         "status_codes": [404]},
        "refused": {"op": "http", "url": "http://127.0.0.1:1/", "retries": 1,
                    "retry_delay": 0}})
    t = ti.get("flaky", {})
    check("503 is retried: the flaky endpoint succeeds on try 2",
          t.get("state") == "success" and t.get("try_number") == 2, str(t))
    t = ti.get("server_error", {})
    check("a 500 that persists uses up the retries",
          t.get("state") == "failed" and t.get("try_number") == 2 and
          "HTTP 500" in (t.get("reason") or ""), str(t))
    for tid, code in (("not_found", 404), ("bad_request", 400)):
        t = ti.get(tid, {})
        check(f"{code} fails at once (retries: 3, one try), with the body",
              t.get("state") == "failed" and t.get("try_number") == 1 and
              f"HTTP {code}" in (t.get("reason") or "") and
              f"status {code} body" in (t.get("reason") or ""), str(t))
    t = ti.get("too_many", {})
    check("429 is retryable", t.get("try_number") == 2, str(t))
    t = ti.get("slow", {})
    check("request_timeout stops a slow request",
          t.get("state") == "failed" and "Timeout" in (t.get("reason") or ""),
          str(t))
    check("status_codes accepts other statuses",
          ti.get("accepted_404", {}).get("state") == "success")
    t = ti.get("refused", {})
    check("connection refused is retried",
          t.get("state") == "failed" and t.get("try_number") == 2, str(t))

    ti, xc = run("tls", {
        "default": {"op": "http", "url": TLS + "/json", "retries": 2,
                    "retry_delay": 0},
        "with_ca": {"op": "http", "url": TLS + "/json", "ca_bundle": CA},
        "no_verify": {"op": "http", "url": TLS + "/json", "verify": False}})
    t = ti.get("default", {})
    check("TLS is verified by default: a self-signed server fails at once",
          t.get("state") == "failed" and t.get("try_number") == 1 and
          "certificate" in (t.get("reason") or "").lower(), str(t))
    check("ca_bundle makes it pass",
          ti.get("with_ca", {}).get("state") == "success", str(ti.get("with_ca")))
    check("verify: false passes (and says so in the log)",
          ti.get("no_verify", {}).get("state") == "success" and
          "TLS verification is off" in ph("logs", "last", "no_verify").stdout)

    def set_flag():
        urllib.request.urlopen(BASE + "/set/k2", data=b"").read()
    th = threading.Timer(1.0, set_flag)
    th.start()
    ti, xc = run("sensor", {
        "appear": {"op": "http_sensor", "url": BASE + "/appear/k2",
                   "poke_interval": 0.2, "timeout": 20},
        "resched": {"op": "http_sensor", "url": BASE + "/appear/k2",
                    "poke_interval": 0.2, "timeout": 20, "mode": "reschedule"},
        "never": {"op": "http_sensor", "url": BASE + "/appear/never",
                  "poke_interval": 0.2, "timeout": 1},
        "soft": {"op": "http_sensor", "url": BASE + "/appear/never",
                 "poke_interval": 0.2, "timeout": 1, "soft_fail": True},
        "check_sensor": {"op": "http_sensor", "url": BASE + "/json",
                         "poke_interval": 0.2, "timeout": 1,
                         "response_check": "response.json.state == 'later'"},
        "forbidden": {"op": "http_sensor", "url": BASE + "/status/403",
                      "poke_interval": 0.2, "timeout": 5}})
    th.join()
    check("the sensor succeeds when the resource appears mid-run",
          ti.get("appear", {}).get("state") == "success" and
          xc.get("appear", {}).get("return_value") == {"ready": True},
          str(ti.get("appear")))
    check("... in reschedule mode too",
          ti.get("resched", {}).get("state") == "success")
    check("a resource that never appears: timeout fails, soft_fail skips",
          ti.get("never", {}).get("state") == "failed" and
          ti.get("soft", {}).get("state") == "skipped",
          f"{ti.get('never')} {ti.get('soft')}")
    check("a response_check that never holds times out",
          ti.get("check_sensor", {}).get("state") == "failed")
    t = ti.get("forbidden", {})
    check("a 403 fails the sensor at once",
          t.get("state") == "failed" and "HTTP 403" in (t.get("reason") or ""),
          str(t))

    leaks = S.leaks(os.path.join(WORK, "home"), SECRET_PW, TOKEN)
    check("the password and the token are in no log, store or CLI output",
          not leaks, str(leaks))
finally:
    srv.kill()
    srv.wait()
    shutil.rmtree(WORK, ignore_errors=True)
sys.exit(S.finish())
