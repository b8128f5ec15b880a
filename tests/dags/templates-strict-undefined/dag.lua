-- an undefined template name fails the task, naming it (Airflow's StrictUndefined); var.value.missing fails, var.value.get gives a default
local ph = require "pipehost"
local d = ph.dag{ id = "templates_strict_undefined" }
local typo = d:task{ id = "typo", op = "bash", command = "echo {{ execution_dat }}" }
local novar = d:task{ id = "novar", op = "bash", command = "echo {{ var.value.missing }}" }
local getvar = d:task{ id = "getvar", op = "bash", command = "echo {{ var.value.get('missing', 'dflt') }}" }
return d
