-- a param both set and mapped is refused
local ph = require "pipehost"
local d = ph.dag{ id = "error_map_both" }
local m = d:task{ id = "m", op = "bash", command = "true", expand = { command = { "true" } } }
return d
