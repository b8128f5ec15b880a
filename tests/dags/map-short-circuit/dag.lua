-- a mapped short_circuit: an instance with a falsy result skips the task's downstream
local ph = require "pipehost"
local d = ph.dag{ id = "map_short_circuit" }
local sc = d:task{ id = "sc", op = "short_circuit", fn = function(ctx) return ctx.kwargs.x > 1 end, expand = { x = { 2, 0, 3 } } }
local after = d:task{ id = "after", op = "bash", command = "true" }
sc >> after
return d
