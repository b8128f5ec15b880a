-- latest_only lets a manual run through (AIRFLOW.md: not skipped for externally triggered runs)
local ph = require "pipehost"
local d = ph.dag{ id = "latest_only_manual" }
local latest = d:task{ id = "latest", op = "latest_only" }
local a = d:task{ id = "a", op = "bash", command = "true" }
latest >> a
return d
