-- ds, ds_nodash, ts, run_id, params (default and --param), task and ti
local ph = require "pipehost"
local d = ph.dag{ id = "templates_context", params = { n = 1, who = "me" } }
local dates = d:task{ id = "dates", op = "bash", command = "echo {{ ds }} {{ ds_nodash }} {{ ts }}" }
local params = d:task{ id = "params", op = "bash", command = "echo {{ params.n * 2 }} {{ params.who }}" }
local ids = d:task{ id = "ids", op = "bash", command = "[ -n \"{{ run_id }}\" ] && echo {{ task.task_id }} {{ ti.try_number }} {{ dag.dag_id }}" }
return d
