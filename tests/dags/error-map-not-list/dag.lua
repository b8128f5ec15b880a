-- an expand value that is neither a list nor {from: TASK} is refused
local ph = require "pipehost"
local d = ph.dag{ id = "error_map_not_list" }
local m = d:task{ id = "m", op = "bash", expand = { command = "true" } }
return d
