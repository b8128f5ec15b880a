-- Airflow 2's context names: execution_date, yesterday_ds, tomorrow_ds, next_ds/prev_ds from the schedule, macros.ds_add and ds_format
local ph = require "pipehost"
local d = ph.dag{ id = "templates_airflow2_names", schedule = "@daily", start_date = "2024-01-01" }
local names = d:task{ id = "names", op = "bash", command = "echo {{ execution_date }} {{ yesterday_ds }} {{ tomorrow_ds_nodash }} {{ next_ds }} {{ prev_ds_nodash }}" }
local macros = d:task{ id = "macros", op = "bash", command = "echo {{ macros.ds_add(ds, -40) }} {{ macros.ds_format(ds, '%Y-%m-%d', '%d.%m.%Y') }}" }
return d
