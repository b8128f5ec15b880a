-- expand and expand_kwargs on one task are refused
local ph = require "pipehost"
local d = ph.dag{ id = "error_map_expand_and_kwargs" }
local m = d:task{ id = "m", op = "bash", expand = { command = { "true" } }, expand_kwargs = { { command = "true" } } }
return d
