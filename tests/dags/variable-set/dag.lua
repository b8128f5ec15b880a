-- a task sets a variable (Airflow's Variable.set, ABI 1.4 variable_set); later tasks read it in callables and templates
local ph = require "pipehost"
local d = ph.dag{ id = "variable_set" }
local setter = d:task{ id = "setter", op = "lua", fn = "var_set('counter', '7') var_set('conf', {a = 1}) return 1" }
local reader = d:task{ id = "reader", op = "lua", fn = "var('counter')" }
local tmpl = d:task{ id = "tmpl", op = "bash", command = "echo {{ var.value.counter }} {{ var.json.conf.a }}" }
setter >> reader
setter >> tmpl
return d
