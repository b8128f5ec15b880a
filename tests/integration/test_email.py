#!/usr/bin/python3
"""The email operator and email_on_failure / email_on_retry against a real
SMTP server (smtpd.py: aiosmtpd with STARTTLS and AUTH, started here).
Usage: test_email.py PIPEHOST

Asserts, on the received messages parsed with Python's email module: the
subject (non-ASCII), To and Cc headers, Bcc delivered but in no header,
text and HTML alternatives, two attachments (one binary) whose decoded
bytes equal the files; AUTH over STARTTLS; a wrong password fails at once;
TLS verification on by default; 451 is retried and 550 is not; the SMTP
password is in no log and no CLI output; email_on_retry sends one message
per retry and email_on_failure one at the final failure, naming the task,
the try and the reason, with the end of the log."""
import email
import email.policy
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phtest import Suite  # noqa: E402
import time

PH = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
WORK = tempfile.mkdtemp(prefix="ph-mail-")
STATE = os.path.join(WORK, "smtp")
os.makedirs(STATE)
PW = "smtp-pw-71529"
srv = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "smtpd.py"),
                        STATE, PW], stderr=open(os.path.join(STATE, "log"), "w"))
for _ in range(200):
    if os.path.exists(os.path.join(STATE, "port")):
        break
    time.sleep(0.05)
PORT = open(os.path.join(STATE, "port")).read()
CA = os.path.join(STATE, "ca.pem")
MAIL = os.path.join(STATE, "mail")
ENV = dict(
    os.environ, PIPEHOST_HOME=os.path.join(WORK, "home"),
    PIPEHOST_CONN_SMTP_DEFAULT=f"smtp://pipehost:{PW}@localhost:{PORT}"
                               f"?starttls=true&ca_bundle={CA}"
                               f"&from=Pipehost%20%3Cbot@example.com%3E",
    PIPEHOST_CONN_SMTP_BADPW=f"smtp://pipehost:wrong@localhost:{PORT}"
                             f"?starttls=true&ca_bundle={CA}",
    PIPEHOST_CONN_SMTP_NOCA=f"smtp://pipehost:{PW}@localhost:{PORT}"
                            f"?starttls=true")
RETURN_RUN_ID = True
S = Suite(PH, WORK, ENV)
check, ph = S.check, S.ph


def run(name, tasks, dag_extra=""):
    ti, xc, run_id = S.run(name, tasks, dag_extra)
    return ti, (run_id if RETURN_RUN_ID else xc)


def messages():
    out = []
    for path in sorted(glob.glob(os.path.join(MAIL, "*.eml"))):
        with open(path, "rb") as f:
            out.append(email.message_from_bytes(f.read(),
                                                policy=email.policy.default))
    return out


def clear():
    for p in glob.glob(os.path.join(MAIL, "*.eml")):
        os.unlink(p)


try:
    att1 = os.path.join(WORK, "report.csv")
    with open(att1, "w") as f:
        f.write("a,b\n1,2\n")
    att2 = os.path.join(WORK, "blob.bin")
    blob = bytes(range(256)) * 20 + os.urandom(1000)
    with open(att2, "wb") as f:
        f.write(blob)
    subject = "Résumé ✓ du rapport {{ ds }}"
    ti, run_id = run("send", {"mail": {
        "op": "email", "to": ["Ann <ann@example.com>", "bob@example.com"],
        "cc": "carl@example.com", "bcc": ["hidden@example.com"],
        "subject": subject, "body": "plain text, ünïcode",
        "html": "<p>the <b>HTML</b> part</p>", "files": [att1, att2]}})
    check("the email task succeeds",
          ti.get("mail", {}).get("state") == "success", str(ti.get("mail")))
    msgs = messages()
    check("one message arrives", len(msgs) == 1, str(len(msgs)))
    m = msgs[0] if msgs else email.message_from_string("")
    check("the subject is RFC 2047 encoded and decodes to the original",
          str(m["Subject"]).startswith("Résumé ✓ du rapport 2") and
          "=?UTF-8?B?" in m.as_string(policy=email.policy.compat32),
          str(m["Subject"]))
    check("To, Cc and From headers",
          "ann@example.com" in str(m["To"]) and "bob@example.com" in
          str(m["To"]) and str(m["Cc"]) == "carl@example.com" and
          "bot@example.com" in str(m["From"]), f"{m['To']} {m['Cc']}")
    check("Bcc is delivered but in no header",
          m["Bcc"] is None and "hidden@example.com" in str(m["X-RcptTo"]) and
          "hidden@example.com" not in m.as_string().split("\n\n")[0]
          .replace(str(m["X-RcptTo"]), ""), str(m["X-RcptTo"]))
    check("Date and Message-ID headers", m["Date"] is not None and
          str(m["Message-ID"]).endswith("@pipehost>"))
    text = m.get_body(preferencelist=("plain",))
    html = m.get_body(preferencelist=("html",))
    check("text and HTML alternatives",
          text is not None and text.get_content().strip() ==
          "plain text, ünïcode" and html is not None and
          "<b>HTML</b>" in html.get_content(), str(m.get_content_type()))
    atts = {a.get_filename(): a.get_content() for a in m.iter_attachments()}
    check("attachments decode to the files' bytes",
          atts.get("report.csv") in ("a,b\n1,2\n", b"a,b\n1,2\n") and
          atts.get("blob.bin") == blob, str(list(atts)))
    check("sent over STARTTLS with AUTH",
          str(m["X-TLS"]) == "yes" and str(m["X-Auth-User"]) == "pipehost")

    clear()
    ti, _ = run("errors", {
        "bad_pw": {"op": "email", "conn_id": "smtp_badpw", "to": "a@x.org",
                   "subject": "s", "body": "b", "retries": 2,
                   "retry_delay": 0},
        "no_ca": {"op": "email", "conn_id": "smtp_noca", "to": "a@x.org",
                  "subject": "s", "body": "b", "retries": 2,
                  "retry_delay": 0},
        "tempfail": {"op": "email", "to": "tempfail@x.org", "subject": "s",
                     "body": "b", "retries": 1, "retry_delay": 0},
        "reject": {"op": "email", "to": "reject@x.org", "subject": "s",
                   "body": "b", "retries": 2, "retry_delay": 0}})
    t = ti.get("bad_pw", {})
    check("a wrong password fails at once",
          t.get("state") == "failed" and t.get("try_number") == 1 and
          "Login denied" in (t.get("reason") or ""), str(t))
    t = ti.get("no_ca", {})
    check("TLS is verified by default (self-signed: fails at once)",
          t.get("state") == "failed" and t.get("try_number") == 1, str(t))
    t = ti.get("tempfail", {})
    check("451 is retried", t.get("state") == "failed" and
          t.get("try_number") == 2 and "451" in (t.get("reason") or ""),
          str(t))
    t = ti.get("reject", {})
    check("550 fails at once", t.get("state") == "failed" and
          t.get("try_number") == 1 and "550" in (t.get("reason") or ""),
          str(t))
    check("no message was delivered by the failing tasks", not messages())

    clear()
    ti, run_id = run("notify", {
        "flaky": {"op": "bash", "retries": 1, "retry_delay": 0,
                  "command": "echo log-marker-1234; exit 3"},
        "quiet": {"op": "bash", "email_on_retry": False, "retries": 1,
                  "retry_delay": 0, "command": "exit 4"}},
        dag_extra=", default_args: {email: [oncall@example.com]}")
    deadline = time.time() + 15
    while time.time() < deadline and len(messages()) < 3:
        time.sleep(0.1)
    msgs = messages()
    subj = sorted(str(x["Subject"]) for x in msgs)
    check("email_on_retry and email_on_failure: one message per retry and "
          "one at the end", subj == [
              "[pipehost] notify.flaky failed (try 2 of 2)",
              "[pipehost] notify.flaky is up for retry (try 1 of 2)",
              "[pipehost] notify.quiet failed (try 2 of 2)"], str(subj))
    fail = [x for x in msgs if str(x["Subject"]) ==
            "[pipehost] notify.flaky failed (try 2 of 2)"]
    body = fail[0].get_body(preferencelist=("plain",)).get_content() \
        if fail else ""
    check("the failure message names the DAG, run, task, try and reason, "
          "with the log tail",
          f"Run: {run_id}" in body and "Task: flaky" in body and
          "Try: 2 of 2" in body and "exited with code 3" in body and
          "log-marker-1234" in body, body)
    check("it went to the task's email address",
          all("oncall@example.com" in str(x["To"]) for x in msgs))

    # Alert text is literal (issue 15): a log tail holding "{{ 6 * 7 }}" is
    # not rendered, and a reason holding "{{" still gets its alert sent.
    clear()
    ti, run_id = run("literal", {
        "tail": {"op": "bash",
                 "command": "echo 'sum {''{ 6 * 7 }} marker-77'; exit 3"},
        "why": {"op": "lua", "fn": "fail('broken {' .. '{ helm value')"}},
        dag_extra=", default_args: {email: [oncall@example.com]}")
    deadline = time.time() + 15
    while time.time() < deadline and len(messages()) < 2:
        time.sleep(0.1)
    bodies = {str(x["Subject"]).split()[1]:
              x.get_body(preferencelist=("plain",)).get_content()
              for x in messages()}
    tail = bodies.get("literal.tail", "")
    check("an alert's log tail is literal text, never a template",
          "sum {{ 6 * 7 }} marker-77" in tail and "sum 42" not in tail,
          tail)  # (not just "42": a run id at hh:mm:42 holds it)
    why = bodies.get("literal.why", "")
    check("a reason holding '{{' still gets its alert, verbatim",
          "broken {{ helm value" in why, str(bodies.keys()) + why)

    leaks = S.leaks(os.path.join(WORK, "home"), PW)
    check("the SMTP password is in no log, store or CLI output", not leaks,
          str(leaks))
finally:
    srv.kill()
    srv.wait()
    shutil.rmtree(WORK, ignore_errors=True)
sys.exit(S.finish())
