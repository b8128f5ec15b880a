-- a mapped value of a templated param is rendered (unlike Airflow), and each instance sees its own map_index in templates
local ph = require "pipehost"
local d = ph.dag{ id = "map_templated" }
local m = d:task{ id = "m", op = "bash", expand = { command = { "echo {{ ti.map_index }}-a", "echo {{ ti.map_index }}-b" } } }
return d
