-- mapping over an unknown task names it
local ph = require "pipehost"
local d = ph.dag{ id = "error_map_unknown_from" }
local m = d:task{ id = "m", op = "bash", expand = { command = { from = "nope" } } }
return d
