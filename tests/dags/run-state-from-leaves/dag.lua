-- a failed middle task with an all_done leaf that succeeds gives a successful run (AIRFLOW.md §1.5)
local ph = require "pipehost"
local d = ph.dag{ id = "run_state_from_leaves" }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "exit 1" }
local c = d:task{ id = "c", op = "bash", trigger_rule = "all_done", command = "true" }
a >> b
b >> c
return d
