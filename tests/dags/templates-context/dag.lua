-- ds, ds_nodash, ts, run_id, params (default and --param), task and ti
local ph = require "pipehost"
local d = ph.dag{ id = "templates_context", params = { n = 1, who = "me" } }
local dates = d:task{ id = "dates", op = "bash", command = "echo {{ ds }} {{ ds_nodash }} {{ ts }}" }
local params = d:task{ id = "params", op = "bash", command = "echo {{ params.n * 2 }} {{ params.who }}" }
local ids = d:task{ id = "ids", op = "bash", command = "[ -n \"{{ run_id }}\" ] && echo {{ task.task_id }} {{ ti.try_number }} {{ dag.dag_id }}" }
local interval = d:task{ id = "interval", op = "bash", command = "echo {{ logical_date }} {{ data_interval_start }} {{ data_interval_end }} {{ ts_nodash }}" }
local conf = d:task{ id = "conf", op = "bash", command = "echo {{ dag_run.conf.n }} {{ var.value.region }} {{ task_instance_key_str }}" }
return d
