-- xcom_pull in Airflow's forms, in templates and callables alike: keyword arguments, the table form, task_ids left out (any task), ti.xcom_pull, and key '*' for every key of a task
local ph = require "pipehost"
local d = ph.dag{ id = "xcom_pull_forms" }
local a = d:task{ id = "a", op = "lua", fn = "xcom_push('k', 'from-a') return 1" }
local tmpl = d:task{ id = "tmpl", op = "bash", command = "echo {{ xcom_pull(key='k') }} {{ ti.xcom_pull(task_ids='a', key='k') }} {{ xcom_pull{task_ids='a'} }}" }
local fn = d:task{ id = "fn", op = "lua", fn = "{xcom_pull{key='k'}, ti.xcom_pull{task_ids='a', key='k'}, ti:xcom_pull('a')}" }
local every = d:task{ id = "every", op = "lua", fn = "xcom_pull('a', '*')" }
a >> tmpl
a >> fn
a >> every
return d
