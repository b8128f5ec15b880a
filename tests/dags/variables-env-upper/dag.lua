-- PIPEHOST_VAR_FOO is var.value.foo and ctx.var('foo') (Airflow upper-cases the name); a missing variable in a callable fails unless a default is given
local ph = require "pipehost"
local d = ph.dag{ id = "variables_env_upper" }
local tmpl = d:task{ id = "tmpl", op = "bash", command = "echo {{ var.value.foo }}" }
local fn = d:task{ id = "fn", op = "lua", fn = "var('foo') .. '/' .. tostring(var('nope', nil))" }
local missing = d:task{ id = "missing", op = "lua", fn = "var('nope')" }
return d
