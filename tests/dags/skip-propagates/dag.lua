-- exit 99 skips; all_success downstream is skipped; none_failed after an all-skipped upstream runs (AIRFLOW.md §10.1)
local ph = require "pipehost"
local d = ph.dag{ id = "skip_propagates" }
local a = d:task{ id = "a", op = "bash", command = "sleep 0.3; exit 99" }
local b = d:task{ id = "b", op = "bash", command = "true" }
local c = d:task{ id = "c", op = "bash", trigger_rule = "none_failed", command = "true" }
a >> b
b >> c
return d
