-- The same as examples/scheduled.yaml, in Lua.
local ph = require "pipehost"
local d = ph.dag{ id = "nightly_report_lua", schedule = "30 2 * * *",
  timezone = "Europe/Paris", start_date = "2024-01-01", catchup = false,
  max_active_runs = 2, default_args = { retries = 2, retry_delay = "1m" } }
local extract = d:task{ id = "extract", op = "bash",
  command = "echo extracting {{ data_interval_start }} .. {{ data_interval_end }}" }
local load = d:task{ id = "load", op = "bash", depends_on_past = true,
  pool = "warehouse", command = "echo loading {{ ds }}" }
extract >> load
return d
