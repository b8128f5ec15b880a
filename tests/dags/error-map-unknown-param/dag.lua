-- expand of a name that is no param of the operator is refused, with a hint
local ph = require "pipehost"
local d = ph.dag{ id = "error_map_unknown_param" }
local m = d:task{ id = "m", op = "bash", expand = { comand = { "true" } } }
return d
