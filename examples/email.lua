-- The same as examples/email.yaml, in Lua (see there for how to run it).
local ph = require "pipehost"
local d = ph.dag{ id = "email_example_lua",
  default_args = { email = { "oncall@example.com" }, retries = 1, retry_delay = "1s" } }
local extract = d:task{ id = "extract", op = "bash",
  command = "seq 1 5 > /tmp/pipehost-email-report.csv; echo 5" }
local send = d:task{ id = "send", op = "email", to = { "team@example.com" },
  subject = "Daily report {{ ds }}: {{ xcom_pull('extract') }} rows",
  body = "The report for {{ ds }} is attached.",
  html = "<p>The report for <b>{{ ds }}</b> is attached.</p>",
  files = { "/tmp/pipehost-email-report.csv" } }
local flaky = d:task{ id = "flaky", op = "bash", command = "echo something broke; exit 1" }
extract >> send >> flaky
return d
